// ShardedCache: the built-in local cache. Storage (sharded slot tables, lock-free reads) and
// policy (W-TinyLFU or LRU, under one policy lock) are kept apart, as in Caffeine.
//
// Design note: the paths through this type, and who may touch what.
//
//   read   hash -> shard's published table -> probe -> entry -> copy value. Inside an epoch read
//          section; no lock, no reference count, no write to shared memory: the thread records
//          the hit in its own block (ThreadBlocks.swift). The read path is in
//          ShardedCache+ReadPath.swift, inlinable so that callers in other modules specialize it.
//   write  new immutable entry -> shard lock: insert or replace in the table -> policy lock: drain
//          recorded reads, tell the policy (which may evict), schedule expiry, retire whatever
//          left the table. ShardedCache+WritePath.swift.
//   maintenance  under the policy lock: apply recorded reads, expire due entries (timer wheel),
//          then free retired memory once no reader can see it. ShardedCache+Maintenance.swift.
//
// Guarantees, per key: operations are linearizable. A read that begins after a set of the key
// returned sees that value or a newer one, until it is replaced, removed, evicted or expired; an
// expired entry is never returned (the read path checks the deadline itself; the wheel only frees
// memory). Across keys there is no atomicity (a clear is per shard, in order).

import Atomics
import CSupport
import Primitives
import Synchronization

/// A thread-safe, bounded, in-process cache with lock-free reads: the library's local store.
///
/// A hit costs a hash, a probe of one or two cache lines, and a copy of the value (a retain for
/// reference types); it takes no lock and allocates nothing. Writes take one shard lock and the
/// policy lock. See ``Configuration`` for the settings and their mapping from the reference
/// library, and ``Policy`` for the eviction policies.
///
/// `@unchecked Sendable`: shared state is either immutable after `init`, raw memory reached only
/// through atomics (slot tables, thread blocks), or guarded by a lock (`policyState`, each
/// shard's `state`); each stored property below says which.
public final class ShardedCache<Value: Sendable>: LocalCache, @unchecked Sendable {
    /// The settings this cache was created with.
    public let configuration: Configuration

    /// Immutable.
    @usableFromInline let hasher: KeyHasher
    /// Immutable. shardCount - 1.
    @usableFromInline let shardMask: Int
    /// One word per shard: the base of its published slot table. Written by the shard under its
    /// lock (release), read by readers (acquire). Owned by this cache.
    @usableFromInline let tables: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>
    /// Immutable array of shards (writers only).
    @usableFromInline let shards: ContiguousArray<Shard<Value>>
    /// Per-thread counters and read rings (raw memory, see ThreadBlocks.swift).
    @usableFromInline let threadBlocks: ThreadBlocks
    /// Immutable: the coarse clock's resolution in nanoseconds.
    @usableFromInline let coarseClockResolution: Int64
    /// Guards the policy, the timer wheel and the policy-side counters.
    let policyState: Locked<PolicyState>
    /// Thread-safe itself.
    let reclaimer: Reclaimer
    /// Set once by `close()`.
    let closed = Atomic<Bool>(false)

    /// Creates a cache.
    /// - Parameter configuration: the settings.
    /// - Throws: ``LocalCacheError/invalidConfiguration(_:)`` when a setting is out of range.
    public init(configuration: Configuration) throws(LocalCacheError) {
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
            Shard<Value>(published: tables + $0, reclaimer: reclaimer)
        })
        self.threadBlocks = ThreadBlocks(ringSize: configuration.resolvedReadBufferSize)
        self.coarseClockResolution = dc_clock_coarse_resolution_ns()
        self.policyState = Locked(PolicyState(engine: PolicyEngine(configuration: configuration)))
    }

    /// Creates a cache with the given policy and capacity, other settings at their defaults.
    /// - Parameters:
    ///   - policy: the eviction policy.
    ///   - capacity: entries or total cost.
    /// - Throws: ``LocalCacheError/invalidConfiguration(_:)`` when the capacity is not positive.
    public convenience init(policy: Policy = .windowTinyLFU, capacity: Capacity) throws(LocalCacheError) {
        try self.init(configuration: Configuration(policy: policy, capacity: capacity))
    }

    deinit {
        // Shards release their entries in their own deinit; the tables' memory goes with them.
        // Retired garbage is freed by the reclaimer's deinit.
        tables.deallocate()
    }

    /// The shard of a hash: its top 12 bits, masked (the slot index uses the low bits and the
    /// slot tag bits 32...47, so the three are independent).
    @inlinable
    func shardIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash &>> 52) & shardMask
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

    /// Hashes a key with this cache's seed. A caller that looks a key up and then stores it can
    /// hash once and pass the result to the `hash:` variants.
    @inlinable
    public func hash(_ key: String) -> UInt64 { hasher.hash(key) }

    /// Releases the cache's entries and refuses further stores. Reads afterwards return nil.
    /// Idempotent; safe to call concurrently with other operations.
    public func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        removeAll()
    }

    /// True after ``close()``.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }
}
