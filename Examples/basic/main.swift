// basic: three cache instances kept in sync through Redis.
//
// In production each instance is a pod of a service; here three share one process so that the
// whole exchange prints in order. They are independent all the same: each has its own local
// cache, its own Redis connections and its own subscription to the invalidation channel.

import DistributedCache
import ExampleSupport

struct User: Codable, Sendable {
    var name: String
    var email: String
}

await runExample("Basic: three instances in sync") { redisAddress in
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    // A namespace of its own: against a shared Redis (REDIS_ADDRESS) the example touches only its
    // own keys, and clear() below removes only those.
    options.namespace = "examples:basic"
    // Write values to Redis on set. It is off by default, as in the reference library; without it
    // Redis never holds what set stored, so step 2's reader would find nothing there.
    options.readerCanSetToRedis = true

    var pods: [SyncedCache] = []
    for name in ["pod-1", "pod-2", "pod-3"] {
        var podOptions = options
        podOptions.podID = name  // unique per instance: each ignores only its own events
        pods.append(try await SyncedCache(options: podOptions))
    }
    let (pod1, pod2, pod3) = (pods[0], pods[1], pods[2])
    print("Three instances connected: \(pods.map(\.podID).joined(separator: ", ")).")

    // Events arrive asynchronously; wait on the event counters rather than on reads, so that the
    // statistics at the end count only the example's own reads.
    func applied(_ instances: [SyncedCache]) -> UInt64 { instances.reduce(0) { $0 + $1.stats.eventsApplied } }

    section("1. pod-1 sets user:123; the value travels to pod-2 and pod-3 inside the event")
    var before = applied([pod2, pod3])
    try await pod1.set("user:123", User(name: "Ada Lovelace", email: "ada@example.com"))
    if let elapsed = await waitUntil({ applied([pod2, pod3]) == before + 2 }) {
        print("  pod-2 and pod-3 stored it after \(elapsed.millisecondsText), without reading Redis")
    }
    let seen = try await pod3.get("user:123", as: User.self)
    print("  pod-3 get user:123 -> \(seen?.name ?? "nil")   (local hit)")

    section("2. pod-1 updates it with setWithInvalidate: the others only drop their copy")
    before = applied([pod2, pod3])
    try await pod1.setWithInvalidate("user:123", User(name: "Ada Lovelace", email: "ada@analytical.engine"))
    _ = await waitUntil { applied([pod2, pod3]) == before + 2 }
    let refreshed = try await pod2.get("user:123", as: User.self)
    print("  pod-2 get user:123 -> \(refreshed?.email ?? "nil")   (read from Redis, cached locally from now on)")

    section("3. pod-2 deletes it: gone from Redis and from every instance")
    before = applied([pod1, pod3])
    try await pod2.delete("user:123")
    _ = await waitUntil { applied([pod1, pod3]) == before + 2 }
    let gone = try await pod1.get("user:123", as: User.self)
    print("  pod-1 get user:123 -> \(gone.map(\.name) ?? "nil")   (neither level has it)")

    section("4. pod-3 clears the cache: every key of the namespace, on every instance")
    before = applied([pod1, pod2])
    try await pod3.set("greeting", "hello")
    try await pod3.set("counter", 7)
    _ = await waitUntil { applied([pod1, pod2]) == before + 4 }
    print("  before: entries per instance \(pods.map { $0.stats.localSize })")
    before = applied([pod1, pod2])
    try await pod3.clear()
    _ = await waitUntil { applied([pod1, pod2]) == before + 2 }
    print("  after:  entries per instance \(pods.map { $0.stats.localSize })")

    section("5. Statistics")
    for pod in pods { printStats(pod.podID, pod) }

    for pod in pods { await pod.close() }
}
