// WindowTinyLFUPolicy: the default eviction policy, adaptive W-TinyLFU.
//
// Design note. W-TinyLFU [1] splits the cache in two. New entries enter a small LRU "admission
// window", which catches bursts of recency. An entry pushed out of the window becomes a
// candidate for the "main space", a segmented LRU [2] (probation, then protected after a second
// hit; protected is 80% of main), and is admitted only if the TinyLFU frequency sketch [3] says it
// was used more often recently than main's own victim. Main is therefore scan resistant and holds
// the frequent keys; the window keeps a brand-new key alive long enough to earn a frequency.
//
// The split is the policy's one real parameter. A static 1% window (Caffeine 2.6 [4]) loses up to
// 32 points of hit ratio to plain LRU on recency-skewed workloads (the traces' README, corda and
// orm-busy), while a big window loses the frequency workloads (loop, p3). So the window adapts;
// the mechanism and its constants are in `WindowTinyLFUPolicy+Climber.swift`. Admission and the
// eviction walk are in `WindowTinyLFUPolicy+Eviction.swift`.
//
// Parameters:
//   - protected = 80% of main: Caffeine's `PERCENT_MAIN_PROTECTED` [4], the SLRU split the W-TinyLFU
//     paper evaluated [1].
//   - The sketch and the climber's miniatures are sized for the entry count and grow with it
//     (see `growModelsIfNeeded`): a cache configured by cost (the default maximum is 1 GiB of
//     cost units) must not pay up front for the entries it may never hold.
//
// Everything here is O(1) per event except the window resize the climber orders, which moves at
// most `WindowTinyLFUPolicy.transferLimit` entries per event (amortized like Caffeine's
// `QUEUE_TRANSFER_THRESHOLD`).
//
// [1] G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//     ACM Transactions on Storage 13(4), 2017, https://dl.acm.org/doi/10.1145/3149371
// [2] R. Karedla, J. S. Love, B. G. Wherry, "Caching Strategies to Improve Disk System Performance",
//     IEEE Computer 27(3), 1994, https://doi.org/10.1109/2.268884
// [3] `FrequencySketch.swift` and `Doorkeeper.swift` in this folder.
// [4] B. Manes, Caffeine `BoundedLocalCache.java`,
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/BoundedLocalCache.java
//
// Concurrency: a plain class. Every stored property is guarded by the cache's policy lock, which
// the caller holds around every method.

/// Adaptive W-TinyLFU. See the design note at the top of this file.
final class WindowTinyLFUPolicy: EvictionPolicy {
    /// Share of main that is protected (see the design note).
    static let protectedShare = 0.80
    /// The most entries moved between regions per event when the window is resized.
    static let transferLimit = 1_000
    /// The fewest entries the sketch models. Below that, growing costs more resets than it saves
    /// memory.
    static let minimumModeledEntries = 64
    /// The most entries the climber models before the cache holds any: up to this size the
    /// miniatures cost the same (their sampling rate falls as the size grows, see
    /// `WindowClimber`), about 200 KB, so they are built at full size from the start; beyond it
    /// they grow with the cache.

    /// Admission window, least recently used first.
    @exclusivity(unchecked) var window = AccessOrderDeque()
    /// Main space, probation segment.
    @exclusivity(unchecked) var probation = AccessOrderDeque()
    /// Main space, protected segment.
    @exclusivity(unchecked) var protected = AccessOrderDeque()

    /// Total weight of all linked nodes.
    private(set) var weightedSize = 0
    /// Weight of the window's nodes.
    var windowWeight = 0
    /// Weight of the protected segment's nodes.
    var protectedWeight = 0
    /// Number of linked nodes (the sketch and the climber's miniatures are sized by it).
    private(set) var entryCount = 0

