// Receiving events: decode, skip own and stale ones, apply to the local cache.
//
// Runs on the event-loop thread, straight from the subscription's reply callback: no hop
// between the socket and the local cache. Everything it touches is thread-safe.
//
// Ordering: Redis publishes in execution order, so one subscription sees each writer's events
// in version order; versions still decide (an older event never replaces a newer value),
// because a fill from a GET, a local write and a replayed event can interleave with them.
//
// The rule for a versioned set of key k at version v: it is applied only if v is above the
// key's local entry and above the key's barrier in the InvalidationLog (the newest change
// recorded for k, at least the log's floor), so neither a duplicate, nor a reordered event, nor
// a set replayed after a delete or a clear is ever stored. A refused set also removes an older
// local entry of k (something at least as new as v happened after it). When what refused the set
// is a version above the verified horizon, it may have been forged: the set is parked until one
// read of Redis's version counter decides (VersionHorizon.swift).
//
// Bad input never crashes: a payload that is not an event, or whose numbers are out of bounds,
// is counted in `eventsMalformed`, logged at debug level and skipped.

import CSupport
import Logging
import Primitives
import RedisTransport

extension SyncedCache {
    /// Largest payload accepted: a maximal value in base64 plus room for the other fields.
    var maximumEventSize: Int { options.maximumValueSize / 3 * 4 + options.maximumKeySize * 6 + 1_024 }

    /// A message arrived on one of our channels. Loop thread.
    func receive(_ message: RedisPubSubMessage) {
        guard message.channel == layout.channel else {
            if message.channel == RedisSubscriber.trackingChannel { return receiveTrackingInvalidation(message) }
            return receivePing(message)
        }
        counters.increment(.eventsReceived)
        guard message.payload.count <= maximumEventSize else {
            return malformed("oversized payload of \(message.payload.count) bytes")
        }
        var payload = message.payload
        if let signer {
            guard let verified = signer.verify(payload) else {
                counters.increment(.eventsRejected)
                logger.debug("rejected an event without a valid signature: \(String(decoding: payload.prefix(200), as: UTF8.self))")
                return
            }
            payload = verified
        }
        switch EventCodec.decode(payload) {
        case .failure(let reason):
            malformed("\(reason): \(String(decoding: message.payload.prefix(200), as: UTF8.self))")
        case .success(let event):
            // The writers' limits hold for what arrives too: a longer key or a larger value was
            // not published by an instance with the same options.
            guard !event.key.isEmpty, event.key.utf8.count <= options.maximumKeySize else {
                return malformed("a key of \(event.key.utf8.count) bytes (maximumKeySize \(options.maximumKeySize))")
            }
            guard event.value.count <= options.maximumValueSize else {
                return malformed("a value of \(event.value.count) bytes (maximumValueSize \(options.maximumValueSize))")
            }
            apply(event)
        }
    }

    private func malformed(_ description: String) {
        counters.increment(.eventsMalformed)
        logger.debug("skipped a malformed event: \(description)")
    }

    /// Applies one event to the local cache.
    func apply(_ event: Event) {
        guard event.sender != podID else {
            counters.increment(.eventsIgnored)
            return
        }
        let version = event.version ?? 0
        // The replay cursor; a resync checks it against Redis's counter before trusting it.
        if version > 0 { health.observe(version: version) }
        if options.debugMode {
            logger.debug(
                "event", metadata: ["action": "\(event.action.rawValue)", "key": "\(event.key)", "sender": "\(event.sender)",
                                    "version": "\(version)"])
        }
        switch event.action {
        case .set:
            guard !event.value.isEmpty else {
                counters.increment(.eventsIgnored)
                return
            }
            applySet(event, version: version)
        case .invalidate, .delete:
            changes.recordChange(of: event.key, version: version, horizon: horizon.current)
            local.remove(event.key, cause: .invalidated) { version == 0 || $0 < version }
            counters.increment(.invalidations)
            counters.increment(.eventsApplied)
        case .clear:
            changes.recordClear(version: version, horizon: horizon.current)
            local.removeAll(cause: .invalidated)
            counters.increment(.invalidations)
            counters.increment(.eventsApplied)
        case .invalidateTag:
            guard event.tags[event.key] != nil else { return malformed("an invalidate-tag event without the tag's generation") }
            applyTagInvalidation(event)
            counters.increment(.invalidations)
            counters.increment(.eventsApplied)
        }
    }

