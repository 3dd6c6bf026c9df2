// Writes: set, setWithInvalidate, delete, clear.
//
// Order of effects: Redis first (the write script, or SET/DEL + PUBLISH in the reference wire
// format), then the local cache. A write that fails at Redis therefore throws, and the local
// cache never holds a value the other instances were not told about. When the call returns, the
// local cache holds the new value, so the next read on this instance sees it (read-your-writes).
//
// A failure may be ambiguous: a command that timed out or lost its connection after it was sent
// may still run in Redis (a paused server runs it when it resumes), and this instance ignores
// its own events. So after such a failure the local copy of the key is dropped (everything, for
// clear): the next read asks Redis what actually happened. A write that was never sent (not
// connected, invalid) changes nothing locally.

import CSupport
import LocalStore
import Primitives
import RedisTransport

extension SyncedCache {
    /// Stores `value` for `key` and sends it to the other instances, which store it too without
    /// reading Redis (flow 1 of the reference).
    ///
    /// Redis is written only when ``Options/readerCanSetToRedis`` is on (it is off by default,
    /// as in the reference library).
    /// - Parameters:
    ///   - key: the key.
    ///   - value: the value; marshalled once.
    ///   - ttl: time to live, in Redis and in every local cache; nil uses ``Options/defaultTTL``.
    ///   - tags: tags for ``invalidate(tag:)``: 1 to 256 printable ASCII bytes each other than
    ///     space `, = " \`, at most 32 (versioned wire format only).
    /// - Throws: ``CacheError/redis(_:)`` (nothing changed locally), ``CacheError/encodingFailed(_:)``,
    ///   ``CacheError/valueTooLarge(size:limit:)``, ``CacheError/invalidKey(_:)``, ``CacheError/closed``.
    public func set<Value: Codable & Sendable>(
        _ key: String, _ value: Value, ttl: Duration? = nil, tags: [String] = []
    ) async throws(CacheError) {
        try await write(key, marshal(value), decoded: value, action: .set, ttl: ttl, tags: tags)
    }

    /// Drops every value carrying `tag`, in Redis's eyes and in every instance's local cache,
    /// without scanning Redis: the tag's generation moves up, and values written before it
    /// count as absent from then on (see Sync/TagRegistry.swift). Values stored with the tag
    /// afterwards are not affected.
    /// - Throws: ``CacheError/invalidTag(_:)``; ``CacheError/invalidOption(name:reason:)`` in the
    ///   reference wire format (it has no tags); ``CacheError/redis(_:)``; ``CacheError/closed``.
    public func invalidate(tag: String) async throws(CacheError) {
        try ensureOpen()
        try TagRegistry.validate(tag)
        try requireTagSupport()
        do {
            try await traced("invalidateTag", keys: 0) {
                let reply = try await client.send("HINCRBY", layout.tagsKey, tag, "1")
                guard case .integer(let generation) = reply, generation > 0, UInt64(generation) <= SyncedCache.maximumVersion else {
                    throw RedisError.protocolError("HINCRBY of a tag generation replied \(reply)")
                }
                let item = TagGeneration(tag: tag, generation: UInt64(generation))
                _ = try await runWriteScript(.announce, key: tag, bytes: [], action: .invalidateTag, ttlMilliseconds: nil, tags: [item])
                applyTagInvalidation(Event(key: tag, sender: podID, action: .invalidateTag, tags: [tag: item.generation]), cause: .explicit)
            }
        } catch {
            let failure = CacheError.from(error)
            // The generation may have moved: what this instance holds with the tag may be invalid.
            if failure.mayHaveRun { dropTagged() }
            throw reported(failure, "invalidate tag \(tag)")
        }
        counters.increment(.invalidations)
    }

    /// Tags need the versioned wire format (its stored header and events carry them).
    private func requireTagSupport() throws(CacheError) {
        guard layout.versioned else {
            throw .invalidOption(name: "wireFormat", reason: "tags need the versioned wire format; the reference format has no place for them")
        }
    }

    /// Validated, sorted, deduplicated tags with the generations this instance believes current.
    private func prepareTags(_ names: [String]) throws(CacheError) -> [TagGeneration] {
        guard !names.isEmpty else { return [] }
        try requireTagSupport()
        let unique = Array(Set(names)).sorted()
        guard unique.count <= TagRegistry.maximumTagsPerValue else {
            throw .invalidTag("a value may carry at most \(TagRegistry.maximumTagsPerValue) tags, got \(unique.count)")
        }
        for tag in unique { try TagRegistry.validate(tag) }
        return tags.generations(of: unique)
    }

