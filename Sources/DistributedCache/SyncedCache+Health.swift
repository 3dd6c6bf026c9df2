// Channel health: liveness pings, degraded mode, and resynchronization after an interruption.
//
// A TCP connection can look alive while nothing flows (a hung server, a silent network
// partition). So every `pingInterval` the instance publishes a ping on a channel only it
// subscribes to, through the command connection, and watches it come back through the
// subscription: the whole path an invalidation takes. When a ping is late by more than
// `pingTimeout`, or the subscription reports a disconnect, the channel is broken:
//   - degraded mode: local entries are served for at most `maximumStaleness` from that moment
//     (Health.staleDeadline, checked on every local hit), then reads go to Redis;
//   - the subscription is forced to reconnect (for the silent case);
//   - once it is back (subscriptions confirmed) and pings flow again, a resync drops whatever
//     may have been missed (clear / revalidate / replay), and only then does the instance leave
//     degraded mode. No read after that returns a value invalidated while the channel was down.

import CSupport
import Foundation
import Logging
import Metrics
import RedisTransport

extension SyncedCache {
    /// A nonce identifying this instance's pings (another live instance with our pod id would
    /// send other nonces on our ping channel).
    private static let pingNonce = String(UInt64.random(in: 1...UInt64.max), radix: 36)

    // MARK: - Background work

    func startBackgroundWork() {
        var tasks: [Task<Void, Never>] = []
        if options.pingInterval > .zero {
            tasks.append(Task { [weak self] in await self?.pingLoop() })
        }
        if options.enableMetrics {
            tasks.append(Task { [weak self] in await self?.metricsLoop() })
        }
        background.withLock { $0 += tasks }
    }

    private func pingLoop() async {
        let channel = layout.pingChannel(podID: podID)
        let interval = options.pingInterval
        let timeout = nanoseconds(options.pingTimeout)
        while !Task.isCancelled && !isClosed {
            do {
                try await client.publish(Self.pingNonce, to: channel)
            } catch {
                // Redis unreachable: the missing ping-back will mark the channel broken.
            }
            try? await Task.sleep(for: interval)
            let silent = dc_clock_now_ns() - health.lastPingBack.load(ordering: .relaxed)
            if silent > timeout && health.isHealthy {
                logger.warning("channel silent for \(silent / 1_000_000) ms: degraded mode, reconnecting the subscription")
                channelBroken()
                subscriber.reconnect()
            }
        }
    }

    func receivePing(_ message: RedisPubSubMessage) {
        let nonce = String(decoding: message.payload, as: UTF8.self)
        guard nonce == Self.pingNonce else {
            logger.warning(
                "another live instance uses pod id \"\(podID)\": they ignore each other's events; give each a unique podID")
            return
        }
        health.lastPingBack.store(dc_clock_now_ns(), ordering: .relaxed)
        if !health.isHealthy && subscriber.connectionState == .connected { scheduleResync() }
    }

    /// At start: warns when another live instance subscribes to our ping channel (same pod id).
    func warnIfPodIDIsShared() async {
        guard let reply = try? await client.send("PUBSUB", "NUMSUB", layout.pingChannel(podID: podID)),
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
        switch state {
        case .disconnected(let error):
            logger.warning("subscription lost (\(error)): degraded mode until it is back and resynchronized")
            channelBroken()
        case .connected:
            if !health.isHealthy { scheduleResync() }
        case .connecting, .closed:
            break
        }
    }

    private func channelBroken() {
        health.degrade()
        resyncState.withLock { $0.needed = true }
    }

    /// Starts one resync at a time, when one is needed.
    func scheduleResync() {
        let start = resyncState.withLock { state -> Bool in
            guard state.needed, !state.running else { return false }
            state.running = true
            state.needed = false
            return true
        }
        guard start else { return }
        Task { [weak self] in
            guard let self else { return }
            await self.resync()
            let again = self.resyncState.withLock { state -> Bool in
                state.running = false
                return state.needed
            }
            if again { self.scheduleResync() }
        }
    }

    // MARK: - Resync

    func resync() async {
        let strategy = options.resyncStrategy
        do {
            switch strategy {
            case .clear:
                dropEverything()
            case .revalidate:
                try await revalidate()
            case .replay:
                try await replay()
            }
            counters.increment(.resyncs)
            health.recover()
            logger.info("resynchronized (\(strategy.rawValue)); local reads resume")
        } catch {
            report(CacheError.from(error), "resync (\(strategy.rawValue))")
            dropEverything()
            counters.increment(.resyncs)
            health.recover()
        }
    }

    func dropEverything() {
        changes.recordClear()
        local.removeAll()
    }

