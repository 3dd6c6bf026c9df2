// WindowClimber: sizes W-TinyLFU's admission window by racing miniature caches.
//
// Design note. The best window share depends on the workload: ~0% on loops and frequency-skewed
// traces, 80–100% on recency bursts (the traces' README: a static 1% window loses 32 points to LRU
// on corda). Caffeine 3 hill-climbs on the hit rate [1]: every 10 x maximum requests it compares
// the sample's hit rate with the previous one and steps the window. That signal confounds the
// window's effect with the workload's phases, and it is slow: a 1,000-entry cache needs ~13
// samples (130,000 requests) to walk from 1% to 80%, longer than the sprite and corda traces. We
// measured a Caffeine-style climber with samples of 1 x maximum instead: it oscillates on
// loop-like traces (loop@256 fell from 22% to 4%).
//
// Instead the climber races fixed alternatives on the SAME requests, which removes the phase
// noise, as the miniature-simulation variant of adaptive W-TinyLFU does [2]: eight miniature
// caches (`MiniatureCache.swift`) with window shares 0, 1, 4, 12, 30, 55, 80 and 100% replay the
// reads of a spatially sampled subset of the keys [3]. The real window follows the winner:
//
//   - Sampling: a key takes part when its (separately seeded) hash falls in the lowest R of the
//     hash space, R = max(256 / C, 1/64), capped at 1; a miniature holds R x C entries. 256
//     entries keep the window shares apart (1% is 2.6 entries, 4% ten); 1/64 keeps the sample
//     large enough on big caches (p3 at 381,272 entries went from 72.6% to 75.7% when R rose
//     from 0.27% to 1/64). Cost: 8 miniature reads per sampled read (about 1,000 instructions),
//     i.e. at most 8 per read for caches up to 256 entries and 1/8 per read above 16,384; memory
//     ~8 x 30 B x R x C. The target was 1,024 entries until the upkeep's budget of 120
//     instructions per replayed read (perf/instructions) made a 10,000-entry cache's 10% sample
//     too dear (about 100 instructions a read); 256 cost no baseline row more than 0.15 points
//     of hit ratio (perf/RESULTS.md), 512 up to 0.19.
//   - Evidence: for every pair (i, j) the climber needs an exponentially decayed count of sampled
//     reads that miniature i hit and j missed. Because both saw the same reads, "is i better
//     than the current choice j" is a paired test: McNemar's statistic (b - w) / sqrt(b + w)
//     with b = hits(i not j), w = hits(j not i) [4]. Decay time constant: 8 epochs. The counts
//     are kept per outcome rather than per pair: a sampled read adds to the decayed count of its
//     outcome, the 8-bit mask of the miniatures that hit (one addition, where updating every
//     pair cost up to 64), and the pairs are summed from the 256 outcome counts once per epoch,
//     when a decision needs them. The sums are the same.
//   - Decision, once per epoch of `capacity` sampled reads: move to the miniature with the
//     largest gain b - w over the current one, if the gain is significant (z >= 2) and material
//     (>= 3% of the current miniature's decayed hits). Materiality matters because a move is not
//     free: the real cache must refill the region it grows, and a frequency-selected main space
//     takes a long time to rebuild (p3: an excursion to 100% cost 2.5 points over the rest of
//     the trace). The epoch of one miniature capacity keeps the very first decision until the
//     miniatures have turned over once (glimpse@1000 lost 8 points to an earlier, transient one).
//     These four constants (epoch, decay, z, 3%) were chosen on the traces' baselines table:
//     loop@512 needed the paired test (a Poisson test on the totals held a wrong 4% window,
//     48.5% vs 50.4%), sprite@1000 and glimpse@1000 the one-capacity epoch, p3@381272 the 3%.
//
// What we gave up: the grid is coarse (the optimum between two shares is approximated by the
// better one), the miniatures model entries rather than weights, and a few thousand sampled reads
// pass before the first move.
//
// [1] B. Manes, Caffeine `BoundedLocalCache.climb()` and `determineAdjustment()`,
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/BoundedLocalCache.java
// [2] G. Einziger, O. Eytan, R. Friedman, B. Manes, "Adaptive Software Cache Management",
//     Middleware 2018, https://dl.acm.org/doi/10.1145/3274808.3274816
// [3] C. A. Waldspurger, T. Saemundsson, I. Ahmad, N. Park, "Cache Modeling and Optimization using
//     Miniature Simulations", USENIX ATC 2017, https://www.usenix.org/conference/atc17/technical-sessions/presentation/waldspurger
// [4] Q. McNemar, "Note on the sampling error of the difference between correlated proportions
//     or percentages", Psychometrika 12(2), 1947, https://doi.org/10.1007/BF02295996
//
// Concurrency: a value type stored in the policy; guarded by the policy lock.

