// TimerWheel: finds the entries whose deadline has passed, in amortized O(1) per entry.
//
// Design note. A cache with time-to-live must find the entries whose deadline has passed without
// scanning all of them. A hierarchical timing wheel [1] does it: deadlines are sorted into buckets
// of increasing span, a bucket far in the future is coarse, and as time advances the buckets that
// come due are emptied, expiring what is due and "cascading" the rest into finer buckets. Caffeine
// does this with five wheels of 1.07 s to 6.5 d spans [2] and accepts expiring up to a bucket span
// late, because its readers check deadlines themselves. Ours expires every ticket whose deadline
// is at or before the time it is advanced to, so the finest level is exact:
//
//   - Eleven levels of 64 buckets. Level L's buckets span 2^(6L) ns: 1 ns, 64 ns, 4.1 µs, 262 µs,
//     16.8 ms, 1.07 s, 68.7 s, 73 min, 78 h, 208 d, 36 years. 11 × 6 bits cover the whole 64-bit
//     time range, so no deadline overflows into a catch-all bucket.
//   - A ticket goes to the level of the highest 6-bit digit in which its deadline differs from
//     the wheel's current time, in the bucket of its deadline's digit there (a radix-heap
//     placement [3]). So every ticket on level L shares the current time's digits above L and has
//     a larger digit at L: the lowest non-empty level holds the earliest deadlines, and level 0
//     is exact.
//   - Advancing from t0 to t1 empties, on each level, the buckets whose digit range t1 has
//     reached. Each ticket there is either due (expired) or re-placed relative to t1, which always
//     lands it on a strictly lower level: O(levels) = O(1) touches per ticket, and in practice two
//     or three. A 64-bit occupancy mask per level skips empty buckets with one trailing-zero count.
//
// Tickets, not nodes. The wheel holds (key hash, deadline) pairs in plain arrays, and never a
// pointer to an entry: an entry carries no timer links (16 bytes per entry saved, and no entry
// can dangle from the wheel), and removing an entry costs the wheel nothing. A ticket whose entry
// left the cache (removed, replaced, evicted) simply finds nothing when its bucket comes due: the
// owner looks the hash up, and expires an entry only if it has that exact deadline. Such stale
// tickets are bounded: the owner counts the live entries that have a deadline and calls
// `compact(keeping:)` when the wheel holds more than twice as many tickets (plus a constant), so
// the wheel never holds more than about two tickets (32 bytes) per expiring entry.
//
// What we gave up: a stale ticket costs a lookup when its bucket comes due, and a compaction
// costs one pass over the tickets (amortized O(1) per removal, since it runs only after as many
// stale tickets accumulated as there are live ones).
//
// Re-entrancy: `advance` takes each due bucket out of the wheel before visiting it, so `expire`
// may schedule new tickets. It must not call `advance` again.
//
// [1] G. Varghese, T. Lauck, "Hashed and Hierarchical Timing Wheels: Efficient Data Structures for
//     Implementing a Timer Facility", IEEE/ACM ToN 5(6), 1997, https://doi.org/10.1109/90.650142
// [2] B. Manes, Caffeine `TimerWheel.java`,
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/TimerWheel.java
// [3] R. K. Ahuja, K. Mehlhorn, J. B. Orlin, R. E. Tarjan, "Faster Algorithms for the Shortest
//     Path Problem", JACM 37(2), 1990 (radix heaps), https://doi.org/10.1145/77600.77615
//
// Concurrency: a plain class. Its owner guards it with the policy lock.

/// A deadline of some entry: the key's hash and the exact deadline (monotonic ns).
struct ExpiryTicket: Equatable {
    var keyHash: UInt64
    var deadline: Int64
}

/// A hierarchical timer wheel of expiry tickets. See the design note at the top of this file.
final class TimerWheel {
    /// Bits of time per level (64 buckets).
    static let bitsPerLevel = 6
    /// Levels needed to cover 64 bits of time.
    static let levels = 11
    /// The bucket index of the overdue list.
    static let overdueSlot = levels << bitsPerLevel
    /// Stale tickets tolerated beyond twice the live ones before the owner compacts: a
    /// compaction visits every ticket, so a small wheel is not compacted over and over.
    static let compactionSlack = 1_024

    /// Buckets: 64 per level, then the overdue list.
    @exclusivity(unchecked) private var buckets = [ContiguousArray<ExpiryTicket>](
        repeating: [], count: TimerWheel.overdueSlot + 1)
    /// Per level, bit d set when bucket d is non-empty.
    @exclusivity(unchecked) private var occupied = [UInt64](repeating: 0, count: TimerWheel.levels)
    /// Scratch for `advance`: the buckets to visit per level, snapshotted before visiting any.
    @exclusivity(unchecked) private var due = [UInt64](repeating: 0, count: TimerWheel.levels)
    /// The time the wheel was last advanced to (monotonic ns).
    private(set) var now: Int64
    /// Number of tickets held (live and stale).
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

    /// Schedules a ticket. One already due expires on the next `advance`.
    func schedule(_ ticket: ExpiryTicket) {
        count += 1
        if ticket.deadline <= now {
            buckets[TimerWheel.overdueSlot].append(ticket)
        } else {
            place(ticket)
        }
    }