    /// Stores `value` for `key`; the other instances only drop their copy and read it from Redis
    /// when they need it (flow 2 of the reference: for large values, or lazy loading).
    /// - Throws: as ``set(_:_:ttl:tags:)``.
    public func setWithInvalidate<Value: Codable & Sendable>(
        _ key: String, _ value: Value, ttl: Duration? = nil
    ) async throws(CacheError) {
        try await write(key, marshal(value), decoded: value, action: .invalidate, ttl: ttl)
    }

    /// Stores already-marshalled bytes for `key` (they must be what the configured marshaller
    /// produces, since other instances decode them with it).
    /// - Parameters:
    ///   - key: the key.
    ///   - bytes: the marshalled value.
    ///   - ttl: time to live; nil uses ``Options/defaultTTL``.
    ///   - invalidateOnly: send an invalidation instead of the value.
    /// - Throws: as ``set(_:_:ttl:tags:)``.
    public func setBytes(_ key: String, _ bytes: [UInt8], ttl: Duration? = nil, invalidateOnly: Bool = false)
        async throws(CacheError)
    {
        try await write(key, bytes, decoded: nil as Never?, action: invalidateOnly ? .invalidate : .set, ttl: ttl)
    }

    /// Removes `key` from Redis, from this instance and from every other instance (flow 6).
    /// - Throws: ``CacheError/redis(_:)`` (the local copy is then kept), ``CacheError/invalidKey(_:)``,
    ///   ``CacheError/closed``.
    public func delete(_ key: String) async throws(CacheError) {
        try ensureOpen()
        try validate(key)
        let version: UInt64
        do {
            version = try await traced("delete", keys: 1) {
                if layout.versioned {
                    return try await runWriteScript(.delete, key: key, bytes: [], action: .delete, ttlMilliseconds: nil)
                }
                try await client.del(layout.dataKey(key))
                if !layout.eventChannel(for: .delete).isEmpty {
                    try await client.publish(outgoing(Event(key: key, sender: podID, action: .delete)), to: layout.channel)
                }
                return 0
            }
        } catch {
            let failure = CacheError.from(error)
            if failure.mayHaveRun { forgetLocally(key) }
            throw reported(failure, "delete \(key)")
        }
        changes.recordChange(of: key, version: version, horizon: horizon.current)
        local.remove(key) { version == 0 || $0 < version }
        counters.increment(.deletes)
        if options.debugMode { logger.debug("delete", metadata: ["key": "\(key)", "version": "\(version)"]) }
    }

    /// Removes every key of this cache from Redis, this instance and every other instance
    /// (flow 7).
    ///
    /// Unlike the reference library, which runs FLUSHDB, this removes only the keys of the
    /// cache's namespace (SCAN + UNLINK in batches), unless ``Options/clearScope`` is
    /// `.database`. Keys written concurrently with a clear may survive it.
    /// - Throws: ``CacheError/redis(_:)``; ``CacheError/invalidOption(name:reason:)`` when the
    ///   namespace is empty and the scope is `.namespace` (that would remove every key).
    public func clear() async throws(CacheError) {
        try ensureOpen()
        var version: UInt64 = 0
        do {
            try await traced("clear", keys: 0) {
                switch options.clearScope {
                case .database:
                    if client.isCluster {
                        for primary in client.clusterPrimaries { _ = try await client.send(["FLUSHDB"], toPrimary: primary) }
                    } else {
                        _ = try await client.send("FLUSHDB")
                    }
                case .namespace:
                    guard !layout.namespace.isEmpty else {
                        throw CacheError.invalidOption(
                            name: "clearScope",
                            reason: "the namespace is empty (bare keys, as the reference library and the reference wire format "
                                + "store them), so a namespace clear would remove every key of the database. Set `namespace` "
                                + "(CACHE_NAMESPACE, dcache pod --namespace) to clear only those keys, or set `clearScope = "
                                + ".database` (CACHE_CLEAR_SCOPE=database, dcache pod --clear-scope database) to run FLUSHDB "
                                + "on purpose, as the reference library does")
                    }
                    try await unlinkNamespace()
                }
                if layout.versioned {
                    version = try await runWriteScript(.announce, key: "*", bytes: [], action: .clear, ttlMilliseconds: nil)
                } else {
                    try await client.publish(outgoing(Event(key: "*", sender: podID, action: .clear)), to: layout.channel)
                }
            }
        } catch {
            let failure = CacheError.from(error)
            if failure.mayHaveRun { dropEverything() }
            throw reported(failure, "clear")
        }
        changes.recordClear(version: version, horizon: horizon.current)
        local.removeAll()
        counters.increment(.clears)
        if options.debugMode { logger.debug("clear") }
    }

