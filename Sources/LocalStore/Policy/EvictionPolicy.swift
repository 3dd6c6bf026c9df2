// EvictionPolicy: the contract between the storage core and an eviction policy.
//
// Design note. The storage core (the sharded table) owns entries and serves reads without locks;
// a policy owns the order of the entries and decides which ones leave (see `PolicyNode.swift`).
// The core feeds the policy a stream of events under ONE policy lock, so a policy is a plain
// single-threaded class: no locks, no atomics, no allocation per event in steady state, and every
// operation O(1) amortized. The core switches over an enum of the concrete policies, so this
// protocol exists to write the contract down and to let tests run one suite over both policies;
// the hot path never goes through an existential.
//
// Event vocabulary (all under the policy lock):
//   - `add`: a new entry is in the table. The node is `.pending` (ignore it if already `.dead`).
//   - `recordAccess`: a read hit on a `.linked` node.
//   - `recordMiss`: a read missed. It feeds the adaptive policy's hit-rate sample and nothing
//     else; the fill that usually follows is a separate `add`.
//   - `replace`: a set replaced `old` by `new` for the same key; `new` takes `old`'s place.
//   - `remove`: explicit delete, expiry, or clear of one node.
//   - `removeAll`: clear.
// Exclusivity: the policies' (and the sketch's and timer wheel's) stored structs and arrays are
// declared `@exclusivity(unchecked)`. Swift checks at run time that a class's stored property is
// not mutated while another access to it is in progress; each check is a call into the runtime and
// a thread-local lookup, and callgrind showed them as a third of a local hit's instructions
// (amortized replay included). The policy lock makes every access single-threaded, and no policy
// method re-enters another while it mutates a property, so the checks could never fire.
//
// Eviction victims are reported through the `evict` closure AFTER the policy unlinked them and
// marked them `.dead`; the closure removes them from the table (and may release them, so the
// policy never touches a victim after calling it). The victim may be the node just added
// (admission rejected it).

/// The operations every eviction policy offers the storage core. See the design note at the top of
/// this file. Conformers are single-threaded: the caller holds the policy lock around every call.
///
/// A conforming policy must pass, at least, this test: after any sequence of `add`, `replace`,
/// `recordAccess`, `remove` and `evictIfNeeded` calls, `weightedSize` equals the summed weight of
/// the nodes in state `.linked`, `weightedSize <= maximumWeight` after every call that takes an
/// `evict` closure, and every node passed to `evict` is `.dead` and was `.linked` (or was the node
/// being added) before the call.
protocol EvictionPolicy: AnyObject {
    /// Total weight of the linked nodes.
    var weightedSize: Int { get }
    /// The most weight the policy keeps. Setting it never evicts by itself: the next `add`,
    /// `replace` or `evictIfNeeded(evict:)` does.
    var maximumWeight: Int { get set }

    /// Links a new node, then evicts while over the maximum.
    func add(_ node: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void)
    /// Records a read hit on a node.
    func recordAccess(_ node: PolicyNode)
    /// Records a read miss for a key.
    func recordMiss(keyHash: UInt64)
    /// Puts `new` in `old`'s place, then evicts while over the maximum.
    func replace(_ old: PolicyNode, with new: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void)
    /// Unlinks a node (if linked) and marks it dead.
    func remove(_ node: PolicyNode)
    /// Unlinks every node, calling `body` on each after it is unlinked and dead.
    func removeAll(_ body: (PolicyNode) -> Void)
    /// Evicts while over the maximum (after `maximumWeight` shrank).
    func evictIfNeeded(evict: (PolicyNode, RemovalCause) -> Void)
}

extension EvictionPolicy {
    /// The part of `replace` that is the same for every policy: the two cases where it is not a
    /// swap of two nodes. If the policy never linked `old` (its insert event is still to come, or
    /// it was evicted), `new` is simply added and `old` is marked dead so that its late insert
    /// event is ignored. If `new` is already dead (a later write replaced or removed it before
    /// this event was applied), `old` is simply removed.
    ///
    /// - Returns: true when `old` is linked and `new` pending: the caller swaps them.
    @inline(__always)
    func readyToSwap(_ old: PolicyNode, with new: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) -> Bool {
        guard old.state == .linked else {
            if old.state == .pending { old.state = .dead }
            add(new, evict: evict)
            return false
        }
        guard new.state == .pending else {
            remove(old)
            return false
        }
        return true
    }
}