    /// The most weight the policy keeps. Setting it restarts the climber at the initial share and
    /// never evicts by itself (the next `add` or `evictIfNeeded` does).
    var maximumWeight: Int {
        didSet {
            maximumWeight = max(0, maximumWeight)
            modeledEntries = min(max(1, maximumWeight), max(entryCount * 4, WindowTinyLFUPolicy.minimumModeledEntries))
            sketch.ensureCapacity(modeledEntries)
            climber.resize(entries: WindowTinyLFUPolicy.initialClimberEntries(maximumWeight: maximumWeight, entryCount: entryCount))
            setWindowMaximum(WindowTinyLFUPolicy.windowTarget(share: climber.share, maximumWeight: maximumWeight))
        }
    }
    /// Target weight of the window (the climber moves it).
    private(set) var windowMaximum = 0
    /// Target weight of the protected segment.
    private(set) var protectedMaximum = 0

    /// The TinyLFU frequency estimator.
    let sketch: FrequencySketch
    static let eagerClimberEntries = 65_536

    /// The entry count the sketch is currently sized for.
    private(set) var modeledEntries: Int
    /// Draws the anti-flooding admission jitter.
    @exclusivity(unchecked) var random: SplitMix64
    /// Decides the window's share of the cache.
    @exclusivity(unchecked) var climber: WindowClimber

    /// Creates an empty policy.
    ///
    /// - Parameters:
    ///   - maximumWeight: the most weight to keep.
    ///   - counterLimit: the most counters per sketch row (ristretto's `NumCounters`).
    ///   - seed: seeds the sketch's hash, the climber's key sampling and the admission jitter;
    ///     tests and simulations inject it.
    ///   - doorkeeper: when the sketch puts a doorkeeper in front of its counters.
    init(
        maximumWeight: Int,
        counterLimit: Int = FrequencySketch.unlimited,
        seed: UInt64 = 0x5EED_CAC4E,
        doorkeeper: FrequencySketch.DoorkeeperMode = .automatic
    ) {
        self.maximumWeight = max(0, maximumWeight)
        self.modeledEntries = min(max(1, maximumWeight), WindowTinyLFUPolicy.minimumModeledEntries)
        self.sketch = FrequencySketch(
            maximumEntries: modeledEntries, counterLimit: counterLimit, seed: seed, doorkeeper: doorkeeper)
        self.random = SplitMix64(seed: ~seed)
        self.climber = WindowClimber(seed: seed)
        climber.resize(entries: WindowTinyLFUPolicy.initialClimberEntries(maximumWeight: self.maximumWeight, entryCount: 0))
        setWindowMaximum(WindowTinyLFUPolicy.windowTarget(share: climber.share, maximumWeight: self.maximumWeight))
    }

    // MARK: - Events

    func add(_ node: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        guard node.state == .pending else { return }
        node.state = .linked
        node.queue = .window
        window.append(node)
        let weight = Int(node.weight)
        windowWeight += weight
        weightedSize += weight
        entryCount += 1
        growModelsIfNeeded()
        sketch.increment(node.keyHash)
        if weight != 1 { remodelIfNeeded() }
        evictIfNeeded(evict: evict)
    }

    /// A read of a cached entry; ignored unless the entry is linked.
    @inline(__always)
    func recordAccess(_ node: PolicyNode) {
        guard node.state == .linked else { return }
        climb(node.keyHash)
        sketch.increment(node.keyHash)
        switch node.queue {
        case .window:
            window.moveToBack(node)
        case .probation:
            probation.remove(node)
            node.queue = .protected
            protected.append(node)
            protectedWeight += Int(node.weight)
            demoteFromProtected()
        case .protected:
            protected.moveToBack(node)
        case .none, .lru:
            preconditionFailure("linked node on no W-TinyLFU queue")
        }
    }

    /// A read that found nothing (only the climber uses it).
    @inline(__always)
    func recordMiss(keyHash: UInt64) {
        climb(keyHash)
    }

