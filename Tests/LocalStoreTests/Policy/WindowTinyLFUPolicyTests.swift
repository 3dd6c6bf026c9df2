import Testing

@testable import LocalStore

/// Tests of `WindowTinyLFUPolicy`: admission, scan resistance, the event contract, invariants.
@Suite struct WindowTinyLFUPolicyTests {
    private let keeper = NodeKeeper()

    /// A cache: the policy plus a dictionary as the table, driven like the storage core.
    final class Harness {
        let policy: WindowTinyLFUPolicy
        var table: [UInt64: PolicyNode] = [:]
        var evicted: [UInt64] = []
        var hits = 0
        var requests = 0

        init(size: Int, seed: UInt64 = 1) {
            policy = WindowTinyLFUPolicy(maximumWeight: size, seed: seed)
        }

        // The policy links the table's nodes unretained: unlink them before the table goes.
        deinit { policy.removeAll { _ in } }

        /// get, then put on a miss (demand fill); returns whether it hit.
        @discardableResult
        func request(_ key: UInt64, weight: UInt32 = 1) -> Bool {
            requests += 1
            let keyHash = SplitMix64.mix(key)
            if let node = table[key] {
                hits += 1
                policy.recordAccess(node)
                return true
            }
            policy.recordMiss(keyHash: keyHash)
            insert(key, weight: weight)
            return false
        }

        func insert(_ key: UInt64, weight: UInt32 = 1) {
            keysByHash[SplitMix64.mix(key)] = key
            let node = PolicyNode(keyHash: SplitMix64.mix(key), weight: weight, expiresAt: Int64.max)
            table[key] = node
            policy.add(node, evict: evict)
        }

        func evict(_ victim: PolicyNode, _ cause: RemovalCause) {
            #expect(victim.state == .dead && victim.queue == .none && cause == .size)
            let key = key(of: victim.keyHash)
            #expect(table[key] === victim)
            table[key] = nil
            evicted.append(key)
        }

        /// Keys by hash, to find a victim's key (the node only knows its hash).
        var keysByHash: [UInt64: UInt64] = [:]
        func key(of keyHash: UInt64) -> UInt64 { keysByHash[keyHash]! }
    }

    @Test func admission_scanAfterAHotSet_keepsTheHotSet() {
        // 90 hot keys read 20 times each (estimates saturate), then a scan of 1,000 keys (ten
        // times the cache) read once each. The scan spans at most two agings of the sketch (each
        // halves every counter), so a hot victim's estimate is still 3 or more against a scan
        // key's 1 (or a collision more):
        // the scan never wins, the hot set survives and the scan only churns the small window.
        // (A much longer scan ages the hot keys down to 0, and then they are rightly replaced:
        // that is what the aging is for.)
        let cache = Harness(size: 100)
        for _ in 0..<20 { for key in 0..<90 { cache.request(UInt64(key)) } }
        for key in 1_000..<2_000 { cache.request(UInt64(key)) }
        let survivors = (0..<90).filter { cache.table[UInt64($0)] != nil }.count
        #expect(survivors >= 88)
        #if DCACHE_INTERNAL_CHECKS
        cache.policy._checkInvariants()
        #endif
    }

    @Test func admission_candidateMoreFrequentThanVictim_replacesIt() {
        // Fill 10 entries (window 1), then read key 500 six times without inserting it: its
        // estimate (6) beats any resident's (1), so inserting it evicts a resident, not itself.
        let cache = Harness(size: 10)
        for key in 0..<10 { cache.request(UInt64(key)) }
        for _ in 0..<6 { cache.policy.sketch.increment(SplitMix64.mix(500)) }
        cache.insert(500)
        cache.insert(501)  // pushes 500 out of the window: it competes now
        #expect(cache.table[500] != nil)
        #expect(cache.table[501] != nil)
    }

    @Test func admission_tie_keepsTheVictim() {
        // Every key read once: candidate and victim estimates tie at 1 and the victim stays, so
        // each insert evicts the entry it pushed out of the one-entry window: first 49 (the
        // window's resident after the fill), then 1,000.
        let cache = Harness(size: 50)
        for key in 0..<50 { cache.request(UInt64(key)) }
        cache.evicted.removeAll()
        cache.request(1_000)
        cache.request(1_001)
        #expect(cache.evicted == [49, 1_000])
    }

