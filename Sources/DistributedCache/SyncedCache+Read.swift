// Reads: local hit, else one Redis GET per key at a time, whose result fills the local cache.
//
// The local-hit path is inlinable so that the caller's module specializes it for the value type:
// a hit is then the store's lock-free lookup, one relaxed load of the channel's health, one
// metadata comparison of the boxed value's class, and a copy of the value.

import CSupport
import LocalStore
import RedisTransport

extension SyncedCache {
    /// Returns the value for `key`: from the local cache if it holds it, else from Redis (which
    /// then fills the local cache).
    ///
    /// Concurrent misses of one key share one Redis GET. A value that fails to decode as `type`
    /// is never cached.
    /// - Parameters:
    ///   - key: the key.
    ///   - type: the value's type.
    /// - Returns: the value, or nil when neither level has it.
    /// - Throws: ``CacheError/redis(_:)`` when Redis is needed and fails (the error callback is
    ///   called too); ``CacheError/decodingFailed(key:reason:)``; ``CacheError/invalidKey(_:)``;
    ///   ``CacheError/closed``.
    @inlinable
    public func get<Value: Codable & Sendable>(_ key: String, as type: Value.Type = Value.self) async throws(CacheError)
        -> Value?
    {
        if let value = localValue(forKey: key, as: type) { return value }
        return try await remoteGet(key, as: type)
    }

    /// Returns the value for `key` from the local cache only; never asks Redis, never throws.
    ///
    /// While the channel is broken, entries are served for at most `maximumStaleness`.
    /// - Returns: the value, or nil when the local cache does not hold it (as `type`).
    @inlinable
    public func localValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type = Value.self) -> Value? {
        guard let cached = local.value(forKey: key) else { return nil }
        if let box = cached.box, Swift.type(of: box) == TypedValueBox<Value>.self, health.isHealthy {
            return unsafeDowncast(box, to: TypedValueBox<Value>.self).value
        }
        return convertLocal(cached, forKey: key, as: type)
    }

    /// The bytes stored for `key` (as marshalled), from the local cache or Redis.
    /// - Throws: as ``get(_:as:)``.
    public func getBytes(_ key: String) async throws(CacheError) -> [UInt8]? {
        if let cached = local.value(forKey: key), health.servesLocal {
            noteStaleRead()
            if let bytes = cached.bytes { return bytes }
            if let box = cached.box, let bytes = try? box.marshal(with: marshaller) { return bytes }
        }
        try ensureOpen()
        try validate(key)
        guard let record = try await remoteRecord(key) else {
            counters.increment(.remoteMisses)
            return nil
        }
        counters.increment(.remoteHits)
        fill(key, record, box: nil, keepBytes: true)
        return record.bytes
    }

    /// The local entry in another form than the fast path handles: still bytes, boxed as another
    /// type, or the channel degraded (served within the staleness limit, and counted).
    @usableFromInline
    func convertLocal<Value: Codable & Sendable>(_ cached: LocalValue, forKey key: String, as type: Value.Type) -> Value? {
        guard health.servesLocal else { return nil }
        noteStaleRead()
        if let box = cached.box as? TypedValueBox<Value> { return box.value }
        let bytes: [UInt8]
        if let stored = cached.bytes {
            bytes = stored
        } else if let box = cached.box, let encoded = try? box.marshal(with: marshaller) {
            bytes = encoded
        } else {
            return nil
        }
        guard let value = try? marshaller.unmarshal(type, from: bytes) else { return nil }
        let remaining = cached.remainingTTL
        if cached.box == nil, remaining.map({ $0 > .zero }) ?? true {
            // Decode once: later hits take the fast path. Same deadline; only if nothing newer
            // arrived meanwhile.
            local.setValue(cached.decoded(TypedValueBox(value)), forKey: key, ttl: remaining) { $0 === cached }
        }
        return value
    }

    /// Counts a local read served while the channel is degraded.
    func noteStaleRead() {
        if !health.isHealthy { counters.increment(.staleReads) }
    }

    /// The remote half of `get`.
    @usableFromInline
    func remoteGet<Value: Codable & Sendable>(_ key: String, as type: Value.Type) async throws(CacheError) -> Value? {
        try ensureOpen()
        try validate(key)
        // Fail-safe: while Redis is unreachable, the local hit path above keeps serving what the
        // local cache holds (within the staleness limit once the channel is broken); only keys it
        // does not hold get here and fail.
        guard let record = try await remoteRecord(key) else {
            counters.increment(.remoteMisses)
            if options.debugMode { logger.debug("get: miss", metadata: ["key": "\(key)"]) }
            return nil
        }
        counters.increment(.remoteHits)
        if let hook = options.testHooks.beforeFill { await hook(key) }
        let value: Value
        do {
            value = try marshaller.unmarshal(type, from: record.bytes)
        } catch {
            let failure = CacheError.decodingFailed(key: key, reason: String(describing: error))
            report(failure, "get")
            throw failure
        }
        fill(key, record, box: TypedValueBox(value), keepBytes: false)
        if options.debugMode { logger.debug("get: remote hit", metadata: ["key": "\(key)", "version": "\(record.version)"]) }
        return value
    }

    /// One GET (and PTTL) per key in flight: concurrent callers share it.
    func remoteRecord(_ key: String) async throws(CacheError) -> RemoteRecord? {
        let task = flights.withLock { running -> Task<RemoteRecord?, any Error> in
            if let flight = running[key] { return flight }
            let flight = Task<RemoteRecord?, any Error> { [self] in
                defer { _ = flights.withLock { $0.removeValue(forKey: key) } }
                return try await fetchRecord(key)
            }
            running[key] = flight
            return flight
        }
        do {
            return try await task.value
        } catch {
            let failure = CacheError.from(error)
            report(failure, "get \(key)")
            throw failure
        }
    }

    /// GET and PTTL in one round trip (pipelined), with the InvalidationLog ticket taken first.
    func fetchRecord(_ key: String) async throws -> RemoteRecord? {
        let ticket = changes.ticket()
        let dataKey = layout.dataKey(key)
        let replies = try await client.pipeline([["GET", dataKey], ["PTTL", dataKey]])
        let stored: [UInt8]
        switch try replies[0].get() {
        case .bulkString(let bytes): stored = bytes
        case .null: return nil
        case let other: throw RedisError.protocolError("GET replied \(other)")
        }
        var ttl: Duration?
        if case .success(.integer(let milliseconds)) = replies[1], milliseconds > 0 {
            ttl = RedisLayout.remainingTTL(milliseconds: milliseconds)
        }
        let (version, bytes) = layout.versioned ? RedisLayout.parseStored(stored) : (0, stored)
        return RemoteRecord(version: version, bytes: bytes, ttl: ttl, ticket: ticket)
    }

    /// Stores what a read brought back, unless an invalidation overtook the read or the local
    /// cache already holds the same or a newer version.
    func fill(_ key: String, _ record: RemoteRecord, box: ValueBox?, keepBytes: Bool) {
        guard !isClosed, changes.mayCache(key, readAt: record.ticket) else { return }
        let value = LocalValue(
            version: record.version, box: box, bytes: keepBytes || box == nil ? record.bytes : nil, ttl: record.ttl)
        local.setValue(value, forKey: key, ttl: record.ttl) { current in
            guard let current else { return true }
            return record.version > current.version
        }
    }
}
