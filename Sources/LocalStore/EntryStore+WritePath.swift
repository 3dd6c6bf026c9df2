// The write path: insert (conditional), remove (conditional), remove all.
//
// Every write creates or removes whole entries (entries are immutable), in two steps:
//   1. under the key's shard lock, change the table (readers see the change at once);
//   2. under the policy lock, apply the recorded reads, tell the policy, put the entry's expiry
//      ticket on the timer wheel, and retire whatever left the table (its memory is freed once no
//      reader can still see it).
// Between the steps another writer may act on the same key. The policy copes through node states
// (PolicyNode.swift): an insert event for an entry that was already replaced is ignored, and a
// replace of a node the policy never linked becomes an insert. Whoever takes an entry out of the
// table retires it, exactly once.

import CSupport

extension EntryStore {
    /// Puts `entry` in the table if `shouldStore` approves the current entry of its key (nil when
    /// absent or expired), replacing it. The check and the store are atomic with respect to other
    /// writers of the key.
    /// - Returns: true when the entry is in the store after the call; false when the condition
    ///   refused it, the admission policy turned it away at once, its weight exceeds the capacity,
    ///   or the store is closed.
    @discardableResult
    package func insert(_ entry: KeyedEntry, when shouldStore: (KeyedEntry?) -> Bool) -> Bool {
        guard !isClosed, Int(entry.weight) <= configuration.maximumWeight else { return false }
        let hash = entry.keyHash
        let retained = Unmanaged.passRetained(entry)
        let outcome = shards[shardIndex(hash)].upsert(retained, key: entry.key, hash: hash) { current in
            shouldStore(current.flatMap { hasExpired($0) ? nil : $0 })
        }
        let replaced: Unmanaged<KeyedEntry>?
        switch outcome {
        case .refused:
            retained.release()
            return false
        case .inserted:
            replaced = nil
        case .replaced(let old):
            replaced = old
        }
        var garbage: [Garbage] = []
        let admitted: Bool = policyState.withLock { state in
            applyRecordedReads(&state)
            state.counters.sets += 1
            if entry.expires {
                state.expiringEntries += 1
                state.wheel.schedule(ExpiryTicket(keyHash: hash, deadline: entry.expiresAt))
            }
            if let replaced {
                let old = replaced.takeUnretainedValue()
                left(old, in: &state)
                state.engine.replace(old, with: entry) { victim, cause in
                    evicted(victim, cause, newEntry: entry, garbage: &garbage, in: &state)
                }
                garbage.append(.entry(Unmanaged<PolicyNode>.fromOpaque(replaced.toOpaque())))
            } else {
                state.engine.add(entry) { victim, cause in
                    evicted(victim, cause, newEntry: entry, garbage: &garbage, in: &state)
                }
            }
            expireDueEntries(&state, garbage: &garbage)
            return entry.state == .linked
        }
        if reclaimer.retire(garbage) || !garbage.isEmpty && reclaimer.pendingCount >= Reclaimer.collectThreshold {
            collectRetired()
        }
        return admitted
    }

    /// Removes the entry for `key` if `shouldRemove` approves it (an expired entry counts as
    /// absent), atomically with respect to other writers of `key`.
    /// - Returns: true when an entry was removed.
    @discardableResult
    package func remove(key: String, hash: UInt64, when shouldRemove: (KeyedEntry) -> Bool) -> Bool {
        let removed = shards[shardIndex(hash)].remove(key: key, hash: hash) { entry in
            !hasExpired(entry) && shouldRemove(entry)
        }
        guard let removed else { return false }
        policyState.withLock { state in
            let node = removed.takeUnretainedValue()
            left(node, in: &state)
            state.engine.remove(node)
            state.counters.explicitRemovals += 1
        }
        if reclaimer.retire(.entry(Unmanaged<PolicyNode>.fromOpaque(removed.toOpaque()))) { collectRetired() }
        return true
    }

    /// Removes every entry. Entries stored concurrently with the call may survive it (the shards
    /// are emptied one after another).
    package func removeAll() {
        var garbage: [Garbage] = []
        policyState.withLock { state in
            for shard in shards {
                for entry in shard.removeAll() {
                    let node = entry.takeUnretainedValue()
                    left(node, in: &state)
                    state.engine.remove(node)
                    state.counters.explicitRemovals += 1
                    garbage.append(.entry(entry))
                }
            }
            if state.expiringEntries == 0 { state.wheel.removeAll() }
        }
        reclaimer.retire(garbage)
        collectRetired()
    }

    // MARK: - Internals

    /// Accounts for an entry that left the table (any cause). Policy lock held.
    func left(_ node: PolicyNode, in state: inout PolicyState) {
        if node.expires { state.expiringEntries -= 1 }
    }

    /// The policy chose `victim` (already unlinked and dead): take it out of the table if the
    /// table still holds it, and retire it. If a concurrent writer took it out first, that writer
    /// retires it.
    func evicted(
        _ victim: PolicyNode, _ cause: RemovalCause, newEntry: PolicyNode,
        garbage: inout [Garbage], in state: inout PolicyState
    ) {
        guard shards[shardIndex(victim.keyHash)].remove(exactly: victim) else { return }
        left(victim, in: &state)
        garbage.append(.entry(Unmanaged.passUnretained(victim)))
        switch cause {
        case .expired: state.counters.evictionsByExpiry += 1
        case .explicit, .replaced: state.counters.explicitRemovals += 1
        case .size:
            state.counters.evictionsBySize += 1
            if victim === newEntry { state.counters.admissionsRejected += 1 }
        }
    }
}
