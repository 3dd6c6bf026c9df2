// The read path: inlinable, so callers in other modules get it specialized for their Value type
// and with the epoch and clock helpers (C static inline functions) inlined.
//
// Cost model (perf/RESULTS.md has the measured figures): hash (~3 ns for short keys) + TLS load
// and a store to announce the read section + one acquire load of the shard's table + a probe that
// reads one or two slot lines and the entry's line + the value copy (a retain if Value holds a
// reference) + two stores to the thread's own block. No lock, no atomic read-modify-write, no
// allocation. Every `ringSize` hits the thread tries to apply its recorded reads to the policy.

import Atomics
import CSupport

extension ShardedCache {
    /// Returns the value for `key`, or nil when it is absent or expired. Lock-free; allocates
    /// nothing.
    /// - Parameter key: the key.
    /// - Returns: the value, or nil.
    @inlinable
    public func value(forKey key: String) -> Value? {
        value(forKey: key, hash: hasher.hash(key))
    }

    /// Returns the value for `key` given its hash from ``hash(_:)``, saving the hash when the
    /// caller already has it.
    /// - Parameters:
    ///   - key: the key.
    ///   - hash: `hash(key)` of this cache.
    /// - Returns: the value, or nil.
    @inlinable
    public func value(forKey key: String, hash: UInt64) -> Value? {
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        let block = threadBlocks.block(threadIndex: dc_ebr_record_index(record))
        var result: Value? = nil
        if let pointer = publishedTable(shardIndex(hash)).lookup(hash: hash, key: key, as: Value.self) {
            result = Unmanaged<StoreEntry<Value>>.fromOpaque(pointer)._withUnsafeGuaranteedRef { entry in
                if entry.expiresAt != Int64.max && isExpired(entry.expiresAt) { return nil }
                return entry.value
            }
        }
        dc_ebr_exit(record)
        let ringFull = result != nil ? block.recordHit(hash) : block.recordMiss(hash)
        if ringFull { applyRecordedReadsIfIdle() }
        return result
    }

    /// Returns the value for `key` without recording an access (no effect on the policy or the
    /// hit and miss counters): for inspection tools and tests.
    /// - Parameter key: the key.
    /// - Returns: the value, or nil when absent or expired.
    public func peekValue(forKey key: String) -> Value? {
        let hash = hasher.hash(key)
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        defer { dc_ebr_exit(record) }
        guard let pointer = publishedTable(shardIndex(hash)).lookup(hash: hash, key: key, as: Value.self) else {
            return nil
        }
        return Unmanaged<StoreEntry<Value>>.fromOpaque(pointer)._withUnsafeGuaranteedRef { entry in
            if entry.expiresAt != Int64.max && isExpired(entry.expiresAt) { return nil }
            return entry.value
        }
    }
}
