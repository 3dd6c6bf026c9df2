// custom-local-cache: SyncedCache over a local cache of your own (ClockCache.swift).
//
// The built-in caches (`.lfu`, `.lru`) fit most services. Plug in your own through
// `options.localCache = .custom { ... }` when you need a policy they lack, or to wrap one with
// your own instrumentation. The closure runs once per SyncedCache, so instances never share a
// local cache.

import DistributedCache
import ExampleSupport

await runExample("Custom local cache: a CLOCK cache of 100 entries") { redisAddress in
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:custom-local-cache"
    options.localCache = .custom { ClockCache<LocalValue>(capacity: 100) }
    options.podID = "pod-a"
    let podA = try await SyncedCache(options: options)
    options.podID = "pod-b"
    let podB = try await SyncedCache(options: options)

    section("1. Synchronization works as with the built-in caches")
    let before = podB.stats.eventsApplied
    try await podA.set("config:theme", "dark")
    _ = await waitUntil { podB.stats.eventsApplied > before }
    let theme = try await podB.get("config:theme", as: String.self)
    print("  pod-b get config:theme -> \(theme ?? "nil")   (local hit in its ClockCache)")

    section("2. The capacity holds: 300 keys stored, 100 kept")
    for id in 1...300 { try await podA.set("item:\(id)", id) }
    print("  pod-a entries: \(podA.stats.localSize)")

    section("3. Time to live: the cache never returns an entry past its deadline")
    try await podA.set("session:42", "token", ttl: .milliseconds(100))
    print("  right away: \(podA.localValue(forKey: "session:42", as: String.self) ?? "nil")")
    try await Task.sleep(for: .milliseconds(150))
    print("  150 ms later: \(podA.localValue(forKey: "session:42", as: String.self) ?? "nil")")

    section("4. Statistics: hits and misses come from the custom cache's own metrics")
    printStats("pod-a", podA)
    printStats("pod-b", podB)

    await podA.close()
    await podB.close()
}
