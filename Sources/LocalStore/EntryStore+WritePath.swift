// The write path: insert (conditional), remove (conditional), remove all.
//
// Every write creates or removes whole entries (entries are immutable). An insert changes the
// table under the key's shard lock (readers see the change at once) and appends a record to the
// write buffer (WriteBuffer.swift); the policy applies it at the next upkeep. A removal takes the
// policy lock at once, after applying the buffered writes, so the policy sees every key's writes
// in order. Between the table change and the policy's turn another writer may act on the same
// key; the policy copes through node states (PolicyNode.swift): an insert for an entry that was
// already replaced or removed is ignored, and a replace of a node the policy never linked becomes
// an insert. Whoever takes a reference out of the table or out of a record retires it, exactly
// once.

import CSupport

extension EntryStore {
    /// Puts `entry` in the table if `shouldStore` approves the current entry of its key (nil when
    /// absent or expired), replacing it. The check and the store are atomic with respect to other
    /// writers of the key. The policy learns of the write at the next upkeep, and may then evict
    /// the entry at once (admission) or others to make room.
    /// - Returns: true when the entry entered the table; false when the condition refused it,
    ///   its weight exceeds the capacity, or the store is closed.
    @discardableResult
    package func insert(_ entry: KeyedEntry, when shouldStore: (KeyedEntry?) -> Bool) -> Bool {
        let (stored, cap) = applyingTimeToIdle(to: entry)
        return insert(stored, idleCap: cap, when: shouldStore)
    }

    /// `insert(_:when:)` of an entry whose deadline is already what the store keeps, with the
    /// time-to-live deadline that caps its renewals under time to idle (nil: not renewable).
    @discardableResult
    func insert(_ entry: KeyedEntry, idleCap: Int64?, when shouldStore: (KeyedEntry?) -> Bool) -> Bool {
        guard !isClosed, Int(entry.weight) <= configuration.maximumWeight else { return false }
        let hash = entry.keyHash
        let retained = Unmanaged.passRetained(entry)
        // The table change and the record's append in one read section: see WriteBuffer.swift
        // for why that keeps every entry a record names alive until the record is applied.
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        let outcome = shards[shardIndex(hash)].upsert(retained, key: entry.key, hash: hash) { current in
            shouldStore(current.flatMap { hasExpired($0) ? nil : $0 })
        }
        let waiting: Int
        switch outcome {
        case .refused:
            dc_ebr_exit(record)
            retained.release()
            return false
        case .inserted:
            noteIdleCap(idleCap, of: entry, replacing: nil)
            waiting = writeBuffer.append(.added(retained))
        case .replaced(let old):
            old._withUnsafeGuaranteedRef { noteIdleCap(idleCap, of: entry, replacing: $0) }
            waiting = writeBuffer.append(.replaced(old: old, new: retained))
        }
        dc_ebr_exit(record)
        if configuration.upkeep == .manual || waiting >= WriteBuffer.capacity {
            // Manual upkeep: the policy sees each write as it happens (simulations, tests).
            // A full buffer: the writer applies it (back-pressure).
            applyPendingAndCollect()
        } else {
            requestMaintenance()
        }
        return true
    }

    /// Removes the entry for `key` if `shouldRemove` approves it (an expired entry counts as
    /// absent), atomically with respect to other writers of `key`.
    /// - Parameter cause: what the removal listener is told (`.explicit` or `.invalidated`).
    /// - Returns: true when an entry was removed.
    @discardableResult
    package func remove(
        key: String, hash: UInt64, cause: RemovalCause = .explicit, when shouldRemove: (KeyedEntry) -> Bool
    ) -> Bool {
        let removed = shards[shardIndex(hash)].remove(key: key, hash: hash) { entry in
            !hasExpired(entry) && shouldRemove(entry)
        }
        guard let removed else { return false }
        let collect = policyState.withLock { state in
            applyPending(&state)
            let node = removed.takeUnretainedValue()
            left(node, in: &state)
            state.engine.remove(node)
            state.counters.explicitRemovals += 1
            report(node, cause)
            state.garbage.append(.entry(Unmanaged<PolicyNode>.fromOpaque(removed.toOpaque())))
            return retireGarbage(&state)
        }
        if collect { collectRetired() }
        return true
    }

    /// Removes every entry. Entries stored concurrently with the call may survive it (the shards
    /// are emptied one after another).
    /// - Parameter cause: what the removal listener is told (`.explicit` or `.invalidated`).
    package func removeAll(cause: RemovalCause = .explicit) {
        policyState.withLock { state in
            applyPending(&state)
            for shard in shards {
                for entry in shard.removeAll() {
                    let node = entry.takeUnretainedValue()
                    left(node, in: &state)
                    state.engine.remove(node)
                    state.counters.explicitRemovals += 1
                    report(node, cause)
                    state.garbage.append(.entry(entry))
                }
            }
            if state.expiringEntries == 0 { state.wheel.removeAll() }
            _ = retireGarbage(&state)
        }
        collectRetired()
    }

    // MARK: - Internals

    /// Accounts for an entry that left the table (any cause). Policy lock held.
    func left(_ node: PolicyNode, in state: inout PolicyState) {
        if node.expires { state.expiringEntries -= 1 }
        forgetIdleCap(of: node)
    }

    /// Tells the removal listener, if any, that `node` left. Policy lock held.
    @inline(__always)
    func report(_ node: PolicyNode, _ cause: RemovalCause) {
        guard let listener = configuration.removalListener else { return }
        listener(Removal(entry: unsafeDowncast(node, to: KeyedEntry.self), cause: cause))
    }

    /// The policy chose `victim` (already unlinked and dead): take it out of the table if the
    /// table still holds it, and retire it. If a concurrent writer took it out first, that writer
    /// retires it.
    func evicted(_ victim: PolicyNode, _ cause: RemovalCause, newEntry: PolicyNode, in state: inout PolicyState) {
        guard shards[shardIndex(victim.keyHash)].remove(exactly: victim) else { return }
        left(victim, in: &state)
        report(victim, cause)
        state.garbage.append(.entry(Unmanaged.passUnretained(victim)))
        switch cause {
        case .expired: state.counters.evictionsByExpiry += 1
        case .explicit, .replaced, .invalidated: state.counters.explicitRemovals += 1
        case .size:
            state.counters.evictionsBySize += 1
            if victim === newEntry { state.counters.admissionsRejected += 1 }
        }
    }
}
