import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// Counts loader calls across instances and tasks.
final class CallCounter: Sendable {
    private let count = Locked(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}

/// getOrLoad beyond the plain load: negative caching, eager refresh, loader timeouts and the
/// fail-safe, TTL jitter.
@Suite struct LoadTests {
    struct Boom: Error {}

    // MARK: - Negative caching

    @Test func absentAnswer_isCached_thenExpires() async throws {
        try await withCaches(1) { caches, _ async throws in
            let calls = CallCounter()
            let negativeTTL = Duration.milliseconds(300).scaledForTests
            for _ in 0..<5 {
                let value = try await caches[0].getOrLoad("ghost", as: String.self, negativeTTL: negativeTTL) {
                    _ = calls.next()
                    return nil
                }
                #expect(value == nil)
            }
            #expect(calls.value == 1)
            // Never returned as a value, whatever the type asked for.
            struct Loose: Codable, Sendable { var name: String? }
            #expect(caches[0].localValue(forKey: "ghost", as: Loose.self) == nil)
            #expect(try await caches[0].getBytes("ghost") == nil)
            try await Task.sleep(for: negativeTTL + .milliseconds(100))
            _ = try await caches[0].getOrLoad("ghost", as: String.self, negativeTTL: negativeTTL) {
                _ = calls.next()
                return nil
            }
            #expect(calls.value == 2)
        }
    }

    @Test func absentAnswer_isShared_andReplacedByASet() async throws {
        try await withCaches(3, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            let calls = CallCounter()
            let negativeTTL = Duration.seconds(30)
            for cache in caches {
                let value = try await cache.getOrLoad("user:9", as: String.self, negativeTTL: negativeTTL) {
                    _ = calls.next()
                    return nil
                }
                #expect(value == nil)
            }
            #expect(calls.value == 1, "the other instances read the answer from the loading marker")
            try await caches[0].set("user:9", "created")
            for cache in caches {
                await eventually("\(cache.podID) sees the set") {
                    (try? await cache.getOrLoad("user:9", as: String.self, negativeTTL: negativeTTL) {
                        _ = calls.next()
                        return nil
                    }) == "created"
                }
            }
            #expect(calls.value == 1)
        }
    }

    // MARK: - Eager refresh

