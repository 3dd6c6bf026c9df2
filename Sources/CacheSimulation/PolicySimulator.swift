// PolicySimulator: replays a key stream through one eviction policy and counts hits.
//
// Design note. Hit ratio is a property of the policy alone when every entry has weight 1 and
// storage is exact, so the simulator uses a plain `Dictionary` as the table and drives the policy
// exactly as the storage core does on a demand-filled cache (the traces' README, "Replay"): a
// request for a key present in the table is a hit (`recordAccess`); otherwise it is a miss
// (`recordMiss`) followed by an insert (`add`), whose evictions delete their keys from the
// table. There is no concurrency, no read buffering and no clock, so the result is deterministic
// for a given seed. The harness `hitratio` and the hit-ratio tests use it; a second engine that
// replays through the concurrent store belongs next to that store.
//
// Concurrency: a simulator is used by one thread; separate simulators share nothing.

/// Replays keys through a policy with a `Dictionary` as storage. See the design note at the top of
/// this file.
public struct PolicySimulator: Sendable {
    /// The policies the simulator can drive.
    public enum Policy: String, Sendable, CaseIterable, CustomStringConvertible {
        /// The default policy, adaptive W-TinyLFU (`WindowTinyLFUPolicy`).
        case windowTinyLFU = "lfu"
        /// Exact LRU (`LRUPolicy`).
        case lru = "lru"

        /// The option value (`lfu` or `lru`).
        public var description: String { rawValue }
    }

    /// The outcome of a replay.
    public struct Result: Sendable, Equatable {
        /// Requests replayed.
        public var requests: Int
        /// Requests that found their key in the cache.
        public var hits: Int

        /// Hits divided by requests, in percent (0 for an empty stream).
        public var hitRatio: Double {
            requests == 0 ? 0 : 100 * Double(hits) / Double(requests)
        }
    }

    /// When the default policy's frequency sketch uses a doorkeeper (see `FrequencySketch`).
    public enum Doorkeeper: String, Sendable, CaseIterable {
        /// Only while the counter limit keeps the sketch below its natural size (the default).
        case automatic = "auto"
        /// Always.
        case always = "on"
        /// Never.
        case never = "off"
    }

    /// The policy to replay through.
    public var policy: Policy
    /// The most counters per sketch row (ristretto's `NumCounters`); `Int.max` for no limit.
    public var counterLimit: Int = .max
    /// The default policy's doorkeeper mode.
    public var doorkeeper: Doorkeeper = .automatic
    /// Cache size in entries (every entry has weight 1).
    public var size: Int
    /// Seeds the key hash, the sketch and the admission jitter. Equal seeds give equal results.
    public var seed: UInt64

    /// Creates a simulator.
    ///
    /// - Parameters:
    ///   - policy: the policy to replay through.
    ///   - size: the cache size in entries; at least 1.
    ///   - seed: the seed for every random choice; the default is the one the baselines use.
    public init(policy: Policy, size: Int, seed: UInt64 = 0x5EED_CAC4E) {
        precondition(size >= 1, "a cache holds at least one entry")
        self.policy = policy
        self.size = size
        self.seed = seed
    }

    /// Replays `keys` and counts hits.
    ///
    /// - Parameters:
    ///   - keys: the request stream; each element is one `get`, a miss is followed by a `put`.
    ///   - progress: called with the number of requests replayed so far, every `progressInterval`
    ///     requests; it must not mutate anything the replay uses.
    ///   - progressInterval: requests between two progress calls.
    /// - Returns: requests and hits.
    public func run(
        _ keys: [UInt64], progressInterval: Int = 1 << 20, progress: ((Int) -> Void)? = nil
    ) -> Result {
        switch policy {
        case .windowTinyLFU:
            let mode: FrequencySketch.DoorkeeperMode
            switch doorkeeper {
            case .automatic: mode = .automatic
            case .always: mode = .always
            case .never: mode = .never
            }
            let policy = WindowTinyLFUPolicy(maximumWeight: size, counterLimit: counterLimit, seed: seed, doorkeeper: mode)
            return replay(keys, through: policy, progressInterval, progress)
        case .lru:
            return replay(keys, through: LRUPolicy(maximumWeight: size), progressInterval, progress)
        }
    }

    /// The replay loop, specialized per policy type so the policy calls are direct.
    private func replay<P: EvictionPolicy>(
        _ keys: [UInt64], through policy: P, _ interval: Int, _ progress: ((Int) -> Void)?
    ) -> Result {
        var table: [UInt64: SimulatedEntry] = [:]
        table.reserveCapacity(size + 1)
        var hits = 0
        let hashSeed = seed
        for (index, key) in keys.enumerated() {
            if index % interval == 0, index > 0 { progress?(index) }
            if let node = table[key] {
                hits += 1
                policy.recordAccess(node)
                continue
            }
            let keyHash = SplitMix64.mix(key ^ hashSeed)
            policy.recordMiss(keyHash: keyHash)
            let node = SimulatedEntry(key: key, keyHash: keyHash)
            table[key] = node
            policy.add(node) { victim, _ in
                table[unsafeDowncast(victim, to: SimulatedEntry.self).key] = nil
            }
        }
        progress?(keys.count)
        // The policy links the table's entries unretained: unlink them before the table goes.
        policy.removeAll { _ in }
        return Result(requests: keys.count, hits: hits)
    }
}

/// A table entry of the simulator: a policy node that remembers its key.
final class SimulatedEntry: PolicyNode {
    /// The key, to delete the entry from the table when the policy evicts it.
    let key: UInt64

    init(key: UInt64, keyHash: UInt64) {
        self.key = key
        super.init(keyHash: keyHash, weight: 1, expiresAt: Int64.max)
    }
}
