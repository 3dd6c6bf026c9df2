import CSupport
import Testing
import TestSupport

@testable import LocalStore

/// Boxed values, so that tests exercise reference counting as real callers do.
final class Box: Sendable, Equatable {
    let value: Int
    init(_ value: Int) { self.value = value }
    static func == (a: Box, b: Box) -> Bool { a.value == b.value }
}

func makeCache(
    _ policy: ShardedCache<Box>.Policy = .windowTinyLFU, capacity: ShardedCache<Box>.Capacity = .entries(1_000),
    ttl: Duration? = nil, shards: Int? = nil
) throws -> ShardedCache<Box> {
    try ShardedCache<Box>(
        configuration: .init(policy: policy, capacity: capacity, defaultTTL: ttl, shardCount: shards, hashSeed: 42))
}

@Suite struct ShardedCacheTests {
    @Test(arguments: [ShardedCache<Box>.Policy.windowTinyLFU, .lru])
    func setThenGet_returnsValue(policy: ShardedCache<Box>.Policy) throws {
        let cache = try makeCache(policy)
        #expect(cache.setValue(Box(1), forKey: "a"))
        #expect(cache.value(forKey: "a") == Box(1))
        #expect(cache.value(forKey: "b") == nil)
        let metrics = cache.metrics
        #expect(metrics.hits == 1)
        #expect(metrics.misses == 1)
        #expect(metrics.sets == 1)
        #expect(metrics.entryCount == 1)
    }

    @Test func set_existingKey_replacesValue() throws {
        let cache = try makeCache()
        cache.setValue(Box(1), forKey: "k")
        cache.setValue(Box(2), forKey: "k")
        #expect(cache.value(forKey: "k") == Box(2))
        #expect(cache.count == 1)
        #expect(cache.metrics.totalCost == 1)
    }

    @Test func remove_presentKey_removesAndReportsTrue() throws {
        let cache = try makeCache()
        cache.setValue(Box(1), forKey: "k")
        #expect(cache.removeValue(forKey: "k"))
        #expect(!cache.removeValue(forKey: "k"))
        #expect(cache.value(forKey: "k") == nil)
        #expect(cache.metrics.explicitRemovals == 1)
    }

    @Test func removeAll_manyKeys_emptiesEveryShard() throws {
        let cache = try makeCache(capacity: .entries(100_000), shards: 8)
        for i in 0..<5_000 { cache.setValue(Box(i), forKey: "key-\(i)") }
        #expect(cache.count == 5_000)
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.metrics.totalCost == 0)
        for i in stride(from: 0, to: 5_000, by: 97) { #expect(cache.value(forKey: "key-\(i)") == nil) }
        #if DCACHE_INTERNAL_CHECKS
        cache.store.shards.forEach { $0._checkInvariants() }
        #endif
    }

    @Test func growthAndTombstones_keepEveryKeyReachable() throws {
        let cache = try makeCache(.lru, capacity: .entries(1_000_000), shards: 2)
        for i in 0..<20_000 { cache.setValue(Box(i), forKey: "k\(i)") }
        for i in stride(from: 0, to: 20_000, by: 2) { cache.removeValue(forKey: "k\(i)") }
        for i in 0..<20_000 {
            #expect(cache.value(forKey: "k\(i)") == (i % 2 == 0 ? nil : Box(i)))
        }
        #if DCACHE_INTERNAL_CHECKS
        cache.store.shards.forEach { $0._checkInvariants() }
        #endif
    }

