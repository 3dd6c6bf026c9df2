import Testing

@testable import LocalStore

/// Tests of `TimerWheel`: exact expiry across all levels, cascading, compaction, far deadlines.
@Suite struct TimerWheelTests {
    /// A ticket with a deadline (and a key hash that tells tickets apart).
    private func node(_ deadline: Int64, _ key: UInt64 = 0) -> ExpiryTicket {
        ExpiryTicket(keyHash: key, deadline: deadline)
    }

    /// Advances and returns the deadlines of the expired tickets, checking the invariants.
    private func advance(_ wheel: TimerWheel, to time: Int64) -> [Int64] {
        var expired: [Int64] = []
        wheel.advance(to: time) { expired.append($0.deadline) }
        wheel._checkInvariants()
        return expired
    }

    @Test func advance_deadlinesOnEveryLevel_expiresExactlyTheDueNodes() {
        // Deadlines 1 ns to 2^62 ns after the start touch every level (level L starts at 2^(6L)),
        // and random advance steps of every magnitude cross bucket and level boundaries both ways.
        var random = SplitMix64(seed: 7)
        let start: Int64 = 1_000_000
        let wheel = TimerWheel(now: start)
        var tickets: [ExpiryTicket] = []
        for index in 0..<3_000 {
            let exponent = Int(random.next() % 63)
            let offset = Int64(random.next() % (UInt64(1) << UInt64(exponent))) + 1
            let n = node(start + offset, UInt64(index))
            tickets.append(n)
            wheel.schedule(n)
        }
        wheel._checkInvariants()
        var pending = Set(tickets.map(\.keyHash))
        var now = start
        while !pending.isEmpty {
            let exponent = Int(random.next() % 63)
            now += Int64(random.next() % (UInt64(1) << UInt64(exponent))) + 1
            var expired: [ExpiryTicket] = []
            wheel.advance(to: now) { expired.append($0) }
            wheel._checkInvariants()
            for n in expired {
                #expect(n.deadline <= now, "expired before its deadline")
                #expect(pending.remove(n.keyHash) != nil, "expired twice")
            }
            // Exactness: nothing that is due may remain scheduled.
            #expect(tickets.allSatisfy { $0.deadline > now || !pending.contains($0.keyHash) })
        }
        #expect(wheel.count == 0)
    }

    @Test func advance_nanosecondSteps_cascadesEachNodeAtMostOncePerLevel() {
        // A deadline 2^20 ns away sits on level 3 (2^18...2^24). Advancing one nanosecond at a
        // time cascades it through levels 2, 1 and 0: at most `levels` placements per node.
        let wheel = TimerWheel(now: 0)
        let nodes = (1...64).map { node(Int64(1 << 20) + Int64($0)) }
        nodes.forEach(wheel.schedule)
        var expired = 0
        var time: Int64 = 0
        while expired < nodes.count {
            time += 1 << 12
            expired += advance(wheel, to: min(time, Int64(1 << 20) + 64)).count
            if time > Int64(1 << 20) { time = Int64(1 << 20) }
            if time == Int64(1 << 20) {
                for t in Int64(1 << 20)...(Int64(1 << 20) + 64) { expired += advance(wheel, to: t).count }
            }
        }
        #expect(expired == 64)
        #if DCACHE_INTERNAL_CHECKS
            #expect(wheel.placements <= 64 * TimerWheel.levels)
        #endif
    }

    @Test func advance_exactDeadline_expiresAtThatNanosecondNotBefore() {
        let wheel = TimerWheel(now: 0)
        let deadline: Int64 = 123_456_789
        let n = node(deadline)
        wheel.schedule(n)
        #expect(advance(wheel, to: deadline - 1).isEmpty)
        #expect(advance(wheel, to: deadline) == [deadline])
    }

    @Test func compact_dropsTheTicketsTheOwnerDisowns_andKeepsTheOthersExact() {
        // Tickets of entries that left the cache stay until their bucket comes due or the owner
        // compacts; a compaction keeps exactly the tickets it is told to keep, on every level.
        let wheel = TimerWheel(now: 0)
        let tickets = (0..<300).map { node(Int64($0) * 1_000_003 + 1, UInt64($0)) }
        tickets.forEach(wheel.schedule)
        wheel.compact { $0.keyHash % 3 != 0 }
        wheel._checkInvariants()
        #expect(wheel.count == 200)
        let expired = advance(wheel, to: Int64.max - 1)
        #expect(expired.count == 200)
        #expect(expired.sorted() == tickets.filter { $0.keyHash % 3 != 0 }.map(\.deadline))
    }

    @Test func removeAll_emptiesTheWheel() {
        let wheel = TimerWheel(now: 0)
        [node(10), node(1 << 30), node(-1)].forEach(wheel.schedule)
        wheel.removeAll()
        wheel._checkInvariants()
        #expect(wheel.count == 0 && wheel.nextDeadline == nil)
        #expect(advance(wheel, to: 1 << 40).isEmpty)
    }

    @Test func schedule_farFuture_expiresOnlyWhenDue() {
        // Int64.max - 1 is on the top level and must survive any advance short of it.
        let wheel = TimerWheel(now: -5)
        wheel.schedule(node(Int64.max - 1))
        #expect(wheel.count == 1)
        #expect(advance(wheel, to: Int64.max - 2).isEmpty)
        #expect(advance(wheel, to: Int64.max - 1) == [Int64.max - 1])
    }

    @Test func schedule_alreadyDue_expiresOnNextAdvanceEvenWithoutTimePassing() {
        let wheel = TimerWheel(now: 500)
        let nodes = [node(400), node(500)]
        nodes.forEach(wheel.schedule)
        #expect(wheel.nextDeadline == 500)
        #expect(advance(wheel, to: 500).sorted() == [400, 500])
        #expect(advance(wheel, to: 10).isEmpty, "an earlier time is treated as the last one")
    }

    @Test func nextDeadline_isALowerBoundAndAdvancingToItMakesProgress() {
        // nextDeadline never lies after the earliest deadline, and advancing to it either
        // expires something or moves the earliest node to a finer level, so repeating reaches it.
        var random = SplitMix64(seed: 11)
        let wheel = TimerWheel(now: 0)
        var deadlines: [Int64] = []
        for _ in 0..<200 {
            let d = Int64(random.next() % (1 << 40)) + 1
            deadlines.append(d)
            wheel.schedule(node(d))
        }
        var remaining = deadlines.sorted()
        var steps = 0
        while let next = wheel.nextDeadline {
            #expect(next <= remaining[0])
            let expired = advance(wheel, to: next)
            remaining.removeFirst(expired.count)
            steps += 1
        }
        #expect(remaining.isEmpty)
        // Each wake-up either expires or cascades; a node cascades at most `levels` times.
        #expect(steps <= 200 * TimerWheel.levels)
    }

    @Test func advance_callbackSchedulesDueTicket_expiresItInTheSameAdvance() {
        let wheel = TimerWheel(now: 0)
        let first = node(10, 1), late = node(20, 2)
        wheel.schedule(first)
        var expired: [Int64] = []
        wheel.advance(to: 30) { n in
            expired.append(n.deadline)
            if n == first { wheel.schedule(late) }
        }
        #expect(expired == [10, 20])
    }
}
