// WindowTinyLFUPolicy+Eviction: the window-to-main hand-over and TinyLFU admission.
//
// Design note. After every insert the policy restores its two invariants: the window holds at
// most `windowMaximum`, the cache at most `maximumWeight`. Window overflow moves to the most
// recently used end of probation as "candidates"; then, while the cache is over its maximum, the
// newest candidate competes with main's victim (probation's least recently used entry, or
// protected's, or the window's when the others are empty) and the one with the lower estimated
// frequency is evicted, the victim winning ties [1]. This is Caffeine's `evictFromMain` [2]
// without the concurrency: the policy runs under one lock and evicts synchronously, so there is
// almost always exactly one candidate.
//
// Hash flooding. A plain frequency comparison lets an attacker who can make keys collide in the
// sketch keep a hot victim unbeatable, so nothing new is ever admitted. As in Caffeine [2], a
// candidate whose estimate is at least `warmCandidateFrequency` also wins a random 1 in
// `warmAdmissionOdds` of the comparisons it would lose. Warm means 6: the counters saturate at 15
// and the aging halves them to 7, so 6 is below any key that was hot before the last reset, and a
// genuinely cold key (estimate 0–2) never profits. The odds 1/128 are Caffeine's; they bound the
// damage the jitter does on honest workloads to under 1% of warm comparisons.
//
// [1] G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//     ACM Transactions on Storage 13(4), 2017, https://dl.acm.org/doi/10.1145/3149371
// [2] B. Manes, Caffeine `BoundedLocalCache.java` (`evictFromMain`, `admit`),
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/BoundedLocalCache.java
//
// Concurrency: runs under the policy lock, like every method of the policy.

extension WindowTinyLFUPolicy {
    /// A candidate at least this frequent may win a comparison it would lose (see the design note).
    static let warmCandidateFrequency = 6
    /// A warm candidate wins a lost comparison with probability 1 / this (a power of two).
    static let warmAdmissionOdds: UInt64 = 128

    /// Moves window overflow to probation, then evicts from main while over the maximum.
    ///
    /// - Parameter evict: called for each victim after it was unlinked and marked `.dead`.
    func evictIfNeeded(evict: (PolicyNode, RemovalCause) -> Void) {
        let candidates = evictFromWindow()
        if weightedSize > maximumWeight {
            evictFromMain(candidates: candidates, evict: evict)
        }
    }

    /// Moves the window's least recently used entries to probation's most recently used end until
    /// the window fits its target.
    ///
    /// - Returns: how many entries moved (they are the newest entries of probation).
    private func evictFromWindow() -> Int {
        var moved = 0
        while windowWeight > windowMaximum, let node = window.removeFirst() {
            windowWeight -= Int(node.weight)
            node.queue = .probation
            probation.append(node)
            moved += 1
        }
        return moved
    }

    /// Evicts until the cache fits, letting each candidate compete with main's victim.
    private func evictFromMain(candidates: Int, evict: (PolicyNode, RemovalCause) -> Void) {
        var remaining = candidates
        var candidate = remaining > 0 ? probation.last : nil
        while weightedSize > maximumWeight {
            guard let victim = probation.first ?? protected.first ?? window.first else { return }
            guard remaining > 0, let challenger = candidate else {
                evictNode(victim, evict: evict)
                continue
            }
            if challenger === victim || Int(challenger.weight) > maximumWeight {
                candidate = challenger.previous
                remaining -= 1
                evictNode(challenger, evict: evict)
                continue
            }
            remaining -= 1
            if admit(candidate: challenger.keyHash, victim: victim.keyHash) {
                // The victim may be the challenger's predecessor: evict it before stepping back.
                evictNode(victim, evict: evict)
                candidate = challenger.previous
            } else {
                candidate = challenger.previous
                evictNode(challenger, evict: evict)
            }
        }
    }

    /// Whether the candidate should replace the victim: strictly more frequent, or warm and lucky.
    func admit(candidate: UInt64, victim: UInt64) -> Bool {
        let victimFrequency = sketch.frequency(victim)
        let candidateFrequency = sketch.frequency(candidate)
        if candidateFrequency > victimFrequency {
            return true
        }
        if candidateFrequency >= WindowTinyLFUPolicy.warmCandidateFrequency {
            return random.next() & (WindowTinyLFUPolicy.warmAdmissionOdds - 1) == 0
        }
        return false
    }

    /// Unlinks a victim, marks it dead and reports it. The policy never touches it afterwards:
    /// `evict` may release it.
    private func evictNode(_ node: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        unlink(node)
        node.state = .dead
        evict(node, .size)
    }
}
