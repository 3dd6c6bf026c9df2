import Dispatch
import Synchronization
import Testing

@testable import LocalStore

/// A value that says which key it was stored under and in which order.
final class Tagged: Sendable {
    let key: Int
    let version: Int
    init(key: Int, version: Int) {
        self.key = key
        self.version = version
    }
}

@Suite struct StressTests {
    /// Several threads mix gets, sets (some with short TTLs), conditional sets, deletes and the
    /// occasional clear on a small key space, with a capacity below the key count so evictions
    /// run all the time. Every value read must belong to the key it was read under; afterwards
    /// the table, the policy and the metrics must agree. Run under ThreadSanitizer by `make tsan`.
    @Test(arguments: [ShardedCache<Tagged>.Policy.windowTinyLFU, .lru])
    func mixedOperations_manyThreads_staysConsistent(policy: ShardedCache<Tagged>.Policy) throws {
        let cache = try ShardedCache<Tagged>(
            configuration: .init(policy: policy, capacity: .entries(300), readBufferSize: 16, hashSeed: 99))
        let keys = (0..<500).map { "stress:\($0)" }
        let threads = 4
        let operations = 20_000
        let wrongKey = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var random = SplitMix64(seed: UInt64(thread) &+ 1)
            for step in 0..<operations {
                let index = Int(random.next() % UInt64(keys.count))
                let key = keys[index]
                switch random.next() % 100 {
                case 0..<60:
                    if let value = cache.value(forKey: key), value.key != index {
                        wrongKey.add(1, ordering: .relaxed)
                    }
                case 60..<80:
                    let ttl: Duration? = random.next() % 4 == 0 ? .milliseconds(Int(random.next() % 5)) : nil
                    cache.setValue(Tagged(key: index, version: step), forKey: key, ttl: ttl)
                case 80..<88:
                    let version = step
                    cache.setValue(Tagged(key: index, version: version), forKey: key, cost: 1, ttl: nil) {
                        ($0?.version ?? -1) < version
                    }
                case 88..<99:
                    cache.removeValue(forKey: key)
                default:
                    if random.next() % 50 == 0 { cache.removeAll() }
                }
            }
        }
        #expect(wrongKey.load(ordering: .relaxed) == 0)
        cache.runMaintenance()
        let metrics = cache.metrics
        #expect(metrics.entryCount <= 300 + threads, "capacity held within one in-flight insert per thread")
        #expect(metrics.entryCount == cache.count)
        #expect(metrics.hits + metrics.misses > 0)
        #if DCACHE_INTERNAL_CHECKS
        cache.store.shards.forEach { $0._checkInvariants() }
        #endif
        cache.close()
    }

    /// Single-key linearizability, as observed by readers: one writer stores increasing versions
    /// of one key; each reader's successive reads never go back to an older version.
    @Test func singleKey_readsNeverGoBackwards() throws {
        let cache = try ShardedCache<Tagged>(configuration: .init(capacity: .entries(1_000), hashSeed: 5))
        let regressions = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        DispatchQueue.concurrentPerform(iterations: 3) { thread in
            if thread == 0 {
                for version in 0..<50_000 { cache.setValue(Tagged(key: 0, version: version), forKey: "lin") }
                done.store(true, ordering: .releasing)
            } else {
                var last = -1
                while !done.load(ordering: .acquiring) {
                    guard let value = cache.value(forKey: "lin") else { continue }
                    if value.version < last { regressions.add(1, ordering: .relaxed) }
                    last = value.version
                }
            }
        }
        #expect(regressions.load(ordering: .relaxed) == 0)
        #expect(cache.value(forKey: "lin")?.version == 49_999)
    }
}
