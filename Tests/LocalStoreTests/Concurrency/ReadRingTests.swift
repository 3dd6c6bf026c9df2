import Dispatch
import Foundation
import Synchronization
import Testing

@testable import LocalStore

/// The read rings record entry addresses (ThreadBlocks.swift): these tests exercise the rules
/// that keep a recorded address from outliving its entry, and the threads beyond the directory.
@Suite struct ReadRingTests {
    /// Readers hammer a few keys that a writer keeps replacing and removing, so rings fill with
    /// the addresses of entries that die right after; tiny rings and a small capacity make the
    /// maintenance thread, the writers' drains and the reclaimer run all the time. A drain that
    /// touched a freed entry would corrupt the policy (caught by the invariant checks) or crash
    /// (and `swift test --sanitize=address` reports it).
    @Test(arguments: [ShardedCache<Tagged>.Policy.windowTinyLFU, .lru])
    func recordedEntries_outliveNoDrain(policy: ShardedCache<Tagged>.Policy) throws {
        let cache = try ShardedCache<Tagged>(
            configuration: .init(policy: policy, capacity: .entries(32), readBufferSize: 8, hashSeed: 3))
        let keys = (0..<48).map { "ring:\($0)" }
        let done = Atomic<Bool>(false)
        let reads = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 3) { thread in
            if thread == 0 {
                var random = SplitMix64(seed: 11)
                for step in 0..<60_000 {
                    let index = Int(random.next() % UInt64(keys.count))
                    switch random.next() % 10 {
                    case 0..<6: cache.setValue(Tagged(key: index, version: step), forKey: keys[index])
                    case 6..<9: cache.removeValue(forKey: keys[index])
                    default: if step % 500 == 0 { cache.removeAll() }
                    }
                }
                done.store(true, ordering: .releasing)
            } else {
                var random = SplitMix64(seed: UInt64(thread) &* 7)
                var count = 0
                while !done.load(ordering: .acquiring) {
                    let index = Int(random.next() % UInt64(keys.count))
                    if let value = cache.value(forKey: keys[index]) { #expect(value.key == index) }
                    count += 1
                }
                reads.add(count, ordering: .relaxed)
            }
        }
        cache.runMaintenance()
        let metrics = cache.metrics
        #expect(metrics.hits + metrics.misses == UInt64(reads.load(ordering: .relaxed)))
        #if DCACHE_INTERNAL_CHECKS
        cache.store.shards.forEach { $0._checkInvariants() }
        #endif
        cache.close()
    }

    /// More threads alive at once than the directory has blocks (a directory of one here): the
    /// extra threads record nothing in a ring, but their reads are still counted exactly.
    @Test func threadsBeyondTheDirectory_areCountedExactly() throws {
        let store = try EntryStore(configuration: .init(capacity: .entries(100), hashSeed: 4), threadDirectorySize: 1)
        let key = "present"
        let hash = store.hash(key)
        store.insert(StoreEntry(key: key, value: 1, keyHash: hash, weight: 1, expiresAt: Int64.max)) { _ in true }
        let threads = 8
        let arrived = Atomic<Int>(0)
        let finished = DispatchGroup()
        // Each thread reads and then waits for the others, so all are alive at once and hold
        // distinct thread indexes: at most one of them has the directory's block.
        for _ in 0..<threads {
            finished.enter()
            Thread {
                for _ in 0..<100 {
                    _ = store.withEntry(forKey: key, hash: hash) { _ in true }
                    _ = store.withEntry(forKey: "absent", hash: store.hash("absent")) { _ in true }
                }
                arrived.add(1, ordering: .acquiringAndReleasing)
                while arrived.load(ordering: .acquiring) < threads { usleep(1_000) }
                finished.leave()
            }.start()
        }
        finished.wait()
        let metrics = store.metrics
        #expect(metrics.hits == UInt64(threads * 100))
        #expect(metrics.misses == UInt64(threads * 100))
        store.close()
    }
}
