import Testing

@testable import LocalStore

/// Tests of `AccessOrderDeque`: the order it keeps under every operation.
@Suite struct AccessOrderDequeTests {
    private let keeper = NodeKeeper()

    /// Linked nodes must be `.linked` for the invariant checker; their key hash names them.
    private func nodes(_ count: Int) -> [PolicyNode] {
        (0..<count).map {
            let n = keeper.node(UInt64($0))
            n.state = .linked
            n.queue = .lru
            return n
        }
    }

    private func order(_ deque: AccessOrderDeque) -> [UInt64] {
        var keys: [UInt64] = []
        deque.forEach { keys.append($0.keyHash) }
        return keys
    }

    @Test func operations_randomSequence_matchAnArrayModel() {
        // Random appends, removals, moves to the back, first removals and replacements, checked
        // against an array after every step.
        var random = SplitMix64(seed: 3)
        let pool = nodes(64)
        var deque = AccessOrderDeque()
        var model: [UInt64] = []
        var spare = 64
        var extra: [PolicyNode] = []
        for _ in 0..<5_000 {
            let pick = pool[Int(random.next() % 64)]
            let onDeque = model.contains(pick.keyHash)
            switch random.next() % 5 {
            case 0 where !onDeque:
                deque.append(pick); model.append(pick.keyHash)
            case 1 where onDeque:
                deque.remove(pick); model.removeAll { $0 == pick.keyHash }
            case 2 where onDeque:
                deque.moveToBack(pick); model.removeAll { $0 == pick.keyHash }; model.append(pick.keyHash)
            case 3:
                let first = deque.removeFirst()
                #expect(first?.keyHash == model.first)
                if !model.isEmpty { model.removeFirst() }
            case 4 where onDeque:
                // Replace with a fresh node (as a set of the same key does), then put the original
                // back in its place so the pool stays usable.
                let fresh = keeper.node(UInt64(spare))
                fresh.state = .linked
                fresh.queue = .lru
                spare += 1
                extra.append(fresh)
                deque.replace(pick, with: fresh)
                #expect(order(deque) == model.map { $0 == pick.keyHash ? fresh.keyHash : $0 })
                deque.replace(fresh, with: pick)
            default:
                break
            }
            #expect(order(deque) == model)
            #if DCACHE_INTERNAL_CHECKS
            deque._checkInvariants(queue: .lru)
            #endif
        }
        #expect(deque.first?.keyHash == model.first && deque.last?.keyHash == model.last)
    }

    @Test func removeAll_visitsInOrderAndLeavesNodesUnlinked() {
        let pool = nodes(5)
        var deque = AccessOrderDeque()
        pool.forEach { deque.append($0) }
        deque.moveToBack(pool[1])
        var visited: [UInt64] = []
        deque.removeAll { node in
            #expect(node.previous == nil && node.next == nil)
            visited.append(node.keyHash)
        }
        #expect(visited == [0, 2, 3, 4, 1])
        #expect(deque.isEmpty && deque.last == nil)
    }

    @Test func moveToBack_lastNode_isANoOp() {
        let pool = nodes(3)
        var deque = AccessOrderDeque()
        pool.forEach { deque.append($0) }
        deque.moveToBack(pool[2])
        #expect(order(deque) == [0, 1, 2])
    }
}
