// ShardedCache: the built-in local cache with a value type, over the storage core (EntryStore).
//
// Every entry of a ShardedCache<Value> is a StoreEntry<Value>, so reads downcast without a check.
// The paths and guarantees are EntryStore's (EntryStore.swift).

import CSupport

/// A thread-safe, bounded, in-process cache with lock-free reads: the library's local store.
///
/// A hit costs a hash, a probe of one or two cache lines, a copy of the value (a retain for
/// reference types) and a write to the calling thread's own read ring; it takes no lock, runs no
/// policy code and allocates nothing. A write takes one shard lock and appends a record to a write
/// buffer; the policy's upkeep (admission, eviction, expiry, and the recorded reads) runs on a
/// maintenance thread. See ``Configuration`` for the settings and their mapping
/// from the reference library, and ``Policy`` for the eviction policies.
public final class ShardedCache<Value: Sendable>: LocalCache, Sendable {
    /// The storage core.
    @usableFromInline let store: EntryStore
    /// The entry class, looked up once: unspecialized code (a caller in another module) would
    /// otherwise ask the runtime for `StoreEntry<Value>`'s metadata on every write, a hash-table
    /// lookup of about 340 instructions.
    private let entryClass = StoreEntry<Value>.self

    /// The settings this cache was created with.
    public var configuration: Configuration { store.configuration }

    /// Creates a cache.
    /// - Parameter configuration: the settings.
    /// - Throws: ``LocalCacheError/invalidConfiguration(_:)`` when a setting is out of range.
    public init(configuration: Configuration) throws(LocalCacheError) {
        store = try EntryStore(configuration: configuration)
    }

    /// Creates a cache with the given policy and capacity, other settings at their defaults.
    /// - Parameters:
    ///   - policy: the eviction policy.
    ///   - capacity: entries or total cost.
    /// - Throws: ``LocalCacheError/invalidConfiguration(_:)`` when the capacity is not positive.
    public convenience init(policy: Policy = .windowTinyLFU, capacity: Capacity) throws(LocalCacheError) {
        try self.init(configuration: Configuration(policy: policy, capacity: capacity))
    }

    /// Hashes a key with this cache's seed. A caller that looks a key up and then stores it can
    /// hash once and pass the result to the `hash:` variants. The top bit is always set (the
    /// store's read buffers rely on it); pass only hashes from this method.
    @inlinable
    public func hash(_ key: String) -> UInt64 { store.hash(key) }

    // MARK: - Reads

    /// Returns the value for `key`, or nil when it is absent or expired. Lock-free; allocates
    /// nothing.
    @inlinable
    public func value(forKey key: String) -> Value? {
        value(forKey: key, hash: store.hash(key))
    }

    /// Returns the value for `key` given its hash from ``hash(_:)``.
    @inlinable
    public func value(forKey key: String, hash: UInt64) -> Value? {
        store.withEntry(forKey: key, hash: hash) { unsafeDowncast($0, to: StoreEntry<Value>.self).value }
    }

    /// Calls `body` with the value for `key` without copying it out of the cache, and returns
    /// what `body` returns (nil when the key is absent or expired). Records a read like
    /// ``value(forKey:)``.
    ///
    /// For values that are references (or hold one, like a long `String`), a copy costs a retain
    /// and a release of the value's reference count, a write to memory that every core reading
    /// the same value shares; with this read, threads that read one hot value do not bounce its
    /// cache line between them. `body` runs inside the cache's epoch read section: it must be
    /// short and must not block (a stalled thread there holds back the freeing of removed
    /// entries), and the value must not escape it (copy out what you need).
    @inlinable
    public func withValue<Result>(forKey key: String, _ body: (borrowing Value) -> Result) -> Result? {
        store.withEntry(forKey: key, hash: store.hash(key)) { body(unsafeDowncast($0, to: StoreEntry<Value>.self).value) }
    }

    /// Returns the value for `key` without recording an access (no effect on the policy or the
    /// hit and miss counters): for inspection tools and tests.
    public func peekValue(forKey key: String) -> Value? {
        store.peekEntry(forKey: key, hash: store.hash(key)) { unsafeDowncast($0, to: StoreEntry<Value>.self).value }
    }

    // MARK: - Writes

