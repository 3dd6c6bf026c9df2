// getOrLoad: read, or compute once and store, with a stampede guard across instances.
//
// Within an instance, concurrent callers of one key share one load (SingleFlight). Across
// instances, the loader of a missing key is guarded by a short-lived marker in Redis
// (`SET ns:__loading:<key> <pod> NX PX loadLockTTL`): the instance that sets it loads and
// stores the value (always in Redis, whatever readerCanSetToRedis says: a loaded value comes from
// the source of truth, and storing it is what lets the others skip their loader); the others
// wait for the value to appear, locally (its set event) or in Redis, polling every 10 ms. If the
// marker vanishes without a value (the loader failed) one of them takes it over; if the marker
// outlives `loadLockTTL` they load themselves. So N instances missing one key call the loader
// once per `loadLockTTL` in the normal case, and never more than once each.

import Primitives
import RedisTransport

extension SyncedCache {
    /// Returns the value for `key`, calling `loader` to produce it (and storing the result, with
    /// propagation) when neither the local cache nor Redis has it.
    /// - Parameters:
    ///   - key: the key.
    ///   - type: the value's type.
    ///   - ttl: time to live of a loaded value; nil uses ``Options/defaultTTL``.
    ///   - loader: computes the value, for example from a database. Called at most once per
    ///     instance per concurrent miss, and usually once across instances (see above).
    /// - Returns: the cached or loaded value.
    /// - Throws: ``CacheError/loaderFailed(_:)`` when the loader throws; otherwise as
    ///   ``get(_:as:)`` and ``set(_:_:ttl:)``.
    @inlinable
    public nonisolated(nonsending) func getOrLoad<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type = Value.self, ttl: Duration? = nil,
        loader: @escaping @Sendable () async throws -> Value
    ) async throws(CacheError) -> Value {
        if let value = localValue(forKey: key, as: type) { return value }
        return try await load(key, as: type, ttl: ttl, loader: loader)
    }

    @usableFromInline
    func load<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, ttl: Duration?, loader: @escaping @Sendable () async throws -> Value
    ) async throws(CacheError) -> Value {
        try ensureOpen()
        try validate(key)
        let bytes: [UInt8]
        do {
            bytes = try await loads.run(key) { try await loadBytes(key, as: type, ttl: ttl, loader: loader) }
        } catch {
            throw CacheError.from(error)
        }
        if let value = localValue(forKey: key, as: type) { return value }
        do {
            return try marshaller.unmarshal(type, from: bytes)
        } catch {
            throw .decodingFailed(key: key, reason: String(describing: error))
        }
    }

    /// The shared part of a load: Redis, else the guarded loader. Returns the marshalled value.
    private func loadBytes<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, ttl: Duration?, loader: @escaping @Sendable () async throws -> Value
    ) async throws -> [UInt8] {
        let marker = layout.loadingKey(key)
        let deadline = ContinuousClock.now + options.loadLockTTL
        while true {
            if let record = try await remoteRecord(key) {
                counters.increment(.remoteHits)
                fill(key, record, decoded: nil as Never?)
                return record.bytes
            }
            let ttlMilliseconds = Int(options.loadLockTTL.saturatingMillisecondsRoundedUp)
            var acquired = ContinuousClock.now >= deadline
            if !acquired {
                acquired = try await client.set(
                    marker, to: podID, expiration: .milliseconds(ttlMilliseconds), condition: .ifNotExists)
            }
            if acquired {
                defer { Task { _ = try? await client.run(Self.releaseMarker, keys: [marker], arguments: [podID]) } }
                counters.increment(.loads)
                let value: Value
                do {
                    value = try await loader()
                } catch {
                    let failure = CacheError.loaderFailed(String(describing: error))
                    report(failure, "getOrLoad \(key)")
                    throw failure
                }
                let bytes = try marshal(value)
                try await write(key, bytes, decoded: value, action: .set, ttl: ttl, storeInRedis: true)
                return bytes
            }
            // Someone else is loading: wait for the value (its event, or Redis), or for the marker
            // to go away.
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                if let cached = local.readAny(key) {
                    switch cached.payload {
                    case .encoded(let bytes): return bytes
                    case .decoded(let decoded): if let bytes = try? decoded.marshal(with: marshaller) { return bytes }
                    }
                }
                if try await client.exists([marker]) == 0 { break }
            }
        }
    }

    /// Deletes a loading marker only if it is still ours (it may have expired and been taken).
    static let releaseMarker = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
