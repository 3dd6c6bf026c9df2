// The state guarded by the policy lock.
//
// Top-level and non-generic on purpose: nested in the generic ShardedCache it would be a generic
// type whose metadata Swift looks up at run time on every use (measured: a metadata-cache lookup
// per maintenance pass in the profile of the read path).

import CSupport

/// Everything the policy lock guards: the policy, the timer wheel, and the counters that only
/// change under the lock. (Hits and misses are counted per thread instead, in ThreadBlocks.)
///
/// @unchecked Sendable: the policy and the wheel are plain classes that are only ever touched
/// while the mutex holding this state is locked.
struct PolicyState: @unchecked Sendable {
    let engine: PolicyEngine
    let wheel: TimerWheel
    var counters = PolicyCounters()
    /// Entries with a deadline in the table now: the timer wheel holds about this many live
    /// tickets, and is compacted when it holds far more (TimerWheel.swift).
    var expiringEntries = 0
    /// Buffered writes being applied (WriteBuffer.take): kept here so that its capacity is reused.
    var writesBeingApplied: [BufferedWrite] = []
    /// What the current pass took out of the table or out of write records, retired to the
    /// reclaimer before the lock is released; kept here so that its capacity is reused.
    var garbage: [Garbage] = []
    /// Time to idle: entries read near their idle deadline, retained, to renew once the lock is
    /// released (EntryStore+Idle.swift).
    var idleRenewals: [Unmanaged<KeyedEntry>] = []

    init(engine: PolicyEngine) {
        self.engine = engine
        wheel = TimerWheel(now: dc_clock_now_ns())
        writesBeingApplied.reserveCapacity(WriteBuffer.capacity)
        garbage.reserveCapacity(2 * WriteBuffer.capacity)
    }
}

/// Counters updated under the policy lock.
struct PolicyCounters {
    var sets: UInt64 = 0
    var evictionsBySize: UInt64 = 0
    var evictionsByExpiry: UInt64 = 0
    var explicitRemovals: UInt64 = 0
    var admissionsRejected: UInt64 = 0
}
