// Enumerating the entries: for tools, resynchronization and tests; not for hot paths.

import CSupport

extension ShardedCache {
    /// Every live (unexpired) entry, as a snapshot: entries stored or removed while it is taken
    /// may or may not appear. Costs a scan of every shard's table; does not count as access.
    public func snapshot() -> [(key: String, value: Value)] {
        var entries: [(key: String, value: Value)] = []
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        defer { dc_ebr_exit(record) }
        for shard in 0...shardMask {
            publishedTable(shard).forEachEntry { word in
                Unmanaged<StoreEntry<Value>>.fromOpaque(SlotTable.entryPointer(word))._withUnsafeGuaranteedRef { entry in
                    if let value = live(entry) { entries.append((entry.key, value)) }
                }
            }
        }
        return entries
    }
}
