// Maintenance: applying recorded reads to the policy, expiring due entries, reading metrics.
//
// Maintenance runs under the policy lock, in two places: inside every write (which applies the
// recorded reads first, so the policy sees reads and writes in order), and on the process's
// maintenance thread (MaintenanceThread.swift), which a reader wakes when its ring fills. Readers
// never run it: on a busy store a ring laps before it is drained and its oldest reads are
// dropped, which the policy tolerates by design (Caffeine's and Ristretto's read buffers are
// lossy too); hit and miss counts are kept apart and stay exact. Memory retired meanwhile is
// collected after the lock is released.

import CSupport

extension EntryStore {
    /// A reader's ring just filled: have the maintenance thread apply the rings, unless that is
    /// already requested. Never blocks, never takes the policy lock.
    @usableFromInline
    func requestMaintenance() {
        guard configuration.upkeep == .maintenanceThread else { return }
        // A relaxed load first: while a request is pending this is all a reader pays.
        guard !maintenanceRequested.load(ordering: .relaxed),
            !maintenanceRequested.exchange(true, ordering: .acquiringAndReleasing)
        else { return }
        MaintenanceThread.shared.schedule(self)
    }

    /// The maintenance thread's pass over this store: apply the rings and expire what is due.
    /// Waits for the policy lock (a writer holding it is doing the same work).
    func runRequestedMaintenance() {
        maintenanceRequested.store(false, ordering: .releasing)
        guard !isClosed else { return }
        runMaintenance()
    }

    /// Runs maintenance now, waiting for the policy lock: applies recorded reads, expires due
    /// entries and frees retired memory. Useful before reading ``metrics`` in tests, or from a
    /// timer in an application that wants expired entries freed while the store is idle.
    package func runMaintenance() {
        var garbage: [Garbage] = []
        policyState.withLock { state in
            applyRecordedReads(&state)
            expireDueEntries(&state, garbage: &garbage)
        }
        reclaimer.retire(garbage)
        collectRetired()
    }

    /// Replays the reads recorded by readers into the policy. Policy lock held.
    func applyRecordedReads(_ state: inout PolicyState) {
        ReadReplay.apply(threadBlocks, to: state.engine)
    }

    /// Frees the retired memory no reader can see any more. The rings may still hold the
    /// addresses of those entries (ThreadBlocks.swift), so they are drained first, after the
    /// grace period was established and before anything is freed; that drain skips the dead
    /// entries, and no later drain reads those ring positions. Policy lock not held (freeing may
    /// run a value's deinit).
    func collectRetired() {
        reclaimer.collect { [self] in
            policyState.withLock { applyRecordedReads(&$0) }
        }
    }

    /// Removes the entries whose deadline has passed, and compacts the wheel when stale tickets
    /// (of entries that left the table before their deadline) outnumber the live ones. Policy
    /// lock held.
    func expireDueEntries(_ state: inout PolicyState, garbage: inout [Garbage]) {
        // An empty wheel saves reading the clock.
        guard state.wheel.count > 0 else { return }
        let now = dc_clock_now_ns()
        state.wheel.advance(to: now) { ticket in
            // The entry with this hash and exactly this deadline, if it is still in the table.
            guard let removed = shards[shardIndex(ticket.keyHash)].remove(hash: ticket.keyHash, expiresAt: ticket.deadline)
            else { return }
            let node = removed.takeUnretainedValue()
            left(node, in: &state)
            state.engine.remove(node)
            state.counters.evictionsByExpiry += 1
            garbage.append(.entry(Unmanaged<PolicyNode>.fromOpaque(removed.toOpaque())))
        }
        if state.wheel.count > 2 * state.expiringEntries + TimerWheel.compactionSlack {
            compactWheel(&state)
        }
    }

    /// Drops the tickets whose entry is no longer in the table. Policy lock held.
    func compactWheel(_ state: inout PolicyState) {
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        defer { dc_ebr_exit(record) }
        state.wheel.compact { ticket in
            publishedTable(shardIndex(ticket.keyHash)).find(hash: ticket.keyHash, expiresAt: ticket.deadline) != nil
        }
    }

    /// A snapshot of the counters. Hits and misses are summed over the threads' blocks and may
    /// miss increments in flight; the rest is read under the policy lock.
    package var metrics: LocalCacheMetrics {
        var metrics = LocalCacheMetrics()
        (metrics.hits, metrics.misses) = threadBlocks.readCounts
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
    package var count: Int { shards.reduce(0) { $0 + $1.count } }

    /// Calls `body` with every live (unexpired) entry, as a snapshot: entries stored or removed
    /// meanwhile may or may not appear. Costs a scan of every shard's table; does not count as
    /// access. `body` runs inside an epoch read section (see `withEntry`).
    package func forEachEntry(_ body: (KeyedEntry) -> Void) {
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        defer { dc_ebr_exit(record) }
        for shard in 0...shardMask {
            publishedTable(shard).forEachEntry { word in
                Unmanaged<KeyedEntry>.fromOpaque(SlotTable.entryPointer(word))._withUnsafeGuaranteedRef { entry in
                    if !hasExpired(entry) { body(entry) }
                }
            }
        }
    }
}
