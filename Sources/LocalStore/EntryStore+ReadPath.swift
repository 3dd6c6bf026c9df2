// The read path: inlinable, so callers in other modules get it specialized for what they read,
// with the epoch and clock helpers (C static inline functions) inlined.
//
// Cost model (perf/RESULTS.md has the measured figures): hash (~3 ns for short keys) + TLS load
// and a store to announce the read section + one acquire load of the shard's table + a probe that
// reads one or two slot lines and the entry's line + whatever the caller's closure reads (a copy
// of the value: a retain if it holds a reference) + three stores to the thread's own block (the
// counter, the ring slot, the ring cursor; the ring gets the entry's address, written before the
// read section ends, see ThreadBlocks.swift). No lock, no atomic read-modify-write, no allocation,
// and no policy work: once every `ringSize` reads the thread asks the maintenance thread to
// apply its ring (one relaxed load when a request is already pending).

import Atomics
import CSupport

extension EntryStore {
    /// Finds the live entry for `key` and returns what `body` makes of it, or nil when the key is
    /// absent or expired. Records the read (a hit when an entry was found, whatever `body`
    /// returns). Lock-free; allocates nothing itself.
    ///
    /// `body` runs inside an epoch read section: the entry is valid only until it returns, and
    /// it must be short and must not block (a thread stalled there holds back the reclamation of
    /// every removed entry). Retaining the entry (to use it afterwards) is safe.
    @inlinable @inline(__always)
    package func withEntry<Result>(forKey key: String, hash: UInt64, _ body: (KeyedEntry) -> Result) -> Result? {
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        var result: Result? = nil
        var hit: UnsafeRawPointer? = nil
        var renew = false
        if let pointer = publishedTable(shardIndex(hash)).lookup(hash: hash, key: key) {
            let entry = Unmanaged<KeyedEntry>.fromOpaque(pointer)
            let expiresAt = entry._withUnsafeGuaranteedRef { $0.expiresAt }
            if expiresAt == Int64.max || !isExpired(expiresAt) {
                result = entry._withUnsafeGuaranteedRef(body)
                hit = pointer
                // Time to idle: an entry near its deadline asks for the pass that renews it.
                renew = renewalWindow != 0 && expiresAt != Int64.max && expiresAt &- dc_clock_coarse_now_ns() < renewalWindow
            }
        }
        // Inside the read section: the ring may hold the entry's address (ThreadBlocks.swift).
        let ringFull = threadBlocks.recordRead(threadIndex: dc_ebr_record_index(record), entry: hit, hash: hash)
        dc_ebr_exit(record)
        if ringFull || renew { requestMaintenance() }
        return result
    }

    /// Like ``withEntry(forKey:hash:_:)`` but records nothing (no effect on the policy or the hit
    /// and miss counters): for inspection tools, tests and resynchronization.
    @inlinable
    package func peekEntry<Result>(forKey key: String, hash: UInt64, _ body: (KeyedEntry) -> Result) -> Result? {
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        defer { dc_ebr_exit(record) }
        guard let pointer = publishedTable(shardIndex(hash)).lookup(hash: hash, key: key) else { return nil }
        return Unmanaged<KeyedEntry>.fromOpaque(pointer)._withUnsafeGuaranteedRef { entry in
            if entry.expiresAt != Int64.max && isExpired(entry.expiresAt) { return nil }
            return body(entry)
        }
    }
}
