// InvalidationLog: the recent changes of keys, so that nothing older than a change is cached.
//
// It closes two holes, with one bounded record.
//
// 1. The read-then-invalidate race of client-side caching: an instance misses locally and sends
//    GET; meanwhile another instance changes the key and the invalidation reaches this instance
//    *before* the GET reply does (they travel on different connections). Cached, the reply would
//    be served until the key changed again, possibly forever; versions alone do not help when
//    the local cache holds nothing to compare with. So every received change of a key, and every
//    local delete, takes a ticket from a local sequence and records "key changed at ticket n"; a
//    read notes the current ticket before it sends GET, and its reply may be cached only if the
//    key has not changed since, or the reply is at least as new as every (versioned) change
//    recorded for the key, as when the change is the very write the read returns (`mayCache`).
//    No wall clock is involved.
// 2. Tombstones: a set older than a delete must never be applied, whether it is a captured event
//    replayed by someone, or a duplicate. So each change also records its version, and a set
//    event must carry a version above the key's `barrier`: the newest recorded version of the key,
//    and at least the `floor`, below which changes may have been forgotten (see below).
//
// Bounds: at most `capacity` keys are recorded, and the key order holds at most twice as many
// entries as there are recorded keys (plus a slack), however often they change. The oldest record falls off first; the ticket
// floor rises to its ticket (a read older than that is conservatively refused: it costs a later
// GET) and the version floor to its version (a set that old is conservatively refused: the key is
// then read from Redis when needed). A clear empties the record and raises both floors.
//
// Versions that Redis never handed out (a forged event) must not become barriers for good. A
// floor raised by a version above the verified horizon (the highest version Redis is known to
// have handed out, SyncedCache+Versions.swift) is kept apart until the horizon is checked:
// `verify(upTo:)` keeps the raises that Redis confirms and drops the others, and
// `forgetForged(_:above:)` clears a key's record that Redis disowned.

import Primitives

final class InvalidationLog: Sendable {
    private struct Change {
        var ticket: UInt64
        /// The newest version among the recorded changes of the key.
        var version: UInt64
        /// True when one of them came without a version (reference wire format, tracking
        /// invalidations, tag invalidations, resyncs): `version` then does not bound them all.
        var hasUnversioned: Bool
    }

    private struct State {
        var ticket: UInt64 = 0
        var changed: [String: Change] = [:]
        /// Keys in ticket order, for dropping the oldest.
        var order: [(key: String, ticket: UInt64)] = []
        var orderStart = 0
        /// Reads that took a ticket below this may not cache.
        var ticketFloor: UInt64 = 0
        /// The version floor made of raises that were verified when they happened.
        var verifiedFloor: UInt64 = 0
        /// Raises above the verified horizon at the time, awaiting `verify(upTo:)`. Bounded by
        /// `pendingLimit`; past it, the smallest is folded into `verifiedFloor`.
        var pendingRaises: [UInt64] = []

        var versionFloor: UInt64 { max(verifiedFloor, pendingRaises.max() ?? 0) }

        mutating func raiseFloor(to version: UInt64, horizon: UInt64) {
            guard version > versionFloor else { return }
            if version <= horizon {
                verifiedFloor = version
                return
            }
            pendingRaises.append(version)
            if pendingRaises.count > InvalidationLog.pendingLimit {
                pendingRaises.sort()
                verifiedFloor = max(verifiedFloor, pendingRaises.removeFirst())
            }
        }
    }

    /// Keys recorded before the oldest fall off: 100k keys (~10 MB at most), far more than can
    /// change during one GET round trip.
    static let capacity = 100_000
    /// Stale order entries tolerated beyond twice the live ones before a compaction.
    static let compactionSlack = 1_024
    /// Unverified floor raises kept apart (each is a clear with a version above the horizon;
    /// clears are rare, so a handful covers the time until the next ping verifies them).
    static let pendingLimit = 16

    private let state = Locked(State())

    /// Entries of the key order, stale ones included (for tests of the bound).
    var orderEntries: Int { state.withLock { $0.order.count - $0.orderStart } }

    /// The ticket a read takes before it asks Redis.
    func ticket() -> UInt64 {
        state.withLock { $0.ticket }
    }

