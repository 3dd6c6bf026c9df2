// Loading options from environment variables.
//
// The names are the reference library's (its Kubernetes example reads CACHE_POD_ID,
// CACHE_REDIS_ADDR, ...), plus CACHE_* names for the settings it lacks. Unlike the reference,
// which silently ignores a value it cannot parse, an invalid value is an error that names the
// variable: a typo in a deployment should fail at start-up, not run with a default.

import Foundation
import Primitives

extension SyncedCache.Options {
    /// The environment variables read by ``fromEnvironment(_:base:)``, with what they set.
    public static let environmentVariables: [(name: String, option: String)] = [
        ("CACHE_POD_ID", "podID"),
        ("CACHE_REDIS_ADDR", "redisAddress (host:port)"),
        ("CACHE_REDIS_PASSWORD", "redisPassword"),
        ("CACHE_REDIS_USERNAME", "redisUsername"),
        ("CACHE_REDIS_DB", "redisDatabase (integer >= 0)"),
        ("CACHE_REDIS_CLUSTER_NODES", "redisClusterNodes (HOST:PORT[,HOST:PORT...]: Redis Cluster seeds)"),
        ("CACHE_PUBSUB", "pubsub (sharded | classic; Redis Cluster)"),
        ("CACHE_REDIS_SENTINELS", "redisSentinels (HOST:PORT[,HOST:PORT...])"),
        ("CACHE_SENTINEL_MASTER", "sentinelMasterName"),
        ("CACHE_INVALIDATION_CHANNEL", "invalidationChannel"),
        ("CACHE_SERIALIZATION_FORMAT", "serializationFormat (json | msgpack)"),
        ("CACHE_CONTEXT_TIMEOUT", "operationTimeout (Go duration: 500ms, 5s, 1m30s)"),
        ("CACHE_ENABLE_METRICS", "enableMetrics (true | false)"),
        ("CACHE_DEBUG_MODE", "debugMode (true | false)"),
        ("CACHE_READER_CAN_SET_TO_REDIS", "readerCanSetToRedis (true | false)"),
        ("CACHE_LOCAL_CACHE", "localCache (lfu | lru)"),
        ("CACHE_LOCAL_NUM_COUNTERS", "localCacheConfig.numCounters"),
        ("CACHE_LOCAL_MAX_COST", "localCacheConfig.maxCost"),
        ("CACHE_LOCAL_BUFFER_ITEMS", "localCacheConfig.bufferItems"),
        ("CACHE_LOCAL_IGNORE_INTERNAL_COST", "localCacheConfig.ignoreInternalCost (true | false)"),
        ("CACHE_LOCAL_MAX_SIZE", "localCacheConfig.maxSize"),
        ("CACHE_NAMESPACE", "namespace"),
        ("CACHE_WIRE_FORMAT", "wireFormat (versioned | reference)"),
        ("CACHE_DEFAULT_TTL", "defaultTTL (Go duration)"),
        ("CACHE_INVALIDATION", "invalidation (pubsub | tracking)"),
        ("CACHE_RESYNC_STRATEGY", "resyncStrategy (clear | revalidate | replay)"),
        ("CACHE_REPLAY_STREAM_LENGTH", "replayStreamLength"),
        ("CACHE_MAX_STALENESS", "maximumStaleness (Go duration)"),
        ("CACHE_PING_INTERVAL", "pingInterval (Go duration; 0 disables)"),
        ("CACHE_PING_TIMEOUT", "pingTimeout (Go duration)"),
        ("CACHE_CLEAR_SCOPE", "clearScope (namespace | database)"),
        ("CACHE_MAX_VALUE_SIZE", "maximumValueSize (bytes)"),
        ("CACHE_MAX_KEY_SIZE", "maximumKeySize (bytes)"),
        ("CACHE_MAX_BATCH_SIZE", "maximumBatchSize (keys)"),
        ("CACHE_SIGNING_SECRETS", "signingSecrets (comma-separated; the first signs)"),
        ("CACHE_LOAD_LOCK_TTL", "loadLockTTL (Go duration)"),
        ("CACHE_REFRESH_AHEAD", "refreshAhead (fraction of the TTL, 0 < f < 1)"),
        ("CACHE_TTL_JITTER", "ttlJitter (fraction, 0 <= f < 1)"),
        ("CACHE_STALE_RETENTION", "staleRetention (Go duration; 0 disables)"),
        ("CACHE_TIME_TO_IDLE", "timeToIdle (Go duration)"),
        ("CACHE_LOADER_SOFT_TIMEOUT", "loaderSoftTimeout (Go duration)"),
        ("CACHE_LOADER_HARD_TIMEOUT", "loaderHardTimeout (Go duration)"),
    ]

