// Statistics: the reference library's counters and ours.
//
// Local hits and misses come from the local cache itself, which counts them per thread without
// any shared write (LocalStore's ThreadBlocks); everything else is counted here with relaxed
// atomic increments, on paths that already cost a network round trip or an event.

import Atomics
import LocalStore

extension SyncedCache {
    /// A snapshot of an instance's counters since it started.
    public struct Stats: Sendable, Codable, Equatable {
        /// Gets served by the local cache (`LocalHits`).
        public var localHits: UInt64 = 0
        /// Gets the local cache could not serve (`LocalMisses`).
        public var localMisses: UInt64 = 0
        /// Gets answered by Redis with a value (`RemoteHits`).
        public var remoteHits: UInt64 = 0
        /// Gets Redis did not have either (`RemoteMisses`).
        public var remoteMisses: UInt64 = 0
        /// Entries in the local cache now (`LocalSize`).
        public var localSize: Int = 0
        /// Sets, with value propagation or invalidation.
        public var sets: UInt64 = 0
        /// Deletes.
        public var deletes: UInt64 = 0
        /// Clears.
        public var clears: UInt64 = 0
        /// Messages received on the channel (own and others', valid or not).
        public var eventsReceived: UInt64 = 0
        /// Events that changed the local cache.
        public var eventsApplied: UInt64 = 0
        /// Events skipped: sent by this instance, or older than what the local cache holds.
        public var eventsIgnored: UInt64 = 0
        /// Payloads that were not valid events (not JSON, missing fields, unknown action, bad
        /// base64, oversized); each is logged at debug level and skipped.
        public var eventsMalformed: UInt64 = 0
        /// Events refused by signature checking (``Options/signingSecrets``): unsigned, or not
        /// signed by any accepted secret.
        public var eventsRejected: UInt64 = 0
        /// Invalidate, delete and clear events applied (`Invalidations`).
        public var invalidations: UInt64 = 0
        /// Errors reported (through the error callback).
        public var errors: UInt64 = 0
        /// Resynchronizations after the channel was interrupted.
        public var resyncs: UInt64 = 0
        /// Local entries served while the channel was broken (within the staleness limit).
        public var staleReads: UInt64 = 0
        /// Loader calls made by `getOrLoad`.
        public var loads: UInt64 = 0
        /// Keys dropped because Redis reported them changed (``Options/invalidation`` `.tracking`),
        /// flushes included.
        public var trackingInvalidations: UInt64 = 0
        /// Background refreshes of entries read near the end of their time to live
        /// (``Options/refreshAhead``), loader calls included in `loads`.
        public var refreshes: UInt64 = 0
        /// Loads that passed ``Options/loaderSoftTimeout`` (a stale value was served) or
        /// ``Options/loaderHardTimeout`` (the call failed).
        public var loaderTimeouts: UInt64 = 0
        /// Removals not reported to ``Options/onRemoval`` because 65,536 were already waiting.
        public var removalsDropped: UInt64 = 0
        /// Keys whose local entry or tombstone carried a version Redis never handed out (a forged
        /// event), found out and dropped when they held back a later set.
        public var forgedVersions: UInt64 = 0
    }

    /// Counters kept by the instance.
    enum StatKey: Int, CaseIterable {
        case remoteHits, remoteMisses, sets, deletes, clears
        case eventsReceived, eventsApplied, eventsIgnored, eventsMalformed, eventsRejected, invalidations
        case errors, resyncs, staleReads, loads, forgedVersions, trackingInvalidations, refreshes, loaderTimeouts, removalsDropped
    }
}

/// Relaxed atomic counters, one cache line each (they are bumped from different threads).
final class CounterSet: Sendable {
    // UnsafeAtomic storage owned by this object: allocated in init, freed in deinit.
    private nonisolated(unsafe) let storage: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private static let stride = 8  // 8 x 8 bytes: one counter per 64-byte line

    init() {
        let count = SyncedCache.StatKey.allCases.count * CounterSet.stride
        storage = .allocate(capacity: count)
        storage.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: count)
    }

    deinit { storage.deallocate() }

    private func atomic(_ counter: SyncedCache.StatKey) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: storage + counter.rawValue * CounterSet.stride)
    }

    func increment(_ counter: SyncedCache.StatKey, by amount: UInt64 = 1) {
        atomic(counter).wrappingIncrement(by: amount, ordering: .relaxed)
    }

    subscript(_ counter: SyncedCache.StatKey) -> UInt64 {
        atomic(counter).load(ordering: .relaxed)
    }
}

extension SyncedCache {
    /// The instance's counters now (`Stats()`). Cheap: a few atomic loads and the local cache's
    /// per-thread sums.
    public var stats: Stats {
        let local = self.local.metrics
        var stats = Stats()
        stats.localHits = local.hits
        stats.localMisses = local.misses
        stats.localSize = local.entryCount
        stats.remoteHits = counters[.remoteHits]
        stats.remoteMisses = counters[.remoteMisses]
        stats.sets = counters[.sets]
        stats.deletes = counters[.deletes]
        stats.clears = counters[.clears]
        stats.eventsReceived = counters[.eventsReceived]
        stats.eventsApplied = counters[.eventsApplied]
        stats.eventsIgnored = counters[.eventsIgnored]
        stats.eventsMalformed = counters[.eventsMalformed]
        stats.eventsRejected = counters[.eventsRejected]
        stats.invalidations = counters[.invalidations]
        stats.errors = counters[.errors]
        stats.resyncs = counters[.resyncs]
        stats.staleReads = counters[.staleReads]
        stats.loads = counters[.loads]
        stats.forgedVersions = counters[.forgedVersions]
        stats.trackingInvalidations = counters[.trackingInvalidations]
        stats.refreshes = counters[.refreshes]
        stats.loaderTimeouts = counters[.loaderTimeouts]
        stats.removalsDropped = counters[.removalsDropped]
        return stats
    }
}
