// TimerWheel: expires entries at their deadlines in amortized O(1) per entry.
//
// Design note. A cache with time-to-live must find the entries whose deadline has passed without
// scanning all of them. A hierarchical timing wheel [1] does it: deadlines are sorted into buckets
// of increasing span, a bucket far in the future is coarse, and as time advances the buckets that
// come due are emptied, expiring what is due and "cascading" the rest into finer buckets. Caffeine
// does this with five wheels of 1.07 s to 6.5 d spans [2] and accepts expiring up to a bucket span
// late, because its readers check deadlines themselves. Ours must expire every node whose deadline
// is at or before the time it is advanced to, so the finest level is exact:
//
//   - Eleven levels of 64 buckets. Level L's buckets span 2^(6L) ns: 1 ns, 64 ns, 4.1 µs, 262 µs,
//     16.8 ms, 1.07 s, 68.7 s, 73 min, 78 h, 208 d, 36 years. 11 × 6 bits cover the whole 64-bit
//     time range, so no deadline overflows into a catch-all bucket.
//   - A node goes to the level of the highest 6-bit digit in which its deadline differs from the
//     wheel's current time, in the bucket of its deadline's digit there (a radix-heap placement
//     [3]). So every node on level L shares the current time's digits above L and has a larger
//     digit at L: the lowest non-empty level holds the earliest deadlines, and level 0 is exact.
//   - Advancing from t0 to t1 empties, on each level, the buckets whose digit range t1 has
//     reached. Each node there is either due (expired) or re-placed relative to t1, which always
//     lands it on a strictly lower level. A node is therefore touched at most once per level
//     between scheduling and expiry: O(levels) = O(1) per node, and in practice two or three
//     touches, because a node whose bucket is reached after its deadline expires at once.
//   - A 64-bit occupancy mask per level skips empty buckets with one trailing-zero count, so an
//     advance costs O(levels + touched nodes) however far time jumps.
//   - Buckets are intrusive doubly-linked lists through `PolicyNode.previousInTime/nextInTime`,
//     with the bucket index in `PolicyNode.timerSlot` so a node is unlinked in O(1) without a
//     sentinel per bucket. A node already due when scheduled goes to an "overdue" list that the
//     next advance drains.
//
// What we gave up: Caffeine touches a node at most 4 times and keeps 165 buckets; we keep 706
// bucket heads (5.6 KB) and may touch a node up to 11 times (when advanced in nanosecond steps).
//
// Re-entrancy: `advance` detaches each bucket into a "transit" list before visiting it, so the
// `expire` callback may deschedule any node (including others that are due) and schedule new ones.
// It must not call `advance` again.
//
// [1] G. Varghese, T. Lauck, "Hashed and Hierarchical Timing Wheels: Efficient Data Structures for
//     Implementing a Timer Facility", IEEE/ACM ToN 5(6), 1997, https://doi.org/10.1109/90.650142
// [2] B. Manes, Caffeine `TimerWheel.java`,
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/TimerWheel.java
// [3] R. K. Ahuja, K. Mehlhorn, J. B. Orlin, R. E. Tarjan, "Faster Algorithms for the Shortest
//     Path Problem", JACM 37(2), 1990 (radix heaps), https://doi.org/10.1145/77600.77615
//
// Concurrency: a plain class. Its owner guards it, and the nodes' timer links, with the policy
// lock.

/// A hierarchical timer wheel over `PolicyNode.expiresAt`. See the design note at the top of this file.
final class TimerWheel {
    /// `PolicyNode.timerSlot` of a node on no bucket.
    static let unscheduled = UInt16.max
    /// Bits of time per level (64 buckets).
    static let bitsPerLevel = 6
    /// Levels needed to cover 64 bits of time.
    static let levels = 11
    /// The bucket index of the overdue list.
    static let overdueSlot = levels << bitsPerLevel
    /// The bucket index of the list being visited by `advance`.
    static let transitSlot = overdueSlot + 1

    /// An unretained link to a bucket's first node (the table keeps the nodes alive).
    private struct Head {
        unowned(unsafe) var node: PolicyNode?
    }

