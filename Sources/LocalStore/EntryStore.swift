// EntryStore: the storage core of the local cache. Storage (sharded slot tables, lock-free reads)
// and policy (W-TinyLFU or LRU, under one policy lock) are kept apart, as in Caffeine.
//
// Design note: the paths through this type, and who may touch what.
//
//   read   hash -> shard's published table -> probe -> entry -> the caller's closure reads it.
//          Inside an epoch read section; no lock, no reference count, no write to shared memory:
//          the thread records the read in its own ring (ThreadBlocks.swift). When its ring fills,
//          it asks the maintenance thread to apply the rings to the policy, and goes on: a reader
//          never runs the policy. EntryStore+ReadPath.swift, inlinable so that callers in other
//          modules specialize it.
//   write  immutable entry built by the caller -> shard lock: insert or replace in the table ->
//          a record in the write buffer (WriteBuffer.swift) -> wake the maintenance thread. No
//          policy lock, no policy code. A removal takes the policy lock at once (after applying
//          what is buffered). EntryStore+WritePath.swift.
//   maintenance  under the policy lock, on the maintenance thread (MaintenanceThread.swift), in
//          removals, or in a writer that found the write buffer full: apply buffered writes
//          (the policy admits, evicts, schedules expiry tickets), then recorded reads, expire
//          due entries (timer wheel), then free retired memory once no reader can see it.
//          EntryStore+Maintenance.swift.
//
// Not generic: the table holds `KeyedEntry`s of any subclass. `ShardedCache<Value>` is the typed
// cache over it; the distributed cache's local layer stores values of many types in one store.
//
// Guarantees, per key: operations are linearizable. A read that begins after a set of the key
// returned sees that value or a newer one, until it is replaced, removed, evicted or expired; an
// expired entry is never returned (the read path checks the deadline itself; the wheel only frees
// memory). Across keys there is no atomicity (a clear is per shard, in order).

import Atomics
import CSupport
import Primitives
import Synchronization

