import CSupport
import DistributedCache
import Testing
import TestSupport

@Suite struct AllocationTests {
    /// A local hit through the public API allocates nothing: `localValue` and `get`. Optimized
    /// builds only (debug builds allocate closure contexts the optimizer removes):
    /// `make test-optimized`.
    @Test(.enabled(if: isOptimizedBuild && dc_alloc_thread_allocated_bytes() >= 0, "needs -O and jemalloc"))
    func publicAPI_localHit_allocatesNothing() async throws {
        try await withCaches(1) { caches, _ async throws in
            let cache = caches[0]
            let keys = (0..<1_000).map { "user:\($0):profile" }
            for (index, key) in keys.enumerated() { try await cache.set(key, Profile(name: "n\(index)", visits: index)) }
            var sum = 0
            for key in keys { sum &+= cache.localValue(forKey: key, as: Profile.self)?.visits ?? 0 }
            let before = dc_alloc_thread_allocated_bytes()
            for _ in 0..<10 {
                for key in keys { sum &+= cache.localValue(forKey: key, as: Profile.self)?.visits ?? 0 }
            }
            let middle = dc_alloc_thread_allocated_bytes()
            for key in keys { sum &+= try await cache.get(key, as: Profile.self)?.visits ?? 0 }
            let afterGet = dc_alloc_thread_allocated_bytes()
            for key in keys { sum &+= cache.withLocalValue(forKey: key, as: Profile.self) { $0.visits } ?? 0 }
            let after = dc_alloc_thread_allocated_bytes()
            #expect(sum > 0)
            #expect(middle - before == 0, "10,000 localValue hits allocated \(middle - before) bytes")
            #expect(afterGet - middle == 0, "1,000 get hits allocated \(afterGet - middle) bytes")
            #expect(after - afterGet == 0, "1,000 withLocalValue hits allocated \(after - afterGet) bytes")
            let fromMainActor = try await MainActorHits.allocatedBytes(cache, keys)
            #expect(fromMainActor == 0, "1,000 get hits from the main actor allocated \(fromMainActor) bytes")
        }
    }
}

/// `get` hits from code isolated to the main actor, measured on the main actor's thread.
@MainActor enum MainActorHits {
    static func allocatedBytes(_ cache: SyncedCache, _ keys: [String]) async throws -> Int64 {
        var sum = 0
        for key in keys { sum &+= try await cache.get(key, as: Profile.self)?.visits ?? 0 }
        let before = dc_alloc_thread_allocated_bytes()
        for key in keys { sum &+= try await cache.get(key, as: Profile.self)?.visits ?? 0 }
        let allocated = dc_alloc_thread_allocated_bytes() - before
        precondition(sum > 0)
        return allocated
    }
}