    /// Options from environment variables (see ``environmentVariables``), over `base`.
    /// - Parameters:
    ///   - environment: the variables; the process environment by default.
    ///   - base: the options unset variables leave as they are.
    /// - Returns: the options, validated.
    /// - Throws: ``CacheError/invalidOption(name:reason:)`` naming the variable whose value is
    ///   invalid.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        base: SyncedCache.Options = .init()
    ) throws(CacheError) -> SyncedCache.Options {
        var options = base
        var reader = EnvironmentReader(environment: environment)
        if let value = reader.string("CACHE_POD_ID") { options.podID = value }
        if let value = reader.string("CACHE_REDIS_ADDR") { options.redisAddress = value }
        if let value = reader.string("CACHE_REDIS_PASSWORD") { options.redisPassword = value }
        if let value = reader.string("CACHE_REDIS_USERNAME") { options.redisUsername = value }
        if let value = try reader.integer("CACHE_REDIS_DB", minimum: 0) { options.redisDatabase = value }
        if let value = reader.string("CACHE_INVALIDATION_CHANNEL") { options.invalidationChannel = value }
        if let value = reader.string("CACHE_REDIS_CLUSTER_NODES") {
            options.redisClusterNodes = value.split(separator: ",").map { String($0.filter { $0 != " " }) }
        }
        if let value = try reader.choice("CACHE_PUBSUB", SyncedCache.PubSubMode.self) { options.pubsub = value }
        if let value = reader.string("CACHE_REDIS_SENTINELS") {
            options.redisSentinels = value.split(separator: ",").map { String($0.filter { $0 != " " }) }
        }
        if let value = reader.string("CACHE_SENTINEL_MASTER") { options.sentinelMasterName = value }
        if let value = try reader.choice("CACHE_SERIALIZATION_FORMAT", SyncedCache.SerializationFormat.self) {
            options.serializationFormat = value
        }
        if let value = try reader.duration("CACHE_CONTEXT_TIMEOUT") { options.operationTimeout = value }
        if let value = try reader.bool("CACHE_ENABLE_METRICS") { options.enableMetrics = value }
        if let value = try reader.bool("CACHE_DEBUG_MODE") { options.debugMode = value }
        if let value = try reader.bool("CACHE_READER_CAN_SET_TO_REDIS") { options.readerCanSetToRedis = value }
        if let value = reader.string("CACHE_LOCAL_CACHE") {
            switch value.lowercased() {
            case "lfu": options.localCache = .lfu
            case "lru": options.localCache = .lru
            default: throw .invalidOption(name: "CACHE_LOCAL_CACHE", reason: "expected lfu or lru, got \"\(value)\"")
            }
        }
        if let value = try reader.integer("CACHE_LOCAL_NUM_COUNTERS", minimum: 1) {
            options.localCacheConfig.numCounters = value
        }
        if let value = try reader.integer("CACHE_LOCAL_MAX_COST", minimum: 1) { options.localCacheConfig.maxCost = value }
        if let value = try reader.integer("CACHE_LOCAL_BUFFER_ITEMS", minimum: 1) {
            options.localCacheConfig.bufferItems = value
        }
        if let value = try reader.bool("CACHE_LOCAL_IGNORE_INTERNAL_COST") {
            options.localCacheConfig.ignoreInternalCost = value
        }
        if let value = try reader.integer("CACHE_LOCAL_MAX_SIZE", minimum: 1) { options.localCacheConfig.maxSize = value }
        if let value = reader.string("CACHE_NAMESPACE", allowEmpty: true) { options.namespace = value }
        if let value = try reader.choice("CACHE_WIRE_FORMAT", SyncedCache.WireFormat.self) { options.wireFormat = value }
        if let value = try reader.duration("CACHE_DEFAULT_TTL") { options.defaultTTL = value }
        if let value = try reader.choice("CACHE_INVALIDATION", SyncedCache.InvalidationMode.self) { options.invalidation = value }
        if let value = try reader.choice("CACHE_RESYNC_STRATEGY", SyncedCache.ResyncStrategy.self) {
            options.resyncStrategy = value
        }
        if let value = try reader.integer("CACHE_REPLAY_STREAM_LENGTH", minimum: 0) { options.replayStreamLength = value }
        if let value = try reader.duration("CACHE_MAX_STALENESS", allowZero: true) { options.maximumStaleness = value }
        if let value = try reader.duration("CACHE_PING_INTERVAL", allowZero: true) { options.pingInterval = value }
        if let value = try reader.duration("CACHE_PING_TIMEOUT") { options.pingTimeout = value }
        if let value = try reader.choice("CACHE_CLEAR_SCOPE", SyncedCache.ClearScope.self) { options.clearScope = value }
        if let value = try reader.integer("CACHE_MAX_VALUE_SIZE", minimum: 1) { options.maximumValueSize = value }
        if let value = try reader.integer("CACHE_MAX_KEY_SIZE", minimum: 1) { options.maximumKeySize = value }
        if let value = try reader.integer("CACHE_MAX_BATCH_SIZE", minimum: 1) { options.maximumBatchSize = value }
        if let value = reader.string("CACHE_SIGNING_SECRETS") {
            options.signingSecrets = value.split(separator: ",").map(String.init)
        }
        if let value = try reader.duration("CACHE_LOAD_LOCK_TTL") { options.loadLockTTL = value }
        if let value = try reader.fraction("CACHE_REFRESH_AHEAD") { options.refreshAhead = value }
        if let value = try reader.fraction("CACHE_TTL_JITTER") { options.ttlJitter = value }
        if let value = try reader.duration("CACHE_STALE_RETENTION", allowZero: true) { options.staleRetention = value }
        if let value = try reader.duration("CACHE_TIME_TO_IDLE") { options.timeToIdle = value }
        if let value = try reader.duration("CACHE_LOADER_SOFT_TIMEOUT") { options.loaderSoftTimeout = value }
        if let value = try reader.duration("CACHE_LOADER_HARD_TIMEOUT") { options.loaderHardTimeout = value }
        do {
            try options.validate()
        } catch let CacheError.invalidOption(name, reason) {
            // Name the variable that set the bad option, when one did.
            let variable = environmentVariables.first { $0.option.hasPrefix(name) && reader.used.contains($0.name) }
            throw .invalidOption(name: variable?.name ?? name, reason: reason)
        }
        return options
    }
}

