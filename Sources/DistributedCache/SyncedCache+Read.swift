// Reads: local hit, else one Redis GET per key at a time (shared by concurrent callers), whose
// result fills the local cache.
//
// The local-hit path is inlinable so that the caller's module specializes it for the value type:
// a hit is then the store's lock-free lookup, one class comparison of the entry (its value is
// stored in it, LocalEntries.swift), one relaxed load of the channel's health, and a copy of the
// value. It runs on the caller's executor, whatever the caller's isolation: `get` is
// `nonisolated(nonsending)` (SE-0461), so a call from the main actor or any other actor does not
// hop to the global executor and back to find a value in the local cache; only the remote part
// suspends.

import CSupport
import LocalStore
import Primitives
import RedisTransport

extension SyncedCache {
    /// Returns the value for `key`: from the local cache if it holds it, else from Redis (which
    /// then fills the local cache).
    ///
    /// A local hit runs on the caller's executor and never suspends, whatever actor the caller is
    /// isolated to. Concurrent misses of one key share one Redis GET. A value that fails to decode
    /// as `type` is never cached.
    /// - Parameters:
    ///   - key: the key.
    ///   - type: the value's type.
    /// - Returns: the value, or nil when neither level has it.
    /// - Throws: ``CacheError/redis(_:)`` when Redis is needed and fails (the error callback is
    ///   called too); ``CacheError/decodingFailed(key:reason:)``; ``CacheError/invalidKey(_:)``;
    ///   ``CacheError/closed``.
    @inlinable
    public nonisolated(nonsending) func get<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type = Value.self
    ) async throws(CacheError) -> Value? {
        if let value = localValue(forKey: key, as: type) { return value }
        return try await remoteGet(key, as: type)
    }

    /// Returns the value for `key` from the local cache only; never asks Redis, never throws.
    ///
    /// While the channel is broken, entries are served for at most `maximumStaleness`.
    /// - Returns: the value, or nil when the local cache does not hold it (as `type`).
    @inlinable
    public func localValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type = Value.self) -> Value? {
        guard let found = local.read(key, as: type) else { return nil }
        if let value = found, health.isHealthy { return value }
        return convertLocal(found, forKey: key, as: type)
    }

    /// Calls `body` with the locally cached value for `key`, without copying it out of the local
    /// cache, and returns what `body` returns; nil when the local cache does not hold the key (as
    /// `type`). Never asks Redis, never throws.
    ///
    /// Use it to read a field of a large or shared value on a hot path: a copy of a value that
    /// holds a reference (a class, a `String` longer than 15 bytes, an array) costs a retain and
    /// a release of its reference count, a write to memory that every core reading the same
    /// value shares, so several threads reading one hot value slow each other down; with this
    /// read they only read it. `body` runs inside the local cache's epoch read section: keep it
    /// short, never block or await in it, and do not let the value escape (copy out what you
    /// need). A value held as bytes, or as another type, is decoded first (as
    /// ``localValue(forKey:as:)`` does) and `body` then gets the decoded copy.
    @inlinable
    public func withLocalValue<Value: Codable & Sendable, Result>(
        forKey key: String, as type: Value.Type = Value.self, _ body: (borrowing Value) -> Result
    ) -> Result? {
        if health.isHealthy, case .some(.some(let result)) = local.withValue(key, as: type, body) { return result }
        guard let value = localValue(forKey: key, as: type) else { return nil }
        return body(value)
    }

    /// The bytes stored for `key` (as marshalled), from the local cache or Redis.
    /// - Throws: as ``get(_:as:)``.
    public nonisolated(nonsending) func getBytes(_ key: String) async throws(CacheError) -> [UInt8]? {
        if let cached = local.readAny(key), !cached.isAbsent, health.servesLocal {
            noteStaleRead()
            if let bytes = cached.bytes { return bytes }
            if case .decoded(let decoded) = cached.payload, let bytes = try? decoded.marshal(with: marshaller) { return bytes }
        }
        try ensureOpen()
        try validate(key)
        guard let record = try await remoteRecord(key), !isStale(record) else {
            counters.increment(.remoteMisses)
            return nil
        }
        counters.increment(.remoteHits)
        fill(key, record, decoded: nil as Never?)
        return record.bytes
    }

    /// The local entry in another form than the fast path handles (`found` is nil): still bytes,
    /// decoded as another type; or the channel degraded (served within the staleness limit, and
    /// counted).
    @usableFromInline
    func convertLocal<Value: Codable & Sendable>(_ found: Value?, forKey key: String, as type: Value.Type) -> Value? {
        guard health.servesLocal else { return nil }
        noteStaleRead()
        if let found { return found }
        guard let cached = local.peekAny(key), !cached.isAbsent else { return nil }
        let bytes: [UInt8]
        switch cached.payload {
        case .encoded(let stored): bytes = stored
        case .decoded(let decoded):
            guard let encoded = try? decoded.marshal(with: marshaller) else { return nil }
            bytes = encoded
        }
        guard let value = try? marshaller.unmarshal(type, from: bytes) else { return nil }
        if case .encoded = cached.payload, cached.remainingTTL.map({ $0 > .zero }) ?? true {
            // Decode once: later hits take the fast path. Same version and deadline; only if
            // nothing newer arrived meanwhile.
            local.replace(cached, forKey: key, withDecoded: value)
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
        guard let record = try await remoteRecord(key), !isStale(record) else {
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
            throw reported(.decodingFailed(key: key, reason: String(describing: error)), "get")
        }
        fill(key, record, decoded: value)
        if options.debugMode { logger.debug("get: remote hit", metadata: ["key": "\(key)", "version": "\(record.version)"]) }
        return value
    }

    /// A value past its deadline that Redis keeps only for the fail-safe (``Options/staleRetention``):
    /// a miss for every read but getOrLoad's fallback. Without stale retention, a value that is
    /// due by this machine's clock but still in Redis is the clocks' skew: it is returned, not
    /// cached.
    func isStale(_ record: RemoteRecord) -> Bool {
        record.isDue && options.staleRetention > .zero
    }

    /// One read of `key` in flight: concurrent callers share it (``SingleFlight``).
    func remoteRecord(_ key: String) async throws(CacheError) -> RemoteRecord? {
        do {
            return try await traced("get", keys: 1) { try await flights.run(key) { try await fetchRecord(key) } }
        } catch {
            throw reported(.from(error), "get \(key)")
        }
    }

    /// Reads `key` from Redis: ``fetchRecords(_:)`` for one key, with no array on the way in the
    /// versioned format (the path every remote `get` takes).
    func fetchRecord(_ key: String) async throws -> RemoteRecord? {
        guard layout.versioned else { return try await fetchRecords([key])[0] }
        let ticket = changes.ticket()
        let dataKey = layout.dataKey(key)
        guard let stored = try await client.get(dataKey) else { return nil }
        var (record, expiry) = Self.record(RedisLayout.parseStored(stored), ticket: ticket)
        if case .unknown = expiry, let reply = try? await client.send("PTTL", dataKey) {
            record.ttl = Self.remainingTTL(reply: .success(reply))
        }
        if record.tags.isEmpty { return record }
        var records: [RemoteRecord?] = [record]
        try await dropInvalidated(&records)
        return records[0]
    }

    /// Turns records whose tags were invalidated after their write into misses, first learning
    /// the generations of tags this instance has not seen yet (one HMGET for all of them).
    private func dropInvalidated(_ records: inout [RemoteRecord?]) async throws {
        let unknown = Set(records.flatMap { $0.map { tags.unknown($0.tags) } ?? [] }).sorted()
        if !unknown.isEmpty {
            let reply = try await client.send(["HMGET", layout.tagsKey] + unknown)
            guard case .array(let values) = reply, values.count == unknown.count else {
                throw RedisError.protocolError("HMGET of tag generations replied \(reply)")
            }
            var learned: [TagGeneration] = []
            for (tag, value) in zip(unknown, values) {
                let text = value.string ?? "0"
                guard let generation = UInt64(text), generation <= SyncedCache.maximumVersion else {
                    throw RedisError.protocolError("tag \(tag) has the generation \"\(text.prefix(40))\"")
                }
                learned.append(TagGeneration(tag: tag, generation: generation))
            }
            tags.learn(learned)
        }
        for index in records.indices where !(records[index].map { tags.isCurrent($0.tags) } ?? true) {
            records[index] = nil
        }
    }

    /// Reads `keys` from Redis: one GET for one key, one MGET for several. In the versioned wire
    /// format the stored header carries the version and the expiry, so that is the whole read;
    /// values whose header does not say when they expire (written by other tools or by earlier
    /// versions of this library) take one more round trip of PTTLs. In the reference wire format
    /// no value has a header, so the PTTLs travel in the same round trip as the read. The
    /// InvalidationLog ticket is taken before the read.
    /// - Returns: one record per key, nil for a missing key.
    func fetchRecords(_ keys: [String]) async throws -> [RemoteRecord?] {
        let ticket = changes.ticket()
        let dataKeys = keys.map { layout.dataKey($0) as any RESPArgument }
        let read: [any RESPArgument] = keys.count == 1 ? ["GET", dataKeys[0]] : ["MGET"] + dataKeys
        var stored: [[UInt8]?]
        var ttls: [Duration?]?
        if layout.versioned {
            stored = try Self.values(of: await client.send(read), count: keys.count)
        } else if client.isCluster {
            // Bare keys spread over the slots: no MGET across them; a GET and a PTTL per key,
            // pipelined per node.
            let replies = try await client.pipeline(dataKeys.flatMap { [["GET", $0], ["PTTL", $0]] })
            stored = try stride(from: 0, to: replies.count, by: 2).map { try Self.value(of: replies[$0].get()) }
            ttls = stride(from: 1, to: replies.count, by: 2).map { Self.remainingTTL(reply: replies[$0]) }
        } else {
            let replies = try await client.pipeline([read] + dataKeys.map { ["PTTL", $0] })
            stored = try Self.values(of: replies[0].get(), count: keys.count)
            ttls = replies.dropFirst().map(Self.remainingTTL(reply:))
        }
        var records: [RemoteRecord?] = []
        records.reserveCapacity(keys.count)
        var unknownExpiry: [Int] = []
        for index in keys.indices {
            // Taken out of the array so that the header is stripped in place (parseStored).
            guard let value = stored[index].take() else {
                records.append(nil)
                continue
            }
            if let ttls {
                records.append(RemoteRecord(version: 0, bytes: value, ttl: ttls[index], ticket: ticket))
                continue
            }
            let parsed = Self.record(RedisLayout.parseStored(value), ticket: ticket)
            if case .unknown = parsed.expiry { unknownExpiry.append(index) }
            records.append(parsed.record)
        }
        if !unknownExpiry.isEmpty {
            let replies = try await client.pipeline(unknownExpiry.map { ["PTTL", dataKeys[$0]] })
            for (index, reply) in zip(unknownExpiry, replies) { records[index]?.ttl = Self.remainingTTL(reply: reply) }
        }
        if records.contains(where: { !($0?.tags.isEmpty ?? true) }) { try await dropInvalidated(&records) }
        return records
    }

    /// A record from a parsed stored value; the remaining TTL is zero (not cached) until a PTTL
    /// answers when the header does not say.
    private static func record(_ parsed: RedisLayout.StoredValue, ticket: UInt64)
        -> (record: RemoteRecord, expiry: RedisLayout.StoredExpiry)
    {
        let ttl: Duration?
        switch parsed.expiry {
        case .never: ttl = nil
        case .at(let deadline): ttl = RedisLayout.remainingTTL(untilUnixMilliseconds: deadline)
        case .unknown: ttl = .zero
        }
        var record = RemoteRecord(version: parsed.version, bytes: parsed.bytes, ttl: ttl, ticket: ticket, tags: parsed.tags)
        if case .at = parsed.expiry, ttl == .zero { record.isDue = true }
        return (record, parsed.expiry)
    }

    /// The value of a GET reply, or of an element of an MGET reply.
    private static func value(of element: RESPValue) throws -> [UInt8]? {
        switch element {
        case .bulkString(let bytes): return bytes
        case .null: return nil
        case let other: throw RedisError.protocolError("GET replied \(other)")
        }
    }

    /// The values of a GET (`count` 1) or MGET reply.
    private static func values(of reply: RESPValue, count: Int) throws -> [[UInt8]?] {
        if count == 1 { return [try value(of: reply)] }
        guard case .array(let elements) = reply, elements.count == count else {
            throw RedisError.protocolError("MGET replied with the wrong shape")
        }
        return try elements.map(value(of:))
    }

    /// The time to live in a PTTL reply (zero, i.e. not cached, when the reply is not a number).
    private static func remainingTTL(reply: Result<RESPValue, RedisError>) -> Duration? {
        guard case .success(.integer(let milliseconds)) = reply else { return .zero }
        return RedisLayout.remainingTTL(milliseconds: milliseconds)
    }

    /// Stores what a read brought back (decoded when the caller decoded it, else as bytes),
    /// unless a newer change overtook the read or the local cache already holds the same or a
    /// newer version.
    func fill<Value: Codable & Sendable>(_ key: String, _ record: RemoteRecord, decoded value: Value?) {
        guard !isClosed, record.ttl != .zero, changes.mayCache(key, readAt: record.ticket, version: record.version)
        else { return }
        let expiresAt = record.ttl?.deadline(fromNanoseconds: dc_clock_now_ns()) ?? Int64.max
        let newer: (UInt64?) -> Bool = { current in current.map { record.version > $0 } ?? true }
        let stored: Bool
        if let value {
            stored = local.store(key, value, version: record.version, expiresAt: expiresAt, when: newer)
        } else {
            stored = local.storeEncoded(key, record.bytes, version: record.version, expiresAt: expiresAt, when: newer)
        }
        if stored { noteTags(key, record.tags) }
    }
}
