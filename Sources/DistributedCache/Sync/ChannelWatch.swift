// ChannelWatch: the liveness state machine of the invalidation channel, as a plain value.
//
// Design note. The channel is healthy while there is recent evidence that it delivers: one of
// our own pings coming back through the subscription (a ping carries its send time, and its
// return proves the whole path as of that time), or the subscription being confirmed by Redis.
// The rules, each one a method below:
//
//   - no evidence for longer than the ping timeout: the channel is broken (degraded mode). If
//     the subscription looks connected and our pings are being published, it is connected but
//     not delivering: force it to reconnect, at most once per ping timeout.
//   - the subscription disconnects: broken.
//   - the subscription is (re)confirmed: evidence; ping at once, so that recovery need not
//     wait for the next ping interval.
//   - a ping sent after the channel broke comes back, with the subscription confirmed: start the
//     resynchronization (one at a time).
//   - the resynchronization finished: healthy again, unless the channel broke while it ran (then
//     the next ping that makes it back starts another). One that failed to restore the channel
//     (client tracking refused) leaves it broken, and the next ping back retries.
//
// Why evidence is measured from the subscription's confirmation too: after a reconnection the
// old pings are lost, and judging the fresh subscription by them would declare it silent at once.
// That was a real defect: after an outage longer than the ping timeout, each check found the
// last ping-back too old, forced a reconnection, lost the ping sent during it, and wiped the local
// cache again, every second, forever.
//
// All times are monotonic nanoseconds (dc_clock_now_ns). Not thread-safe by itself: Health keeps
// it under a lock.

struct ChannelWatch {
    /// What the caller must do after a transition.
    struct Actions: Equatable {
        /// Enter degraded mode (start the staleness clock).
        var degrade = false
        /// Force the subscription to reconnect.
        var reconnect = false
        /// Publish a ping now.
        var ping = false
        /// Start a resynchronization.
        var resync = false
        /// Leave degraded mode.
        var recover = false
    }

    let pingTimeout: Int64

    /// The latest evidence that the channel delivers.
    private(set) var lastEvidence: Int64
    /// When the channel was last found broken; nil while healthy.
    private(set) var brokenAt: Int64?
    /// True while Redis has confirmed every subscription.
    private(set) var subscribed = true
    /// Whether the latest ping was published (its PUBLISH answered): silence is then the
    /// subscription's fault, not the command connection's.
    private(set) var lastPingPublished = true
    private(set) var lastForcedReconnect: Int64 = .min / 2
    private(set) var resyncStartedAt: Int64?

    init(now: Int64, pingTimeout: Int64) {
        lastEvidence = now
        self.pingTimeout = pingTimeout
    }

    var isBroken: Bool { brokenAt != nil }
    var isResyncing: Bool { resyncStartedAt != nil }

    /// The periodic check, after each ping was sent.
    mutating func check(now: Int64) -> Actions {
        var actions = Actions()
        guard now - lastEvidence > pingTimeout else { return actions }
        if brokenAt == nil {
            brokenAt = now
            actions.degrade = true
        }
        if subscribed && lastPingPublished && now - lastForcedReconnect > pingTimeout {
            lastForcedReconnect = now
            actions.reconnect = true
        }
        return actions
    }

    /// A ping's PUBLISH answered (or failed).
    mutating func pingPublished(_ published: Bool) {
        lastPingPublished = published
    }

    /// One of our pings came back; `sentAt` is what it carries (bounded by `now`: the payload
    /// arrives from the network).
    mutating func pingReturned(sentAt: Int64, now: Int64) -> Actions {
        let sent = min(max(sentAt, 0), now)
        lastEvidence = max(lastEvidence, sent)
        var actions = Actions()
        if let broken = brokenAt, sent > broken, subscribed, resyncStartedAt == nil {
            resyncStartedAt = now
            actions.resync = true
        }
        return actions
    }

    /// The subscription was lost.
    mutating func subscriptionLost(now: Int64) -> Actions {
        subscribed = false
        var actions = Actions()
        if brokenAt == nil { actions.degrade = true }
        brokenAt = now
        return actions
    }

    /// Redis confirmed every subscription again.
    mutating func subscriptionConfirmed(now: Int64) -> Actions {
        subscribed = true
        lastEvidence = max(lastEvidence, now)
        var actions = Actions()
        actions.ping = brokenAt != nil
        return actions
    }

    /// The resynchronization could not put the channel back in working order (tracking mode could
    /// not turn client tracking on): still broken, and the next ping that makes it back retries.
    mutating func resyncFailed(now: Int64) {
        resyncStartedAt = nil
        brokenAt = now
    }

    /// The resynchronization finished (whether or not its strategy succeeded: a failed one clears
    /// the local cache, which is always correct).
    mutating func resyncFinished(now: Int64) -> Actions {
        guard let started = resyncStartedAt else { return Actions() }
        resyncStartedAt = nil
        var actions = Actions()
        if let broken = brokenAt, broken > started { return actions }
        brokenAt = nil
        actions.recover = true
        return actions
    }
}
