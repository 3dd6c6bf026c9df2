// Channel health: liveness pings, degraded mode, and when to resynchronize.
//
// A TCP connection can look alive while nothing flows (a hung server, a silent network
// partition). So every `pingInterval` the instance publishes a ping on a channel only it
// subscribes to, through the command connection, and watches it come back through the
// subscription: the whole path an invalidation takes. The decisions are ChannelWatch's
// (Sync/ChannelWatch.swift, a plain state machine); this file feeds it pings, subscription
// states and the clock, and carries out what it decides:
//   - degraded mode: local entries are served for at most `maximumStaleness` from that moment
//     (Health.staleDeadline, checked on every local hit), then reads go to Redis;
//   - a forced reconnection of a subscription that is connected but silent;
//   - a resynchronization (SyncedCache+Resync.swift) once a ping sent after the break made it
//     back, after which the instance leaves degraded mode. No read after that returns a value
//     invalidated while the channel was down.
//
// A ping's PUBLISH waits at most one ping interval and does not hold up the checks, so the
// cadence holds while Redis is paused. In the versioned wire format a ping is a script that also
// returns the namespace's version counter: the verified horizon (Sync/VersionHorizon.swift).

import CSupport
import Foundation
import Logging
import Primitives
import RedisTransport

extension SyncedCache {
    /// A nonce identifying this instance's pings (another live instance with our pod id would
    /// send other nonces on our ping channel).
    private static let pingNonce = String(UInt64.random(in: 1...UInt64.max), radix: 36)

    // MARK: - Background work

    func startBackgroundWork() {
        var tasks: [Task<Void, Never>] = []
        if options.pingInterval > .zero {
            tasks.append(repeating(every: options.pingInterval) { cache in cache.pingTick() })
        }
        if options.enableMetrics {
            tasks.append(startMetricsExport())
        }
        background.withLock { $0 += tasks }
    }

    /// Runs `tick` with this instance every `interval` (on a schedule, not `interval` after each
    /// tick) until the task is cancelled, the instance closes, or it is released. The task holds
    /// the instance only while `tick` runs, never while it sleeps: an instance released without
    /// ``close()`` goes away, and its deinit stops the rest.
    func repeating(every interval: Duration, _ tick: @escaping @Sendable (SyncedCache) -> Void) -> Task<Void, Never> {
        Task { [weak self] in
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled, Self.tickIfOpen(self, tick) {
                next = max(next + interval, clock.now)
                try? await Task.sleep(until: next, clock: clock)
            }
        }
    }

    /// Runs `tick` when `cache` is still there and open; false otherwise. A function of its own
    /// so that the strong reference ends with the call.
    private static func tickIfOpen(_ cache: SyncedCache?, _ tick: (SyncedCache) -> Void) -> Bool {
        guard let cache, !cache.isClosed else { return false }
        tick(cache)
        return true
    }

    /// One turn of the liveness check: sends a ping and acts on what the watch decides.
    private func pingTick() {
        Task { [weak self] in await self?.sendPing() }
        let actions = health.watch.withLock { $0.check(now: dc_clock_now_ns()) }
        carryOut(actions, reason: "no ping came back for \(options.pingTimeout)")
    }

    /// Publishes one ping carrying its send time and records whether Redis accepted it; learns
    /// the version counter from the reply (versioned wire format).
    private func sendPing() async {
        let payload = "\(Self.pingNonce) \(dc_clock_now_ns())"
        let channel = layout.pingChannel(podID: podID)
        let command: [any RESPArgument] =
            layout.versioned
            ? ["EVAL", RedisLayout.pingScript, 1, layout.versionKey, channel, payload, layout.publishCommand]
            : [layout.publishCommand, channel, payload]
        var published = false
        if let replies = try? await client.pipeline([command], timeout: options.pingInterval), case .success(let reply) = replies[0] {
            published = true
            if layout.versioned, let counter = RedisLayout.counter(reply) { horizon.learn(counter) }
        }
        health.watch.withLock { $0.pingPublished(published) }
    }

    func receivePing(_ message: RedisPubSubMessage) {
        let parts = message.payload.split(separator: UInt8(ascii: " "), maxSplits: 1)
        guard parts.count == 2, parts[0].elementsEqual(Self.pingNonce.utf8),
            let sentAt = Int64(String(decoding: parts[1], as: UTF8.self))
        else {
            logger.warning(
                "another live instance uses pod id \"\(podID)\": they ignore each other's events; give each a unique podID")
            return
        }
        let actions = health.watch.withLock { $0.pingReturned(sentAt: sentAt, now: dc_clock_now_ns()) }
        carryOut(actions, reason: "")
    }

    /// At start: warns when another live instance subscribes to our ping channel (same pod id).
    func warnIfPodIDIsShared() async {
        let channel = layout.pingChannel(podID: podID)
        let question: [any RESPArgument] = ["PUBSUB", layout.sharded ? "SHARDNUMSUB" : "NUMSUB", channel]
        let answer: RESPValue?
        if layout.sharded, let owner = client.clusterOwner(ofKey: channel) {
            answer = try? await client.send(question, toPrimary: owner)
        } else {
            answer = try? await client.send(question)
        }
        guard let reply = answer,
            case .array(let parts) = reply, parts.count == 2, case .integer(let subscribers) = parts[1]
        else { return }
        if subscribers > 1 {
            logger.warning(
                "\(subscribers - 1) other live instance(s) use pod id \"\(podID)\": instances sharing an id ignore each other's events")
        }
    }

    // MARK: - State of the subscription

    /// The subscription's state changed (loop thread).
    func subscriptionChanged(_ state: ConnectionState) {
        let now = dc_clock_now_ns()
        switch state {
        case .disconnected(let error):
            let actions = health.watch.withLock { $0.subscriptionLost(now: now) }
            carryOut(actions, reason: "subscription lost (\(error))")
        case .connected:
            let actions = health.watch.withLock { $0.subscriptionConfirmed(now: now) }
            carryOut(actions, reason: "")
        case .connecting, .closed:
            break
        }
    }

    /// Does what the liveness state machine decided. `reason` explains a degradation in the log.
    private func carryOut(_ actions: ChannelWatch.Actions, reason: String) {
        if actions.degrade {
            health.degrade()
            logger.warning(
                "\(reason): degraded mode (local entries served for at most \(options.maximumStaleness)) until the channel is back and resynchronized")
        }
        if actions.reconnect {
            logger.warning("the subscription is connected but no ping comes back: reconnecting it")
            subscriber.reconnect()
        }
        if actions.ping {
            Task { [weak self] in await self?.sendPing() }
        }
        if actions.resync {
            Task { [weak self] in
                guard let self else { return }
                guard await self.resync() else {
                    self.health.watch.withLock { $0.resyncFailed(now: dc_clock_now_ns()) }
                    return
                }
                let done = self.health.watch.withLock { $0.resyncFinished(now: dc_clock_now_ns()) }
                self.carryOut(done, reason: "")
            }
        }
        if actions.recover {
            health.recover()
            logger.info("resynchronized (\(options.resyncStrategy.rawValue)); local reads resume")
        }
    }
}