    /// A hot key read by three instances through several TTLs: always a local hit after the first
    /// load, and the loader runs once per refresh, not once per instance or reader.
    @Test func refreshAhead_keepsAHotKeyLocal_throughItsTTL() async throws {
        let ttl = Duration.seconds(1).scaledForTests
        try await withCaches(3, configure: { $0.refreshAhead = 0.5 }) { caches, _ async throws in
            let calls = CallCounter()
            let loader: @Sendable () async throws -> String = { "v\(calls.next())" }
            for cache in caches {
                _ = try await cache.getOrLoad("hot", as: String.self, ttl: ttl, loader: loader)
            }
            try await Task.sleep(for: .milliseconds(50))
            let missesBefore = caches.map { $0.stats.localMisses }
            let end = ContinuousClock.now + ttl * 3
            try await withThrowingTaskGroup(of: Void.self) { group in
                for cache in caches {
                    for _ in 0..<4 {
                        group.addTask {
                            while ContinuousClock.now < end {
                                _ = try await cache.getOrLoad("hot", as: String.self, ttl: ttl, loader: loader)
                                try await Task.sleep(for: .milliseconds(2))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for (cache, before) in zip(caches, missesBefore) {
                #expect(cache.stats.localMisses == before, "\(cache.podID) missed the hot key")
            }
            let refreshes = caches.map { $0.stats.refreshes }.reduce(0, +)
            #expect(refreshes >= 3, "at least one refresh per TTL")
            // One load at the start, then one per refresh, across all instances: about 6 in 3
            // TTLs at 0.5, far below the instances times the readers.
            #expect(calls.value <= 1 + Int(refreshes) && calls.value <= 12, "\(calls.value) loader calls")
        }
    }

    // MARK: - Timeouts and the fail-safe

    @Test func hardTimeout_failsTheCall_andTheLoadStillLands() async throws {
        try await withCaches(1, configure: { $0.loaderHardTimeout = .milliseconds(100) }) { caches, _ async throws in
            let started = ContinuousClock.now
            await #expect(throws: CacheError.loaderTimedOut(key: "slow", after: .milliseconds(100))) {
                try await caches[0].getOrLoad("slow", as: String.self) {
                    try await Task.sleep(for: .milliseconds(600))
                    return "late"
                }
            }
            #expect(ContinuousClock.now - started < .seconds(2).scaledForTests)
            #expect(caches[0].stats.loaderTimeouts == 1)
            await eventually("the load landed") { caches[0].localValue(forKey: "slow", as: String.self) == "late" }
        }
    }

    @Test func softTimeout_servesTheStaleValue() async throws {
        let ttl = Duration.milliseconds(200)
        try await withCaches(1, configure: {
            $0.staleRetention = .seconds(30)
            $0.loaderSoftTimeout = .milliseconds(100)
        }) { caches, _ async throws in
            let cache = caches[0]
            #expect(try await cache.getOrLoad("k", as: String.self, ttl: ttl) { "first" } == "first")
            await eventually("expired locally") { cache.localValue(forKey: "k", as: String.self) == nil }
            try await Task.sleep(for: .milliseconds(50))
            // Past its TTL it is no value for get, but getOrLoad's fail-safe still has it.
            #expect(try await cache.get("k", as: String.self) == nil)
            let started = ContinuousClock.now
            let value = try await cache.getOrLoad("k", as: String.self, ttl: .seconds(30)) {
                try await Task.sleep(for: .milliseconds(800))
                return "second"
            }
            #expect(value == "first")
            #expect(ContinuousClock.now - started < .milliseconds(700))
            await eventually("the slow load landed") { cache.localValue(forKey: "k", as: String.self) == "second" }
        }
    }

    @Test func failingLoader_servesTheStaleValue() async throws {
        try await withCaches(1, configure: { $0.staleRetention = .seconds(30) }) { caches, _ async throws in
            let cache = caches[0]
            _ = try await cache.getOrLoad("k", as: Int.self, ttl: .milliseconds(150)) { 1 }
            await eventually("expired locally") { cache.localValue(forKey: "k", as: Int.self) == nil }
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await cache.getOrLoad("k", as: Int.self) { throw Boom() } == 1)
            // Without stale retention, the failure is the caller's.
        }
        try await withCaches(1) { caches, _ async throws in
            _ = try await caches[0].getOrLoad("k", as: Int.self, ttl: .milliseconds(100)) { 1 }
            await eventually("expired") { caches[0].localValue(forKey: "k", as: Int.self) == nil }
            try await Task.sleep(for: .milliseconds(50))
            await #expect(throws: CacheError.self) { try await caches[0].getOrLoad("k", as: Int.self) { throw Boom() } }
        }
    }

    // MARK: - Time to idle

    @Test func timeToIdle_dropsUnreadLocalEntries_only() async throws {
        // Long enough that the renewal window (the last eighth, 75 ms) is not lost to a busy
        // machine's scheduling; the entry that is read every 5 ms must survive three windows.
        let idle = Duration.milliseconds(600).scaledForTests
        try await withCaches(1, configure: {
            $0.readerCanSetToRedis = true
            $0.timeToIdle = idle
        }) { caches, _ async throws in
            let cache = caches[0]
            try await cache.set("read", "r", ttl: .seconds(60))
            try await cache.set("unread", "u", ttl: .seconds(60))
            let end = ContinuousClock.now + idle * 3
            while ContinuousClock.now < end {
                #expect(cache.localValue(forKey: "read", as: String.self) == "r")
                try await Task.sleep(for: .milliseconds(5))
            }
            await eventually("the unread entry goes idle") { cache.localValue(forKey: "unread", as: String.self) == nil }
            // Local only: Redis still has it, for its TTL.
            #expect(try await cache.get("unread", as: String.self) == "u")
        }
    }

    // MARK: - Jitter

    @Test func ttlJitter_spreadsExpirations() async throws {
        try await withCaches(1, configure: {
            $0.readerCanSetToRedis = true
            $0.ttlJitter = 0.5
        }) { caches, server async throws in
            let raw = try await rawClient(server)
            var ttls: [Int64] = []
            for index in 0..<40 {
                // The remaining TTL shrinks by the time between the write and the PTTL (seconds
                // under a sanitizer): the lower bound allows for it.
                let written = ContinuousClock.now
                try await caches[0].set("k\(index)", index, ttl: .seconds(100))
                guard case .integer(let ttl) = try await raw.send("PTTL", "dcache:k\(index)") else { continue }
                let elapsed = (ContinuousClock.now - written).components
                let elapsedMilliseconds = elapsed.seconds * 1_000 + elapsed.attoseconds / 1_000_000_000_000_000 + 1
                #expect(ttl >= 50_000 - elapsedMilliseconds && ttl <= 100_000, "k\(index): \(ttl) ms")
                ttls.append(ttl)
            }
            #expect(ttls.count == 40)
            #expect((ttls.max() ?? 0) - (ttls.min() ?? 0) > 10_000, "spread: \(ttls.min() ?? 0)...\(ttls.max() ?? 0)")
            await raw.close()
        }
    }
}
