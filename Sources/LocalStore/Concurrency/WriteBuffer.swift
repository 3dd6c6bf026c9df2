// WriteBuffer: the writes the policy has not seen yet, in the order they reached the table.
//
// Design note. A write changes the table at once (under its shard's lock: readers see it) and
// then only appends a record here; the policy learns of it at the next upkeep, on the
// maintenance thread, which applies the buffered writes before the recorded reads. So a set or a
// fill never waits for the policy lock, never runs the policy's admission, eviction or climber
// code, and never drains the read rings; Caffeine's write buffer does the same. A writer that
// finds the buffer full applies it itself (back-pressure: the buffer, and so the policy's lag
// behind the table, stays bounded), and a store with manual upkeep applies it on every write.
//
// Lifetime: a record names entries without holding a reference to them; the replaced entry's
// table reference moves into its record, and whoever applies the record retires it. An entry is
// never freed while a record names it, for two reasons. A writer puts its entry in the table and
// appends the record inside one epoch read section, so no entry it could have displaced, and not
// its own, can pass the reclaimer's grace period before the record is in the buffer; and the
// reclaimer applies the buffered writes, under the policy lock, before it frees any entry
// (Reclaimer.swift, `beforeFreeingEntries`). The policy copes with records of one key arriving
// out of order (a writer descheduled between its table change and its append) through node
// states (PolicyNode.swift).

import Primitives

/// One write the policy has not applied yet.
enum BufferedWrite: @unchecked Sendable {
    // @unchecked Sendable: a record's references are owned by the buffer, then by the applier.
    /// The entry entered the table where its key was absent. Unretained.
    case added(Unmanaged<KeyedEntry>)
    /// `new` took `old`'s place in the table. `old`: its former table reference, owned by the
    /// record; `new`: unretained.
    case replaced(old: Unmanaged<KeyedEntry>, new: Unmanaged<KeyedEntry>)
}

/// The buffered writes of one store. Thread-safe: a short internal lock per append and per take.
final class WriteBuffer: Sendable {
    /// Records a writer may leave waiting; the writer that reaches this many applies them.
    static let capacity = 1_024

    private let records = Locked<[BufferedWrite]>({
        var records: [BufferedWrite] = []
        records.reserveCapacity(WriteBuffer.capacity)
        return records
    }())

    /// Appends a record.
    /// - Returns: the number of records waiting, this one included.
    func append(_ write: BufferedWrite) -> Int {
        records.withLock { records in
            records.append(write)
            return records.count
        }
    }

    /// Records waiting now.
    var count: Int { records.withLock { $0.count } }

    /// Moves every waiting record into `taken` (empty on entry, its capacity kept by the buffer in
    /// exchange, so neither side allocates once both reached the buffer's capacity).
    func take(into taken: inout [BufferedWrite]) {
        records.withLock { records in
            guard !records.isEmpty else { return }
            swap(&records, &taken)
        }
    }

    /// Releases the replaced entries' references left (the store is gone, so no reader or
    /// policy can see them).
    deinit {
        for case .replaced(let old, _) in records.withLock({ $0 }) { old.release() }
    }
}
