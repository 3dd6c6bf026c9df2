// The configuration of the built-in cache, and how the reference library's settings map onto it.
//
// Top-level rather than nested in the generic ShardedCache, so that the non-generic storage core
// (EntryStore) can hold it; ShardedCache<Value>.Configuration, .Policy and .Capacity name the same
// types.

#if canImport(Glibc)
import Glibc
#endif

extension ShardedCache {
    /// The settings of a ``ShardedCache`` (see ``StoreConfiguration``).
    public typealias Configuration = StoreConfiguration
    /// Which eviction policy decides what stays (see ``StoreConfiguration/Policy``).
    public typealias Policy = StoreConfiguration.Policy
    /// What the capacity counts (see ``StoreConfiguration/Capacity``).
    public typealias Capacity = StoreConfiguration.Capacity
}

/// Settings of a ``ShardedCache``.
///
/// Mapping from the reference library (huykn/distributed-cache `LocalCacheConfig`, whose LFU is
/// Ristretto and whose LRU is golang-lru):
///
/// | reference            | here                                                             |
/// |----------------------|------------------------------------------------------------------|
/// | `NumCounters` (1e7)  | ``frequencyCounterLimit``: the sketch grows with the entry count up to this many 4-bit counters (the reference allocates them all at once) |
/// | `MaxCost` (1<<30)    | ``capacity`` `= .cost(MaxCost)`                                  |
/// | `BufferItems` (64)   | ``readBufferSize``: reads recorded per thread between two passes of the policy's maintenance |
/// | `IgnoreInternalCost` | ``ignoreInternalCost``: when false, each entry also costs ``internalCostPerEntry`` bytes of bookkeeping, as Ristretto adds its item size |
/// | `MaxSize` (LRU, 10,000) | ``capacity`` `= .entries(MaxSize)` with ``policy`` `= .lru`  |
public struct StoreConfiguration: Sendable {
    /// Which eviction policy decides what stays.
    public enum Policy: String, Sendable, CaseIterable, Codable {
        /// Admission-filtered LFU in the spirit of W-TinyLFU: a small LRU admission window in front
        /// of a segmented main space, a 4-bit count-min frequency sketch with a doorkeeper, and a
        /// window size that adapts to the workload. The default: best hit ratio on most workloads.
        case windowTinyLFU = "lfu"
        /// Least recently used: always admits, evicts the entry unused for longest.
        case lru = "lru"
    }

    /// Who applies buffered writes and the reads recorded in the threads' rings to the policy.
    public enum Upkeep: Sendable, Equatable {
        /// The process's maintenance thread, woken after a write and when a reader's ring fills.
        /// Neither readers nor writers run policy code (a writer does only when 1,024 writes are
        /// waiting). The default.
        case maintenanceThread
        /// Every write, on the writing thread, and ``ShardedCache/runMaintenance()``: for
        /// deterministic tests and measurements, and for applications that drive upkeep from a
        /// timer of their own. Reads past a ring's size between two passes are not seen by the
        /// policy.
        case manual
    }

    /// What the capacity counts.
    public enum Capacity: Sendable, Equatable {
        /// At most this many entries; every entry weighs 1 whatever cost it is given.
        case entries(Int)
        /// At most this total cost; each entry weighs the cost given to `setValue` (at least 1).
        case cost(Int)
    }

    /// The eviction policy. Default: ``Policy/windowTinyLFU``.
    public var policy: Policy
    /// The capacity. The policy enforces it when it applies buffered writes, on the maintenance
    /// thread (within about a millisecond of a write), so right after a burst of writes the cache
    /// may hold up to 2,048 entries more than the capacity for that long (1,024 writes waiting,
    /// and as many being applied); a writer that finds 1,024 writes waiting applies them itself. With ``Upkeep/manual`` upkeep every write is
    /// applied at once and the capacity always holds.
    public var capacity: Capacity
    /// Time to live of entries stored without one; nil: no expiry.
    public var defaultTTL: Duration?
    /// Expire after access (time to idle): an entry not read for this long leaves the cache
    /// (cause `.expired`), whatever its time to live, which still bounds it. Reads keep an entry
    /// alive by renewing its deadline: an entry read with less than 7/8 of this left is renewed
    /// (a copy with a fresh deadline, made on the maintenance thread within about a millisecond),
    /// so an entry leaves between 7/8 and 1 times this after its last read. Reads the policy never
    /// sees (a read ring lapped under heavy contention) do not renew. Nil (the default): none.
    public var timeToIdle: Duration?
    /// Upper bound of the frequency sketch's 4-bit counters (W-TinyLFU only).
    public var frequencyCounterLimit: Int
    /// Reads each thread records between two passes of the policy's maintenance (rounded up to
    /// a power of two, at least 8). Reads past that before the next pass are not counted by the
    /// policy (the buffer is lossy by design); hit and miss counts stay exact.
    public var readBufferSize: Int
    /// When false and the capacity is a cost, every entry's cost is increased by
    /// ``internalCostPerEntry``.
    public var ignoreInternalCost: Bool
    /// Number of shards (a power of two); nil derives it from the core count and capacity.
    public var shardCount: Int?
    /// The hash seed; nil picks a random one. Tests set it to make runs repeatable.
    public var hashSeed: UInt64?
    /// Who applies recorded reads to the policy. Default: ``Upkeep/maintenanceThread``.
    public var upkeep: Upkeep
    /// Called for every entry that leaves the cache, with the reason, on the thread that removed
    /// it (the maintenance thread for evictions, expiries and replacements; the caller's for
    /// removals) while the policy lock is held: it must be short, must not block and must not call
    /// the cache. Hand the notification to a queue of your own for anything more (the distributed
    /// cache's `onRemoval` does). Nil (the default) costs nothing.
    public var removalListener: (@Sendable (Removal) -> Void)?