    /// Stores `value` for `key`, replacing any previous value.
    /// - Parameters:
    ///   - value: the value.
    ///   - key: the key.
    ///   - cost: the entry's cost (ignored when the capacity counts entries); at least 1.
    ///   - ttl: time to live; nil uses the configuration's `defaultTTL`.
    /// - Returns: true when the value entered the cache; false when its cost exceeds the
    ///   capacity or the cache is closed. The policy sees the write at the next upkeep (see
    ///   ``Configuration/capacity``) and may then turn the value away (admission) or evict others.
    @discardableResult
    public func setValue(_ value: Value, forKey key: String, cost: Int = 1, ttl: Duration? = nil) -> Bool {
        setValue(value, forKey: key, hash: store.hash(key), cost: cost, ttl: ttl)
    }

    /// Stores `value` for `key` given its hash from ``hash(_:)``.
    /// - Returns: as ``setValue(_:forKey:cost:ttl:)``.
    @discardableResult
    public func setValue(_ value: Value, forKey key: String, hash: UInt64, cost: Int = 1, ttl: Duration? = nil) -> Bool {
        store.insert(entry(value, key, hash, cost, ttl)) { _ in true }
    }

    /// Stores `value` only if `shouldReplace` approves the current value (nil when absent or
    /// expired). The check and the store are atomic with respect to other writers of `key`.
    /// - Returns: true when the value was stored and is in the cache after the call.
    @discardableResult
    public func setValue(
        _ value: Value, forKey key: String, cost: Int, ttl: Duration?, when shouldReplace: (Value?) -> Bool
    ) -> Bool {
        store.insert(entry(value, key, store.hash(key), cost, ttl)) { current in
            shouldReplace(current.map { unsafeDowncast($0, to: StoreEntry<Value>.self).value })
        }
    }

    /// Removes the value for `key`.
    /// - Returns: true when a value was removed.
    @discardableResult
    public func removeValue(forKey key: String) -> Bool {
        store.remove(key: key, hash: store.hash(key)) { _ in true }
    }

    /// Removes the value for `key` only if `shouldRemove` approves it, atomically with respect to
    /// other writers of `key`. An expired value counts as absent.
    /// - Returns: true when a value was removed.
    @discardableResult
    public func removeValue(forKey key: String, when shouldRemove: (Value) -> Bool) -> Bool {
        store.remove(key: key, hash: store.hash(key)) { shouldRemove(unsafeDowncast($0, to: StoreEntry<Value>.self).value) }
    }

    /// Removes every value. Entries stored concurrently with the call may survive it (the shards
    /// are emptied one after another).
    public func removeAll() { store.removeAll() }

    private func entry(_ value: Value, _ key: String, _ hash: UInt64, _ cost: Int, _ ttl: Duration?) -> StoreEntry<Value> {
        entryClass.init(key: key, value: value, keyHash: hash, weight: store.weight(forCost: cost), expiresAt: store.deadline(after: ttl))
    }

    // MARK: - Maintenance, enumeration, lifecycle

    /// Runs maintenance now, waiting for the policy lock: applies recorded reads, expires due
    /// entries and frees retired memory. Useful before reading ``metrics`` in tests, or from a
    /// timer in an application that wants expired entries freed while the cache is idle.
    public func runMaintenance() { store.runMaintenance() }

    /// A snapshot of the counters. Hits and misses are summed over the threads' blocks and may
    /// miss increments in flight; the rest is read under the policy lock.
    public var metrics: LocalCacheMetrics { store.metrics }

    /// Writes waiting for the policy (for measurements and tests).
    package var pendingWrites: Int { store.pendingWrites }

    /// Number of entries in the table (including any not yet seen by the policy).
    public var count: Int { store.count }

    /// Every live (unexpired) entry, as a snapshot: entries stored or removed while it is taken
    /// may or may not appear. Costs a scan of every shard's table; does not count as access.
    public func snapshot() -> [(key: String, value: Value)] {
        var entries: [(key: String, value: Value)] = []
        store.forEachEntry { entries.append(($0.key, unsafeDowncast($0, to: StoreEntry<Value>.self).value)) }
        return entries
    }

    /// Releases the cache's entries and refuses further stores. Reads afterwards return nil.
    /// Idempotent; safe to call concurrently with other operations.
    public func close() { store.close() }

    /// True after ``close()``.
    public var isClosed: Bool { store.isClosed }
}