/// The storage core shared by ``ShardedCache`` and the distributed cache's local layer.
///
/// `@unchecked Sendable`: shared state is either immutable after `init`, raw memory reached only
/// through atomics (slot tables, thread blocks), or guarded by a lock (`policyState`, each
/// shard's `state`); each stored property below says which.
@usableFromInline
package final class EntryStore: @unchecked Sendable {
    /// The settings this store was created with. Immutable.
    package let configuration: StoreConfiguration
    /// Immutable.
    @usableFromInline let hasher: KeyHasher
    /// Immutable. shardCount - 1.
    @usableFromInline let shardMask: Int
    /// One word per shard: the base of its published slot table. Written by the shard under its
    /// lock (release), read by readers (acquire). Owned by this store.
    @usableFromInline let tables: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>
    /// Immutable array of shards (writers only).
    let shards: ContiguousArray<Shard>
    /// Per-thread counters and read rings (raw memory, see ThreadBlocks.swift).
    @usableFromInline let threadBlocks: ThreadBlocks
    /// Immutable: the coarse clock's resolution in nanoseconds.
    @usableFromInline let coarseClockResolution: Int64
    /// Immutable. Time to idle in nanoseconds (0: none; see StoreConfiguration.timeToIdle).
    let idleNanoseconds: Int64
    /// Immutable. A read of an entry with less life than this left asks for its renewal (7/8
    /// of the time to idle; 0: no time to idle, and the read path's check is one comparison).
    @usableFromInline let renewalWindow: Int64
    /// Time to idle: the deadline its time to live sets (`Int64.max`: none) of each entry whose
    /// current deadline comes from idleness and may be renewed, by the entry's identity. Entries
    /// bound by their time to live are not here. Its own lock, taken by writers and, nested
    /// inside the policy lock, by maintenance.
    let idleCaps = Locked<[ObjectIdentifier: Int64]>([:])
    /// Guards the policy, the timer wheel and the policy-side counters.
    let policyState: Locked<PolicyState>
    /// Thread-safe itself.
    let reclaimer: Reclaimer
    /// Writes the policy has not applied yet. Thread-safe itself.
    let writeBuffer = WriteBuffer()
    /// Set once by `close()`.
    let closed = Atomic<Bool>(false)
    /// True from a reader's request for maintenance until the maintenance thread takes it up:
    /// readers that find it set return at once (one relaxed load), so a store is queued once.
    let maintenanceRequested = Atomic<Bool>(false)

    /// Creates a store.
    /// - Throws: ``LocalCacheError/invalidConfiguration(_:)`` when a setting is out of range.
    /// - Parameters:
    ///   - configuration: the store's configuration.
    ///   - threadDirectorySize: how many threads get a read ring of their own (tests lower it;
    ///     see ThreadBlocks.swift).
    package init(
        configuration: StoreConfiguration, threadDirectorySize: Int = ThreadBlocks.defaultDirectorySize
    ) throws(LocalCacheError) {
        try configuration.validate()
        self.configuration = configuration
        self.hasher = configuration.hashSeed.map(KeyHasher.init(seed:)) ?? KeyHasher.random()
        let shardCount = configuration.resolvedShardCount
        self.shardMask = shardCount - 1
        self.tables = .allocate(capacity: shardCount)
        self.tables.initialize(repeating: UnsafeAtomic<UInt>.Storage(0), count: shardCount)
        let reclaimer = Reclaimer()
        self.reclaimer = reclaimer
        self.shards = ContiguousArray((0..<shardCount).map { [tables] in
            Shard(published: tables + $0, reclaimer: reclaimer)
        })
        self.threadBlocks = ThreadBlocks(ringSize: configuration.resolvedReadBufferSize, directorySize: threadDirectorySize)
        self.coarseClockResolution = dc_clock_coarse_resolution_ns()
        self.idleNanoseconds = configuration.timeToIdle?.saturatingNanoseconds ?? 0
        self.renewalWindow = idleNanoseconds / 8 * 7
        self.policyState = Locked(PolicyState(engine: PolicyEngine(configuration: configuration)))
    }

    deinit {
        #if DCACHE_INTERNAL_CHECKS
        // The policy's unretained links die with it, after the shards, the write buffer and the
        // reclaimer released the entries: unlink them first, so that the internal check on freed
        // linked nodes (PolicyNode.swift) sees no false alarm.
        policyState.withLock { $0.engine.removeAll { _ in } }
        #endif
        // Shards release their entries in their own deinit; the tables' memory goes with them.
        // Retired garbage is freed by the reclaimer's deinit, buffered writes by the buffer's;
        // entries a pass retained for renewal (time to idle) and no renewal took, here.
        policyState.withLock { state in
            for retained in state.idleRenewals { retained.release() }
            state.idleRenewals.removeAll()
        }
        tables.deallocate()
    }

    /// The shard of a hash: bits 51...62, masked (bit 63 is always set, see `hash(_:)`; the slot
    /// index uses the low bits and the slot tag bits 32...47, so the three are independent).
    @inlinable
    func shardIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash &>> 51) & shardMask
    }

    /// The table readers see for `shard` now.
    @inlinable
    func publishedTable(_ shard: Int) -> SlotTable {
        let bits = UnsafeAtomic<UInt>(at: tables + shard).load(ordering: .acquiring)
        return SlotTable(base: UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped)
    }

    /// True once the deadline has passed. Reads the coarse clock (~10 ns) and, only within one
    /// coarse tick of the deadline, the precise clock (~31 ns), so the answer is exact.
    @inlinable
    func isExpired(_ deadline: Int64) -> Bool {
        if dc_clock_coarse_now_ns() &+ coarseClockResolution < deadline { return false }
        return dc_clock_now_ns() >= deadline
    }

    /// Hashes a key with this store's seed.
    /// The key's hash, with the top bit set (`ThreadBlocks.hashMark`: a read ring tells a missed
    /// key's hash from an entry's address by it). The shard index comes from the 12 bits below
    /// it, the slot tag and index from the low half.
    @inlinable @inline(__always)
    package func hash(_ key: String) -> UInt64 { hasher.hash(key) | ThreadBlocks.hashMark }

    /// The weight an entry stored with `cost` gets.
    package func weight(forCost cost: Int) -> UInt32 { configuration.weight(forCost: cost) }

    /// Monotonic deadline `ttl` (or the default TTL) from now, or `Int64.max` for none.
    package func deadline(after ttl: Duration?) -> Int64 {
        guard let ttl = ttl ?? configuration.defaultTTL else { return Int64.max }
        return ttl.deadline(fromNanoseconds: dc_clock_now_ns())
    }

    /// True when the entry's deadline has passed.
    @inlinable
    package func hasExpired(_ entry: KeyedEntry) -> Bool {
        entry.expiresAt != Int64.max && isExpired(entry.expiresAt)
    }

    /// Releases the store's entries and refuses further stores. Reads afterwards return nil.
    /// Idempotent; safe to call concurrently with other operations.
    package func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        removeAll()
        // Drops the entries waiting for renewal (inserts are refused from now on).
        renewIdleEntries()
    }

    /// Writes waiting in the write buffer for the policy (for measurements and tests).
    package var pendingWrites: Int { writeBuffer.count }

    /// True after ``close()``.
    package var isClosed: Bool { closed.load(ordering: .acquiring) }
}