    // MARK: - Internals

    /// The time to live a write uses: `ttl`, else ``Options/defaultTTL``; checked to be in
    /// `0 < ttl <= maximumTTL`, so that its millisecond form (Redis's PX, the event's `ttl`) is
    /// exact and every receiver accepts it.
    /// - Throws: ``CacheError/invalidOption(name:reason:)`` naming `ttl`.
    func resolveTTL(_ ttl: Duration?) throws(CacheError) -> Duration? {
        guard let ttl = ttl ?? options.defaultTTL else { return nil }
        guard ttl > .zero else { throw .invalidOption(name: "ttl", reason: "must be positive, got \(ttl)") }
        guard ttl <= SyncedCache.maximumTTL else {
            throw .invalidOption(name: "ttl", reason: "must be at most \(SyncedCache.maximumTTL) (100 years), got \(ttl)")
        }
        return ttl
    }

    /// `ttl` shortened by a random fraction of up to ``Options/ttlJitter`` (at least 1 ms), so that
    /// keys written together expire apart. A batch draws once for all its keys.
    func jittered(_ ttl: Duration) -> Duration {
        guard options.ttlJitter > 0 else { return ttl }
        let kept = 1 - Double.random(in: 0..<options.ttlJitter)
        return max(.milliseconds(1), .nanoseconds(Int64(Double(ttl.saturatingNanoseconds) * kept)))
    }

    /// Drops the local copy of a key after a write whose outcome is unknown (see the note at the
    /// top of this file); in-flight reads of it will not cache what they bring back either.
    func forgetLocally(_ key: String) {
        changes.recordChange(of: key, version: 0, horizon: horizon.current)
        local.remove(key) { _ in true }
    }

    /// Marshals a value, mapping failures to `.encodingFailed`.
    func marshal<Value: Encodable>(_ value: Value) throws(CacheError) -> [UInt8] {
        do {
            return try marshaller.marshal(value)
        } catch {
            throw reported(.encodingFailed(String(describing: error)), "marshal")
        }
    }

    /// Writes a value to Redis (or only announces it) and then to the local cache: decoded when
    /// the caller has the value (`value`), else as the bytes.
    /// - Parameter storeInRedis: whether Redis keeps the value (`readerCanSetToRedis`, or always
    ///   for a value `getOrLoad` loaded).
    func write<Value: Codable & Sendable>(
        _ key: String, _ bytes: [UInt8], decoded value: Value?, action: Action, ttl: Duration?,
        storeInRedis: Bool? = nil, tags tagNames: [String] = []
    ) async throws(CacheError) {
        try ensureOpen()
        try validate(key)
        var tagged = try prepareTags(tagNames)
        guard bytes.count <= options.maximumValueSize else {
            throw .valueTooLarge(size: bytes.count, limit: options.maximumValueSize)
        }
        let ttl = try resolveTTL(ttl).map(jittered)
        let ttlMilliseconds = ttl?.saturatingMillisecondsRoundedUp
        let storeInRedis = storeInRedis ?? options.readerCanSetToRedis
        // Tracking invalidations carry no version: one that arrives while this write is out may
        // be of a later write by another client (see SyncedCache+Tracking.swift).
        let ticket = tracks ? changes.ticket() : 0
        let version: UInt64
        do {
            (version, tagged) = try await traced(action.rawValue, keys: 1) { [tagged] in
                if layout.versioned {
                    return try await runTaggedWriteScript(
                        storeInRedis ? .set : .announce, key: key, bytes: bytes, action: action,
                        ttlMilliseconds: ttlMilliseconds, tags: tagged)
                }
                if storeInRedis {
                    try await client.set(
                        layout.dataKey(key), to: bytes, expiration: ttlMilliseconds.map { .milliseconds(Int($0)) })
                }
                if !layout.eventChannel(for: storeInRedis ? .set : .announce).isEmpty {
                    let event = Event(key: key, sender: podID, action: action, value: action == .set ? bytes : [])
                    try await client.publish(outgoing(event), to: layout.channel)
                }
                return (0, tagged)
            }
        } catch {
            let failure = CacheError.from(error)
            if failure.mayHaveRun { forgetLocally(key) }
            throw reported(failure, "set \(key)")
        }
        if tracks && !changes.mayCache(key, readAt: ticket) {
            forgetLocally(key)
            counters.increment(.sets)
            return
        }
        changes.recordChange(of: key, version: version, horizon: horizon.current)
        let expiresAt = ttl?.deadline(fromNanoseconds: dc_clock_now_ns()) ?? Int64.max
        let newer: (UInt64?) -> Bool = { current in current.map { version == 0 || $0 < version } ?? true }
        let stored: Bool
        if let value {
            stored = local.store(key, value, version: version, expiresAt: expiresAt, when: newer)
        } else {
            stored = local.storeEncoded(key, bytes, version: version, expiresAt: expiresAt, when: newer)
        }
        if stored { noteTags(key, tagged) }
        counters.increment(.sets)
        if options.debugMode {
            logger.debug("set", metadata: ["key": "\(key)", "action": "\(action.rawValue)", "version": "\(version)"])
        }
    }

