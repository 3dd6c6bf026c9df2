// Options from apple/swift-configuration: the cache configured the way the rest of a Swift server
// is, from environment variables, files or the application's own providers.
//
// Design note. The keys are the reference library's environment variable names, read as
// configuration keys: `CACHE_` becomes the scope `cache` and the rest one camelCase word, so
// CACHE_REDIS_ADDR is `cache.redisAddr`. swift-configuration's EnvironmentVariablesProvider maps
// that key back to exactly CACHE_REDIS_ADDR (it upper-cases and splits camelCase with `_`), so
// a deployment's variables work unchanged, and a JSON or YAML file writes
// `{"cache": {"redisAddr": "redis:6379", "localMaxSize": 5000}}`. Every value is handed to the
// one parser of `Options.fromEnvironment`, so both paths accept the same values and refuse the
// same mistakes with the same errors.

import Configuration
import DistributedCache

extension SyncedCache.Options {
    /// The configuration key of an environment variable of
    /// ``DistributedCache/SyncedCache/Options/environmentVariables``: `CACHE_REDIS_ADDR` is
    /// `cache.redisAddr`.
    /// - Parameter variable: a `CACHE_*` name.
    /// - Returns: the key, relative to the reader it is looked up in.
    public static func configKey(forEnvironmentVariable variable: String) -> ConfigKey {
        let words = variable.lowercased().split(separator: "_").map(String.init)
        guard words.first == "cache", words.count > 1 else { return ConfigKey([variable]) }
        let rest = words.dropFirst()
        let camelCase = rest.first! + rest.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return ConfigKey(["cache", camelCase])
    }

    /// The variables whose values are secrets: swift-configuration's access reports redact them.
    static let secretVariables: Set<String> = ["CACHE_REDIS_PASSWORD", "CACHE_SIGNING_SECRETS"]

    /// Options from a swift-configuration reader, over `base`.
    ///
    /// Each of ``DistributedCache/SyncedCache/Options/environmentVariables`` is looked up under
    /// its key (``configKey(forEnvironmentVariable:)``: `cache.redisAddr` for CACHE_REDIS_ADDR),
    /// and what is found is validated exactly as ``DistributedCache/SyncedCache/Options/fromEnvironment(_:base:)``
    /// validates the variable. A reader over `EnvironmentVariablesProvider()` therefore reads the
    /// same variables as `fromEnvironment()`; a file provider or the application's own providers
    /// supply the same keys under `cache`. Numbers and booleans may be given as such or as
    /// strings; durations are Go duration strings (`"500ms"`, `"1m30s"`).
    ///
    /// ```swift
    /// let config = ConfigReader(providers: [
    ///     EnvironmentVariablesProvider(),
    ///     try await FileProvider<JSONSnapshot>(filePath: "/etc/app/config.json"),
    /// ])
    /// let cache = try await SyncedCache(options: .init(config: config))
    /// ```
    ///
    /// - Parameters:
    ///   - config: the reader; keys are looked up relative to it.
    ///   - base: the options that absent keys leave as they are.
    /// - Throws: ``DistributedCache/CacheError/invalidOption(name:reason:)`` naming the variable
    ///   whose value is invalid.
    public init(config: ConfigReader, base: SyncedCache.Options = .init()) throws(CacheError) {
        var values: [String: String] = [:]
        for (variable, _) in Self.environmentVariables {
            let key = Self.configKey(forEnvironmentVariable: variable)
            let secret = Self.secretVariables.contains(variable)
            if let text = config.string(forKey: key, isSecret: secret) {
                values[variable] = text
            } else if let number = config.int(forKey: key, isSecret: secret) {
                values[variable] = String(number)
            } else if let number = config.double(forKey: key, isSecret: secret) {
                values[variable] = String(number)
            } else if let flag = config.bool(forKey: key, isSecret: secret) {
                values[variable] = String(flag)
            }
        }
        self = try Self.fromEnvironment(values, base: base)
    }
}
