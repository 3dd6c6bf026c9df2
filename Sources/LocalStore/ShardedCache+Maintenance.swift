// Maintenance: applying recorded reads to the policy, expiring due entries, reading metrics.
//
// Maintenance runs under the policy lock, at two moments: inside every write (which must apply
// the recorded reads first, so the policy sees reads and writes in order), and when a reader's
// ring fills up (`applyRecordedReadsIfIdle`, which only tries the lock: a reader never waits for
// maintenance; if another thread holds the lock, the reads stay in the ring and may be dropped if
// it laps). Memory retired meanwhile is collected after the lock is released.

import CSupport

extension ShardedCache {
    /// Called by a reader whose ring just filled: applies every thread's recorded reads if the
    /// policy lock is free, else returns at once.
    @usableFromInline
    func applyRecordedReadsIfIdle() {
        var garbage: [Garbage] = []
        let ran: Void? = policyState.withLockIfAvailable { state in
            applyRecordedReads(&state)
            expireDueEntries(&state, garbage: &garbage)
        }
        guard ran != nil else { return }
        reclaimer.retire(garbage)
        if reclaimer.pendingCount > 0 { reclaimer.collect() }
    }

    /// Runs maintenance now, waiting for the policy lock: applies recorded reads, expires due
    /// entries and frees retired memory. Useful before reading ``metrics`` in tests, or from a
    /// timer in an application that wants expired entries freed while the cache is idle.
    public func runMaintenance() {
        var garbage: [Garbage] = []
        policyState.withLock { state in
            applyRecordedReads(&state)
            expireDueEntries(&state, garbage: &garbage)
        }
        reclaimer.retire(garbage)
        reclaimer.collect()
    }

    /// Replays the hashes recorded by readers into the policy. Policy lock held.
    func applyRecordedReads(_ state: inout PolicyState) {
        ReadReplay(tables: tables, shardMask: shardMask).apply(threadBlocks, to: state.engine)
    }

    /// Removes the entries whose deadline has passed. Policy lock held.
    func expireDueEntries(_ state: inout PolicyState, garbage: inout [Garbage]) {
        // An empty wheel saves reading the clock.
        guard state.wheel.count > 0 else { return }
        let now = dc_clock_now_ns()
        state.wheel.advance(to: now) { node in
            let inTable = shards[shardIndex(node.keyHash)].remove(exactly: node)
            state.engine.remove(node)
            // If a concurrent writer already took it out of the table, that writer retires it.
            guard inTable else { return }
            state.counters.evictionsByExpiry += 1
            garbage.append(.entry(Unmanaged.passUnretained(node)))
        }
    }

    /// A snapshot of the counters. Hits and misses are summed over the threads' blocks and may
    /// miss increments in flight; the rest is read under the policy lock.
    public var metrics: LocalCacheMetrics {
        var metrics = LocalCacheMetrics()
        threadBlocks.forEachBlock { block in
            metrics.hits &+= block.hits.load(ordering: .relaxed)
            metrics.misses &+= block.misses.load(ordering: .relaxed)
        }
        policyState.withLock { state in
            metrics.sets = state.counters.sets
            metrics.evictionsBySize = state.counters.evictionsBySize
            metrics.evictionsByExpiry = state.counters.evictionsByExpiry
            metrics.explicitRemovals = state.counters.explicitRemovals
            metrics.admissionsRejected = state.counters.admissionsRejected
            metrics.totalCost = state.engine.weightedSize
        }
        metrics.entryCount = shards.reduce(0) { $0 + $1.count }
        return metrics
    }

    /// Number of entries in the table (including any not yet seen by the policy).
    public var count: Int { shards.reduce(0) { $0 + $1.count } }
}
