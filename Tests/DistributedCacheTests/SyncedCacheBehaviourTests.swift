import DistributedCache
import Foundation
import LocalStore
import Primitives
import Testing
import TestSupport

@Suite struct SyncedCacheBehaviourTests {
    /// 100 concurrent gets of one missing key make exactly one Redis GET.
    @Test func singleFlight_hundredConcurrentMisses_oneRedisGet() async throws {
        // No liveness pings: each reads the version counter with a GET, and this test counts GETs.
        try await withCaches(1, configure: { $0.pingInterval = .zero }) { caches, server async throws in
            let raw = try await rawClient(server)
            try await raw.set("dcache:shared", to: "7:\"payload\"")
            let before = try await commandCalls(raw, "get")
            let cache = caches[0]
            try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<100 { group.addTask { try await cache.get("shared", as: String.self) } }
                for try await value in group { #expect(value == "payload") }
            }
            #expect(try await commandCalls(raw, "get") - before == 1)
            await raw.close()
        }
    }

    /// An instance released without close() (here: a test that throws before its close) stops
    /// by itself: its connections close and nothing crashes.
    @Test func releasedWithoutClose_stopsItsTransport() async throws {
        try await withRedisServer { server in
            do {
                let writer = try await SyncedCache(options: testOptions(server, pod: "released-writer") {
                    $0.readerCanSetToRedis = true
                })
                let reader = try await SyncedCache(options: testOptions(server, pod: "released-reader"))
                try await writer.set("k", "v")
                await eventually("propagation") { reader.localValue(forKey: "k", as: String.self) == "v" }
            }
            let raw = try await rawClient(server)
            await eventually("the released instances' connections closed", timeout: .seconds(10)) {
                let clients = (try? await raw.send("CLIENT", "LIST").string) ?? "name=dcache:released"
                return !clients.contains("name=dcache:released")
            }
            await raw.close()
        }
    }