    /// Bytes of bookkeeping per entry beyond its key and value: the entry object's header and
    /// fields other than the key and the value (56 bytes, 64 with a version), its share of a slot
    /// table kept between 3/8 and 3/4 full (8-byte slots, so ~11-21 bytes) and of the frequency
    /// sketch (8-16 bytes). perf/RESULTS.md has the measured memory per entry.
    public static var internalCostPerEntry: Int { 88 }

    /// Creates a configuration.
    /// - Parameters:
    ///   - policy: the eviction policy.
    ///   - capacity: entries or total cost; must be positive.
    ///   - defaultTTL: time to live when none is given per entry; nil for none.
    ///   - frequencyCounterLimit: sketch size bound (W-TinyLFU).
    ///   - readBufferSize: per-thread read buffer length.
    ///   - ignoreInternalCost: see ``internalCostPerEntry``.
    ///   - shardCount: nil to derive it.
    ///   - hashSeed: nil for random.
    ///   - upkeep: who applies buffered writes and recorded reads to the policy.
    public init(
        policy: Policy = .windowTinyLFU,
        capacity: Capacity,
        defaultTTL: Duration? = nil,
        frequencyCounterLimit: Int = 10_000_000,
        readBufferSize: Int = 64,
        ignoreInternalCost: Bool = true,
        shardCount: Int? = nil,
        hashSeed: UInt64? = nil,
        upkeep: Upkeep = .maintenanceThread
    ) {
        self.policy = policy
        self.capacity = capacity
        self.defaultTTL = defaultTTL
        self.frequencyCounterLimit = frequencyCounterLimit
        self.readBufferSize = readBufferSize
        self.ignoreInternalCost = ignoreInternalCost
        self.shardCount = shardCount
        self.hashSeed = hashSeed
        self.upkeep = upkeep
    }

    /// The reference library's LFU settings (Ristretto's), mapped as in the table above.
    public static func lfu(
        numCounters: Int = 10_000_000, maxCost: Int = 1 << 30, bufferItems: Int = 64,
        ignoreInternalCost: Bool = false, defaultTTL: Duration? = nil
    ) -> StoreConfiguration {
        StoreConfiguration(
            policy: .windowTinyLFU, capacity: .cost(maxCost), defaultTTL: defaultTTL,
            frequencyCounterLimit: numCounters, readBufferSize: bufferItems,
            ignoreInternalCost: ignoreInternalCost)
    }

    /// The reference library's LRU settings (golang-lru's), mapped as in the table above.
    public static func lru(maxSize: Int = 10_000, defaultTTL: Duration? = nil) -> StoreConfiguration {
        StoreConfiguration(policy: .lru, capacity: .entries(maxSize), defaultTTL: defaultTTL)
    }

    /// The maximum weight the policy enforces.
    var maximumWeight: Int {
        switch capacity {
        case .entries(let count): return count
        case .cost(let cost): return cost
        }
    }

    /// The weight of an entry stored with `cost`.
    func weight(forCost cost: Int) -> UInt32 {
        switch capacity {
        case .entries:
            return 1
        case .cost:
            let base = max(cost, 1) + (ignoreInternalCost ? 0 : StoreConfiguration.internalCostPerEntry)
            return UInt32(clamping: base)
        }
    }

    /// Checks the settings.
    /// - Throws: ``LocalCacheError/invalidConfiguration(_:)`` naming the bad setting.
    public func validate() throws(LocalCacheError) {
        if maximumWeight <= 0 { throw .invalidConfiguration("capacity must be positive, got \(capacity)") }
        if frequencyCounterLimit < 16 {
            throw .invalidConfiguration("frequencyCounterLimit must be at least 16, got \(frequencyCounterLimit)")
        }
        if readBufferSize < 1 || readBufferSize > 1 << 16 {
            throw .invalidConfiguration("readBufferSize must be in 1...65536, got \(readBufferSize)")
        }
        if let shardCount, shardCount < 1 || shardCount > 4096 || shardCount & (shardCount - 1) != 0 {
            throw .invalidConfiguration("shardCount must be a power of two in 1...4096, got \(shardCount)")
        }
        if let defaultTTL, defaultTTL <= .zero {
            throw .invalidConfiguration("defaultTTL must be positive, got \(defaultTTL)")
        }
        if let timeToIdle, timeToIdle < .milliseconds(8) || timeToIdle > .seconds(100 * 365 * 86_400) {
            throw .invalidConfiguration("timeToIdle must be in 8 ms ... 100 years, got \(timeToIdle)")
        }
    }

    /// The shard count in force: the explicit one, or the next power of two of 4 per core,
    /// lowered so that each shard can hold at least 64 entries (writers contend less with more
    /// shards; tiny caches gain nothing from them), between 1 and 256.
    var resolvedShardCount: Int {
        if let shardCount { return shardCount }
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var shards = 1
        while shards < cores * 4 && shards < 256 { shards *= 2 }
        if case .entries(let count) = capacity {
            while shards > 1 && count / shards < 64 { shards /= 2 }
        }
        return shards
    }

    /// The read buffer length in force (a power of two >= 8).
    var resolvedReadBufferSize: Int {
        var size = 8
        while size < readBufferSize { size *= 2 }
        return size
    }
}

/// Why a local cache could not be created or used.
public enum LocalCacheError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is out of range; the message names it.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): return "invalid local cache configuration: \(message)"
        }
    }
}
