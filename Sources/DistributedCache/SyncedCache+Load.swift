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
//
// Beyond the plain load:
//   - Negative caching: a loader may answer "absent" (nil). The answer is kept in the local
//     cache for `negativeTTL` as an entry of its own type (AbsentValue), so repeated misses reach
//     neither Redis nor the loader; any later write of the key replaces it (it has version 0,
//     below every versioned write). Across instances, the loading marker is left in place for
//     `negativeTTL` holding "absent", so the others answer absent without calling their loader.
//   - Eager refresh (`refreshAhead`): a hit in the last part of the entry's TTL starts one
//     background refresh per key and instance, guarded across instances by the same marker (an
//     instance that cannot take it leaves the refresh to the one that did, whose write reaches
//     it as an event). The reader returns the current value at once.
//   - Loader timeouts and the fail-safe: Redis keeps a value `staleRetention` past its TTL. A
//     load that finds only such a stale value serves it when the loader throws or takes longer
//     than `loaderSoftTimeout`; past `loaderHardTimeout` the call fails. In both cases the load
//     goes on in the background and stores its value when it comes.

import CSupport
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
    /// - Throws: ``CacheError/loaderFailed(_:)`` when the loader throws (and no stale value can
    ///   be served, see ``Options/staleRetention``); ``CacheError/loaderTimedOut(key:after:)``
    ///   past ``Options/loaderHardTimeout``; otherwise as ``get(_:as:)`` and ``set(_:_:ttl:tags:)``.
    @inlinable
    public nonisolated(nonsending) func getOrLoad<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type = Value.self, ttl: Duration? = nil,
        loader: @escaping @Sendable () async throws -> Value
    ) async throws(CacheError) -> Value {
        if let value = localValue(forKey: key, as: type) {
            if options.refreshAhead != nil { refreshIfDue(key, as: type, ttl: ttl) { try await loader() } }
            return value
        }
        guard let value = try await load(key, as: type, ttl: ttl, negativeTTL: nil, loader: { try await loader() }) else {
            throw .loaderFailed("the loader answered absent")  // unreachable: this loader never does
        }
        return value
    }

    /// Returns the value for `key`, calling `loader` when neither the local cache nor Redis has
    /// it; a loader may answer nil ("there is no such value"), and that answer is cached too, for
    /// `negativeTTL`, so repeated misses stop reaching Redis and the loader (negative caching).
    ///
    /// A later write of the key (on any instance) replaces the absent answer everywhere.
    /// - Parameters:
    ///   - key: the key.
    ///   - type: the value's type.
    ///   - ttl: time to live of a loaded value; nil uses ``Options/defaultTTL``.
    ///   - negativeTTL: how long an absent answer is kept, locally and (through the loading
    ///     marker) for the other instances' loads; keep it short. Nil keeps no absent answer
    ///     (every miss asks Redis and the loader again).
    ///   - loader: computes the value, or nil when it does not exist.
    /// - Returns: the value, or nil when the loader answered (or recently answered) absent.
    /// - Throws: as ``getOrLoad(_:as:ttl:loader:)``.
    @inlinable
    public nonisolated(nonsending) func getOrLoad<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type = Value.self, ttl: Duration? = nil, negativeTTL: Duration?,
        loader: @escaping @Sendable () async throws -> Value?
    ) async throws(CacheError) -> Value? {
        if let value = localValue(forKey: key, as: type) {
            if options.refreshAhead != nil { refreshIfDue(key, as: type, ttl: ttl, loader: loader) }
            return value
        }
        if isKnownAbsent(key) { return nil }
        return try await load(key, as: type, ttl: ttl, negativeTTL: negativeTTL, loader: loader)
    }

    /// True when the local cache holds an absent answer for `key`.
    @usableFromInline
    func isKnownAbsent(_ key: String) -> Bool {
        guard case .some(.some) = local.read(key, as: AbsentValue.self) else { return false }
        return health.servesLocal
    }

    /// The shared miss path: Redis (fresh), else the guarded loader, with the timeouts and the
    /// fail-safe. Returns nil for an absent value.
    @usableFromInline
    func load<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, ttl: Duration?, negativeTTL: Duration?,
        loader: @escaping @Sendable () async throws -> Value?
    ) async throws(CacheError) -> Value? {
        try ensureOpen()
        try validate(key)
        if let negativeTTL { _ = try resolveTTL(negativeTTL) }
        // Fresh in Redis: no loader (shared with concurrent gets).
        let found = try await remoteRecord(key)
        var stale: [UInt8]?
        if let record = found {
            if !isStale(record) {
                counters.increment(.remoteHits)
                fill(key, record, decoded: nil as Never?)
                return try decode(record.bytes, key, as: type)
            }
            stale = record.bytes
        }
        let work: @Sendable () async throws -> [UInt8]? = { [self] in
            try await loads.run(key) { try await loadBytes(key, as: type, ttl: ttl, negativeTTL: negativeTTL, loader: loader) }
        }
        let bytes: [UInt8]?
        do {
            bytes = try await withLoaderTimeouts(key, hasStale: stale != nil, work)
        } catch let failure {
            guard let stale, failure.servesStale else { throw failure }
            logger.warning("getOrLoad \(key): serving the stale value (\(failure))")
            return try decode(stale, key, as: type)
        }
        if let value = localValue(forKey: key, as: type) { return value }
        guard let bytes else { return nil }
        return try decode(bytes, key, as: type)
    }

    /// Runs `work` within the loader timeouts: past the soft one (only when a stale value can be
    /// served) or the hard one, the caller stops waiting and `work` goes on in the background.
    private func withLoaderTimeouts(
        _ key: String, hasStale: Bool, _ work: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws(CacheError) -> [UInt8]? {
        let limit = hasStale ? options.loaderSoftTimeout ?? options.loaderHardTimeout : options.loaderHardTimeout
        guard let limit else {
            do { return try await work() } catch { throw CacheError.from(error) }
        }
        let task = Task { try await work() }
        let outcome = await Self.result(of: task, within: limit)
        guard let outcome else {
            counters.increment(.loaderTimeouts)
            throw .loaderTimedOut(key: key, after: limit)
        }
        do { return try outcome.get() } catch { throw CacheError.from(error) }
    }

    /// Waits for `task` at most `limit`: its result, or nil when the limit passed first (the
    /// task goes on).
    private static func result<Success: Sendable>(
        of task: Task<Success, any Error>, within limit: Duration
    ) async -> Result<Success, any Error>? {
        typealias Waiter = UnsafeContinuation<Result<Success, any Error>?, Never>
        let waiter = Locked<Waiter?>(nil)
        let timer = Locked<Task<Void, Never>?>(nil)
        return await withUnsafeContinuation { (continuation: Waiter) in
            waiter.withLock { $0 = continuation }
            timer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: limit)
                    waiter.withLock { $0.take() }?.resume(returning: nil)
                }
            }
            Task {
                let result = await task.result
                timer.withLock { $0 }?.cancel()
                waiter.withLock { $0.take() }?.resume(returning: result)
            }
        }
    }

    /// Decodes loaded or read bytes.
    private func decode<Value: Codable & Sendable>(_ bytes: [UInt8], _ key: String, as type: Value.Type) throws(CacheError) -> Value {
        do {
            return try marshaller.unmarshal(type, from: bytes)
        } catch {
            throw .decodingFailed(key: key, reason: String(describing: error))
        }
    }

    /// The shared part of a load: Redis, else the guarded loader. Returns the marshalled value,
    /// or nil for an absent one.
    private func loadBytes<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, ttl: Duration?, negativeTTL: Duration?,
        loader: @escaping @Sendable () async throws -> Value?
    ) async throws -> [UInt8]? {
        let marker = layout.loadingKey(key)
        let deadline = ContinuousClock.now + options.loadLockTTL
        while true {
            if let record = try await remoteRecord(key), !isStale(record) {
                counters.increment(.remoteHits)
                fill(key, record, decoded: nil as Never?)
                return record.bytes
            }
            var acquired = ContinuousClock.now >= deadline
            if !acquired { acquired = try await acquireMarker(marker) }
            if acquired {
                var keepMarker = false
                defer {
                    if !keepMarker { Task { _ = try? await client.run(Self.releaseMarker, keys: [marker], arguments: [podID]) } }
                }
                guard let value = try await callLoader(key, loader) else {
                    if let negativeTTL {
                        rememberAbsent(key, for: negativeTTL)
                        // The marker now tells the other instances' loads the answer.
                        keepMarker = (try? await client.set(
                            marker, to: Self.absentMarker, expiration: .milliseconds(Int(negativeTTL.saturatingMillisecondsRoundedUp)))) != nil
                    }
                    return nil
                }
                let bytes = try marshal(value)
                try await write(key, bytes, decoded: value, action: .set, ttl: ttl, storeInRedis: true)
                return bytes
            }
            // Someone else is loading: wait for the value (its event, or Redis), or for the marker
            // to go away, or to say the value is absent.
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                if let cached = local.readAny(key) {
                    if cached.isAbsent { return nil }
                    switch cached.payload {
                    case .encoded(let bytes): return bytes
                    case .decoded(let decoded): if let bytes = try? decoded.marshal(with: marshaller) { return bytes }
                    }
                }
                guard let holder = try await client.get(marker) else { break }
                if holder == Array(Self.absentMarker.utf8) {
                    if let negativeTTL { rememberAbsent(key, for: negativeTTL) }
                    return nil
                }
            }
        }
    }

    /// Takes the loading marker of a key (nil-safe against a marker that says "absent": that is
    /// someone else's answer, not a free marker).
    private func acquireMarker(_ marker: String) async throws -> Bool {
        try await client.set(
            marker, to: podID, expiration: .milliseconds(Int(options.loadLockTTL.saturatingMillisecondsRoundedUp)),
            condition: .ifNotExists)
    }

    /// Calls the loader, counting it and mapping its failure.
    private func callLoader<Value: Sendable>(_ key: String, _ loader: () async throws -> Value?) async throws(CacheError) -> Value? {
        counters.increment(.loads)
        do {
            return try await loader()
        } catch {
            throw reported(.loaderFailed(String(describing: error)), "getOrLoad \(key)")
        }
    }

    /// Keeps an absent answer in the local cache for `ttl` (version 0: any write replaces it).
    private func rememberAbsent(_ key: String, for ttl: Duration) {
        let expiresAt = ttl.deadline(fromNanoseconds: dc_clock_now_ns())
        local.store(key, AbsentValue(), version: 0, expiresAt: expiresAt) { $0 == nil }
    }

    // MARK: - Eager refresh

    /// Starts a background refresh of `key` when its local entry is in the last part of its
    /// time to live (``Options/refreshAhead``). Cheap when it is not: one lookup of the deadline.
    @usableFromInline
    func refreshIfDue<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, ttl: Duration?, loader: @escaping @Sendable () async throws -> Value?
    ) {
        guard let fraction = options.refreshAhead, let life = ttl ?? options.defaultTTL,
            let expiresAt = local.expiry(ofKey: key), expiresAt != Int64.max
        else { return }
        let remaining = expiresAt.subtractingReportingOverflow(dc_clock_now_ns()).partialValue
        guard Double(remaining) < Double(life.saturatingNanoseconds) * (1 - fraction) else { return }
        guard refreshing.withLock({ $0.insert(key).inserted }) else { return }
        Task { [weak self] in
            guard let self else { return }
            defer { _ = refreshing.withLock { $0.remove(key) } }
            await refresh(key, as: type, ttl: ttl, loader: loader)
        }
    }

    /// One refresh: take the loading marker (else another instance refreshes), load, store.
    private func refresh<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, ttl: Duration?, loader: @escaping @Sendable () async throws -> Value?
    ) async {
        let marker = layout.loadingKey(key)
        guard !isClosed, (try? await acquireMarker(marker)) == true else { return }
        defer { Task { _ = try? await client.run(Self.releaseMarker, keys: [marker], arguments: [podID]) } }
        counters.increment(.refreshes)
        do {
            guard let value = try await callLoader(key, loader) else {
                // Gone at the source: drop it everywhere.
                try await delete(key)
                return
            }
            try await write(key, try marshal(value), decoded: value, action: .set, ttl: ttl, storeInRedis: true)
        } catch {
            // Reported by the failing step; the current value lives on until its TTL.
        }
    }

    /// What the loading marker holds after a load answered absent.
    static let absentMarker = "__absent__"

    /// Deletes a loading marker only if it is still ours (it may have expired and been taken).
    static let releaseMarker = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}

/// The local cache's record of a loader's "absent" answer (negative caching).
@usableFromInline
struct AbsentValue: Codable, Sendable {
    @usableFromInline init() {}
}

extension CacheError {
    /// Failures after which getOrLoad may serve a stale value instead (fail-safe).
    var servesStale: Bool {
        switch self {
        case .loaderFailed, .loaderTimedOut, .redis: return true
        default: return false
        }
    }
}