    /// Bucket heads: 64 per level, then the overdue and transit lists.
    @exclusivity(unchecked) private var heads = [Head](repeating: Head(), count: TimerWheel.transitSlot + 1)
    /// Per level, bit d set when bucket d is non-empty.
    @exclusivity(unchecked) private var occupied = [UInt64](repeating: 0, count: TimerWheel.levels)
    /// Scratch for `advance`: the buckets to visit per level, snapshotted before visiting any.
    @exclusivity(unchecked) private var due = [UInt64](repeating: 0, count: TimerWheel.levels)
    /// The time the wheel was last advanced to (monotonic ns).
    private(set) var now: Int64
    /// Number of scheduled nodes.
    private(set) var count = 0
    /// True while `advance` runs, to refuse re-entry.
    private var advancing = false
    #if DCACHE_INTERNAL_CHECKS
    /// Bucket placements so far; tests check the amortized bound with it.
    private(set) var placements = 0
    #endif

    /// Creates an empty wheel.
    ///
    /// - Parameter now: the current monotonic time in nanoseconds.
    init(now: Int64) {
        self.now = now
    }

    /// Maps a signed time to an unsigned key of the same order.
    @inline(__always)
    private static func key(_ time: Int64) -> UInt64 {
        UInt64(bitPattern: time) ^ (1 << 63)
    }

    /// Schedules a node whose deadline is `expiresAt`. A node without a deadline
    /// (`expiresAt == Int64.max`) is ignored; a node already due expires on the next `advance`.
    ///
    /// - Parameter node: a node on no bucket.
    func schedule(_ node: PolicyNode) {
        precondition(node.timerSlot == TimerWheel.unscheduled, "node is already scheduled")
        guard node.expires else { return }
        count += 1
        if node.expiresAt <= now {
            push(node, slot: TimerWheel.overdueSlot)
        } else {
            place(node)
        }
    }

    /// Removes a node from the wheel if it is scheduled; otherwise does nothing.
    func deschedule(_ node: PolicyNode) {
        guard node.timerSlot != TimerWheel.unscheduled else { return }
        unlink(node)
        count -= 1
    }

    /// Advances the wheel to `time` and calls `expire` once for every scheduled node whose
    /// deadline is at or before `time`, after removing it from the wheel. A time earlier than the
    /// last one is treated as the last one (the clock is monotonic).
    ///
    /// - Parameters:
    ///   - time: the current monotonic time in nanoseconds.
    ///   - expire: called for each due node; it may schedule and deschedule nodes, but must not
    ///     call `advance`.
    func advance(to time: Int64, expire: (PolicyNode) -> Void) {
        precondition(!advancing, "TimerWheel.advance must not be re-entered from its callback")
        advancing = true
        defer { advancing = false }
        if time > now {
            let old = TimerWheel.key(now)
            let new = TimerWheel.key(time)
            now = time
            for level in 0..<TimerWheel.levels {
                let shift = UInt64(level * TimerWheel.bitsPerLevel)
                let oldDigit = (old >> shift) & 63
                let newDigit = (new >> shift) & 63
                let above: UInt64 = oldDigit == 63 ? 0 : ~0 << (oldDigit + 1)
                if (old >> (shift + 6)) != (new >> (shift + 6)) {
                    // A higher digit changed: every node on this level is behind `time`.
                    due[level] = occupied[level] & above
                } else if newDigit > oldDigit {
                    let throughNew: UInt64 = newDigit == 63 ? ~0 : (1 << (newDigit + 1)) - 1
                    due[level] = occupied[level] & above & throughNew
                } else {
                    due[level] = 0
                }
            }
            for level in stride(from: TimerWheel.levels - 1, through: 0, by: -1) {
                var buckets = due[level]
                while buckets != 0 {
                    let digit = buckets.trailingZeroBitCount
                    buckets &= buckets - 1
                    visit(slot: level << TimerWheel.bitsPerLevel | digit, expire: expire)
                }
            }
        }
        while let node = heads[TimerWheel.overdueSlot].node {
            unlink(node)
            count -= 1
            expire(node)
        }
    }

    /// The earliest time at which `advance` can expire or cascade a node: the exact earliest
    /// deadline when it is less than 64 ns away or overdue, otherwise the start of the bucket that
    /// holds it (a lower bound). Nil when nothing is scheduled.
    var nextDeadline: Int64? {
        if heads[TimerWheel.overdueSlot].node != nil { return now }
        let current = TimerWheel.key(now)
        for level in 0..<TimerWheel.levels where occupied[level] != 0 {
            let shift = UInt64(level * TimerWheel.bitsPerLevel)
            let digit = UInt64(occupied[level].trailingZeroBitCount)
            let prefix = (current >> (shift + 6)) << (shift + 6)
            return Int64(bitPattern: (prefix | digit << shift) ^ (1 << 63))
        }
        return nil
    }

