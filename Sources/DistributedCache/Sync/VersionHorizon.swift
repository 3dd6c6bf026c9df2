// VersionHorizon: the highest version Redis is known to have handed out, and the events that wait
// for it to be checked.
//
// Design note. Every versioned write gets its version from one counter in Redis (INCR inside the
// write script), so a version above the counter's current value was never handed out: whoever
// published it forged it. Without a check, one set event with version 2^53 would pin its key on
// every receiver, since no later, legitimate set could ever carry a higher version.
//
// An instance learns the counter only from sources it trusts, replies on its own command
// connection: the write script returns each write's version, every liveness ping returns the
// counter (SyncedCache+Health.swift), and a check (below) reads it. That is the verified
// horizon. Events above it are normal (other instances' writes since the last ping) and are
// applied at once; a version above the horizon is only suspect when it would *refuse* something:
// a set event that an unverified local version or tombstone holds back is parked, and one GET of
// the counter decides. If the blocker is above the counter, it was forged: it is removed and the
// parked event applied; otherwise the parked event really was older and is dropped.
//
// Bounds: one check in flight at a time; at most `parkingLimit` parked events (past it, an event
// is dropped and its key removed locally, which is always safe: the next read goes to Redis).
// Signed events (when enabled) keep forged events out altogether; this covers the unsigned case.

import Atomics
import Primitives

final class VersionHorizon: Sendable {
    /// An event held back by a version that may be forged, with what held it back.
    struct Parked: Sendable {
        var event: SyncedCache.Event
        /// The check generation it waits for (see `park`).
        var generation: UInt64
    }

    private struct State {
        var parked: [Parked] = []
        var checkInFlight = false
        /// Incremented each time a check is sent: a parked event is decided by the first check
        /// sent after it was parked (an earlier check's answer may predate its blocker).
        var generation: UInt64 = 0
    }

    /// Events parked at once, at most.
    static let parkingLimit = 10_000

    private let verified = ManagedAtomic<UInt64>(0)
    private let state = Locked(State())

    /// The highest version Redis is known to have handed out.
    var current: UInt64 { verified.load(ordering: .relaxed) }

    /// Records a counter value read from Redis (or a version it assigned to one of our writes).
    func learn(_ counter: UInt64) {
        var seen = verified.load(ordering: .relaxed)
        while counter > seen {
            let (exchanged, original) = verified.compareExchange(expected: seen, desired: counter, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }

    /// Parks an event until the next check.
    /// - Returns: whether a check must be sent now (none is in flight); false also when the
    ///   parking is full, in which case the event was not parked.
    func park(_ event: SyncedCache.Event) -> (parked: Bool, sendCheck: Bool) {
        state.withLock { state in
            guard state.parked.count < VersionHorizon.parkingLimit else { return (false, false) }
            state.parked.append(Parked(event: event, generation: state.generation + 1))
            guard !state.checkInFlight else { return (true, false) }
            state.checkInFlight = true
            state.generation += 1
            return (true, true)
        }
    }

    /// A check read `counter`, or failed (nil). Returns the parked events it decides, or, after a
    /// failure, every parked event (none can be decided now: the caller drops their keys locally,
    /// which is always safe). `again`: events parked meanwhile wait for another check, to be sent
    /// now.
    func checkFinished(counter: UInt64?) -> (decided: [SyncedCache.Event], again: Bool) {
        if let counter { learn(counter) }
        return state.withLock { state in
            let answered = state.generation
            let decided: [SyncedCache.Event]
            if counter == nil {
                decided = state.parked.map(\.event)
                state.parked.removeAll()
            } else {
                decided = state.parked.filter { $0.generation <= answered }.map(\.event)
                state.parked.removeAll { $0.generation <= answered }
            }
            let again = !state.parked.isEmpty
            if again { state.generation += 1 } else { state.checkInFlight = false }
            return (decided, again)
        }
    }

    /// Number of events waiting for a check.
    var parkedCount: Int { state.withLock { $0.parked.count } }
}
