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
// The replay loop itself is `PolicyReplay` in LocalStore (package access): the policies are
// internal to the store, and only their owner may drive them. This module holds the public side.
//
// Concurrency: a simulator is used by one thread; separate simulators share nothing.

import LocalStore

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
        let replayed: PolicyReplay.Policy
        switch policy {
        case .windowTinyLFU:
            let mode: PolicyReplay.Doorkeeper
            switch doorkeeper {
            case .automatic: mode = .automatic
            case .always: mode = .always
            case .never: mode = .never
            }
            replayed = .windowTinyLFU(counterLimit: counterLimit, doorkeeper: mode)
        case .lru:
            replayed = .lru
        }
        let hits = PolicyReplay.countHits(
            keys, policy: replayed, size: size, seed: seed, progressInterval: progressInterval, progress: progress)
        return Result(requests: keys.count, hits: hits)
    }
}