    /// Moves one bucket to the transit list, then expires or re-places its nodes one by one.
    private func visit(slot: Int, expire: (PolicyNode) -> Void) {
        var node = heads[slot].node
        heads[slot].node = nil
        occupied[slot >> TimerWheel.bitsPerLevel] &= ~(1 << UInt64(slot & 63))
        while let current = node {
            node = current.nextInTime
            push(current, slot: TimerWheel.transitSlot)
        }
        while let current = heads[TimerWheel.transitSlot].node {
            unlink(current)
            if current.expiresAt <= now {
                count -= 1
                expire(current)
            } else {
                place(current)
            }
        }
    }

    /// Puts a not-yet-due node in its bucket relative to `now`.
    @inline(__always)
    private func place(_ node: PolicyNode) {
        let deadline = TimerWheel.key(node.expiresAt)
        let level = (63 - (deadline ^ TimerWheel.key(now)).leadingZeroBitCount) / TimerWheel.bitsPerLevel
        let digit = Int((deadline >> UInt64(level * TimerWheel.bitsPerLevel)) & 63)
        push(node, slot: level << TimerWheel.bitsPerLevel | digit)
        occupied[level] |= 1 << UInt64(digit)
        #if DCACHE_INTERNAL_CHECKS
        placements += 1
        #endif
    }

    /// Links a node at the front of a bucket's list.
    @inline(__always)
    private func push(_ node: PolicyNode, slot: Int) {
        let first = heads[slot].node
        node.previousInTime = nil
        node.nextInTime = first
        first?.previousInTime = node
        heads[slot].node = node
        node.timerSlot = UInt16(slot)
    }

    /// Unlinks a scheduled node from its bucket's list.
    @inline(__always)
    private func unlink(_ node: PolicyNode) {
        let slot = Int(node.timerSlot)
        let previous = node.previousInTime
        let next = node.nextInTime
        if let previous {
            previous.nextInTime = next
        } else {
            heads[slot].node = next
            if next == nil, slot < TimerWheel.overdueSlot {
                occupied[slot >> TimerWheel.bitsPerLevel] &= ~(1 << UInt64(slot & 63))
            }
        }
        next?.previousInTime = previous
        node.previousInTime = nil
        node.nextInTime = nil
        node.timerSlot = TimerWheel.unscheduled
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Walks every bucket checking links, slot labels, occupancy bits, the placement invariant
    /// relative to `now`, and the count.
    func _checkInvariants() {
        var total = 0
        let current = TimerWheel.key(now)
        for slot in heads.indices {
            var previous: PolicyNode? = nil
            var node = heads[slot].node
            while let n = node {
                precondition(n.previousInTime === previous, "broken back link in bucket \(slot)")
                precondition(Int(n.timerSlot) == slot, "node labelled \(n.timerSlot) found in bucket \(slot)")
                precondition(n.expires, "node without deadline on the wheel")
                if slot == TimerWheel.overdueSlot {
                    precondition(n.expiresAt <= now, "overdue node not due")
                } else {
                    precondition(slot != TimerWheel.transitSlot, "transit list not empty outside advance")
                    precondition(n.expiresAt > now, "due node left on the wheel")
                    let deadline = TimerWheel.key(n.expiresAt)
                    let level = (63 - (deadline ^ current).leadingZeroBitCount) / TimerWheel.bitsPerLevel
                    let digit = Int((deadline >> UInt64(level * TimerWheel.bitsPerLevel)) & 63)
                    precondition(slot == level << TimerWheel.bitsPerLevel | digit, "node in the wrong bucket")
                }
                total += 1
                previous = n
                node = n.nextInTime
            }
            if slot < TimerWheel.overdueSlot {
                let bit = occupied[slot >> TimerWheel.bitsPerLevel] >> UInt64(slot & 63) & 1
                precondition((bit == 1) == (heads[slot].node != nil), "occupancy bit disagrees with bucket \(slot)")
            }
        }
        precondition(total == count, "count \(count) != scheduled nodes \(total)")
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