    /// A key changed (received event, local delete, replayed change).
    /// - Parameters:
    ///   - version: the change's version; 0 when unknown (reference wire format).
    ///   - horizon: the verified horizon now.
    func recordChange(of key: String, version: UInt64, horizon: UInt64) {
        state.withLock { state in
            state.ticket += 1
            let previous = state.changed[key]
            state.changed[key] = Change(
                ticket: state.ticket, version: max(previous?.version ?? 0, version),
                hasUnversioned: (previous?.hasUnversioned ?? false) || version == 0)
            state.order.append((key, state.ticket))
            if state.order.count - state.orderStart > 2 * state.changed.count + InvalidationLog.compactionSlack {
                // Most entries are stale (their key changed again since): keep the live ones, in
                // order, so that the record's memory follows the keys that changed, not the
                // changes (a soak run of 2,000 hot keys grew by 2.5 MB in 200 s before this).
                state.order = state.order[state.orderStart...].filter { state.changed[$0.key]?.ticket == $0.ticket }
                state.orderStart = 0
            }
            guard state.order.count - state.orderStart > InvalidationLog.capacity else { return }
            let oldest = state.order[state.orderStart]
            state.orderStart += 1
            if let change = state.changed[oldest.key], change.ticket == oldest.ticket {
                state.changed[oldest.key] = nil
                state.raiseFloor(to: change.version, horizon: horizon)
            }
            state.ticketFloor = max(state.ticketFloor, oldest.ticket)
            if state.orderStart > InvalidationLog.capacity {
                state.order.removeFirst(state.orderStart)
                state.orderStart = 0
            }
        }
    }

    /// Everything changed: a clear (with its version), or a resync (version 0: the floor keeps
    /// the newest version recorded, since every record is dropped).
    func recordClear(version: UInt64, horizon: UInt64) {
        state.withLock { state in
            state.ticket += 1
            state.ticketFloor = state.ticket
            let newestRecorded = state.changed.values.reduce(0) { max($0, min($1.version, horizon)) }
            state.raiseFloor(to: max(version, newestRecorded), horizon: horizon)
            state.changed.removeAll(keepingCapacity: true)
            state.order.removeAll(keepingCapacity: true)
            state.orderStart = 0
        }
    }

    /// True when a read that took `ticket` may cache what it read for `key`: the key has not
    /// changed since, or every change recorded for it has a version and the value read is at
    /// least that new (`version` > 0). The second case is the common one of a read racing the
    /// event of the very write it read: the event arrives during the read, and caching the reply
    /// is still right, since it holds that write or a later one.
    /// - Parameter version: the version of the value read; 0 when unknown.
    func mayCache(_ key: String, readAt ticket: UInt64, version: UInt64 = 0) -> Bool {
        state.withLock { state in
            if ticket < state.ticketFloor { return false }
            guard let changed = state.changed[key], changed.ticket > ticket else { return true }
            return version > 0 && !changed.hasUnversioned && version >= changed.version
        }
    }

    /// The version a set of `key` must exceed: its newest recorded change, and at least the floor.
    func barrier(for key: String) -> UInt64 {
        state.withLock { state in max(state.changed[key]?.version ?? 0, state.versionFloor) }
    }

    /// Redis has handed out versions up to `counter` and no more: floor raises above it were
    /// forged and are dropped, the others become verified.
    func verify(upTo counter: UInt64) {
        state.withLock { state in
            guard !state.pendingRaises.isEmpty else { return }
            let confirmed = state.pendingRaises.filter { $0 <= counter }.max() ?? 0
            state.verifiedFloor = max(state.verifiedFloor, confirmed)
            state.pendingRaises.removeAll()
        }
    }

    /// Forgets `key`'s recorded version if it is above `counter` (a version Redis never handed
    /// out). The key's record then no longer holds back sets, as if it had fallen off.
    /// - Returns: true when a record was forgotten.
    @discardableResult
    func forgetForged(_ key: String, above counter: UInt64) -> Bool {
        state.withLock { state in
            guard let change = state.changed[key], change.version > counter else { return false }
            state.changed[key]?.version = 0
            return true
        }
    }
}
