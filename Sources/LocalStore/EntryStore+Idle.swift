// Time to idle (StoreConfiguration.timeToIdle): entries that are not read leave.
//
// Design note. Entries are immutable and the read path writes nothing shared, so a read cannot
// stamp its entry with an access time (Caffeine's way). Instead an entry's deadline is the
// earlier of its time to live's and "stored + time to idle", and reads renew it: a read that
// finds less than 7/8 of the time to idle left asks for a maintenance pass (one comparison on
// the read path, a relaxed load when a pass is already pending); the pass replays the read and,
// after releasing the policy lock, stores a copy of the entry with the deadline pushed to
// "now + time to idle" (capped by the time to live's deadline, remembered in `idleCaps`). The
// copy replaces the entry only if it is still the current one, silently (no removal reported).
// Expiry itself is the ordinary one: the read path's deadline check and the timer wheel.
//
// Cost: nothing without time to idle but the read path's comparison with zero; with it, one
// allocation per entry and per 1/8 of the time to idle while the entry is being read.

import CSupport

extension EntryStore {
    /// What `insert` stores for `entry`: with time to idle, a copy whose deadline is the idle one
    /// when that comes first (its time to live's deadline is then remembered as its cap).
    func applyingTimeToIdle(to entry: KeyedEntry) -> (entry: KeyedEntry, cap: Int64?) {
        guard idleNanoseconds != 0 else { return (entry, nil) }
        let idleDeadline = dc_clock_now_ns() &+ idleNanoseconds
        guard entry.expiresAt > idleDeadline else { return (entry, nil) }
        let bounded = entry.renewed(expiresAt: idleDeadline)
        bounded.replacesSilently = entry.replacesSilently
        return (bounded, entry.expiresAt)
    }

    /// Records or forgets the cap of a stored entry.
    func noteIdleCap(_ cap: Int64?, of entry: KeyedEntry, replacing old: KeyedEntry?) {
        guard idleNanoseconds != 0 else { return }
        idleCaps.withLock { caps in
            // A silent replacement (the same value in another form) keeps its predecessor's cap.
            let inherited = entry.replacesSilently ? old.flatMap { caps[ObjectIdentifier($0)] } : nil
            if let cap = cap ?? inherited { caps[ObjectIdentifier(entry)] = cap }
        }
    }

    /// The deadline an entry's time to live sets (`Int64.max`: none), which under time to idle
    /// may be later than the entry's current deadline.
    package func timeToLiveDeadline(of entry: KeyedEntry) -> Int64 {
        guard idleNanoseconds != 0 else { return entry.expiresAt }
        return idleCaps.withLock { $0[ObjectIdentifier(entry)] } ?? entry.expiresAt
    }

    /// Forgets the cap of an entry that left the table. Policy lock held.
    func forgetIdleCap(of node: PolicyNode) {
        guard idleNanoseconds != 0 else { return }
        _ = idleCaps.withLock { $0.removeValue(forKey: ObjectIdentifier(node)) }
    }

    /// Renews the entries the last pass found read near their idle deadline. Policy lock not held.
    func renewIdleEntries() {
        guard idleNanoseconds != 0 else { return }
        let renewals = policyState.withLock { state -> [Unmanaged<KeyedEntry>] in
            defer { state.idleRenewals.removeAll() }
            return state.idleRenewals
        }
        for retained in renewals {
            let entry = retained.takeRetainedValue()
            guard let cap = idleCaps.withLock({ $0[ObjectIdentifier(entry)] }) else { continue }
            let deadline = min(cap, dc_clock_now_ns() &+ idleNanoseconds)
            guard deadline > entry.expiresAt else { continue }
            let renewed = entry.renewed(expiresAt: deadline)
            renewed.replacesSilently = true
            insert(renewed, idleCap: deadline < cap ? cap : nil) { $0 === entry }
        }
    }
}
