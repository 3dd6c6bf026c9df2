import Testing

@testable import LocalStore

/// Tests of `TimerWheel`: exact expiry across all levels, cascading, descheduling, far deadlines.
@Suite struct TimerWheelTests {
    /// A node with a deadline and nothing else.
    private func node(_ expiresAt: Int64, _ key: UInt64 = 0) -> PolicyNode {
        PolicyNode(keyHash: key, weight: 1, expiresAt: expiresAt)
    }

    /// Advances and returns the deadlines of the expired nodes, checking the invariants.
    private func advance(_ wheel: TimerWheel, to time: Int64) -> [Int64] {
        var expired: [Int64] = []
        wheel.advance(to: time) { expired.append($0.expiresAt) }
        wheel._checkInvariants()
        return expired
    }

    @Test func advance_deadlinesOnEveryLevel_expiresExactlyTheDueNodes() {
        // Deadlines 1 ns to 2^62 ns after the start touch every level (level L starts at 2^(6L)),
        // and random advance steps of every magnitude cross bucket and level boundaries both ways.
        var random = SplitMix64(seed: 7)
        let start: Int64 = 1_000_000
        let wheel = TimerWheel(now: start)
        var nodes: [PolicyNode] = []
        for _ in 0..<3_000 {
            let exponent = Int(random.next() % 63)
            let offset = Int64(random.next() % (UInt64(1) << UInt64(exponent))) + 1
            let n = node(start + offset)
            nodes.append(n)
            wheel.schedule(n)
        }
        wheel._checkInvariants()
        var pending = Set(nodes.map { ObjectIdentifier($0) })
        var now = start
        while !pending.isEmpty {
            let exponent = Int(random.next() % 63)
            now += Int64(random.next() % (UInt64(1) << UInt64(exponent))) + 1
            var expired: [PolicyNode] = []
            wheel.advance(to: now) { expired.append($0) }
            wheel._checkInvariants()
            for n in expired {
                #expect(n.expiresAt <= now, "expired before its deadline")
                #expect(pending.remove(ObjectIdentifier(n)) != nil, "expired twice")
            }
            // Exactness: nothing that is due may remain scheduled.
            #expect(nodes.allSatisfy { $0.expiresAt > now || !pending.contains(ObjectIdentifier($0)) })
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
        // The wheel does not retain nodes (the table does), so the test keeps them alive.
        let wheel = TimerWheel(now: 0)
        let deadline: Int64 = 123_456_789
        let n = node(deadline)
        wheel.schedule(n)
        #expect(advance(wheel, to: deadline - 1).isEmpty)
        #expect(advance(wheel, to: deadline) == [deadline])
    }

    @Test func deschedule_scheduledNode_neverExpires() {
        let wheel = TimerWheel(now: 0)
        let kept = node(1_000), dropped = node(1_000), farDropped = node(1 << 40)
        [kept, dropped, farDropped].forEach(wheel.schedule)
        wheel.deschedule(dropped)
        wheel.deschedule(farDropped)
        wheel.deschedule(farDropped)  // a second deschedule is a no-op
        wheel._checkInvariants()
        #expect(advance(wheel, to: 1 << 41).count == 1)
        #expect(dropped.timerSlot == TimerWheel.unscheduled && farDropped.nextInTime == nil)
    }

    @Test func schedule_farFutureAndNoDeadline_expiresOnlyWhenDue() {
        // Int64.max means "never": such a node is not scheduled at all. Int64.max - 1 is on the
        // top level and must survive any advance short of it.
        let wheel = TimerWheel(now: -5)
        let never = node(Int64.max), far = node(Int64.max - 1)
        wheel.schedule(never)
        wheel.schedule(far)
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
        var nodes: [PolicyNode] = []
        for _ in 0..<200 {
            let d = Int64(random.next() % (1 << 40)) + 1
            deadlines.append(d)
            nodes.append(node(d))
            wheel.schedule(nodes[nodes.count - 1])
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

    @Test func advance_callbackDeschedulesAnotherDueNode_skipsItSafely() {
        // The callback removes the other due node of the same bucket (the store does this when an
        // expiry also deletes a related entry); it must not be visited afterwards.
        let wheel = TimerWheel(now: 0)
        let a = node(100, 1), b = node(100, 2)
        wheel.schedule(a)
        wheel.schedule(b)
        var expired: [UInt64] = []
        wheel.advance(to: 1_000) { n in
            expired.append(n.keyHash)
            wheel.deschedule(n === a ? b : a)
        }
        wheel._checkInvariants()
        #expect(expired.count == 1)
        #expect(wheel.count == 0)
    }

    @Test func advance_callbackSchedulesDueNode_expiresItInTheSameAdvance() {
        let wheel = TimerWheel(now: 0)
        let first = node(10), late = node(20)
        wheel.schedule(first)
        var expired: [Int64] = []
        wheel.advance(to: 30) { n in
            expired.append(n.expiresAt)
            if n === first { wheel.schedule(late) }
        }
        #expect(expired == [10, 20])
    }
}