    @Test func admit_warmCandidateAgainstHotterVictim_winsAboutOneInOneHundredTwentyEight() {
        // Hash-flooding defence: a candidate at the warm threshold (6) losing to a saturated
        // victim still wins 1/128 of comparisons. Over 12,800 comparisons expect 100 wins; the
        // binomial standard deviation is ~10, so 60...140 is a 4-sigma band.
        let policy = WindowTinyLFUPolicy(maximumWeight: 100, seed: 9)
        let candidate: UInt64 = 11, victim: UInt64 = 12
        for _ in 0..<WindowTinyLFUPolicy.warmCandidateFrequency { policy.sketch.increment(candidate) }
        for _ in 0..<20 { policy.sketch.increment(victim) }
        let wins = (0..<12_800).filter { _ in policy.admit(candidate: candidate, victim: victim) }.count
        #expect((60...140).contains(wins))
        // A cold candidate never profits.
        let cold: UInt64 = 13
        policy.sketch.increment(cold)
        #expect(!(0..<10_000).contains { _ in policy.admit(candidate: cold, victim: victim) })
    }

    @Test func events_randomMix_keepTheInvariantsAndTheContract() {
        // Random weighted inserts, reads, replacements, removals, shrinking and growing maximum:
        // after every event the structure is consistent, no event leaves the cache over its
        // maximum, and the linked weight equals weightedSize (checked by _checkInvariants).
        var random = SplitMix64(seed: 21)
        let cache = Harness(size: 200, seed: 4)
        for step in 0..<30_000 {
            let key = random.next() % 600
            switch random.next() % 10 {
            case 0...5:
                cache.request(key, weight: UInt32(1 + random.next() % 4))
            case 6:
                if let old = cache.table[key] {
                    let new = PolicyNode(keyHash: old.keyHash, weight: UInt32(1 + random.next() % 6), expiresAt: Int64.max)
                    cache.table[key] = new
                    cache.policy.replace(old, with: new, evict: cache.evict)
                    #expect(old.state == .dead)
                }
            case 7:
                if let node = cache.table.removeValue(forKey: key) {
                    cache.policy.remove(node)
                    #expect(node.state == .dead && node.next == nil && node.previous == nil)
                }
            case 8 where step % 97 == 0:
                cache.policy.maximumWeight = 50 + Int(random.next() % 300)
                cache.policy.evictIfNeeded(evict: cache.evict)
            case 9 where step % 1_013 == 0:
                var cleared = 0
                cache.policy.removeAll { node in
                    #expect(node.state == .dead)
                    cleared += 1
                }
                #expect(cleared == cache.table.count)
                cache.table.removeAll()
            default:
                break
            }
            #expect(cache.policy.weightedSize <= cache.policy.maximumWeight)
            #if DCACHE_INTERNAL_CHECKS
            if step % 64 == 0 { cache.policy._checkInvariants() }
            #endif
        }
        #if DCACHE_INTERNAL_CHECKS
        cache.policy._checkInvariants()
        #endif
    }

    @Test func replace_protectedEntry_keepsItsPlaceAndQueue() {
        let cache = Harness(size: 10)
        for key in 0..<10 { cache.request(UInt64(key)) }
        cache.request(3)  // probation -> protected
        let old = cache.table[3]!
        #expect(old.queue == .protected)
        let new = PolicyNode(keyHash: old.keyHash, weight: 1, expiresAt: Int64.max)
        cache.table[3] = new
        cache.policy.replace(old, with: new, evict: cache.evict)
        #expect(new.queue == .protected && new.state == .linked && old.state == .dead)
        #if DCACHE_INTERNAL_CHECKS
        cache.policy._checkInvariants()
        #endif
    }

    @Test func add_deadNode_isIgnored() {
        let policy = WindowTinyLFUPolicy(maximumWeight: 10)
        let node = keeper.node(1)
        policy.remove(node)  // pending -> dead: the table removed it before the policy saw it
        policy.add(node) { _, _ in Issue.record("nothing to evict") }
        #expect(node.state == .dead && policy.weightedSize == 0)
    }
}