    @Test func redisDownAtStartup_isAClearError() async throws {
        try await RedisServer.withRefusingLoopbackPort { port in
            var options = SyncedCache.Options()
            options.redisAddress = "127.0.0.1:\(port)"
            options.operationTimeout = .seconds(1)
            await #expect {
                _ = try await SyncedCache(options: options)
            } throws: { error in
                guard case CacheError.redis(.connectionRefused) = error else { return false }
                return true
            }
        }
    }

    @Test func redisDownDuringUse_localKeepsServing_writesFailThroughTheCallback() async throws {
        let reported = Locked<[CacheError]>([])
        try await withCaches(1, configure: {
            $0.operationTimeout = .milliseconds(300)
            $0.maximumStaleness = .seconds(30)
            $0.onError = { error in reported.withLock { $0.append(error) } }
        }) { caches, server async throws in
            let cache = caches[0]
            try await cache.set("kept", "local copy")
            server.kill()
            // Local entries keep serving (within the staleness limit).
            #expect(try await cache.get("kept", as: String.self) == "local copy")
            // Writes fail fast with a clear error, through the return value and the callback.
            await #expect {
                try await cache.set("new", "value")
            } throws: { error in
                guard case CacheError.redis(let redis) = error else { return false }
                return redis.isConnectionFailure
            }
            #expect(cache.localValue(forKey: "new", as: String.self) == nil, "a failed write changes nothing locally")
            // A read that needs Redis fails too.
            await #expect(throws: CacheError.self) { try await cache.get("absent", as: String.self) }
            #expect(reported.withLock { $0.count } >= 2)
            #expect(cache.stats.errors >= 2)
            try await server.restart()
        }
    }

    @Test func decodingFailure_isTypedAndNotCached() async throws {
        try await withCaches(1) { caches, server async throws in
            let raw = try await rawClient(server)
            try await raw.set("dcache:wrong", to: "3:{\"not\":\"a number\"}")
            await #expect {
                _ = try await caches[0].get("wrong", as: Int.self)
            } throws: { error in
                guard case CacheError.decodingFailed(key: "wrong", _) = error else { return false }
                return true
            }
            #expect(caches[0].localValue(forKey: "wrong", as: Int.self) == nil)
            await raw.close()
        }
    }

    @Test func badKeysAndValues_areReportedPlainly() async throws {
        try await withCaches(1, configure: { $0.maximumValueSize = 100; $0.maximumKeySize = 10 }) { caches, _ async throws in
            let cache = caches[0]
            await #expect(throws: CacheError.invalidKey("the key is empty")) { try await cache.set("", "x") }
            await #expect(throws: CacheError.self) { try await cache.set("a-key-that-is-too-long", "x") }
            await #expect {
                try await cache.set("big", String(repeating: "x", count: 200))
            } throws: { error in
                guard case CacheError.valueTooLarge(_, limit: 100) = error else { return false }
                return true
            }
            await #expect(throws: CacheError.self) { try await cache.set("ttl", "x", ttl: .zero) }
        }
    }

    @Test func ttl_expiresInRedisAndLocallyOnEveryInstance() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            let ttl = Duration.seconds(1)
            let stored = ContinuousClock.now
            try await caches[0].set("short", "lived", ttl: ttl)
            let raw = try await rawClient(server)
            let pttl = try await raw.send("PTTL", "dcache:short").int ?? -1
            #expect(pttl <= 1_000, "Redis holds the TTL (PTTL \(pttl))")
            // Propagation must beat the TTL to be observable; on a machine slow enough to lose
            // that race the entry is simply never seen, which the expiry checks below still cover.
            await eventually("propagation or expiry") {
                caches[1].localValue(forKey: "short", as: String.self) == "lived" || ContinuousClock.now - stored >= ttl
            }
            await eventually("local expiry on both instances") {
                caches[0].localValue(forKey: "short", as: String.self) == nil
                    && caches[1].localValue(forKey: "short", as: String.self) == nil
            }
            await eventually("expiry in Redis") { (try? await raw.get("dcache:short")) == nil }
            #expect(ContinuousClock.now - stored >= ttl, "not before its TTL")
            #expect(try await caches[1].get("short", as: String.self) == nil)
            await raw.close()
        }
    }

    @Test func defaultTTL_appliesToEverySet() async throws {
        let ttl = Duration.milliseconds(500)
        try await withCaches(1, configure: { $0.defaultTTL = ttl }) { caches, server async throws in
            let stored = ContinuousClock.now
            try await caches[0].set("k", "v")
            let raw = try await rawClient(server)
            let pttl = try await raw.send("PTTL", "dcache:k").int ?? -1
            #expect(pttl <= 500, "Redis holds the default TTL (PTTL \(pttl))")
            await eventually("the default TTL expires the local copy") {
                caches[0].localValue(forKey: "k", as: String.self) == nil
            }
            #expect(ContinuousClock.now - stored >= ttl, "not before the default TTL")
            await raw.close()
        }
    }

    @Test func onSetLocalCache_hookDecidesTheStoredValue() async throws {
        try await withRedisServer { server in
            let writer = try await SyncedCache(options: testOptions(server, pod: "writer"))
            let reader = try await SyncedCache(options: testOptions(server, pod: "reader") {
                $0.onSetLocalCache = { event in
                    event.key.hasPrefix("skip:") ? nil : "hooked:\(String(decoding: event.value, as: UTF8.self))"
                }
            })
            try await writer.set("k", "v")
            await eventually("hook ran") { reader.localValue(forKey: "k", as: String.self) == #"hooked:"v""# }
            // Events are delivered in order: once the marker written after the skipped key has
            // arrived, the skipped key's event has been handled too.
            try await writer.set("skip:k", "v")
            try await writer.set("after-skip", "v")
            await eventually("the next event arrived") {
                reader.localValue(forKey: "after-skip", as: String.self) == #"hooked:"v""#
            }
            #expect(reader.localValue(forKey: "skip:k", as: String.self) == nil)
            await writer.close()
            await reader.close()
        }
    }

    @Test func lruLocalCache_andCustomLocalCache_work() async throws {
        try await withRedisServer { server in
            let lru = try await SyncedCache(options: testOptions(server, pod: "lru") {
                $0.localCache = .lru
                $0.localCacheConfig.maxSize = 2
            })
            for i in 0..<5 { try await lru.set("k\(i)", i) }
            #expect(lru.stats.localSize == 2)
            await lru.close()

            let custom = try await SyncedCache(options: testOptions(server, pod: "custom") {
                $0.localCache = .custom { try ShardedCache<LocalValue>(policy: .lru, capacity: .entries(10)) }
            })
            try await custom.set("a", "b")
            #expect(custom.localValue(forKey: "a", as: String.self) == "b")
            await custom.close()
        }
    }

    @Test func passThroughLocalCache_keepsNothingAndReadsRedisEveryTime() async throws {
        try await withRedisServer { server in
            let cache = try await SyncedCache(options: testOptions(server, pod: "pass") {
                $0.localCache = .passThrough
                $0.readerCanSetToRedis = true
            })
            try await cache.set("k", "v")
            #expect(cache.localValue(forKey: "k", as: String.self) == nil)
            let before = cache.stats
            for _ in 0..<3 { #expect(try await cache.get("k", as: String.self) == "v") }
            let after = cache.stats
            #expect(after.remoteHits - before.remoteHits == 3, "every get read Redis")
            #expect(after.localHits == before.localHits)
            #expect(after.localSize == 0)
            await cache.close()
        }
    }

    @Test func podID_defaultIsUnique() async throws {
        try await withRedisServer { server in
            var options = testOptions(server, pod: "unused")
            options.podID = nil
            let a = try await SyncedCache(options: options)
            let b = try await SyncedCache(options: options)
            #expect(a.podID != b.podID)
            #expect(a.podID.contains("\(ProcessInfo.processInfo.processIdentifier)"))
            try await a.set("x", 1)
            await eventually("b sees a's event") { b.localValue(forKey: "x", as: Int.self) == 1 }
            await a.close()
            await b.close()
        }
    }

    @Test func typeChangeOnRead_reencodesTheLocalValue() async throws {
        struct Narrow: Codable, Sendable, Equatable { var name: String }
        try await withCaches(1) { caches, _ async throws in
            try await caches[0].set("p", Profile(name: "Ada", visits: 3))
            #expect(caches[0].localValue(forKey: "p", as: Narrow.self) == Narrow(name: "Ada"))
            #expect(caches[0].localValue(forKey: "p", as: Profile.self) == Profile(name: "Ada", visits: 3))
        }
    }

    @Test func stats_countEveryKind() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            try await caches[0].set("a", 1)
            _ = try await caches[0].get("a", as: Int.self)
            _ = try await caches[0].get("missing", as: Int.self)
            try await caches[0].delete("a")
            try await caches[0].clear()
            await eventually("events") { caches[1].stats.eventsApplied >= 3 }
            let stats = caches[0].stats
            #expect(stats.sets == 1 && stats.deletes == 1 && stats.clears == 1)
            #expect(stats.localHits >= 1 && stats.remoteMisses == 1)
            #expect(caches[1].stats.invalidations >= 2)
        }
    }
}

