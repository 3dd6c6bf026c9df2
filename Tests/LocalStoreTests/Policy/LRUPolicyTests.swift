import Testing

@testable import LocalStore

/// Tests of `LRUPolicy`: exact LRU order, weights, and the event contract.
@Suite struct LRUPolicyTests {
    private let keeper = NodeKeeper()

    private func node(_ key: UInt64, weight: UInt32 = 1) -> PolicyNode {
        keeper.node(key, weight: weight)
    }

    /// Replays keys through the policy with a dictionary as storage; returns the evicted keys.
    private func replay(_ keys: [UInt64], capacity: Int) -> (hits: Int, evicted: [UInt64]) {
        let policy = LRUPolicy(maximumWeight: capacity)
        var table: [UInt64: PolicyNode] = [:]
        var hits = 0
        var evicted: [UInt64] = []
        for key in keys {
            if let n = table[key] {
                hits += 1
                policy.recordAccess(n)
            } else {
                let n = node(key)
                table[key] = n
                policy.add(n) { victim, cause in
                    #expect(cause == .size && victim.state == .dead)
                    evicted.append(victim.keyHash)
                    table[victim.keyHash] = nil
                }
            }
            policy._checkInvariants()
        }
        return (hits, evicted)
    }

    @Test func add_handmadeSequence_evictsTheLeastRecentlyUsed() {
        // Capacity 3: a b c fill it; a is used again, so d evicts b (the least recent); c is the
        // least recent when e arrives; then b misses and evicts a.
        //   a b c a d e b a
        //   M M M H M M M M  ->  hits 1, evictions b c a d
        let (hits, evicted) = replay([1, 2, 3, 1, 4, 5, 2, 1], capacity: 3)
        #expect(hits == 1)
        #expect(evicted == [2, 3, 1, 4])
    }

    @Test func replay_randomKeys_matchesAReferenceLRU() {
        // The reference keeps keys in an array, most recent last.
        var random = SplitMix64(seed: 17)
        let keys = (0..<20_000).map { _ in random.next() % 300 }
        var reference: [UInt64] = []
        var referenceHits = 0
        var referenceEvicted: [UInt64] = []
        for key in keys {
            if let i = reference.firstIndex(of: key) {
                referenceHits += 1
                reference.remove(at: i)
            } else if reference.count == 100 {
                referenceEvicted.append(reference.removeFirst())
            }
            reference.append(key)
        }
        let (hits, evicted) = replay(keys, capacity: 100)
        #expect(hits == referenceHits)
        #expect(evicted == referenceEvicted)
    }

    @Test func add_heavierThanMaximum_evictsOthersThenItself() {
        let policy = LRUPolicy(maximumWeight: 10)
        let small = [node(1, weight: 4), node(2, weight: 4)]
        small.forEach { policy.add($0) { _, _ in } }
        let huge = node(3, weight: 11)
        var evicted: [UInt64] = []
        policy.add(huge) { victim, _ in evicted.append(victim.keyHash) }
        #expect(evicted == [1, 2, 3])
        #expect(policy.weightedSize == 0)
        policy._checkInvariants()
    }

    @Test func replace_linkedNode_takesItsPlaceAndWeight() {
        let policy = LRUPolicy(maximumWeight: 10)
        let a = node(1, weight: 2), b = node(2, weight: 2), c = node(3, weight: 2)
        [a, b, c].forEach { policy.add($0) { _, _ in } }
        let newB = node(2, weight: 5)
        var evicted: [UInt64] = []
        policy.replace(b, with: newB) { victim, _ in evicted.append(victim.keyHash) }
        // 2 + 5 + 2 = 9 fits; newB sits where b was, so a is still the next victim.
        #expect(evicted.isEmpty && b.state == .dead && newB.state == .linked)
        #expect(policy.weightedSize == 9)
        let d = node(4, weight: 2)
        policy.add(d) { victim, _ in evicted.append(victim.keyHash) }
        #expect(evicted == [1])
        policy._checkInvariants()
    }

    @Test func events_deadOrPendingNodes_areIgnoredOrBuried() {
        let policy = LRUPolicy(maximumWeight: 10)
        let dead = node(1)
        dead.state = .dead
        policy.add(dead) { _, _ in }
        #expect(policy.weightedSize == 0 && dead.queue == .none)
        let pending = node(2)
        policy.remove(pending)
        #expect(pending.state == .dead)
        policy.recordAccess(pending)
        let linked = node(3)
        policy.add(linked) { _, _ in }
        var cleared: [UInt64] = []
        policy.removeAll { cleared.append($0.keyHash) }
        #expect(cleared == [3] && linked.state == .dead && policy.weightedSize == 0)
        policy._checkInvariants()
    }

    @Test func maximumWeight_shrunk_evictsOnlyWhenAsked() {
        let policy = LRUPolicy(maximumWeight: 10)
        let nodes = (1...10).map { node(UInt64($0)) }
        nodes.forEach { policy.add($0) { _, _ in } }
        policy.maximumWeight = 4
        #expect(policy.weightedSize == 10)
        var evicted: [UInt64] = []
        policy.evictIfNeeded { victim, _ in evicted.append(victim.keyHash) }
        #expect(evicted == [1, 2, 3, 4, 5, 6])
        policy._checkInvariants()
    }

    #if DCACHE_INTERNAL_CHECKS
    /// The misuse behind a use-after-free once found under AddressSanitizer: a node freed while a
    /// live policy still links it. Debug builds trap at the free, not later at the dangling link.
    @Test func nodeFreedWhileLinked_trapsInDebugBuilds() async {
        await #expect(processExitsWith: .failure) {
            let policy = LRUPolicy(maximumWeight: 10)
            do {
                let node = PolicyNode(keyHash: 1, weight: 1, expiresAt: Int64.max)
                policy.add(node) { _, _ in }
            }
            policy.recordMiss(keyHash: 2)
        }
    }
    #endif
}
