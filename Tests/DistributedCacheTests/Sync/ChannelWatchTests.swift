import Testing

@testable import DistributedCache

/// The liveness state machine on a virtual clock (milliseconds as nanoseconds × 1e6).
@Suite struct ChannelWatchTests {
    static let ms: Int64 = 1_000_000
    let timeout = 3_000 * ms

    /// The defect this machine replaced: after an outage longer than the ping timeout, the fresh
    /// subscription was judged by the pings lost during the outage, reconnected, lost the next
    /// ping too, and the cache was wiped every second, forever. Now a confirmed subscription is
    /// evidence, and one ping that makes it back ends degraded mode for good.
    @Test func outageLongerThanTheTimeout_recoversOnceAndStaysHealthy() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        // Pings at 0, 1000, ... come back until the outage starts at 2500.
        for second in 0..<3 { _ = watch.pingReturned(sentAt: Int64(second) * 1_000 * Self.ms, now: Int64(second) * 1_000 * Self.ms + Self.ms) }
        var actions = watch.subscriptionLost(now: 2_500 * Self.ms)
        #expect(actions.degrade)
        // 8 s of outage: checks find the channel silent, but it is already broken and not
        // subscribed, so nothing more happens.
        for second in 3..<11 {
            actions = watch.check(now: Int64(second) * 1_000 * Self.ms)
            #expect(actions == .init(), "check at \(second) s")
        }
        // Back at 11 s: the subscription is confirmed (ping at once), its ping returns, resync.
        actions = watch.subscriptionConfirmed(now: 11_000 * Self.ms)
        #expect(actions.ping && !actions.degrade)
        actions = watch.pingReturned(sentAt: 11_001 * Self.ms, now: 11_002 * Self.ms)
        #expect(actions.resync)
        actions = watch.resyncFinished(now: 11_010 * Self.ms)
        #expect(actions.recover)
        // From then on, with pings coming back, every check is quiet.
        for second in 12..<60 {
            let sent = Int64(second) * 1_000 * Self.ms
            #expect(watch.pingReturned(sentAt: sent, now: sent + Self.ms) == .init())
            #expect(watch.check(now: sent + 2 * Self.ms) == .init(), "check at \(second) s")
        }
    }

    /// Right after a reconnection, even before the first new ping returns, the subscription is
    /// not silent: the liveness window starts at its confirmation.
    @Test func freshSubscription_getsAWholeTimeoutBeforeItIsJudged() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        _ = watch.subscriptionLost(now: 1_000 * Self.ms)
        _ = watch.subscriptionConfirmed(now: 9_000 * Self.ms)
        #expect(watch.check(now: 11_900 * Self.ms) == .init())
        #expect(watch.check(now: 12_100 * Self.ms).reconnect, "silent a whole timeout after its confirmation")
    }

    /// Connected but silent (a hung path): degrade once, then reconnect at most once per timeout.
    @Test func connectedButSilent_degradesOnceAndReconnectsAtMostOncePerTimeout() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        var reconnects = 0
        var degrades = 0
        for tick in 1...100 {
            let now = Int64(tick) * 100 * Self.ms
            let actions = watch.check(now: now)
            if actions.reconnect { reconnects += 1 }
            if actions.degrade { degrades += 1 }
        }
        // Silent from 3.0 s to 10 s: reconnections at 3.1, 6.2, 9.3 s.
        #expect(degrades == 1)
        #expect(reconnects == 3)
    }

    /// Pings that cannot even be published (command connection down) are no evidence against
    /// the subscription: degraded, but no forced reconnection.
    @Test func unpublishedPings_degradeWithoutReconnecting() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        watch.pingPublished(false)
        let actions = watch.check(now: 3_500 * Self.ms)
        #expect(actions.degrade && !actions.reconnect)
    }

    /// Only a ping sent after the break proves the channel again, and only with the
    /// subscription confirmed; one resync at a time.
    @Test func recovery_needsAPingSentAfterTheBreak() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        _ = watch.subscriptionLost(now: 1_000 * Self.ms)
        #expect(!watch.pingReturned(sentAt: 900 * Self.ms, now: 1_100 * Self.ms).resync, "sent before the break")
        #expect(!watch.pingReturned(sentAt: 1_200 * Self.ms, now: 1_300 * Self.ms).resync, "not subscribed yet")
        _ = watch.subscriptionConfirmed(now: 1_400 * Self.ms)
        #expect(watch.pingReturned(sentAt: 1_500 * Self.ms, now: 1_600 * Self.ms).resync)
        #expect(!watch.pingReturned(sentAt: 1_700 * Self.ms, now: 1_800 * Self.ms).resync, "one resync at a time")
    }

    /// A break while the resync runs keeps degraded mode: the next proof starts another resync.
    @Test func breakDuringResync_keepsDegradedModeUntilTheNextProof() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        _ = watch.subscriptionLost(now: 1_000 * Self.ms)
        _ = watch.subscriptionConfirmed(now: 2_000 * Self.ms)
        #expect(watch.pingReturned(sentAt: 2_100 * Self.ms, now: 2_200 * Self.ms).resync)
        _ = watch.subscriptionLost(now: 2_300 * Self.ms)
        #expect(!watch.resyncFinished(now: 2_400 * Self.ms).recover)
        _ = watch.subscriptionConfirmed(now: 3_000 * Self.ms)
        #expect(watch.pingReturned(sentAt: 3_100 * Self.ms, now: 3_200 * Self.ms).resync)
        #expect(watch.resyncFinished(now: 3_300 * Self.ms).recover)
    }

    /// A ping's send time comes from the network: one from the future or before the epoch is
    /// bounded, so it cannot hold the channel healthy.
    @Test func pingSendTime_isBoundedByNow() {
        var watch = ChannelWatch(now: 0, pingTimeout: timeout)
        _ = watch.pingReturned(sentAt: Int64.max, now: 1_000 * Self.ms)
        #expect(watch.check(now: 4_100 * Self.ms).degrade, "evidence is at most the time it arrived")
        _ = watch.pingReturned(sentAt: Int64.min, now: 5_000 * Self.ms)
        #expect(watch.lastEvidence == 1_000 * Self.ms)
    }
}