    /// Compares every local entry's version with Redis's, 500 keys per MGET, and drops those
    /// that differ or are gone.
    private func revalidate() async throws {
        guard layout.versioned, let entries = local.snapshot() else { return dropEverything() }
        // Reads that started before now may carry what we are about to check: refuse them.
        changes.recordClear()
        var start = 0
        while start < entries.count {
            let batch = entries[start..<min(start + 500, entries.count)]
            start += 500
            let stored = try await client.mget(batch.map { layout.dataKey($0.key) as any RESPArgument })
            for (entry, value) in zip(batch, stored) {
                let current = value.map { RedisLayout.parseStored($0).version }
                if current != entry.version || entry.version == 0 {
                    local.removeValue(forKey: entry.key) { $0.version == entry.version }
                }
            }
        }
    }

    /// Reads the replay stream after the last version seen and drops exactly the keys it names;
    /// drops everything when the stream no longer reaches back that far.
    private func replay() async throws {
        let cursor = health.lastVersion.load(ordering: .relaxed)
        guard layout.versioned, cursor > 0 else { return dropEverything() }
        guard let first = try await streamIDs(from: "-", count: 1).first else {
            // No stream: fine only if nothing was written since the cursor.
            let counter = try await client.get(layout.versionKey).flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } ?? 0
            if counter > cursor { dropEverything() }
            return
        }
        if first.version > cursor + 1 {
            logger.info("replay stream starts at version \(first.version), after our cursor \(cursor): full clear")
            return dropEverything()
        }
        var next = "\(cursor + 1)-0"
        while true {
            let entries = try await streamIDs(from: next, count: 1_000)
            for entry in entries {
                if case .success(let event) = EventCodec.decode(entry.payload) {
                    replayDrop(event)
                }
                health.observe(version: entry.version)
            }
            guard let last = entries.last, entries.count == 1_000 else { break }
            next = "\(last.version + 1)-0"
        }
    }

    private func replayDrop(_ event: Event) {
        guard event.sender != podID else { return }
        let version = event.version ?? 0
        switch event.action {
        case .clear:
            dropEverything()
        case .set, .invalidate, .delete:
            changes.recordChange(of: event.key)
            local.removeValue(forKey: event.key) { version == 0 || $0.version < version }
        }
    }

    /// XRANGE of the replay stream from `start`, as (version, event payload) pairs.
    private func streamIDs(from start: String, count: Int) async throws -> [(version: UInt64, payload: [UInt8])] {
        guard case .array(let entries) = try await client.send("XRANGE", layout.streamKey, start, "+", "COUNT", count)
        else { return [] }
        return entries.compactMap { entry in
            guard case .array(let parts) = entry, parts.count == 2, let id = parts[0].string,
                let version = UInt64(id.prefix { $0 != "-" }), case .array(let fields) = parts[1], fields.count >= 2,
                let payload = fields[1].bytes
            else { return nil }
            return (version, payload)
        }
    }

    /// Sets the replay cursor to the namespace's current version (everything before this
    /// instance started is irrelevant: its local cache was empty).
    func startReplayCursor() async throws {
        if let bytes = try await client.get(layout.versionKey), let version = UInt64(String(decoding: bytes, as: UTF8.self)) {
            health.observe(version: version)
        }
    }

    // MARK: - Metrics

    /// Exports the statistics through swift-metrics once a second: counters advance by the
    /// difference since the last export, gauges are set. Off the hot path entirely.
    private func metricsLoop() async {
        let dimensions = [("pod", podID)]
        func counter(_ name: String) -> Counter { Counter(label: "dcache_\(name)_total", dimensions: dimensions) }
        let exported: [(KeyPath<Stats, UInt64>, Counter)] = [
            (\.localHits, counter("local_hits")), (\.localMisses, counter("local_misses")),
            (\.remoteHits, counter("remote_hits")), (\.remoteMisses, counter("remote_misses")),
            (\.sets, counter("sets")), (\.deletes, counter("deletes")), (\.clears, counter("clears")),
            (\.eventsReceived, counter("events_received")), (\.eventsApplied, counter("events_applied")),
            (\.eventsIgnored, counter("events_ignored")), (\.eventsMalformed, counter("events_malformed")),
            (\.invalidations, counter("invalidations")), (\.errors, counter("errors")), (\.resyncs, counter("resyncs")),
            (\.staleReads, counter("stale_reads")), (\.loads, counter("loads")),
        ]
        let size = Gauge(label: "dcache_local_entries", dimensions: dimensions)
        let healthy = Gauge(label: "dcache_channel_healthy", dimensions: dimensions)
        var previous = Stats()
        while !Task.isCancelled && !isClosed {
            let now = stats
            for (path, metric) in exported where now[keyPath: path] > previous[keyPath: path] {
                metric.increment(by: Int64(now[keyPath: path] - previous[keyPath: path]))
            }
            size.record(now.localSize)
            healthy.record(health.isHealthy ? 1 : 0)
            previous = now
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// Whether a resync is wanted or running.
struct ResyncState {
    var needed = false
    var running = false
}
