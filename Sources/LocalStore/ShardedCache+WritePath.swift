// The write path: set, conditional set, remove, conditional remove, remove all.
//
// Every write creates or removes whole entries (entries are immutable), in two steps:
//   1. under the key's shard lock, change the table (readers see the change at once);
//   2. under the policy lock, tell the policy and the timer wheel, and retire whatever left the
//      table (its memory is freed once no reader can still see it).
// Between the steps another writer may act on the same key. The policy copes through node states
// (PolicyNode.swift): an insert event for an entry that was already replaced is ignored, and a
// replace of a node the policy never linked becomes an insert. Whoever takes an entry out of the
// table retires it, exactly once.

import CSupport
import Primitives

extension ShardedCache {
    /// Stores `value` for `key`, replacing any previous value.
    /// - Parameters:
    ///   - value: the value.
    ///   - key: the key.
    ///   - cost: the entry's cost (ignored when the capacity counts entries); at least 1.
    ///   - ttl: time to live; nil uses the configuration's `defaultTTL`.
    /// - Returns: true when the value is in the cache after the call; false when the admission
    ///   policy turned it away at once, its cost exceeds the capacity, or the cache is closed.
    @discardableResult
    public func setValue(_ value: Value, forKey key: String, cost: Int = 1, ttl: Duration? = nil) -> Bool {
        store(value, forKey: key, hash: hasher.hash(key), cost: cost, ttl: ttl) { _ in true }
    }

    /// Stores `value` for `key` given its hash from ``hash(_:)``.
    /// - Returns: as ``setValue(_:forKey:cost:ttl:)``.
    @discardableResult
    public func setValue(_ value: Value, forKey key: String, hash: UInt64, cost: Int = 1, ttl: Duration? = nil) -> Bool {
        store(value, forKey: key, hash: hash, cost: cost, ttl: ttl) { _ in true }
    }

    /// Stores `value` only if `shouldReplace` approves the current value (nil when absent or
    /// expired). The check and the store are atomic with respect to other writers of `key`.
    /// - Returns: true when the value was stored and is in the cache after the call.
    @discardableResult
    public func setValue(
        _ value: Value, forKey key: String, cost: Int, ttl: Duration?, when shouldReplace: (Value?) -> Bool
    ) -> Bool {
        store(value, forKey: key, hash: hasher.hash(key), cost: cost, ttl: ttl) { current in
            shouldReplace(current.flatMap { live($0) })
        }
    }

    /// Removes the value for `key`.
    /// - Returns: true when a value was removed.
    @discardableResult
    public func removeValue(forKey key: String) -> Bool {
        remove(key: key, hash: hasher.hash(key)) { _ in true }
    }

    /// Removes the value for `key` only if `shouldRemove` approves it, atomically with respect to
    /// other writers of `key`. An expired value counts as absent.
    /// - Returns: true when a value was removed.
    @discardableResult
    public func removeValue(forKey key: String, when shouldRemove: (Value) -> Bool) -> Bool {
        remove(key: key, hash: hasher.hash(key)) { entry in live(entry).map(shouldRemove) ?? false }
    }

    /// Removes every value. Entries stored concurrently with the call may survive it (the shards
    /// are emptied one after another).
    public func removeAll() {
        var garbage: [Garbage] = []
        policyState.withLock { state in
            for shard in shards {
                for entry in shard.removeAll() {
                    let node = entry.takeUnretainedValue()
                    forget(node, in: &state)
                    state.counters.explicitRemovals += 1
                    garbage.append(.entry(entry))
                }
            }
        }
        reclaimer.retire(garbage)
        reclaimer.collect()
    }

    // MARK: - Internals

    /// The entry's value unless it has expired.
    func live(_ entry: StoreEntry<Value>) -> Value? {
        entry.expiresAt != Int64.max && isExpired(entry.expiresAt) ? nil : entry.value
    }

    /// Monotonic deadline `ttl` from now, or `Int64.max` for none.
    func deadline(after ttl: Duration?) -> Int64 {
        guard let ttl else { return Int64.max }
        return ttl.deadline(fromNanoseconds: dc_clock_now_ns())
    }

    func store(
        _ value: Value, forKey key: String, hash: UInt64, cost: Int, ttl: Duration?,
        when shouldStore: (StoreEntry<Value>?) -> Bool
    ) -> Bool {
        guard !isClosed else { return false }
        let weight = configuration.weight(forCost: cost)
        guard Int(weight) <= configuration.maximumWeight else { return false }
        let entry = StoreEntry(
            key: key, value: value, keyHash: hash, weight: weight,
            expiresAt: deadline(after: ttl ?? configuration.defaultTTL))
        let retained = Unmanaged.passRetained(entry)
        let outcome = shards[shardIndex(hash)].upsert(retained, key: key, hash: hash, when: shouldStore)
        let replaced: Unmanaged<StoreEntry<Value>>?
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
            if let replaced {
                let old = replaced.takeUnretainedValue()
                state.wheel.deschedule(old)
                schedule(entry, in: &state)
                state.engine.replace(old, with: entry) { victim, cause in
                    evicted(victim, cause, newEntry: entry, garbage: &garbage, in: &state)
                }
                garbage.append(.entry(Unmanaged<PolicyNode>.fromOpaque(replaced.toOpaque())))
            } else {
                schedule(entry, in: &state)
                state.engine.add(entry) { victim, cause in
                    evicted(victim, cause, newEntry: entry, garbage: &garbage, in: &state)
                }
            }
            expireDueEntries(&state, garbage: &garbage)
            return entry.state == .linked
        }
        if reclaimer.retire(garbage) || !garbage.isEmpty && reclaimer.pendingCount >= Reclaimer.collectThreshold {
            reclaimer.collect()
        }
        return admitted
    }

    func remove(key: String, hash: UInt64, when shouldRemove: (StoreEntry<Value>) -> Bool) -> Bool {
        guard let removed = shards[shardIndex(hash)].remove(key: key, hash: hash, when: shouldRemove) else {
            return false
        }
        policyState.withLock { state in
            forget(removed.takeUnretainedValue(), in: &state)
            state.counters.explicitRemovals += 1
        }
        if reclaimer.retire(.entry(Unmanaged<PolicyNode>.fromOpaque(removed.toOpaque()))) { reclaimer.collect() }
        return true
    }

    /// Puts a new entry with a deadline on the timer wheel, if the policy has not already seen it
    /// replaced. A node is on the wheel exactly while it is linked (or about to be) and expires.
    func schedule(_ entry: StoreEntry<Value>, in state: inout PolicyState) {
        guard entry.state == .pending && entry.expires else { return }
        state.wheel.schedule(entry)
    }

    /// Takes a node that left the table out of the wheel and the policy. (The wheel's links are
    /// unretained: a node must leave it before the node is retired.)
    func forget(_ node: PolicyNode, in state: inout PolicyState) {
        state.wheel.deschedule(node)
        state.engine.remove(node)
    }

    /// The policy chose `victim` (already unlinked and dead): take it out of the table if the
    /// table still holds it, and retire it. If a concurrent writer took it out first, that writer
    /// retires it.
    func evicted(
        _ victim: PolicyNode, _ cause: RemovalCause, newEntry: PolicyNode,
        garbage: inout [Garbage], in state: inout PolicyState
    ) {
        state.wheel.deschedule(victim)
        guard shards[shardIndex(victim.keyHash)].remove(exactly: victim) else { return }
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
