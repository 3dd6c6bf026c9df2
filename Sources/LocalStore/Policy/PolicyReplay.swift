// PolicyReplay: drives one eviction policy over a demand-filled key stream and counts hits, for
// the hit-ratio simulator (CacheSimulation's PolicySimulator, which explains the method).
//
// It lives here, with package access, because the policies are internal to the store: the
// simulator replays the very code the store runs, without that code becoming public API.
//
// Concurrency: a replay runs on the calling thread and shares nothing with other replays.

/// Replays keys through a policy with a `Dictionary` as the table.
package enum PolicyReplay {
    /// When the default policy's frequency sketch uses a doorkeeper (see `FrequencySketch`).
    package enum Doorkeeper: Sendable {
        case automatic, always, never
    }

    /// The policy to drive, with its tuning.
    package enum Policy: Sendable {
        /// Adaptive W-TinyLFU with at most `counterLimit` counters per sketch row.
        case windowTinyLFU(counterLimit: Int, doorkeeper: Doorkeeper)
        /// Exact LRU.
        case lru
    }

    /// The number of requests of `keys` that found their key in a cache of `size` entries.
    ///
    /// - Parameters:
    ///   - keys: the request stream; each element is one `get`, a miss is followed by a `put`.
    ///   - policy: the policy and its tuning.
    ///   - size: the cache size in entries (every entry has weight 1); at least 1.
    ///   - seed: seeds the key hash, the sketch and the admission jitter.
    ///   - progressInterval: requests between two `progress` calls.
    ///   - progress: called with the number of requests replayed so far.
    /// - Returns: the hits.
    package static func countHits(
        _ keys: [UInt64], policy: Policy, size: Int, seed: UInt64, progressInterval: Int,
        progress: ((Int) -> Void)?
    ) -> Int {
        precondition(size >= 1, "a cache holds at least one entry")
        switch policy {
        case .windowTinyLFU(let counterLimit, let doorkeeper):
            let mode: FrequencySketch.DoorkeeperMode
            switch doorkeeper {
            case .automatic: mode = .automatic
            case .always: mode = .always
            case .never: mode = .never
            }
            let policy = WindowTinyLFUPolicy(maximumWeight: size, counterLimit: counterLimit, seed: seed, doorkeeper: mode)
            return replay(keys, through: policy, size, seed, progressInterval, progress)
        case .lru:
            return replay(keys, through: LRUPolicy(maximumWeight: size), size, seed, progressInterval, progress)
        }
    }

    /// The replay loop, specialized per policy type so the policy calls are direct.
    private static func replay<P: EvictionPolicy>(
        _ keys: [UInt64], through policy: P, _ size: Int, _ seed: UInt64, _ interval: Int,
        _ progress: ((Int) -> Void)?
    ) -> Int {
        var table: [UInt64: SimulatedEntry] = [:]
        table.reserveCapacity(size + 1)
        var hits = 0
        for (index, key) in keys.enumerated() {
            if index % interval == 0, index > 0 { progress?(index) }
            if let node = table[key] {
                hits += 1
                policy.recordAccess(node)
                continue
            }
            let keyHash = SplitMix64.mix(key ^ seed)
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
        return hits
    }
}

/// A table entry of the replay: a policy node that remembers its key.
final class SimulatedEntry: PolicyNode {
    /// The key, to delete the entry from the table when the policy evicts it.
    let key: UInt64

    init(key: UInt64, keyHash: UInt64) {
        self.key = key
        super.init(keyHash: keyHash, weight: 1, expiresAt: Int64.max)
    }
}