    /// Drops the local entries of an invalidated tag written before its new generation.
    /// - Parameter cause: `.invalidated` for another instance's invalidation, `.explicit` for ours.
    func applyTagInvalidation(_ event: Event, cause: RemovalCause = .invalidated) {
        guard let generation = event.tags[event.key] else { return }
        for key in tags.invalidate(event.key, generation: generation) {
            changes.recordChange(of: key, version: 0, horizon: horizon.current)
            local.remove(key, cause: cause) { _ in true }
        }
    }

    /// Applies a set event by the rule in the design note above.
    private func applySet(_ event: Event, version: UInt64) {
        let key = event.key
        let tagged = event.tagGenerations
        if !tagged.isEmpty {
            // Written before one of its tags was invalidated: already invalid.
            guard tags.isCurrent(tagged) else {
                local.remove(key, cause: .invalidated) { $0 < version || version == 0 }
                counters.increment(.eventsIgnored)
                return
            }
            tags.learn(tagged)
        }
        var produced: (any Codable & Sendable)?
        if let hook = options.onSetLocalCache {
            do {
                guard let value = try hook(event) else {
                    changes.recordChange(of: key, version: version, horizon: horizon.current)
                    local.remove(key, cause: .invalidated) { version == 0 || $0 < version }
                    counters.increment(.eventsApplied)
                    return
                }
                produced = value
            } catch {
                report(.decodingFailed(key: key, reason: "onSetLocalCache: \(error)"), "event")
                return
            }
        }
        let expiresAt = event.ttlMilliseconds.map { Duration.milliseconds($0).deadline(fromNanoseconds: dc_clock_now_ns()) }
            ?? Int64.max
        /// Stores the event's value (as the hook made it, else as bytes) if `condition` approves.
        func store(when condition: (UInt64?) -> Bool) -> Bool {
            if let produced {
                return local.storeDecoded(key, produced, version: version, expiresAt: expiresAt, when: condition)
            }
            return local.storeEncoded(key, event.value, version: version, expiresAt: expiresAt, when: condition)
        }
        guard version > 0 else {
            // Reference wire format: no versions, the last event wins.
            changes.recordChange(of: key, version: 0, horizon: horizon.current)
            if store(when: { _ in true }) { noteTags(key, tagged) }
            counters.increment(.eventsApplied)
            return
        }
        let barrier = changes.barrier(for: key)
        var blocker = barrier
        let stored = store { current in
            blocker = max(barrier, current ?? 0)
            return version > blocker
        }
        if stored {
            changes.recordChange(of: key, version: version, horizon: horizon.current)
            noteTags(key, tagged)
            counters.increment(.eventsApplied)
            return
        }
        // Refused. An older local entry cannot be current: a change at least as new as this
        // event happened after it.
        local.remove(key, cause: .invalidated) { $0 < version }
        counters.increment(.eventsIgnored)
        if blocker > horizon.current { hold(event) }
    }

    // MARK: - Versions that may be forged

    /// Parks a set that a version above the verified horizon refused, and checks the horizon.
    private func hold(_ event: Event) {
        let (parked, sendCheck) = horizon.park(event)
        guard parked else {
            // Too many waiting: drop the key locally instead (always safe).
            local.remove(event.key, cause: .invalidated) { _ in true }
            return
        }
        if sendCheck { checkHorizon() }
    }

    /// Reads Redis's version counter and decides the parked events (VersionHorizon.swift).
    private func checkHorizon() {
        Task { [weak self] in
            guard let self else { return }
            let counter: UInt64?
            do {
                let stored = try await client.get(layout.versionKey)
                counter = try stored.map { bytes in
                    guard let value = UInt64(String(decoding: bytes, as: UTF8.self)) else {
                        throw RedisError.protocolError("the version counter holds \"\(String(decoding: bytes.prefix(40), as: UTF8.self))\"")
                    }
                    return value
                } ?? 0
            } catch {
                counter = nil
            }
            let (decided, again) = horizon.checkFinished(counter: counter)
            if let counter {
                changes.verify(upTo: counter)
                for event in decided { redecide(event, counter: counter) }
            } else {
                for event in decided { local.remove(event.key, cause: .invalidated) { _ in true } }
            }
            if again { checkHorizon() }
        }
    }

    /// A parked set, now that Redis says it has handed out versions up to `counter` only:
    /// whatever above that held the set back was forged and goes; then the set is applied again.
    private func redecide(_ event: Event, counter: UInt64) {
        let forgedEntry = local.remove(event.key, cause: .invalidated) { $0 > counter }
        let forgedRecord = changes.forgetForged(event.key, above: counter)
        if forgedEntry || forgedRecord {
            counters.increment(.forgedVersions)
            logger.warning("dropped key \"\(event.key)\" held at a version Redis never handed out (above \(counter))")
        }
        applySet(event, version: event.version ?? 0)
    }
}
