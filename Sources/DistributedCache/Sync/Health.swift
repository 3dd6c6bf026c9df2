// Health: what the local-hit path reads of the channel's health (one relaxed atomic load while
// healthy), and the liveness state machine behind it.

import CSupport
import Primitives
import Synchronization

/// The channel's health, read on every local hit: one relaxed atomic load while healthy.
@usableFromInline
final class Health: Sendable {
    /// `Int64.max` while the channel is healthy; otherwise the monotonic time (ns) until which
    /// local entries may still be served.
    @usableFromInline let staleDeadline = Atomic<Int64>(Int64.max)
    /// The highest event version seen on the channel (the replay cursor).
    let lastVersion = Atomic<UInt64>(0)
    let maximumStaleness: Duration
    /// The liveness state machine (ChannelWatch.swift).
    let watch: Locked<ChannelWatch>

    init(maximumStaleness: Duration, pingTimeout: Duration) {
        self.maximumStaleness = maximumStaleness
        watch = Locked(ChannelWatch(now: dc_clock_now_ns(), pingTimeout: pingTimeout.saturatingNanoseconds))
    }

    /// True while local entries may be served.
    @inlinable
    var servesLocal: Bool {
        let deadline = staleDeadline.load(ordering: .relaxed)
        return deadline == Int64.max || dc_clock_now_ns() < deadline
    }

    /// True while the channel is healthy (not in degraded mode): the local-hit fast path's
    /// only check, one relaxed load of a line written only when health changes.
    @inlinable
    var isHealthy: Bool { staleDeadline.load(ordering: .relaxed) == Int64.max }

    /// The channel broke: start the staleness clock (if not already running).
    func degrade() {
        let deadline = maximumStaleness.deadline(fromNanoseconds: dc_clock_now_ns())
        _ = staleDeadline.compareExchange(expected: Int64.max, desired: deadline, ordering: .relaxed)
    }

    /// The channel is back and resynchronized.
    func recover() {
        staleDeadline.store(Int64.max, ordering: .relaxed)
    }

    /// Notes an event's version (the replay cursor only moves forward).
    func observe(version: UInt64) {
        var current = lastVersion.load(ordering: .relaxed)
        while version > current {
            let (exchanged, original) = lastVersion.compareExchange(
                expected: current, desired: version, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
