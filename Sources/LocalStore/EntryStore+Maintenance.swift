// Maintenance: applying buffered writes and recorded reads to the policy, expiring due entries,
// reading metrics.
//
// Maintenance runs under the policy lock, mostly on the process's maintenance thread
// (MaintenanceThread.swift), which a writer wakes after each write and a reader when its ring
// fills; also in removals (which apply what is pending first, so the policy sees a key's writes in
// order), in a writer that found the write buffer full, and on every write of a store with
// manual upkeep. Reads are applied before writes, as in Caffeine. Readers never run it: on a
// busy store a ring laps before it is drained and its oldest reads are dropped, which the policy tolerates by design (Caffeine's and Ristretto's read buffers are
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
        policyState.withLock { state in
            applyPending(&state)
            expireDueEntries(&state)
            _ = retireGarbage(&state)
        }
        renewIdleEntries()
        collectRetired()
    }

    /// Applies the recorded reads, then the buffered writes (Caffeine's order: the reads that
    /// came before a write weigh in the evictions it causes; a read of an entry whose insert is
    /// still buffered is dropped, as the policy has not linked it yet). Policy lock held.
    func applyPending(_ state: inout PolicyState) {
        if idleNanoseconds == 0 {
            ReadReplay.apply(threadBlocks, to: state.engine)
        } else {
            let now = dc_clock_now_ns()
            var candidates: [Unmanaged<KeyedEntry>] = []
            ReadReplay.apply(threadBlocks, to: state.engine) { [renewalWindow] node in
                guard node.state == .linked, node.expiresAt != Int64.max, node.expiresAt &- now < renewalWindow else { return }
                candidates.append(Unmanaged.passRetained(unsafeDowncast(node, to: KeyedEntry.self)))
            }
            state.idleRenewals += candidates
        }
        applyBufferedWrites(&state)
    }

    /// ``applyPending(_:)`` under the policy lock, then frees retired memory if enough waits.
    func applyPendingAndCollect() {
        let collect = policyState.withLock { state in
            applyPending(&state)
            return retireGarbage(&state)
        }
        renewIdleEntries()
        if collect { collectRetired() }
    }

    /// Tells the policy about every buffered write, in order, and schedules the new entries'
    /// expiry tickets. The replaced entries' references go to `state.garbage`. Policy lock held.
    func applyBufferedWrites(_ state: inout PolicyState) {
        writeBuffer.take(into: &state.writesBeingApplied)
        guard !state.writesBeingApplied.isEmpty else { return }
        // The records' entries are alive (WriteBuffer.swift) and the engine is held by `state`:
        // borrowed without reference counting, which was five retain/release pairs a record.
        let engine = state.engine
        for write in state.writesBeingApplied {
            switch write {
            case .added(let added):
                added._withUnsafeGuaranteedRef { entry in
                    scheduleExpiry(of: entry, in: &state)
                    engine.add(entry) { victim, cause in evicted(victim, cause, newEntry: entry, in: &state) }
                }
            case .replaced(let old, let replacement):
                replacement._withUnsafeGuaranteedRef { entry in
                    old._withUnsafeGuaranteedRef { previous in
                        scheduleExpiry(of: entry, in: &state)
                        left(previous, in: &state)
                        if !entry.replacesSilently { report(previous, hasExpired(previous) ? .expired : .replaced) }
                        engine.replace(previous, with: entry) { victim, cause in
                            evicted(victim, cause, newEntry: entry, in: &state)
                        }
                    }
                }
                state.garbage.append(.entry(Unmanaged<PolicyNode>.fromOpaque(old.toOpaque())))
            }
        }
        state.counters.sets &+= UInt64(state.writesBeingApplied.count)
        state.writesBeingApplied.removeAll(keepingCapacity: true)
    }

    /// Counts a new entry's deadline and puts its ticket on the wheel. Policy lock held.
    private func scheduleExpiry(of entry: KeyedEntry, in state: inout PolicyState) {
        guard entry.expires else { return }
        state.expiringEntries += 1
        state.wheel.schedule(ExpiryTicket(keyHash: entry.keyHash, deadline: entry.expiresAt))
    }

    /// Retires `state.garbage` to the reclaimer and empties it (keeping its capacity). Policy lock
    /// held (the reclaimer's lock nests inside it; collection runs after both are released).
    /// - Returns: true when the caller should collect after unlocking.
    func retireGarbage(_ state: inout PolicyState) -> Bool {
        guard !state.garbage.isEmpty else { return false }
        let collect = reclaimer.retire(state.garbage)
        state.garbage.removeAll(keepingCapacity: true)
        return collect
    }

    /// Frees the retired memory no reader can see any more. The rings and the write buffer may
    /// still name those entries (ThreadBlocks.swift, WriteBuffer.swift), so both are applied
    /// first, after the grace period was established and before anything is freed; that pass
    /// skips the dead entries, and no later pass meets those ring positions or records. What it
    /// retires waits for a later collection. Policy lock not held (freeing may run a value's
    /// deinit).
    func collectRetired() {
        reclaimer.collect { [self] in
            policyState.withLock { state in
                applyPending(&state)
                _ = retireGarbage(&state)
            }
        }
    }

    /// Removes the entries whose deadline has passed, and compacts the wheel when stale tickets
    /// (of entries that left the table before their deadline) outnumber the live ones. Policy
    /// lock held.
    func expireDueEntries(_ state: inout PolicyState) {
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
            report(node, .expired)
            state.garbage.append(.entry(Unmanaged<PolicyNode>.fromOpaque(removed.toOpaque())))
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
        let collect = policyState.withLock { state in
            // Writes that returned are counted, and their evictions done.
            applyBufferedWrites(&state)
            metrics.sets = state.counters.sets
            metrics.evictionsBySize = state.counters.evictionsBySize
            metrics.evictionsByExpiry = state.counters.evictionsByExpiry
            metrics.explicitRemovals = state.counters.explicitRemovals
            metrics.admissionsRejected = state.counters.admissionsRejected
            metrics.totalCost = state.engine.weightedSize
            return retireGarbage(&state)
        }
        if collect { collectRetired() }
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
