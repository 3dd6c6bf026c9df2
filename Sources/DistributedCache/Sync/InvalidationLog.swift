// InvalidationLog: keeps a remote read from caching a value that an invalidation overtook.
//
// The race it closes is the classic one of client-side caching: an instance misses locally and
// sends GET; meanwhile another instance deletes (or changes) the key and the invalidation event
// reaches this instance *before* the GET reply does (they travel on different connections). If
// the reply were cached, the instance would serve the old value until the next change of the key,
// possibly forever. Versions alone do not help when the local cache holds nothing to compare with.
//
// So every received change of a key, and every local delete, takes a ticket from a local sequence
// and records "key changed at ticket n"; a read notes the current ticket before it sends GET, and
// its reply may be cached only if the key has not changed since. Clears and resyncs move a floor
// past every ticket. The record is bounded (oldest entries fall off; the floor rises to the
// highest ticket that fell off, so a read older than that is conservatively refused): no wall
// clock, no unbounded memory, and a refused fill only costs a later GET.

import Locking

final class InvalidationLog: Sendable {
    private struct State {
        var ticket: UInt64 = 0
        var changed: [String: UInt64] = [:]
        /// Keys in ticket order, for dropping the oldest.
        var order: [(key: String, ticket: UInt64)] = []
        var orderStart = 0
        var floor: UInt64 = 0
    }

    /// Entries kept before the oldest fall off: 100k keys (~10 MB at most), far more than can
    /// change during one GET round trip.
    static let capacity = 100_000

    private let state = Locked(State())

    /// The ticket a read takes before it asks Redis.
    func ticket() -> UInt64 {
        state.withLock { $0.ticket }
    }

    /// A key changed (received event, or local delete).
    func recordChange(of key: String) {
        state.withLock { state in
            state.ticket += 1
            state.changed[key] = state.ticket
            state.order.append((key, state.ticket))
            if state.order.count - state.orderStart > InvalidationLog.capacity {
                let oldest = state.order[state.orderStart]
                state.orderStart += 1
                if state.changed[oldest.key] == oldest.ticket { state.changed[oldest.key] = nil }
                state.floor = max(state.floor, oldest.ticket)
                if state.orderStart > InvalidationLog.capacity {
                    state.order.removeFirst(state.orderStart)
                    state.orderStart = 0
                }
            }
        }
    }

    /// Everything changed (clear, resync).
    func recordClear() {
        state.withLock { state in
            state.ticket += 1
            state.floor = state.ticket
            state.changed.removeAll(keepingCapacity: true)
            state.order.removeAll(keepingCapacity: true)
            state.orderStart = 0
        }
    }

    /// True when a read that took `ticket` may cache what it read for `key`.
    func mayCache(_ key: String, readAt ticket: UInt64) -> Bool {
        state.withLock { state in
            if ticket < state.floor { return false }
            if let changed = state.changed[key] { return changed <= ticket }
            return true
        }
    }
}