    func replace(_ old: PolicyNode, with new: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        guard readyToSwap(old, with: new, evict: evict) else { return }
        let delta = Int(new.weight) - Int(old.weight)
        switch old.queue {
        case .window: window.replace(old, with: new); windowWeight += delta
        case .probation: probation.replace(old, with: new)
        case .protected: protected.replace(old, with: new); protectedWeight += delta
        case .none, .lru: preconditionFailure("linked node on no W-TinyLFU queue")
        }
        weightedSize += delta
        new.queue = old.queue
        new.state = .linked
        old.queue = .none
        old.state = .dead
        if new.queue == .protected { demoteFromProtected() }
        evictIfNeeded(evict: evict)
    }

    func remove(_ node: PolicyNode) {
        if node.state == .linked {
            unlink(node)
        }
        node.state = .dead
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Internal checks: nothing links the nodes once the policy is gone, so they may be freed
    /// (PolicyNode's deinit traps on a node freed while linked).
    deinit { removeAll { _ in } }
    #endif

    func removeAll(_ body: (PolicyNode) -> Void) {
        let bury: (PolicyNode) -> Void = { node in
            node.state = .dead
            node.queue = .none
            body(node)
        }
        window.removeAll(bury)
        probation.removeAll(bury)
        protected.removeAll(bury)
        weightedSize = 0
        windowWeight = 0
        protectedWeight = 0
        entryCount = 0
    }

    // MARK: - Bookkeeping shared by the extensions

    /// Unlinks a linked node from whichever queue holds it and updates the weights.
    func unlink(_ node: PolicyNode) {
        let weight = Int(node.weight)
        switch node.queue {
        case .window: window.remove(node); windowWeight -= weight
        case .probation: probation.remove(node)
        case .protected: protected.remove(node); protectedWeight -= weight
        case .none, .lru: preconditionFailure("linked node on no W-TinyLFU queue")
        }
        weightedSize -= weight
        entryCount -= 1
        node.queue = .none
    }

    /// Moves the protected segment's least recently used entries to probation while it is over
    /// its target. They keep their place in main's order: probation's most recently used end,
    /// as in SLRU [2].
    func demoteFromProtected() {
        while protectedWeight > protectedMaximum, let node = protected.removeFirst() {
            protectedWeight -= Int(node.weight)
            node.queue = .probation
            probation.append(node)
        }
    }

    /// Sets the window's target, derives protected's (80% of the rest) and demotes its overflow.
    func setWindowMaximum(_ value: Int) {
        windowMaximum = min(max(0, value), maximumWeight)
        protectedMaximum = Int(WindowTinyLFUPolicy.protectedShare * Double(maximumWeight - windowMaximum))
        demoteFromProtected()
    }

    /// The entries the climber models at first: the maximum up to `eagerClimberEntries`, else
    /// room for the entries held (see `growModelsIfNeeded`).
    static func initialClimberEntries(maximumWeight: Int, entryCount: Int) -> Int {
        min(maximumWeight, max(eagerClimberEntries, entryCount * 4))
    }

    /// Grows the sketch and the climber's miniatures while the cache holds more than half as
    /// many entries as they model, to four times the entry count and at most the maximum weight
    /// (an entry weighs at least 1). Sketch growth forgets the counts, so it happens a
    /// logarithmic number of times, and last at a quarter to a half of the final size, before an
    /// unweighted cache evicts anything; the miniatures keep their contents (`WindowClimber.grow`).
    private func growModelsIfNeeded() {
        if entryCount * 2 > modeledEntries, modeledEntries < maximumWeight {
            modeledEntries = min(maximumWeight, max(entryCount * 4, WindowTinyLFUPolicy.minimumModeledEntries))
            sketch.ensureCapacity(modeledEntries)
        }
        let climberEntries = climber.modeledEntries
        if entryCount * 2 > climberEntries, climberEntries < maximumWeight {
            climber.grow(entries: min(maximumWeight, entryCount * 4))
        }
    }
}
