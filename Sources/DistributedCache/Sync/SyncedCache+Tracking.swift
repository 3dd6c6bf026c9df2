// Tracking mode: Redis reports changed keys itself (Options.invalidation = .tracking).
//
// The subscription connection subscribes to `__redis__:invalidate`, and the first command
// connection runs `CLIENT TRACKING on REDIRECT <subscription's id> BCAST PREFIX <namespace>:
// NOLOOP` (RESP2's two-connection mode). From then on Redis sends, on the subscription, every
// key under the namespace that any other client changes, batched per event-loop turn of Redis,
// and a null after FLUSHDB/FLUSHALL. NOLOOP would spare this instance's own writes, but Redis
// 7.0 attributes a script's writes to the script, not to the connection that ran it, so our own
// stored writes come back too and drop our copy: the next read goes to Redis, which has the
// value (read-your-writes holds; it costs one GET).
//
// The messages carry no version, so each one drops the key's local copy unconditionally and
// records the change in the InvalidationLog: a GET in flight when the invalidation arrived will
// not cache what it brings back (Redis's documented race between a reply on one connection and
// an invalidation on the other), and a write of ours whose reply comes after another writer's
// invalidation keeps no local copy (we cannot tell which write came last).
//
// Tracking lives on connections: it ends when the command connection breaks, and its
// redirection breaks when the subscription's does (RESP2 clients get no `tracking-redir-broken`
// notice). Either break therefore goes through the liveness machinery as a subscription
// interruption: the command connection's loss forces the subscription to reconnect, and every
// resync turns tracking on again, towards the subscription's new id, before it drops what may
// have been missed. Until then the instance is degraded, as after any interruption.

import RedisTransport

extension SyncedCache {
    /// True when Redis's client tracking reports changes (``Options/invalidation``).
    var tracks: Bool { options.invalidation == .tracking }

    /// The prefixes Redis tracks for this cache: the namespace's keys (every key when there is
    /// no namespace).
    var trackedPrefixes: [String] { layout.namespace.isEmpty ? [] : [layout.namespace + ":"] }

    /// Turns tracking on (again) towards the subscription's current connection.
    func enableTracking() async throws {
        guard let id = subscriber.clientID else {
            throw RedisError.protocolError("Redis did not tell the subscription's client id (CLIENT ID, Redis 5 or later)")
        }
        do {
            try await client.enableTracking(redirectTo: id, prefixes: trackedPrefixes)
        } catch RedisError.server(let message) {
            throw RedisError.server("\(message) (CLIENT TRACKING, needed by invalidation mode tracking: Redis 6 or later)")
        }
    }

    /// A message on `__redis__:invalidate`. Loop thread.
    func receiveTrackingInvalidation(_ message: RedisPubSubMessage) {
        if message.payloadIsNull {
            // FLUSHDB or FLUSHALL: every key is gone.
            changes.recordClear(version: 0, horizon: horizon.current)
            local.removeAll(cause: .invalidated)
            counters.increment(.trackingInvalidations)
            if options.debugMode { logger.debug("tracking: flush") }
            return
        }
        guard let keys = message.elements else {
            counters.increment(.eventsMalformed)
            logger.debug("skipped a tracking message whose payload is not an array of keys")
            return
        }
        let limit = options.maximumKeySize + layout.namespace.utf8.count + 1
        for raw in keys {
            // A longer key cannot be one of ours; internal keys (version counter, stream, loading
            // markers, tag generations) have no local copy.
            guard raw.count <= limit, let key = layout.cacheKey(String(decoding: raw, as: UTF8.self)), !key.isEmpty else {
                continue
            }
            changes.recordChange(of: key, version: 0, horizon: horizon.current)
            local.remove(key, cause: .invalidated) { _ in true }
            counters.increment(.trackingInvalidations)
            if options.debugMode { logger.debug("tracking: invalidated", metadata: ["key": "\(key)"]) }
        }
    }

    /// The command connection's state changed (loop thread): in tracking mode its loss ended
    /// tracking, so the subscription is cycled and the resync that follows turns it on again.
    func commandConnectionChanged(_ state: ConnectionState) {
        guard tracks, case .disconnected = state else { return }
        if case .connected = subscriber.connectionState {
            logger.warning("the command connection broke, which ends client tracking: reconnecting the subscription to resynchronize")
            subscriber.reconnect()
        }
    }
}
