// Shard: the writer side of one slot table.
//
// Design note. Writers of a shard serialize on its lock; readers never take it (they load the
// table pointer the shard publishes and probe it, see SlotTable.swift). Shards exist so that
// writers of different keys do not serialize on one lock; their number is a power of two derived
// from the core count and the capacity (ShardedCache.Configuration).
//
// The table grows and shrinks by rebuilding: when live entries plus tombstones pass 3/4 of the
// slots, a new table sized to keep the live entries at most half full is filled, published with
// a release store, and the old one is retired to the reclaimer. Starting small (16 slots) means a
// cache whose capacity is a cost budget of 1 GiB does not reserve slots for a billion entries.
//
// Ownership: the table holds one strong reference per entry (taken by the caller with
// `Unmanaged.passRetained` before `upsert`). Every method that takes an entry out of the table
// hands that reference back to the caller, who retires it to the reclaimer after telling the
// policy. Lock order: the policy lock may be held while taking a shard lock, never the reverse.

import Atomics
import CSupport
import Primitives

@usableFromInline
final class Shard: @unchecked Sendable {
    // @unchecked Sendable: mutable state is inside `state` (a Locked); `published` is written only
    // under that lock, with release ordering, and read by readers with acquire ordering.

    /// @unchecked Sendable: the table's memory is owned by this shard and touched only under the
    /// mutex that holds this state (readers reach it through `published`, read-only).
    private struct State: @unchecked Sendable {
        var table: SlotTable
        var count = 0
        var tombstones = 0
    }

    static var initialCapacity: Int { 16 }

    private let state: Locked<State>
    /// The reader-visible table pointer (one word in the cache's array of shard tables).
    private let published: UnsafeAtomic<UInt>
    private let reclaimer: Reclaimer

    init(published: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>, reclaimer: Reclaimer) {
        let table = SlotTable.allocate(capacity: Shard.initialCapacity)
        self.state = Locked(State(table: table))
        self.published = UnsafeAtomic(at: published)
        self.reclaimer = reclaimer
        self.published.store(UInt(bitPattern: table.base), ordering: .releasing)
    }

    deinit {
        // The cache is being destroyed: no reader or writer remains.
        state.withLock { state in
            state.table.forEachEntry { Unmanaged<PolicyNode>.fromOpaque(SlotTable.entryPointer($0)).release() }
            state.table.deallocate()
        }
    }

    /// Number of entries in the table.
    var count: Int { state.withLock { $0.count } }

    /// What an upsert did.
    enum UpsertOutcome {
        /// The key was absent; the entry is in.
        case inserted
        /// The entry replaced `old`, whose table reference now belongs to the caller.
        case replaced(Unmanaged<KeyedEntry>)
        /// The condition said no; the table is unchanged and still the caller's reference.
        case refused
    }

    /// Inserts `entry`, replacing the entry with the same key, if `shouldStore(current)` allows it
    /// (`current` is the entry held now, or nil). The condition runs under the shard lock, so it
    /// is atomic with respect to other writers of the key. On success the table takes over one
    /// strong reference the caller already holds (`passRetained`).
    func upsert(
        _ entry: Unmanaged<KeyedEntry>, key: String, hash: UInt64,
        when shouldStore: (KeyedEntry?) -> Bool
    ) -> UpsertOutcome {
        let word = SlotTable.encode(entry.toOpaque(), hash: hash)
        return state.withLock { state in
            switch state.table.probe(hash: hash, key: key) {
            case .found(let index, let old):
                let current = Unmanaged<KeyedEntry>.fromOpaque(SlotTable.entryPointer(old))
                guard current._withUnsafeGuaranteedRef({ shouldStore($0) }) else { return .refused }
                state.table.store(word, at: index)
                return .replaced(current)
            case .absent(let index, let reusesTombstone):
                guard shouldStore(nil) else { return .refused }
                state.table.store(word, at: index)
                state.count += 1
                if reusesTombstone { state.tombstones -= 1 }
                rebuildIfNeeded(&state)
                return .inserted
            }
        }
    }

    /// Removes the entry for `key` if `shouldRemove(current)` allows it (under the shard lock).
    /// - Returns: the removed entry (its table reference now belongs to the caller), or nil.
    func remove(
        key: String, hash: UInt64, when shouldRemove: (KeyedEntry) -> Bool
    ) -> Unmanaged<KeyedEntry>? {
        state.withLock { state in
            guard case .found(let index, let old) = state.table.probe(hash: hash, key: key) else {
                return nil
            }
            let current = Unmanaged<KeyedEntry>.fromOpaque(SlotTable.entryPointer(old))
            guard current._withUnsafeGuaranteedRef({ shouldRemove($0) }) else { return nil }
            removeSlot(index, in: &state)
            return current
        }
    }

