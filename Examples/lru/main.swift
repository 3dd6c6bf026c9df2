// lru: the built-in least-recently-used local cache.
//
// LRU keeps what was used last and evicts the entry unused for longest. It admits every new key,
// never refuses one, and its capacity is an exact entry count (`maxSize`). It suits workloads
// where recent means likely: feeds and timelines, sessions, a sliding window of recent orders.
// Its weakness is a burst of keys used once, which pushes everything else out (see the lfu and
// comparison examples).

import DistributedCache
import ExampleSupport

struct Article: Codable, Sendable {
    var id: Int
    var title: String
}

await runExample("LRU local cache") { redisAddress in
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:lru"
    options.localCache = .lru
    options.localCacheConfig.maxSize = 1_000  // the reference's MaxSize: at most 1,000 entries
    let cache = try await SyncedCache(options: options)
    print("Capacity: \(options.localCacheConfig.maxSize) entries.")

    func article(_ id: Int) -> Article { Article(id: id, title: "Article \(id)") }
    func isLocal(_ range: ClosedRange<Int>) -> Int {
        range.filter { cache.localValue(forKey: "article:\($0)", as: Article.self) != nil }.count
    }

    section("1. 1,500 articles are published in order")
    // One at a time, so that the recency order is the publication order (a setMany's keys are
    // stored in no particular order).
    for id in 1...1_500 { try await cache.set("article:\(id)", article(id)) }
    print("  entries: \(cache.stats.localSize)")
    print("  oldest 500 (1-500) still local:      \(isLocal(1...500))")
    print("  newest 1,000 (501-1500) still local: \(isLocal(501...1_500))")

    section("2. Readers open articles 501-600 again; then 100 more articles are published")
    for id in 501...600 { _ = try await cache.get("article:\(id)", as: Article.self) }
    for id in 1_501...1_600 { try await cache.set("article:\(id)", article(id)) }
    print("  501-600 (just read) still local:       \(isLocal(501...600))")
    print("  601-700 (least recently used) local:   \(isLocal(601...700))")
    print("  1501-1600 (just published) local:      \(isLocal(1_501...1_600))")

    section("Statistics")
    printStats(cache.podID, cache)
    await cache.close()
}
