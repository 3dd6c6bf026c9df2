// The public cache API: local hit (async get and synchronous localValue) next to the raw local
// store hit it is built on; remote hit; set with propagation; setWithInvalidate; delete;
// getOrLoad on a hit; getMany of 100 keys. A throwaway redis-server serves every benchmark.
//
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark \
//        --target CacheBenchmarks

@preconcurrency import Benchmark
import BenchmarkSettings
import DistributedCache
import EmbeddedRedis
import LocalStore

final class Payload: Codable, Sendable {
    let id: Int
    let name: String
    init(id: Int, name: String) {
        self.id = id
        self.name = name
    }
}

final class Shared: @unchecked Sendable {
    // @unchecked: written in setup, before any measurement.
    var server: RedisServerProcess?
    var cache: SyncedCache?
    var remoteOnly: SyncedCache?
    let keys = (0..<10_000).map { "user:\($0):profile" }
    var order: [Int] = []

    func start() async throws -> (SyncedCache, SyncedCache) {
        if let cache, let remoteOnly { return (cache, remoteOnly) }
        let server = try await RedisServerProcess.start()
        var options = SyncedCache.Options()
        options.redisAddress = server.address
        options.readerCanSetToRedis = true
        options.enableMetrics = false
        let cache = try await SyncedCache(options: options)
        for (index, key) in keys.enumerated() { try await cache.set(key, Payload(id: index, name: "name \(index)")) }
        options.localCache = .passThrough
        let remoteOnly = try await SyncedCache(options: options)
        var generator = SystemRandomNumberGenerator()
        order = (0..<keys.count).shuffled(using: &generator)
        self.server = server
        self.cache = cache
        self.remoteOnly = remoteOnly
        return (cache, remoteOnly)
    }

    /// Closes the caches and stops the server, so the process leaves nothing running.
    func stop() async {
        await cache?.close()
        await remoteOnly?.close()
        server?.stop()
    }
}

let shared = Shared()

nonisolated(unsafe) let fast = suiteConfiguration(timeUnits: .nanoseconds, scalingFactor: .kilo, maxIterations: 1_000_000)
nonisolated(unsafe) let remote = suiteConfiguration(timeUnits: .microseconds, scalingFactor: .one, maxIterations: 100_000)

let benchmarks: @Sendable () -> Void = {
    Benchmark.teardown = { await shared.stop() }
    Benchmark("Cache.get.localHit", configuration: fast) { benchmark in
        let (cache, _) = try await shared.start()
        let keys = shared.keys, order = shared.order
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await cache.get(keys[order[position]], as: Payload.self))
            position = position &+ 1 == order.count ? 0 : position &+ 1
        }
    }
    Benchmark("Cache.localValue.hit", configuration: fast) { benchmark in
        let (cache, _) = try await shared.start()
        let keys = shared.keys, order = shared.order
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cache.localValue(forKey: keys[order[position]], as: Payload.self))
            position = position &+ 1 == order.count ? 0 : position &+ 1
        }
    }
    Benchmark("Baseline.localStore.hit", configuration: fast) { benchmark in
        // The raw store the cache is built on, with the same keys, values and order.
        let store = try ShardedCache<Payload>(capacity: .entries(20_000))
        let keys = shared.keys
        for (index, key) in keys.enumerated() { store.setValue(Payload(id: index, name: "name \(index)"), forKey: key) }
        _ = try await shared.start()
        let order = shared.order
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(store.value(forKey: keys[order[position]]))
            position = position &+ 1 == order.count ? 0 : position &+ 1
        }
    }
    Benchmark("Cache.get.remoteHit", configuration: remote) { benchmark in
        let (_, remoteOnly) = try await shared.start()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await remoteOnly.get(shared.keys[index % 1_000], as: Payload.self))
        }
    }
    Benchmark("Cache.set.propagating", configuration: remote) { benchmark in
        let (cache, _) = try await shared.start()
        let value = Payload(id: 1, name: "value")
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { try await cache.set("bench:set:\(index % 1_000)", value) }
    }
    Benchmark("Cache.setWithInvalidate", configuration: remote) { benchmark in
        let (cache, _) = try await shared.start()
        let value = Payload(id: 1, name: "value")
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { try await cache.setWithInvalidate("bench:inv:\(index % 1_000)", value) }
    }
    Benchmark("Cache.delete", configuration: remote) { benchmark in
        let (cache, _) = try await shared.start()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { try await cache.delete("bench:del:\(index % 1_000)") }
    }
    Benchmark("Cache.getOrLoad.hit", configuration: fast) { benchmark in
        let (cache, _) = try await shared.start()
        let keys = shared.keys, order = shared.order
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await cache.getOrLoad(keys[order[position]], as: Payload.self) { Payload(id: 0, name: "") })
            position = position &+ 1 == order.count ? 0 : position &+ 1
        }
    }
    Benchmark("Cache.getMany.100.remote", configuration: remote) { benchmark in
        let (_, remoteOnly) = try await shared.start()
        let batch = Array(shared.keys.prefix(100))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try await remoteOnly.getMany(batch, as: Payload.self)) }
    }
}