    /// Runs the write script for a value with tags: when the tags' generations moved (another
    /// instance invalidated one), learns the current ones and tries again. Returns the version
    /// and the generations the value was written with.
    func runTaggedWriteScript(
        _ operation: RedisLayout.WriteOperation, key: String, bytes: [UInt8], action: Action, ttlMilliseconds: Int64?,
        tags: [TagGeneration]
    ) async throws -> (UInt64, [TagGeneration]) {
        var tagged = tags
        for _ in 0..<Self.tagAttempts {
            do {
                let version = try await runWriteScript(
                    operation, key: key, bytes: bytes, action: action, ttlMilliseconds: ttlMilliseconds, tags: tagged)
                self.tags.learn(tagged)
                return (version, tagged)
            } catch RedisError.server(let message) where message.hasPrefix("DCACHE_TAGS_MOVED ") {
                guard let current = TagRegistry.parse(message.utf8.dropFirst("DCACHE_TAGS_MOVED ".utf8.count)),
                    current.map(\.tag) == tagged.map(\.tag)
                else { throw RedisError.protocolError("the write script replied \(message)") }
                self.tags.learn(current)
                tagged = current
            }
        }
        throw RedisError.server("the tags' generations kept moving in \(Self.tagAttempts) attempts")
    }

    /// Tries of a tagged write whose tags keep being invalidated meanwhile.
    static let tagAttempts = 8

    /// Records the tags of a value now in the local cache.
    func noteTags(_ key: String, _ tagged: [TagGeneration]) {
        guard !tagged.isEmpty else { return }
        tags.note(key, carries: tagged) { [local] in local.version(ofKey: $0) != nil }
    }

    /// Runs the write script; returns the version Redis assigned (or, signing, the one this
    /// instance chose and Redis accepted). Error replies throw, `DCACHE_TAGS_MOVED` included
    /// (see ``runTaggedWriteScript(_:key:bytes:action:ttlMilliseconds:tags:)``).
    func runWriteScript(
        _ operation: RedisLayout.WriteOperation, key: String, bytes: [UInt8], action: Action, ttlMilliseconds: Int64?,
        tags: [TagGeneration] = []
    ) async throws -> UInt64 {
        if let signer {
            return try await runSignedWriteScript(
                signer, operation, key: key, bytes: bytes, action: action, ttlMilliseconds: ttlMilliseconds, tags: tags)
        }
        let prefix = EventCodec.prefix(
            key: key, sender: podID, action: action, value: action == .set ? bytes : [], versioned: true)
        let (keys, arguments) = layout.writeArguments(
            operation, key: key, value: bytes, ttlMilliseconds: ttlMilliseconds, eventPrefix: prefix,
            eventSuffix: EventCodec.suffix(ttlMilliseconds: ttlMilliseconds, tags: tags), streamLength: options.replayStreamLength,
            staleRetentionMilliseconds: staleRetentionMilliseconds, tags: tags)
        let reply = try await client.run(RedisLayout.writeScript, keys: keys, arguments: arguments)
        guard case .integer(let version) = reply, version > 0, UInt64(version) <= SyncedCache.maximumVersion else {
            throw RedisError.protocolError("the write script replied \(reply)")
        }
        horizon.learn(UInt64(version))
        return UInt64(version)
    }