/// Reads and parses variables, remembering which were present.
private struct EnvironmentReader {
    let environment: [String: String]
    var used = Set<String>()

    mutating func string(_ name: String, allowEmpty: Bool = false) -> String? {
        guard let value = environment[name], allowEmpty || !value.isEmpty else { return nil }
        used.insert(name)
        return value
    }

    /// A decimal fraction such as 0.8 (its range is checked by `Options.validate()`).
    mutating func fraction(_ name: String) throws(CacheError) -> Double? {
        guard let text = string(name) else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw .invalidOption(name: name, reason: "expected a decimal fraction such as 0.8, got \"\(text)\"")
        }
        return value
    }

    mutating func integer(_ name: String, minimum: Int) throws(CacheError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw .invalidOption(name: name, reason: "expected an integer, got \"\(text)\"")
        }
        guard value >= minimum else { throw .invalidOption(name: name, reason: "must be >= \(minimum), got \(value)") }
        return value
    }

    mutating func bool(_ name: String) throws(CacheError) -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw .invalidOption(name: name, reason: "expected true or false, got \"\(text)\"")
        }
    }

    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ name: String, _ type: Choice.Type) throws(CacheError)
        -> Choice? where Choice.RawValue == String
    {
        guard let text = string(name) else { return nil }
        guard let value = Choice(rawValue: text.lowercased()) else {
            let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidOption(name: name, reason: "expected one of \(allowed), got \"\(text)\"")
        }
        return value
    }

    mutating func duration(_ name: String, allowZero: Bool = false) throws(CacheError) -> Duration? {
        guard let text = string(name) else { return nil }
        guard let value = GoDuration.parse(text) else {
            throw .invalidOption(name: name, reason: "expected a duration such as 500ms, 5s or 1m30s, got \"\(text)\"")
        }
        guard value > .zero || (allowZero && value == .zero) else {
            throw .invalidOption(name: name, reason: "must be positive, got \"\(text)\"")
        }
        return value
    }
}

/// Go's time.ParseDuration syntax: a sequence of decimal numbers with units ns, us (or µs), ms,
/// s, m, h, such as "300ms", "1.5h" or "2h45m"; "0" alone is zero.
enum GoDuration {
    static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest == "0" { return .zero }
        guard !rest.isEmpty else { return nil }
        var total: Double = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !$0.isNumber && $0 != "." }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs", "μs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            total += value * scale
        }
        return Duration(saturatingSeconds: total)
    }
}
