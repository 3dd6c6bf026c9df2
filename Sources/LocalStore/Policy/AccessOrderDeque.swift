// AccessOrderDeque: an intrusive doubly-linked list of policy nodes in access order.
//
// Design note. Every policy list (LRU, W-TinyLFU's window, probation and protected segments)
// needs four operations in O(1): append a node, unlink any node, move a node to the most recently
// used end, and look at the least recently used end. An intrusive list gives all four without
// allocating, because the links live in the node itself (`PolicyNode.previousLink` / `nextLink`), as in
// Caffeine's `AccessOrderDeque` [1]. The head is the least recently used node (the next victim),
// the tail the most recently used one.
//
// Links are `Unmanaged` (unretained): the deque never retains a node. A node stays alive while linked
// because the cache's table (or the thread removing it from the table) holds a strong reference
// until the policy has unlinked it; see `PolicyNode.swift`. A node is on at most one deque at a
// time, so its links are unambiguous.
//
// What we gave up: there is no count of nodes (the policies keep weights, which is what they
// compare); `_checkInvariants()` walks the list when a count is needed.
//
// [1] B. Manes, Caffeine `AccessOrderDeque.java` / `AbstractLinkedDeque.java`,
//     https://github.com/ben-manes/caffeine/tree/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache
//
// Concurrency: a value type stored in a policy; guarded by the policy lock like the nodes' links.

/// An intrusive doubly-linked list over `PolicyNode.previousLink` and `PolicyNode.nextLink`.
struct AccessOrderDeque {
    /// The least and most recently used nodes, unretained (see `PolicyNode.previousLink`).
    private var firstLink: Unmanaged<PolicyNode>?
    private var lastLink: Unmanaged<PolicyNode>?

    /// Creates an empty deque.
    init() {}

    /// The least recently used node, or nil when empty.
    var first: PolicyNode? { firstLink?.takeUnretainedValue() }
    /// The most recently used node, or nil when empty.
    var last: PolicyNode? { lastLink?.takeUnretainedValue() }

    /// True when no node is linked.
    @inline(__always)
    var isEmpty: Bool { firstLink == nil }

    /// Appends an unlinked node at the most recently used end.
    @inline(__always)
    mutating func append(_ node: PolicyNode) {
        let link = Unmanaged.passUnretained(node)
        node.previousLink = lastLink
        node.nextLink = nil
        if let lastLink {
            lastLink._withUnsafeGuaranteedRef { $0.nextLink = link }
        } else {
            firstLink = link
        }
        lastLink = link
    }

    /// Unlinks a node that is on this deque.
    @inline(__always)
    mutating func remove(_ node: PolicyNode) {
        let previous = node.previousLink
        let next = node.nextLink
        if let previous { previous._withUnsafeGuaranteedRef { $0.nextLink = next } } else { firstLink = next }
        if let next { next._withUnsafeGuaranteedRef { $0.previousLink = previous } } else { lastLink = previous }
        node.previousLink = nil
        node.nextLink = nil
    }

    /// Moves a node that is on this deque to the most recently used end.
    @inline(__always)
    mutating func moveToBack(_ node: PolicyNode) {
        guard lastLink?.toOpaque() != Unmanaged.passUnretained(node).toOpaque() else { return }
        remove(node)
        append(node)
    }

    /// Removes and returns the least recently used node, or nil when empty.
    @inline(__always)
    mutating func removeFirst() -> PolicyNode? {
        guard let link = firstLink else { return nil }
        let node = link.takeUnretainedValue()
        remove(node)
        return node
    }

    /// Puts `new` (unlinked) where `old` (on this deque) is, and unlinks `old`.
    mutating func replace(_ old: PolicyNode, with new: PolicyNode) {
        let link = Unmanaged.passUnretained(new)
        let previous = old.previousLink
        let next = old.nextLink
        new.previousLink = previous
        new.nextLink = next
        if let previous { previous._withUnsafeGuaranteedRef { $0.nextLink = link } } else { firstLink = link }
        if let next { next._withUnsafeGuaranteedRef { $0.previousLink = link } } else { lastLink = link }
        old.previousLink = nil
        old.nextLink = nil
    }

    /// Unlinks every node, calling `body` on each from least to most recently used. `body` may
    /// release the node: the deque no longer refers to it when `body` runs.
    mutating func removeAll(_ body: (PolicyNode) -> Void) {
        var link = firstLink
        firstLink = nil
        lastLink = nil
        while let current = link {
            let node = current.takeUnretainedValue()
            link = node.nextLink
            node.previousLink = nil
            node.nextLink = nil
            body(node)
        }
    }

    /// Calls `body` on each node from least to most recently used. `body` must not change the
    /// deque.
    func forEach(_ body: (PolicyNode) -> Void) {
        var link = firstLink
        while let current = link {
            let node = current.takeUnretainedValue()
            link = node.nextLink
            body(node)
        }
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Walks the list checking that the links agree in both directions and that every node is
    /// on `queue`. Returns the total weight of the nodes.
    @discardableResult
    func _checkInvariants(queue: PolicyQueue) -> Int {
        var weight = 0
        var previous: PolicyNode? = nil
        var node = first
        while let current = node {
            precondition(current.previous === previous, "broken back link")
            precondition(current.queue == queue, "node on the wrong queue")
            precondition(current.state == .linked, "unlinked node on a deque")
            weight += Int(current.weight)
            previous = current
            node = current.next
        }
        precondition(last === previous, "tail does not end the list")
        return weight
    }
    #endif
}
