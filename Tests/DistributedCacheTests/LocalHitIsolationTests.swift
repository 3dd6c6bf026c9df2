import CSupport
import DistributedCache
import Primitives
import Testing
import TestSupport

/// A local hit through `get` runs on the caller's executor without suspending, whatever actor
/// the caller is isolated to: `get` is `nonisolated(nonsending)`, and only a remote read
/// suspends. The tripwire: before the loop of hits, the test enqueues another job on the same
/// actor; if any `get` suspended (hopping to the global executor and back), that job would run
/// before the loop ends.
@Suite struct LocalHitIsolationTests {
    actor Reader {
        let cache: SyncedCache
        var tripped = false
        init(_ cache: SyncedCache) { self.cache = cache }

        func trip() { tripped = true }

        /// Reads every key `rounds` times; returns whether the tripwire job ran meanwhile.
        func readAll(_ keys: [String], rounds: Int) async throws -> (sum: Int, interrupted: Bool) {
            Task { self.trip() }  // runs on this actor as soon as it is free
            var sum = 0
            for _ in 0..<rounds {
                for key in keys { sum &+= try await cache.get(key, as: Int.self) ?? 0 }
            }
            return (sum, tripped)
        }
    }

    @MainActor final class MainActorReader {
        var tripped = false

        func readAll(_ cache: SyncedCache, _ keys: [String], rounds: Int) async throws -> (sum: Int, interrupted: Bool) {
            Task { @MainActor in self.tripped = true }
            var sum = 0
            for _ in 0..<rounds {
                for key in keys { sum &+= try await cache.get(key, as: Int.self) ?? 0 }
            }
            return (sum, tripped)
        }
    }

    static let keys = (0..<200).map { "iso:\($0)" }

    func withFilledCache(_ body: (SyncedCache) async throws -> Void) async throws {
        try await withCaches(1) { caches, _ async throws in
            for (index, key) in Self.keys.enumerated() { try await caches[0].set(key, index) }
            try await body(caches[0])
        }
    }

    @Test func get_localHitFromACustomActor_neverSuspends() async throws {
        try await withFilledCache { cache in
            let reader = Reader(cache)
            let (sum, interrupted) = try await reader.readAll(Self.keys, rounds: 50)
            #expect(sum == 50 * (0..<200).reduce(0, +))
            #expect(!interrupted, "a local hit suspended the actor")
        }
    }

    @Test func get_localHitFromTheMainActor_neverSuspends() async throws {
        try await withFilledCache { cache in
            let (sum, interrupted) = try await MainActorReader().readAll(cache, Self.keys, rounds: 50)
            #expect(sum == 50 * (0..<200).reduce(0, +))
            #expect(!interrupted, "a local hit suspended the main actor")
        }
    }

    /// And a miss still works from an actor (it suspends for Redis, then returns there).
    @Test func get_remoteHitFromACustomActor_returnsTheValue() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            try await caches[0].setWithInvalidate("remote", 7)
            await eventually("invalidated") { caches[1].localValue(forKey: "remote", as: Int.self) == nil }
            let reader = Reader(caches[1])
            let (sum, _) = try await reader.readAll(["remote"], rounds: 1)
            #expect(sum == 7)
        }
    }

    /// The borrowing read hands out the cached value without a copy, and decodes a value held
    /// as bytes first (then borrows the decoded copy).
    @Test func withLocalValue_readsFieldsOfTheCachedValue() async throws {
        try await withCaches(2) { caches, _ async throws in
            try await caches[0].set("profile", Profile(name: "Ada", visits: 3))
            #expect(caches[0].withLocalValue(forKey: "profile", as: Profile.self) { $0.name.count } == 3)
            // On the other instance the value arrived as bytes (a set event).
            await eventually("propagation") { caches[1].localValue(forKey: "profile", as: Profile.self) != nil }
            #expect(caches[1].withLocalValue(forKey: "profile", as: Profile.self) { $0.visits } == 3)
            #expect(caches[1].withLocalValue(forKey: "absent", as: Profile.self) { $0.visits } == nil)
        }
    }
}
