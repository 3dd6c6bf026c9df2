// AccessOrderDeque: an intrusive doubly-linked list of policy nodes in access order.
//
// Design note. Every policy list (LRU, W-TinyLFU's window, probation and protected segments)
// needs four operations in O(1): append a node, unlink any node, move a node to the most recently
// used end, and look at the least recently used end. An intrusive list gives all four without
// allocating, because the links live in the node itself (`PolicyNode.previous` / `next`), as in
// Caffeine's `AccessOrderDeque` [1]. The head is the least recently used node (the next victim),
// the tail the most recently used one.
//
// Links are `unowned(unsafe)`: the deque never retains a node. A node stays alive while linked
// because the cache's table (or the thread removing it from the table) holds a strong reference
// until the policy has unlinked it; see `PolicyNode.swift`. A node is on at most one deque at a
// time, so `previous`/`next` are unambiguous.
//
// What we gave up: there is no count of nodes (the policies keep weights, which is what they
// compare); `_checkInvariants()` walks the list when a count is needed.
//
// [1] B. Manes, Caffeine `AccessOrderDeque.java` / `AbstractLinkedDeque.java`,
//     https://github.com/ben-manes/caffeine/tree/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache
//
// Concurrency: a value type stored in a policy; guarded by the policy lock like the nodes' links.

/// An intrusive doubly-linked list over `PolicyNode.previous` and `PolicyNode.next`.
struct AccessOrderDeque {
    /// The least recently used node, or nil when empty.
    unowned(unsafe) private(set) var first: PolicyNode?
    /// The most recently used node, or nil when empty.
    unowned(unsafe) private(set) var last: PolicyNode?

    /// Creates an empty deque.
    init() {}

    /// True when no node is linked.
    @inline(__always)
    var isEmpty: Bool { first == nil }

    /// Appends an unlinked node at the most recently used end.
    @inline(__always)
    mutating func append(_ node: PolicyNode) {
        node.previous = last
        node.next = nil
        if let last {
            last.next = node
        } else {
            first = node
        }
        last = node
    }

    /// Unlinks a node that is on this deque.
    @inline(__always)
    mutating func remove(_ node: PolicyNode) {
        let previous = node.previous
        let next = node.next
        if let previous { previous.next = next } else { first = next }
        if let next { next.previous = previous } else { last = previous }
        node.previous = nil
        node.next = nil
    }

    /// Moves a node that is on this deque to the most recently used end.
    @inline(__always)
    mutating func moveToBack(_ node: PolicyNode) {
        guard last !== node else { return }
        remove(node)
        append(node)
    }

    /// Removes and returns the least recently used node, or nil when empty.
    @inline(__always)
    mutating func removeFirst() -> PolicyNode? {
        guard let node = first else { return nil }
        remove(node)
        return node
    }

    /// Puts `new` (unlinked) where `old` (on this deque) is, and unlinks `old`.
    mutating func replace(_ old: PolicyNode, with new: PolicyNode) {
        let previous = old.previous
        let next = old.next
        new.previous = previous
        new.next = next
        if let previous { previous.next = new } else { first = new }
        if let next { next.previous = new } else { last = new }
        old.previous = nil
        old.next = nil
    }

    /// Unlinks every node, calling `body` on each from least to most recently used. `body` may
    /// release the node: the deque no longer refers to it when `body` runs.
    mutating func removeAll(_ body: (PolicyNode) -> Void) {
        var node = first
        first = nil
        last = nil
        while let current = node {
            node = current.next
            current.previous = nil
            current.next = nil
            body(current)
        }
    }

    /// Calls `body` on each node from least to most recently used. `body` must not change the
    /// deque.
    func forEach(_ body: (PolicyNode) -> Void) {
        var node = first
        while let current = node {
            node = current.next
            body(current)
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
