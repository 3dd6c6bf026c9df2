// LRUPolicy: exact least-recently-used eviction, the library's `lru` option.
//
// Design note. Classic LRU [1]: one access-ordered list, every new entry is admitted at the most
// recently used end, every hit moves its entry there, and the least recently used entries are
// evicted while the total weight exceeds the maximum. It is the right policy for workloads with
// strong recency and no frequency skew, it is the reference the hit-ratio baselines call "LRU"
// (and the harness must reproduce that column to ±0.01 percentage points), and it is what the
// seed library's LRU option (golang-lru) did.
//
// The list is an `AccessOrderDeque` over the nodes' own links, so every operation is O(1) and
// allocation-free. A node heavier than the maximum evicts everything older and then itself.
//
// What we gave up: scan resistance and frequency. Use the default policy
// (`WindowTinyLFUPolicy`) unless the workload is known to be recency-only.
//
// [1] P. J. Denning, "The Working Set Model for Program Behavior", CACM 11(5), 1968,
//     https://doi.org/10.1145/363095.363141
//
// Concurrency: a plain class; every method runs under the cache's policy lock.

/// Exact LRU over intrusive links. See the design note at the top of this file.
final class LRUPolicy: EvictionPolicy {
    /// The single list, least recently used first. Guarded by the policy lock.
    @exclusivity(unchecked) private var list = AccessOrderDeque()
    /// Guarded by the policy lock.
    private(set) var weightedSize: Int = 0
    /// Guarded by the policy lock.
    var maximumWeight: Int

    /// Creates an empty policy.
    ///
    /// - Parameter maximumWeight: the most weight to keep (at least 0).
    init(maximumWeight: Int) {
        self.maximumWeight = max(0, maximumWeight)
    }

    func add(_ node: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        guard node.state == .pending else { return }
        node.state = .linked
        node.queue = .lru
        list.append(node)
        weightedSize += Int(node.weight)
        evictIfNeeded(evict: evict)
    }

    @inline(__always)
    func recordAccess(_ node: PolicyNode) {
        guard node.state == .linked else { return }
        list.moveToBack(node)
    }

    @inline(__always)
    func recordMiss(keyHash: UInt64) {}

    func replace(_ old: PolicyNode, with new: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        guard readyToSwap(old, with: new, evict: evict) else { return }
        list.replace(old, with: new)
        weightedSize += Int(new.weight) - Int(old.weight)
        old.state = .dead
        old.queue = .none
        new.state = .linked
        new.queue = .lru
        evictIfNeeded(evict: evict)
    }

    func remove(_ node: PolicyNode) {
        if node.state == .linked {
            list.remove(node)
            weightedSize -= Int(node.weight)
            node.queue = .none
        }
        node.state = .dead
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Internal checks: nothing links the nodes once the policy is gone, so they may be freed
    /// (PolicyNode's deinit traps on a node freed while linked).
    deinit { removeAll { _ in } }
    #endif

    func removeAll(_ body: (PolicyNode) -> Void) {
        list.removeAll { node in
            node.state = .dead
            node.queue = .none
            body(node)
        }
        weightedSize = 0
    }

    func evictIfNeeded(evict: (PolicyNode, RemovalCause) -> Void) {
        while weightedSize > maximumWeight, let victim = list.removeFirst() {
            weightedSize -= Int(victim.weight)
            victim.state = .dead
            victim.queue = .none
            evict(victim, .size)
        }
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Checks that the list is well linked and that `weightedSize` is the weight on it.
    func _checkInvariants() {
        let weight = list._checkInvariants(queue: .lru)
        precondition(weight == weightedSize, "weightedSize \(weightedSize) != linked weight \(weight)")
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
