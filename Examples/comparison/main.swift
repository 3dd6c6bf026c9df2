// comparison: LFU and LRU local caches on the same two access traces.
//
// Both caches get the same capacity and replay the same reads through the public API (`get`):
// a hit is served locally, a miss is read from Redis and then stored locally, where the policy
// decides what to evict. The hit counts come from each instance's `stats`.
//
//   skewed:  reads drawn from a Zipf distribution (s = 0.9) over 5,000 products: a few are read
//            very often, most rarely; typical of catalogues, profiles, configuration.
//   scan:    a hot set of 100 products read at random, interrupted by scans of 400 products
//            that are read once each (a batch job, a crawler, a report).
//
// Traces are generated from a fixed seed, so every run and both policies see the same reads.

import CacheSimulation
import DistributedCache
import ExampleSupport
import Foundation
import LocalStore

let productCount = 5_000
let capacity = 250

/// Product ids drawn from a Zipf distribution: id k (1-based) has weight 1 / k^exponent. The
/// generator is the one the hit-ratio baselines use (CacheSimulation).
func zipfTrace(count: Int, exponent: Double, seed: UInt64) -> [Int] {
    var generator = ZipfGenerator(alpha: exponent, universe: productCount, seed: seed)
    return (0..<count).map { _ in Int(generator.next()) }
}

/// Rounds of 500 random reads of a hot set of 100 ids, each followed by a scan of 400 ids that
/// are never read again.
func scanTrace(rounds: Int, using generator: inout SplitMix64) -> [Int] {
    var trace: [Int] = []
    var nextScanned = 101
    for _ in 0..<rounds {
        for _ in 0..<500 { trace.append(Int.random(in: 1...100, using: &generator)) }
        trace += Array(nextScanned..<nextScanned + 400)
        nextScanned += 400
    }
    return trace
}

await runExample("LFU vs LRU: hit counts on two workloads") { redisAddress in
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:comparison"

    // Redis holds every product, so that each local miss is a remote hit. The seeding instance
    // writes Redis (readerCanSetToRedis) before the measured instances start, so its set events
    // never reach them; it stays open only to clear the namespace at the end.
    var seederOptions = options
    seederOptions.readerCanSetToRedis = true
    let seeder = try await SyncedCache(options: seederOptions)
    for start in stride(from: 1, through: productCount, by: 1_000) {
        let batch = (start..<start + 1_000).map { ("product:\($0)", "Product \($0)") }
        try await seeder.setMany(Dictionary(uniqueKeysWithValues: batch))
    }
    print("Seeded \(productCount) products in Redis; each cache holds \(capacity) of them.")

    var generator = SplitMix64(seed: 42)
    let workloads = [
        ("skewed (Zipf 0.9)", zipfTrace(count: 5_000, exponent: 0.9, seed: 42)),
        ("scan + hot set", scanTrace(rounds: 5, using: &generator)),
    ]
    // Same capacity in entries for both: LFU counts cost units, and every entry costs 1 once the
    // bookkeeping bytes are ignored.
    let policies: [(String, SyncedCache.LocalCacheKind, SyncedCache.LocalCacheConfig)] = [
        ("LFU", .lfu, .init(numCounters: 50_000, maxCost: capacity, ignoreInternalCost: true)),
        ("LRU", .lru, .init(maxSize: capacity)),
    ]

    print("\nworkload            policy  reads   local hits  hit ratio  time")
    for (workload, trace) in workloads {
        for (policy, kind, config) in policies {
            var cacheOptions = options
            cacheOptions.localCache = kind
            cacheOptions.localCacheConfig = config
            let cache = try await SyncedCache(options: cacheOptions)  // a fresh, empty local cache
            let started = ContinuousClock.now
            for id in trace { _ = try await cache.get("product:\(id)", as: String.self) }
            let elapsed = ContinuousClock.now - started
            let stats = cache.stats
            let ratio = Double(stats.localHits) / Double(stats.localHits + stats.localMisses)
            print(
                workload.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + policy.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + String(trace.count).padding(toLength: 8, withPad: " ", startingAt: 0)
                    + String(stats.localHits).padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(format: "%5.1f %%    ", ratio * 100) + elapsed.millisecondsText)
            await cache.close()
        }
    }
    print("\nEvery miss above cost a Redis round trip; every hit was served in-process.")
    try await seeder.clear()  // leave a shared Redis (REDIS_ADDRESS) as it was
    await seeder.close()
}