@Suite struct OptionsTests {
    @Test func environment_readsTheReferenceNames() throws {
        let options = try SyncedCache.Options.fromEnvironment([
            "CACHE_POD_ID": "pod-7", "CACHE_REDIS_ADDR": "redis:6380", "CACHE_REDIS_DB": "2",
            "CACHE_INVALIDATION_CHANNEL": "events", "CACHE_SERIALIZATION_FORMAT": "msgpack",
            "CACHE_CONTEXT_TIMEOUT": "1m30s", "CACHE_ENABLE_METRICS": "false", "CACHE_LOCAL_NUM_COUNTERS": "1000",
            "CACHE_LOCAL_MAX_COST": "4096", "CACHE_LOCAL_BUFFER_ITEMS": "32", "CACHE_LOCAL_CACHE": "lru",
            "CACHE_DEFAULT_TTL": "1.5s", "CACHE_RESYNC_STRATEGY": "replay", "CACHE_WIRE_FORMAT": "reference",
        ])
        #expect(options.podID == "pod-7")
        #expect(options.redisAddress == "redis:6380")
        #expect(options.redisDatabase == 2)
        #expect(options.invalidationChannel == "events")
        #expect(options.serializationFormat == .msgpack)
        #expect(options.operationTimeout == .seconds(90))
        #expect(options.enableMetrics == false)
        #expect(options.localCacheConfig.numCounters == 1000)
        #expect(options.localCacheConfig.maxCost == 4096)
        #expect(options.localCacheConfig.bufferItems == 32)
        #expect(options.defaultTTL == .milliseconds(1500))
        #expect(options.resyncStrategy == .replay)
        #expect(options.wireFormat == .reference)
        #expect(options.effectiveNamespace == "")
    }

    @Test(arguments: [
        ("CACHE_REDIS_DB", "two"), ("CACHE_CONTEXT_TIMEOUT", "5 seconds"), ("CACHE_ENABLE_METRICS", "maybe"),
        ("CACHE_SERIALIZATION_FORMAT", "xml"), ("CACHE_LOCAL_MAX_COST", "-1"), ("CACHE_REDIS_ADDR", "host:port"),
        ("CACHE_LOCAL_CACHE", "arc"), ("CACHE_NAMESPACE", "bad*glob"),
    ])
    func environment_invalidValue_namesTheVariable(name: String, value: String) {
        #expect {
            _ = try SyncedCache.Options.fromEnvironment([name: value])
        } throws: { error in
            guard case CacheError.invalidOption(let reported, _) = error else { return false }
            return reported == name
        }
    }

    @Test func defaults_matchTheReference() {
        let options = SyncedCache.Options()
        #expect(options.redisAddress == "localhost:6379")
        #expect(options.invalidationChannel == "cache:invalidate")
        #expect(options.serializationFormat == .json)
        #expect(options.operationTimeout == .seconds(5))
        #expect(options.enableMetrics)
        #expect(!options.readerCanSetToRedis)
        #expect(options.localCacheConfig == .init(numCounters: 10_000_000, maxCost: 1 << 30, bufferItems: 64,
                                                  ignoreInternalCost: false, maxSize: 10_000))
        #expect(options.podID == nil, "a unique id is made at start, not the reference's shared \"default-pod\"")
    }

    @Test func goDurations_parse() {
        #expect(GoDurationProbe.parse("300ms") == .milliseconds(300))
        #expect(GoDurationProbe.parse("2h45m") == .seconds(9900))
        #expect(GoDurationProbe.parse("1.5s") == .milliseconds(1500))
        #expect(GoDurationProbe.parse("10us") == .microseconds(10))
        #expect(GoDurationProbe.parse("0") == .zero)
        #expect(GoDurationProbe.parse("5") == nil)
        #expect(GoDurationProbe.parse("") == .seconds(5), "an empty variable counts as unset")
    }
}

/// Reaches the internal parser through the environment (the public path).
enum GoDurationProbe {
    static func parse(_ text: String) -> Duration? {
        try? SyncedCache.Options.fromEnvironment(["CACHE_MAX_STALENESS": text]).maximumStaleness
    }
}
