import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// A one-shot gate a test opens to let a paused task continue.
final class Gate: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>], arrived: Int)>((false, [], 0))
    func wait() async {
        await withCheckedContinuation { continuation in
            let resume = state.withLock { state -> Bool in
                state.arrived += 1
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resume { continuation.resume() }
        }
    }
    var arrived: Int { state.withLock { $0.arrived } }
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Kills one instance's subscription connection (CLIENT KILL ID), leaving the rest alone.
func killSubscription(of cache: SyncedCache, on server: RedisServer) async throws {
    let raw = try await rawClient(server)
    let list = try await raw.send("CLIENT", "LIST").string ?? ""
    for line in list.split(separator: "\n") where line.contains("name=dcache:\(cache.podID) ") && line.contains("flags=P") {
        if let id = line.split(separator: " ").first(where: { $0.hasPrefix("id=") })?.dropFirst(3) {
            _ = try await raw.send("CLIENT", "KILL", "ID", String(id))
        }
    }
    await raw.close()
}

@Suite struct ConsistencyTests {
    /// The read-then-invalidate race, made deterministic: B's GET reply is held back until the
    /// delete event from A has been applied on B. The late reply must not be cached.
    @Test func readThenInvalidate_lateReplyIsNotCached() async throws {
        let gate = Gate()
        try await withRedisServer { server in
            let a = try await SyncedCache(options: testOptions(server, pod: "a") { $0.readerCanSetToRedis = true })
            let b = try await SyncedCache(options: testOptions(server, pod: "b") {
                $0.readerCanSetToRedis = true
                $0.testHooks.beforeFill = { _ in await gate.wait() }
            })
            try await a.setWithInvalidate("k", "v1")
            await eventually("B applied the invalidation of v1") { b.stats.invalidations == 1 }
            let read = Task { try await b.get("k", as: String.self) }
            await eventually("B's GET replied") { gate.arrived == 1 }
            try await a.delete("k")
            await eventually("delete applied on B") { b.stats.invalidations == 2 }
            gate.open()
            // The read itself may return v1 (Redis had it when the GET ran), but must not cache it.
            #expect(try await read.value == "v1")
            #expect(b.localValue(forKey: "k", as: String.self) == nil)
            #expect(try await b.get("k", as: String.self) == nil)
            await a.close()
            await b.close()
        }
    }

    /// Reordered and duplicate events: an older version never replaces a newer one.
    @Test func olderOrDuplicateEvents_neverReplaceNewerValues() async throws {
        try await withCaches(2) { caches, server async throws in
            try await caches[0].set("k", "new")
            await eventually("propagation") { caches[1].localValue(forKey: "k", as: String.self) == "new" }
            let raw = try await rawClient(server)
            // A replayed, older set (version 1 is below the current one) and an older delete.
            try await raw.publish(#"{"key":"k","sender":"ghost","action":"set","value":"Im9sZCI=","version":1}"#,
                                  to: "cache:invalidate")
            try await raw.publish(#"{"key":"k","sender":"ghost","action":"delete","version":1}"#, to: "cache:invalidate")
            await eventually("both seen") { caches[1].stats.eventsReceived >= 3 }
            #expect(caches[1].localValue(forKey: "k", as: String.self) == "new")
            await raw.close()
        }
    }

    /// A subscription killed while another instance writes: after the reconnection, the missed
    /// write does not leave a stale value, whatever the resync strategy.
    @Test(arguments: SyncedCache.ResyncStrategy.allCases)
    func subscriptionKilled_missedWritesLeaveNoStaleValue(strategy: SyncedCache.ResyncStrategy) async throws {
        try await withRedisServer { server in
            let writer = try await SyncedCache(options: testOptions(server, pod: "writer") { $0.readerCanSetToRedis = true })
            let reader = try await SyncedCache(options: testOptions(server, pod: "reader") {
                $0.readerCanSetToRedis = true
                $0.resyncStrategy = strategy
                $0.reconnectBackoff = .init(initialDelay: .milliseconds(400), maximumDelay: .milliseconds(400), jitter: 0)
            })
            try await writer.set("k", "v1")
            try await writer.set("untouched", "same")
            await eventually("propagation") { reader.localValue(forKey: "k", as: String.self) == "v1" }
            await eventually("propagation") { reader.localValue(forKey: "untouched", as: String.self) == "same" }
            try await killSubscription(of: reader, on: server)
            try await Task.sleep(for: .milliseconds(50))
            try await writer.set("k", "v2")  // missed by the reader
            await eventually("reader resynced", timeout: .seconds(10)) { reader.stats.resyncs >= 1 }
            #expect(reader.localValue(forKey: "k", as: String.self) != "v1")
            #expect(try await reader.get("k", as: String.self) == "v2")
            if strategy != .clear {
                #expect(reader.localValue(forKey: "untouched", as: String.self) == "same", "\(strategy) keeps what did not change")
            }
            await writer.close()
            await reader.close()
        }
    }

    /// While the channel is broken, local entries are served only within the staleness limit.
    @Test func degradedMode_servesLocalOnlyWithinTheStalenessLimit() async throws {
        // Scaled for sanitizer runs: the poll below must see the window before it closes.
        let staleness = Duration.milliseconds(300).scaledForTests
        try await withCaches(1, configure: {
            $0.maximumStaleness = staleness
            $0.operationTimeout = .milliseconds(200)
            $0.reconnectBackoff = .init(initialDelay: .seconds(5), maximumDelay: .seconds(5))
        }) { caches, server async throws in
            let cache = caches[0]
            try await cache.set("k", "v")
            server.kill()
            await eventually("degraded") { cache.localValue(forKey: "k", as: String.self) == "v" && cache.stats.staleReads > 0 }
            try await Task.sleep(for: staleness + .milliseconds(100))
            #expect(cache.localValue(forKey: "k", as: String.self) == nil, "past the staleness limit")
            await #expect(throws: CacheError.self) { try await cache.get("k", as: String.self) }
            try await server.restart()
        }
    }

    /// Redis killed and restarted under concurrent reads and writes: no crash, no hang, and
    /// once recovered every instance reads the latest values.
    @Test func redisRestartUnderLoad_noHangNoStaleReadAfterRecovery() async throws {
        try await withCaches(2, configure: {
            $0.readerCanSetToRedis = true
            $0.operationTimeout = .milliseconds(300)
            $0.reconnectBackoff = .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
        }) { caches, server async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, cache) in caches.enumerated() {
                    group.addTask {
                        for step in 0..<300 {
                            let key = "key:\(step % 10)"
                            _ = try? await cache.get(key, as: Int.self)
                            _ = try? await cache.set(key, index * 10_000 + step)
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(50))
                    server.kill()
                    try await Task.sleep(for: .milliseconds(200))
                    try await server.restart()
                }
                try await group.waitForAll()
            }
            // Settle: write a final value per key from instance 0, then every instance must read it.
            for key in 0..<10 {
                try await retrying { try await caches[0].set("key:\(key)", -key) }
            }
            for cache in caches {
                await eventually("recovered", timeout: .seconds(10)) {
                    var allFresh = true
                    for key in 0..<10 where (try? await cache.get("key:\(key)", as: Int.self)) != -key { allFresh = false }
                    return allFresh
                }
            }
        }
    }

    /// getOrLoad: concurrent misses within an instance call the loader once; across three
    /// instances the loading marker keeps it to one call too.
    @Test func getOrLoad_stampedeGuard_loaderCalledOnce() async throws {
        let calls = Locked(0)
        try await withCaches(3) { caches, _ async throws in
            try await withThrowingTaskGroup(of: String.self) { group in
                for cache in caches {
                    for _ in 0..<20 {
                        group.addTask {
                            try await cache.getOrLoad("expensive", as: String.self) {
                                calls.withLock { $0 += 1 }
                                try await Task.sleep(for: .milliseconds(100))
                                return "computed"
                            }
                        }
                    }
                }
                for try await value in group { #expect(value == "computed") }
            }
            #expect(calls.withLock { $0 } == 1)
            #expect(caches.map(\.stats.loads).reduce(0, +) == 1)
        }
    }

    @Test func getOrLoad_loaderFailure_isReportedAndRetriedNextTime() async throws {
        struct Boom: Error {}
        try await withCaches(1) { caches, _ async throws in
            await #expect {
                _ = try await caches[0].getOrLoad("k", as: Int.self) { throw Boom() }
            } throws: { error in
                if case CacheError.loaderFailed = error { return true }
                return false
            }
            #expect(try await caches[0].getOrLoad("k", as: Int.self) { 7 } == 7)
        }
    }

    @Test func batches_getManySetManyDeleteMany() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            let values = Dictionary(uniqueKeysWithValues: (0..<50).map { ("batch:\($0)", $0) })
            let raw = try await rawClient(server)
            let before = try await commandCalls(raw, "evalsha")
            try await caches[0].setMany(values)
            #expect(try await commandCalls(raw, "evalsha") - before == 50)
            await eventually("propagation") { caches[1].localValue(forKey: "batch:49", as: Int.self) == 49 }
            // A third view with an empty local cache reads them all in one batch.
            let fresh = try await SyncedCache(options: testOptions(server, pod: "fresh"))
            let got = try await fresh.getMany(Array(values.keys) + ["batch:absent"], as: Int.self)
            #expect(got == values)
            try await caches[1].deleteMany(Array(values.keys.prefix(10)))
            // Other instances drop their copies when the delete events arrive: wait on the one read
            // below (it holds all 50 locally since its getMany), not on a bystander.
            await eventually("deletes") { caches[0].stats.invalidations >= 10 && fresh.stats.invalidations >= 10 }
            let after = try await fresh.getMany(Array(values.keys), as: Int.self)
            #expect(after.count == 40)
            await fresh.close()
            await raw.close()
        }
    }
}

/// Retries an operation that may fail while Redis recovers.
func retrying(_ operation: () async throws -> Void) async throws {
    for attempt in 0..<100 {
        do {
            try await operation()
            return
        } catch where attempt < 99 {
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