/// Chooses the admission window's share by racing miniature caches. See the design note at the
/// top of this file.
struct WindowClimber {
    /// The window shares raced, in increasing order.
    static let shares: [Double] = [0, 0.01, 0.04, 0.12, 0.30, 0.55, 0.80, 1.0]
    /// The share the cache starts with (Caffeine's static default).
    static let initialShare = 0.01
    /// Miniature capacity below which the sampling rate is raised (see the design note).
    static let targetMiniatureEntries = 256
    /// The lowest sampling rate (see the design note).
    static let minimumSamplingRate = 1.0 / 64
    /// Decay time constant of the evidence, in epochs.
    static let decayEpochs = 8.0
    /// Significance a move needs (McNemar z).
    static let significance = 2.0
    /// Gain a move needs, as a share of the current miniature's decayed hits.
    static let materiality = 0.03
    /// Rescale the decayed counters before the growing increment overflows a double's exponent.
    private static let rescaleLimit = 0x1p200

    /// The miniatures, one per share.
    private var miniatures: [MiniatureCache] = []
    /// outcomes[m]: decayed count of sampled reads whose hit mask (bit i: miniature i hit) was
    /// m, times `scale`.
    private var outcomes = [Double](repeating: 0, count: 1 << WindowClimber.shares.count)
    /// The current increment (1 / decay^reads): decaying by scaling the increment up.
    private var scale = 1.0
    /// Per-read growth of `scale`.
    private var growth = 1.0
    /// Sampled reads since the last decision.
    private var readsInEpoch = 0
    /// Keys whose sampling hash is at most this take part.
    private var threshold: UInt64 = 0
    /// The sampling rate the threshold was derived from (before rounding the capacity).
    private var samplingRate = 0.0
    /// Seed of the sampling hash, independent of the sketch's.
    private let seed: UInt64
    /// Index into `shares` of the current choice.
    private(set) var current: Int
    /// Entries the miniatures were sized for (maximum weight / average weight).
    private(set) var modeledEntries = 0

    /// Creates a climber; call `resize` before use.
    ///
    /// - Parameter seed: seeds the key sampling.
    init(seed: UInt64) {
        self.seed = SplitMix64.mix(seed ^ 0x5A3D_1E5C_0FFE_E000)
        self.current = WindowClimber.shares.firstIndex(of: WindowClimber.initialShare)!
    }

    /// Entries held by each miniature (for tests and diagnostics).
    var miniatureCounts: [Int] { miniatures.map(\.count) }

    /// The window share currently chosen.
    var share: Double { WindowClimber.shares[current] }

    /// Rebuilds the miniatures for a cache of `entries` entries, forgetting the evidence.
    ///
    /// - Parameters:
    ///   - entries: the number of entries the cache holds when full.
    ///   - keepingShare: keep the current choice (a re-estimate of the entry count) rather than
    ///     restart at the initial share (a new maximum).
    mutating func resize(entries: Int, keepingShare: Bool = false) {
        modeledEntries = max(0, entries)
        if !keepingShare {
            current = WindowClimber.shares.firstIndex(of: WindowClimber.initialShare)!
        }
        guard entries > 0 else {
            miniatures = []
            return
        }
        let rate = WindowClimber.samplingRate(entries: entries)
        samplingRate = rate
        let capacity = max(1, Int((rate * Double(entries)).rounded()))
        let exactRate = Double(capacity) / Double(entries)
        threshold = exactRate >= 1 ? .max : UInt64(exactRate * 0x1p64)
        miniatures = WindowClimber.shares.map { MiniatureCache(capacity: capacity, windowShare: $0) }
        outcomes = [Double](repeating: 0, count: 1 << miniatures.count)
        scale = 1
        growth = 1 / (1 - 1 / (WindowClimber.decayEpochs * Double(capacity)))
        readsInEpoch = 0
    }

    /// The share of the keys sampled for a cache of `entries` entries (see the design note).
    static func samplingRate(entries: Int) -> Double {
        min(1, max(Double(WindowClimber.targetMiniatureEntries) / Double(entries), WindowClimber.minimumSamplingRate))
    }

