import Configuration
import DistributedCache
import DistributedCacheConfiguration
import Foundation
import Testing

/// Options through swift-configuration: the same variables as `fromEnvironment`, the same keys
/// from any other provider, the same validation.
@Suite struct ConfigReaderOptionsTests {
    @Test func configKey_isTheVariableAsACamelCaseKeyUnderCache() {
        #expect(SyncedCache.Options.configKey(forEnvironmentVariable: "CACHE_REDIS_ADDR") == ConfigKey(["cache", "redisAddr"]))
        #expect(SyncedCache.Options.configKey(forEnvironmentVariable: "CACHE_POD_ID") == ConfigKey(["cache", "podId"]))
        #expect(
            SyncedCache.Options.configKey(forEnvironmentVariable: "CACHE_LOCAL_IGNORE_INTERNAL_COST")
                == ConfigKey(["cache", "localIgnoreInternalCost"]))
    }

    @Test func environmentProvider_readsTheReferenceVariableNames() throws {
        let environment = [
            "CACHE_POD_ID": "pod-7", "CACHE_REDIS_ADDR": "redis:6380", "CACHE_REDIS_PASSWORD": "hunter2",
            "CACHE_LOCAL_CACHE": "lru", "CACHE_LOCAL_MAX_SIZE": "5000", "CACHE_CONTEXT_TIMEOUT": "750ms",
            "CACHE_DEBUG_MODE": "true", "CACHE_SIGNING_SECRETS": "new-secret-0123456789,old-secret-0123456789",
            "UNRELATED": "x",
        ]
        let config = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        let options = try SyncedCache.Options(config: config)
        #expect(options.podID == "pod-7")
        #expect(options.redisAddress == "redis:6380")
        #expect(options.redisPassword == "hunter2")
        #expect(options.localCacheConfig.maxSize == 5000)
        #expect(options.operationTimeout == .milliseconds(750))
        #expect(options.debugMode)
        #expect(options.signingSecrets == ["new-secret-0123456789", "old-secret-0123456789"])
        if case .lru = options.localCache {} else { Issue.record("CACHE_LOCAL_CACHE=lru was not applied") }

        // Exactly what fromEnvironment makes of the same variables.
        let direct = try SyncedCache.Options.fromEnvironment(environment)
        #expect(direct.podID == options.podID && direct.redisAddress == options.redisAddress)
        #expect(direct.operationTimeout == options.operationTimeout && direct.signingSecrets == options.signingSecrets)
    }

    @Test func otherProviders_useTheSameKeys_andTypedValues() throws {
        let provider = InMemoryProvider(values: [
            "cache.redisAddr": "10.0.0.5:6379",
            "cache.redisDb": 3,
            "cache.readerCanSetToRedis": true,
            "cache.defaultTtl": "1m30s",
            "cache.ttlJitter": 0.25,
        ])
        let options = try SyncedCache.Options(config: ConfigReader(provider: provider))
        #expect(options.redisAddress == "10.0.0.5:6379")
        #expect(options.redisDatabase == 3)
        #expect(options.readerCanSetToRedis)
        #expect(options.defaultTTL == .seconds(90))
        #expect(options.ttlJitter == 0.25)
    }

    @Test func jsonFile_configuresTheCache() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dcache-config-\(UUID().uuidString).json").path
        try Data(#"{"cache": {"namespace": "orders", "localMaxSize": 250, "wireFormat": "reference"}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = ConfigReader(provider: try await FileProvider<JSONSnapshot>(filePath: .init(path)))
        let options = try SyncedCache.Options(config: config)
        #expect(options.namespace == "orders")
        #expect(options.localCacheConfig.maxSize == 250)
        #expect(options.wireFormat == .reference)
    }

    @Test func invalidValues_failNamingTheVariable_asFromEnvironmentDoes() throws {
        let provider = InMemoryProvider(values: ["cache.localCache": "arc"])
        #expect {
            try SyncedCache.Options(config: ConfigReader(provider: provider))
        } throws: { error in
            guard case CacheError.invalidOption(let name, _) = error else { return false }
            return name == "CACHE_LOCAL_CACHE"
        }
        let negative = InMemoryProvider(values: ["cache.redisDb": -1])
        #expect(throws: CacheError.self) { try SyncedCache.Options(config: ConfigReader(provider: negative)) }
    }

    @Test func absentKeys_leaveTheBase() throws {
        var base = SyncedCache.Options()
        base.namespace = "kept"
        base.operationTimeout = .seconds(2)
        let options = try SyncedCache.Options(
            config: ConfigReader(provider: InMemoryProvider(values: ["cache.podId": "p"])), base: base)
        #expect(options.namespace == "kept" && options.operationTimeout == .seconds(2) && options.podID == "p")
    }
}