    /// Advances the wheel to `time` and calls `expire` once for every ticket whose deadline is
    /// at or before `time`, after removing it from the wheel. A time earlier than the last one is
    /// treated as the last one (the clock is monotonic).
    ///
    /// - Parameters:
    ///   - time: the current monotonic time in nanoseconds.
    ///   - expire: called for each due ticket; it may schedule tickets, but must not call
    ///     `advance`.
    func advance(to time: Int64, expire: (ExpiryTicket) -> Void) {
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
                    // A higher digit changed: every ticket on this level is behind `time`.
                    due[level] = occupied[level] & above
                } else if newDigit > oldDigit {
                    let throughNew: UInt64 = newDigit == 63 ? ~0 : (1 << (newDigit + 1)) - 1
                    due[level] = occupied[level] & above & throughNew
                } else {
                    due[level] = 0
                }
            }
            for level in stride(from: TimerWheel.levels - 1, through: 0, by: -1) {
                var visit = due[level]
                while visit != 0 {
                    let digit = visit.trailingZeroBitCount
                    visit &= visit - 1
                    let slot = level << TimerWheel.bitsPerLevel | digit
                    let tickets = buckets[slot]
                    buckets[slot] = []
                    occupied[level] &= ~(1 << UInt64(digit))
                    for ticket in tickets {
                        if ticket.deadline <= now {
                            count -= 1
                            expire(ticket)
                        } else {
                            place(ticket)
                        }
                    }
                }
            }
        }
        if !buckets[TimerWheel.overdueSlot].isEmpty {
            let overdue = buckets[TimerWheel.overdueSlot]
            buckets[TimerWheel.overdueSlot] = []
            for ticket in overdue {
                count -= 1
                expire(ticket)
            }
        }
    }

    /// Drops every ticket for which `keep` returns false (the owner's test: does the entry with
    /// this hash and deadline still exist?).
    func compact(keeping keep: (ExpiryTicket) -> Bool) {
        for slot in buckets.indices where !buckets[slot].isEmpty {
            let before = buckets[slot].count
            buckets[slot].removeAll { !keep($0) }
            count -= before - buckets[slot].count
            if buckets[slot].isEmpty, slot < TimerWheel.overdueSlot {
                occupied[slot >> TimerWheel.bitsPerLevel] &= ~(1 << UInt64(slot & 63))
            }
        }
    }

    /// Drops every ticket.
    func removeAll() {
        for slot in buckets.indices { buckets[slot] = [] }
        for level in occupied.indices { occupied[level] = 0 }
        count = 0
    }

    /// The earliest time at which `advance` can expire or cascade a ticket: the exact earliest
    /// deadline when it is less than 64 ns away or overdue, otherwise the start of the bucket that
    /// holds it (a lower bound). Nil when nothing is scheduled.
    var nextDeadline: Int64? {
        if !buckets[TimerWheel.overdueSlot].isEmpty { return now }
        let current = TimerWheel.key(now)
        for level in 0..<TimerWheel.levels where occupied[level] != 0 {
            let shift = UInt64(level * TimerWheel.bitsPerLevel)
            let digit = UInt64(occupied[level].trailingZeroBitCount)
            let prefix = (current >> (shift + 6)) << (shift + 6)
            return Int64(bitPattern: (prefix | digit << shift) ^ (1 << 63))
        }
        return nil
    }

    /// Puts a not-yet-due ticket in its bucket relative to `now`.
    @inline(__always)
    private func place(_ ticket: ExpiryTicket) {
        let deadline = TimerWheel.key(ticket.deadline)
        let level = (63 - (deadline ^ TimerWheel.key(now)).leadingZeroBitCount) / TimerWheel.bitsPerLevel
        let digit = Int((deadline >> UInt64(level * TimerWheel.bitsPerLevel)) & 63)
        buckets[level << TimerWheel.bitsPerLevel | digit].append(ticket)
        occupied[level] |= 1 << UInt64(digit)
        #if DCACHE_INTERNAL_CHECKS
        placements += 1
        #endif
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Checks every bucket's tickets against the placement invariant relative to `now`, the
    /// occupancy bits and the count.
    func _checkInvariants() {
        var total = 0
        let current = TimerWheel.key(now)
        for slot in buckets.indices {
            for ticket in buckets[slot] {
                if slot == TimerWheel.overdueSlot {
                    precondition(ticket.deadline <= now, "overdue ticket not due")
                } else {
                    precondition(ticket.deadline > now, "due ticket left on the wheel")
                    let deadline = TimerWheel.key(ticket.deadline)
                    let level = (63 - (deadline ^ current).leadingZeroBitCount) / TimerWheel.bitsPerLevel
                    let digit = Int((deadline >> UInt64(level * TimerWheel.bitsPerLevel)) & 63)
                    precondition(slot == level << TimerWheel.bitsPerLevel | digit, "ticket in the wrong bucket")
                }
                total += 1
            }
            if slot < TimerWheel.overdueSlot {
                let bit = occupied[slot >> TimerWheel.bitsPerLevel] >> UInt64(slot & 63) & 1
                precondition((bit == 1) == !buckets[slot].isEmpty, "occupancy bit disagrees with bucket \(slot)")
            }
        }
        precondition(total == count, "count \(count) != tickets \(total)")
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