    /// Models a larger cache, keeping the miniatures' contents and the evidence when the key
    /// sample stays the same (always the case above 65,536 entries, where the rate is at its
    /// floor); otherwise rebuilds them as `resize(entries:keepingShare: true)` does.
    ///
    /// The policy grows the model with the cache (a cache configured by cost may never hold the
    /// entries its maximum allows, and should not pay for them up front). It grows before the
    /// cache is half full, so a miniature that kept its contents has evicted nothing yet and
    /// holds what a full-size miniature would hold.
    mutating func grow(entries: Int) {
        guard entries > modeledEntries else { return }
        guard !miniatures.isEmpty, WindowClimber.samplingRate(entries: entries) == samplingRate else {
            resize(entries: entries, keepingShare: true)
            return
        }
        modeledEntries = entries
        let capacity = max(1, Int((samplingRate * Double(entries)).rounded()))
        miniatures = miniatures.map { $0.grown(to: capacity) }
        growth = 1 / (1 - 1 / (WindowClimber.decayEpochs * Double(capacity)))
    }

    /// Replays a read of `keyHash` in the miniatures if the key is sampled.
    ///
    /// - Parameters:
    ///   - keyHash: the key's hash.
    ///   - sketch: the real cache's frequency sketch, which the miniatures' admission consults.
    ///   - mayMove: false while the model is not final (the cache is still filling up): the
    ///     evidence accumulates, but no decision is taken on it yet.
    /// - Returns: the share to move the real window to when this read completed an epoch whose
    ///   evidence favours a different share; nil otherwise.
    mutating func read(_ keyHash: UInt64, sketch: FrequencySketch, mayMove: Bool = true) -> Double? {
        guard samples(keyHash) else { return nil }
        return readSampled(keyHash, sketch: sketch, mayMove: mayMove)
    }

    /// Whether the key is in the sample (and the miniatures exist): the only climber work an
    /// unsampled read pays. The sample has its own seeded mix: deriving it from the sketch's
    /// mix (one multiply instead of a mix) cost p3@76254 a point and loop@1000 another, as if
    /// a sample correlated with the counters' positions biased the miniatures' admission.
    @inline(__always)
    func samples(_ keyHash: UInt64) -> Bool {
        !miniatures.isEmpty && SplitMix64.mix(keyHash ^ seed) <= threshold
    }

    /// `read` for a key already known to be sampled.
    mutating func readSampled(_ keyHash: UInt64, sketch: FrequencySketch, mayMove: Bool) -> Double? {
        let k = miniatures.count
        var hitMask: UInt32 = 0
        // One uniqueness check for the loop, not one per miniature.
        miniatures.withUnsafeMutableBufferPointer { miniatures in
            for i in 0..<k where miniatures[i].read(keyHash, sketch: sketch) {
                hitMask |= 1 << UInt32(i)
            }
        }
        record(hitMask)
        readsInEpoch += 1
        guard readsInEpoch >= miniatures[0].capacity else { return nil }
        readsInEpoch = 0
        return mayMove ? decide() : nil
    }

    /// Adds one read's outcome to the decayed evidence.
    private mutating func record(_ hitMask: UInt32) {
        scale *= growth
        if scale > WindowClimber.rescaleLimit {
            for m in outcomes.indices { outcomes[m] /= scale }
            scale = 1
        }
        // A read that no miniature hit is evidence for no pair.
        guard hitMask != 0 else { return }
        outcomes[Int(hitMask)] += scale
    }

    /// Decayed count of reads miniature `i` hit and `j` missed (nil `j`: that `i` hit), from the
    /// outcome counts, times `scale`.
    private func evidence(hit i: Int, missed j: Int?) -> Double {
        var total = 0.0
        for mask in outcomes.indices where mask >> i & 1 == 1 && j.map({ mask >> $0 & 1 == 0 }) ?? true {
            total += outcomes[mask]
        }
        return total
    }

    /// The epoch's decision (see the design note).
    private mutating func decide() -> Double? {
        let k = miniatures.count
        var best = current
        var bestGain = 0.0
        let currentHits = evidence(hit: current, missed: nil) / scale
        for i in 0..<k where i != current {
            let better = evidence(hit: i, missed: current) / scale
            let worse = evidence(hit: current, missed: i) / scale
            let gain = better - worse
            if gain > bestGain, gain >= WindowClimber.significance * (better + worse).squareRoot(),
                gain >= WindowClimber.materiality * currentHits
            {
                best = i
                bestGain = gain
            }
        }
        guard best != current else { return nil }
        current = best
        return WindowClimber.shares[best]
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Checks every miniature.
    func _checkInvariants() {
        miniatures.forEach { $0._checkInvariants() }
        precondition(miniatures.isEmpty || outcomes.count == 1 << miniatures.count, "outcome table size")
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