    @Test func capacity_entries_neverExceeded() throws {
        // LRU with 100 entries: after 1,000 distinct sets exactly the last 100 remain.
        let cache = try makeCache(.lru, capacity: .entries(100))
        for i in 0..<1_000 { cache.setValue(Box(i), forKey: "k\(i)") }
        // The policy applies the buffered writes at the next upkeep (a millisecond later).
        cache.runMaintenance()
        #expect(cache.count == 100)
        #expect(cache.metrics.evictionsBySize == 900)
        for i in 900..<1_000 { #expect(cache.value(forKey: "k\(i)") == Box(i)) }
    }

    @Test func capacity_cost_evictsByWeight() throws {
        let cache = try makeCache(.lru, capacity: .cost(100))
        for i in 0..<10 { cache.setValue(Box(i), forKey: "k\(i)", cost: 10) }
        #expect(cache.metrics.totalCost == 100)
        cache.setValue(Box(10), forKey: "k10", cost: 35)
        // 35 more needs 4 evictions of cost 10 (100 + 35 - 40 = 95 <= 100).
        #expect(cache.metrics.totalCost == 95)
        #expect(cache.count == 7)
        #expect(!cache.setValue(Box(99), forKey: "huge", cost: 101), "an entry costlier than the capacity never fits")
    }

    @Test func ttl_expiredEntry_isNeverReturned() async throws {
        let cache = try makeCache()
        let ttl = Duration.milliseconds(200)
        let stored = ContinuousClock.now
        cache.setValue(Box(1), forKey: "short", ttl: ttl)
        cache.setValue(Box(2), forKey: "long", ttl: .seconds(600))
        cache.setValue(Box(3), forKey: "forever")
        let read = cache.value(forKey: "short")
        // Only a read that surely came before the deadline must see the entry; a slow machine may
        // have passed it already, which is no failure.
        if ContinuousClock.now - stored < ttl { #expect(read == Box(1)) }
        await eventually("the short entry expires") { cache.value(forKey: "short") == nil }
        #expect(ContinuousClock.now - stored >= ttl, "not before its TTL")
        #expect(cache.value(forKey: "long") == Box(2))
        #expect(cache.value(forKey: "forever") == Box(3))
    }

    @Test func defaultTTL_appliesWhenNoneGiven() async throws {
        let ttl = Duration.milliseconds(200)
        let cache = try makeCache(ttl: ttl)
        let stored = ContinuousClock.now
        cache.setValue(Box(1), forKey: "k")
        cache.setValue(Box(2), forKey: "own", ttl: .seconds(600))
        await eventually("the default TTL expires the entry") { cache.value(forKey: "k") == nil }
        #expect(ContinuousClock.now - stored >= ttl, "not before the default TTL")
        #expect(cache.value(forKey: "own") == Box(2), "an explicit TTL wins over the default")
    }

    @Test func conditionalSet_refusesWhenPredicateSaysNo() throws {
        let cache = try makeCache()
        #expect(cache.setValue(Box(5), forKey: "v", cost: 1, ttl: nil) { $0 == nil })
        // Keep only newer "versions": 3 < 5 is refused, 7 > 5 is stored.
        #expect(!cache.setValue(Box(3), forKey: "v", cost: 1, ttl: nil) { ($0?.value ?? 0) < 3 })
        #expect(cache.value(forKey: "v") == Box(5))
        #expect(cache.setValue(Box(7), forKey: "v", cost: 1, ttl: nil) { ($0?.value ?? 0) < 7 })
        #expect(cache.value(forKey: "v") == Box(7))
    }

    @Test func conditionalRemove_onlyWhenPredicateAgrees() throws {
        let cache = try makeCache()
        cache.setValue(Box(5), forKey: "v")
        #expect(!cache.removeValue(forKey: "v") { $0.value > 5 })
        #expect(cache.value(forKey: "v") == Box(5))
        #expect(cache.removeValue(forKey: "v") { $0.value == 5 })
        #expect(cache.value(forKey: "v") == nil)
    }

    @Test func close_refusesStoresAndEmpties() throws {
        let cache = try makeCache()
        cache.setValue(Box(1), forKey: "k")
        cache.close()
        cache.close()
        #expect(cache.value(forKey: "k") == nil)
        #expect(!cache.setValue(Box(2), forKey: "k"))
    }

    @Test func values_areReleasedWhenEvictedAndCollected() throws {
        // Weak references observe the entry's value being freed once it is evicted, retired, and
        // the epoch has moved past every reader.
        weak var observed: Box?
        let cache = try makeCache(.lru, capacity: .entries(10))
        do {
            let box = Box(1)
            observed = box
            cache.setValue(box, forKey: "first")
        }
        for i in 0..<200 { cache.setValue(Box(i), forKey: "k\(i)") }
        // Three epoch advances after the retire, each possible only while no thread of the
        // process is inside a read section (tests running alongside read other caches): a few
        // passes normally, more under a sanitizer.
        let deadline = ContinuousClock.now + .seconds(10)
        repeat { cache.runMaintenance() } while observed != nil && ContinuousClock.now < deadline
        #expect(observed == nil)
    }

    @Test func invalidConfiguration_isReportedWithItsName() {
        #expect(throws: LocalCacheError.self) { try makeCache(capacity: .entries(0)) }
        #expect(throws: LocalCacheError.invalidConfiguration("shardCount must be a power of two in 1...4096, got 3")) {
            try ShardedCache<Box>(configuration: .init(capacity: .entries(10), shardCount: 3))
        }
    }

    /// Debug builds allocate closure contexts the optimizer would remove, so this runs in optimized
    /// builds only: `swift test -c release -Xswiftc -enable-testing --filter allocatesNothing`
    /// (the benchmarks count allocations per hit as well).
    @Test(.enabled(if: isOptimizedBuild && dc_alloc_thread_allocated_bytes() >= 0, "needs -O and jemalloc"))
    func hit_allocatesNothing() throws {
        let cache = try makeCache(capacity: .entries(10_000))
        let keys = (0..<1_000).map { "user:\($0):profile-settings" }  // > 15 bytes: heap strings
        for (i, key) in keys.enumerated() { cache.setValue(Box(i), forKey: key) }
        for key in keys { _ = cache.value(forKey: key) }  // warm: thread block, rings
        var sum = 0
        let before = dc_alloc_thread_allocated_bytes()
        for _ in 0..<10 {
            for key in keys { sum &+= cache.value(forKey: key)?.value ?? 0 }
        }
        let after = dc_alloc_thread_allocated_bytes()
        #expect(sum > 0)
        // Ring drains happen every 64 hits inside this loop too; they must not allocate either.
        #expect(after - before == 0, "10,000 hits allocated \(after - before) bytes")
    }
}

@Suite struct MaintenanceThreadTests {
    /// Reads alone (no write to apply them) reach the policy through the maintenance thread: an
    /// LRU cache of 2 that read "a" after "b" evicts "b" on the next insert.
    /// Writes wait in the write buffer for the policy: the overshoot is bounded by the buffer
    /// (the records waiting, plus those the maintenance thread is applying meanwhile), and the
    /// maintenance thread brings the cache back to its capacity by itself.
    @Test func writeBuffer_boundsTheOvershoot_andUpkeepRestoresTheCapacity() async throws {
        let cache = try makeCache(.lru, capacity: .entries(100))
        for i in 0..<5_000 {
            cache.setValue(Box(i), forKey: "k\(i)")
            #expect(cache.count <= 100 + 2 * 1_024)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while cache.count > 100 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        #expect(cache.count == 100)
        for i in 4_900..<5_000 { #expect(cache.peekValue(forKey: "k\(i)") == Box(i)) }
    }

    /// With manual upkeep each write reaches the policy at once: the capacity always holds.
    @Test func manualUpkeep_appliesEachWriteAtOnce() throws {
        let cache = try ShardedCache<Box>(
            configuration: .init(policy: .lru, capacity: .entries(10), hashSeed: 42, upkeep: .manual))
        for i in 0..<100 {
            cache.setValue(Box(i), forKey: "k\(i)")
            #expect(cache.count <= 10)
        }
        #expect(cache.metrics.sets == 100)
    }

    @Test func readsAlone_reachThePolicyThroughTheMaintenanceThread() async throws {
        let cache = try makeCache(.lru, capacity: .entries(2))
        cache.setValue(Box(1), forKey: "a")
        cache.setValue(Box(2), forKey: "b")
        // The policy knows both entries first (a read of an entry whose insert is still buffered
        // is dropped, as in Caffeine): this test is about reads.
        cache.runMaintenance()
        let before = MaintenanceThread.shared.passCount
        // Fill this thread's ring (64 reads) with reads of "a": the last one requests a pass.
        for _ in 0..<64 { #expect(cache.value(forKey: "a") == Box(1)) }
        let deadline = ContinuousClock.now + .seconds(5)
        while MaintenanceThread.shared.passCount == before && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(MaintenanceThread.shared.passCount > before, "the maintenance thread ran a pass")
        cache.setValue(Box(3), forKey: "c")
        cache.runMaintenance()
        #expect(cache.peekValue(forKey: "a") == Box(1), "a was read last: kept")
        #expect(cache.peekValue(forKey: "b") == nil, "b is the least recently used: evicted")
    }
}