    /// Removes the entry with this hash and exactly this deadline, if the table holds one (an
    /// expiry ticket of the timer wheel; an entry that was replaced since has another deadline).
    /// - Returns: the removed entry (its table reference now belongs to the caller), or nil.
    func remove(hash: UInt64, expiresAt: Int64) -> Unmanaged<KeyedEntry>? {
        state.withLock { state in
            guard let (index, word) = state.table.find(hash: hash, expiresAt: expiresAt) else { return nil }
            removeSlot(index, in: &state)
            return Unmanaged<KeyedEntry>.fromOpaque(SlotTable.entryPointer(word))
        }
    }

    /// Removes exactly `entry` if the table still holds it (not a newer entry of the same key).
    /// - Returns: true when it was removed; its table reference then belongs to the caller.
    func remove(exactly entry: PolicyNode) -> Bool {
        let pointer = UnsafeRawPointer(Unmanaged.passUnretained(entry).toOpaque())
        return state.withLock { state in
            guard let index = state.table.index(of: pointer, hash: entry.keyHash) else { return false }
            removeSlot(index, in: &state)
            return true
        }
    }

    /// Empties the shard: publishes a fresh table and retires the old one.
    /// - Returns: every entry that was in it; their table references now belong to the caller.
    func removeAll() -> [Unmanaged<PolicyNode>] {
        state.withLock { state in
            var entries: [Unmanaged<PolicyNode>] = []
            entries.reserveCapacity(state.count)
            state.table.forEachEntry { entries.append(Unmanaged<PolicyNode>.fromOpaque(SlotTable.entryPointer($0))) }
            replaceTable(with: SlotTable.allocate(capacity: Shard.initialCapacity), in: &state)
            state.count = 0
            state.tombstones = 0
            return entries
        }
    }

    private func removeSlot(_ index: Int, in state: inout State) {
        state.table.store(SlotTable.tombstone, at: index)
        state.count -= 1
        state.tombstones += 1
        rebuildIfNeeded(&state)
    }

    private func rebuildIfNeeded(_ state: inout State) {
        let capacity = state.table.capacity
        let used = state.count + state.tombstones
        // Grow past 3/4 occupancy; purge (and shrink) when tombstones alone fill a quarter.
        guard used * 4 > capacity * 3 || state.tombstones * 4 > capacity else { return }
        var newCapacity = Shard.initialCapacity
        while newCapacity < state.count * 2 { newCapacity *= 2 }
        let fresh = SlotTable.allocate(capacity: newCapacity)
        state.table.copyLiveSlots(into: fresh) { word in
            Unmanaged<PolicyNode>.fromOpaque(SlotTable.entryPointer(word))._withUnsafeGuaranteedRef { $0.keyHash }
        }
        replaceTable(with: fresh, in: &state)
        state.tombstones = 0
    }

    private func replaceTable(with fresh: SlotTable, in state: inout State) {
        let old = state.table
        state.table = fresh
        published.store(UInt(bitPattern: fresh.base), ordering: .releasing)
        reclaimer.retire(.table(old))
    }

    // MARK: - Checks

    #if DCACHE_INTERNAL_CHECKS
    /// Verifies counts and that every entry is reachable from its home slot.
    func _checkInvariants() {
        state.withLock { state in
            var live = 0
            var tombstones = 0
            var empties = 0
            let table = state.table
            for index in 0..<table.capacity {
                let word = table.slot(index).load(ordering: .relaxed)
                if word == SlotTable.empty {
                    empties += 1
                } else if word == SlotTable.tombstone {
                    tombstones += 1
                } else {
                    live += 1
                    let node = Unmanaged<KeyedEntry>.fromOpaque(SlotTable.entryPointer(word))
                    let found = node._withUnsafeGuaranteedRef {
                        table.lookup(hash: $0.keyHash, key: $0.key)
                    }
                    precondition(found == SlotTable.entryPointer(word), "entry unreachable from its home slot")
                }
            }
            precondition(live == state.count, "live count \(live) != \(state.count)")
            precondition(tombstones == state.tombstones, "tombstones \(tombstones) != \(state.tombstones)")
            precondition(empties > 0, "a table must keep an empty slot to end probes")
            precondition(published.load(ordering: .acquiring) == UInt(bitPattern: table.base), "stale publication")
        }
    }
    #endif
}
