// Receiving events: decode, skip own and stale ones, apply to the local cache.
//
// Runs on the event-loop thread, straight from the subscription's reply callback: no hop
// between the socket and the local cache. Everything it touches is thread-safe.
//
// Ordering: Redis publishes in execution order, so one subscription sees each writer's events
// in version order; versions still decide (an older event never replaces a newer value),
// because a fill from a GET, a local write and a replayed event can interleave with them.
// Bad input never crashes: a payload that is not an event is counted in `eventsMalformed`,
// logged at debug level and skipped.

import Logging
import RedisTransport

extension SyncedCache {
    /// Largest payload accepted: a maximal value in base64 plus room for the other fields.
    var maximumEventSize: Int { options.maximumValueSize / 3 * 4 + options.maximumKeySize * 6 + 1_024 }

    /// A message arrived on one of our channels. Loop thread.
    func receive(_ message: RedisPubSubMessage) {
        guard message.channel == layout.channel else { return receivePing(message) }
        counters.increment(.eventsReceived)
        guard message.payload.count <= maximumEventSize else {
            return malformed("oversized payload of \(message.payload.count) bytes")
        }
        switch EventCodec.decode(message.payload) {
        case .failure(let reason):
            malformed("\(reason): \(String(decoding: message.payload.prefix(200), as: UTF8.self))")
        case .success(let event):
            apply(event)
        }
    }

    private func malformed(_ description: String) {
        counters.increment(.eventsMalformed)
        logger.debug("skipped a malformed event: \(description)")
    }

    /// Applies one event to the local cache. Also used by replay.
    func apply(_ event: Event) {
        if let version = event.version { health.observe(version: version) }
        guard event.sender != podID else {
            counters.increment(.eventsIgnored)
            return
        }
        let version = event.version ?? 0
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
            changes.recordChange(of: event.key)
            var box: ValueBox?
            if let hook = options.onSetLocalCache {
                do {
                    guard let produced = try hook(event) else {
                        local.removeValue(forKey: event.key) { version == 0 || $0.version < version }
                        counters.increment(.eventsApplied)
                        return
                    }
                    box = DistributedCache.box(produced)
                } catch {
                    report(.decodingFailed(key: event.key, reason: "onSetLocalCache: \(error)"), "event")
                    return
                }
            }
            let ttl = event.ttlMilliseconds.map { Duration.milliseconds($0) }
            let entry = LocalValue(version: version, box: box, bytes: box == nil ? event.value : nil, ttl: ttl)
            let stored = local.setValue(entry, forKey: event.key, ttl: ttl) {
                current in
                guard let current, version != 0 else { return true }
                return current.version < version
            }
            counters.increment(stored ? .eventsApplied : .eventsIgnored)
        case .invalidate, .delete:
            changes.recordChange(of: event.key)
            local.removeValue(forKey: event.key) { version == 0 || $0.version < version }
            counters.increment(.invalidations)
            counters.increment(.eventsApplied)
        case .clear:
            changes.recordClear()
            local.removeAll()
            counters.increment(.invalidations)
            counters.increment(.eventsApplied)
        }
    }
}
