// lfu: the default local cache, an admission-filtered LFU (W-TinyLFU).
//
// LFU keeps what is used often. A new key enters a small recency window; to move on into the main
// space it must be estimated (by a compact frequency sketch) to be used more often than the entry
// it would evict there. So a burst of keys used once (a batch job, a crawler, a report) passes
// through the window without flushing the keys the service reads all the time, which is what an
// LRU does with such a burst (see the lru and comparison examples).

import DistributedCache
import ExampleSupport

struct Product: Codable, Sendable {
    var id: Int
    var name: String
    var price: Int
}

await runExample("LFU local cache (W-TinyLFU)") { redisAddress in
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:lfu"
    options.localCache = .lfu  // the default; spelled out here
    // The reference library's LocalCacheConfig (Ristretto's settings), mapped onto W-TinyLFU:
    options.localCacheConfig = .init(
        numCounters: 100_000,  // bound of the frequency sketch: ~10x the entries you expect to track
        maxCost: 1_000,  // capacity, in cost units
        bufferItems: 64,  // reads each thread records before the policy applies them in one batch
        // Every entry costs 1; with ignoreInternalCost the capacity therefore counts entries.
        // Left false (the default), each entry also costs its ~88 bytes of bookkeeping, which
        // makes maxCost a rough memory budget in bytes instead.
        ignoreInternalCost: true)
    let cache = try await SyncedCache(options: options)
    print("Capacity: \(options.localCacheConfig.maxCost) entries.")

    let hotKeys = (1...200).map { "product:\($0)" }

    section("1. 200 popular products are stored and read 20 times each")
    var products: [String: Product] = [:]
    for (index, key) in hotKeys.enumerated() {
        products[key] = Product(id: index + 1, name: "Product \(index + 1)", price: 100 + index)
    }
    try await cache.setMany(products)  // one round trip for all of them
    for _ in 1...20 {
        for key in hotKeys { _ = try await cache.get(key, as: Product.self) }
    }
    print("  entries: \(cache.stats.localSize), local hits so far: \(cache.stats.localHits)")

    section("2. A batch job writes 5,000 one-off report keys (5x the capacity), each used once")
    for batch in 0..<10 {
        var reports: [String: String] = [:]
        for index in 0..<500 { reports["report:\(batch * 500 + index)"] = "row \(index)" }
        try await cache.setMany(reports)
    }
    print("  entries: \(cache.stats.localSize) (never above the capacity)")

    section("3. The popular products survived the burst")
    let kept = hotKeys.filter { cache.localValue(forKey: $0, as: Product.self) != nil }.count
    let reportsKept = (0..<5_000).filter { cache.localValue(forKey: "report:\($0)", as: String.self) != nil }.count
    print("  popular products still local: \(kept) of \(hotKeys.count)")
    print("  one-off reports still local:  \(reportsKept) of 5000")

    section("Statistics")
    printStats(cache.podID, cache)
    await cache.close()
}