    /// The signed write: choose a version above every one known (and at least the wall clock in
    /// microseconds, as the counter starts), sign the complete event, and let the script accept
    /// it; when another writer took that version first, try again above the counter it reports.
    private func runSignedWriteScript(
        _ signer: EventSigner, _ operation: RedisLayout.WriteOperation, key: String, bytes: [UInt8], action: Action,
        ttlMilliseconds: Int64?, tags: [TagGeneration]
    ) async throws -> UInt64 {
        var floor = max(horizon.current, health.lastVersion.load(ordering: .relaxed))
        for _ in 0..<Self.signedWriteAttempts {
            let clock = UInt64(max(dc_clock_wall_ns() / 1_000, 0))
            let version = max(floor &+ 1, clock)
            guard version <= SyncedCache.maximumVersion else { throw RedisError.protocolError("versions are exhausted") }
            let event = signer.sign(EventCodec.encode(Event(
                key: key, sender: podID, action: action, value: action == .set ? bytes : [], version: version,
                ttlMilliseconds: ttlMilliseconds, tags: Dictionary(uniqueKeysWithValues: tags.map { ($0.tag, $0.generation) }))))
            let keys: [any RESPArgument] = [layout.dataKey(key), layout.versionKey, layout.streamKey, layout.tagsKey]
            let arguments: [any RESPArgument] = [
                operation.rawValue, bytes, String(ttlMilliseconds ?? 0), layout.eventChannel(for: operation), event, String(version),
                String(options.replayStreamLength), String(staleRetentionMilliseconds), TagRegistry.format(tags),
                layout.publishCommand,
            ]
            do {
                let reply = try await client.run(RedisLayout.signedWriteScript, keys: keys, arguments: arguments)
                guard case .integer(let accepted) = reply, accepted > 0, UInt64(accepted) == version else {
                    throw RedisError.protocolError("the signed write script replied \(reply)")
                }
                horizon.learn(version)
                return version
            } catch RedisError.server(let message) where message.contains("DCACHE_VERSION_TAKEN") {
                let counter = message.split(separator: " ").last.flatMap { UInt64($0) } ?? floor
                guard counter <= SyncedCache.maximumVersion else { throw RedisError.protocolError("the counter is out of range") }
                horizon.learn(counter)
                floor = max(floor, counter)
            }
        }
        throw RedisError.server("could not claim a version in \(Self.signedWriteAttempts) attempts (heavy write contention)")
    }

    /// ``Options/staleRetention`` in milliseconds, for the write scripts.
    var staleRetentionMilliseconds: Int64 { options.staleRetention.saturatingMillisecondsRoundedUp }

    /// Tries of a signed write before it gives up (each lost one means another writer won).
    static let signedWriteAttempts = 16

    /// An event as published: encoded, and signed when signing is on.
    func outgoing(_ event: Event) -> [UInt8] {
        let bytes = EventCodec.encode(event)
        return signer?.sign(bytes) ?? bytes
    }

    /// SCAN + UNLINK of the namespace's keys, in batches of up to 1,000, keeping the version
    /// counter and the replay stream.
    ///
    /// On Redis Cluster, SCAN runs on every primary (a namespace lives in one slot, but keys
    /// written by other tools, or left on a node during a migration, may be elsewhere), and each
    /// key is unlinked where its slot lives.
    func unlinkNamespace() async throws {
        guard client.isCluster else {
            var cursor: UInt64 = 0
            repeat {
                let step = try await client.scan(cursor: cursor, match: layout.scanPattern, count: 1_000)
                cursor = step.cursor
                let doomed: [any RESPArgument] = step.keys.filter { !layout.isInternal(String(decoding: $0, as: UTF8.self)) }
                if !doomed.isEmpty { try await client.unlink(doomed) }
            } while cursor != 0
            return
        }
        for primary in client.clusterPrimaries {
            var cursor: UInt64 = 0
            repeat {
                let reply = try await client.send(
                    ["SCAN", String(cursor), "MATCH", layout.scanPattern, "COUNT", "1000"], toPrimary: primary)
                guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].string.flatMap({ UInt64($0) }),
                    case .array(let keys) = parts[1]
                else { throw RedisError.protocolError("SCAN replied \(reply)") }
                cursor = next
                let doomed = keys.compactMap(\.bytes).filter { !layout.isInternal(String(decoding: $0, as: UTF8.self)) }
                if !doomed.isEmpty { _ = try await client.pipeline(doomed.map { ["UNLINK", $0] }) }
            } while cursor != 0
        }
    }
}
