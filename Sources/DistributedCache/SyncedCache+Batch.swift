// Batches: many keys in one round trip.
//
// getMany serves what it can locally and fetches the rest with one MGET; setMany and deleteMany pipeline one write script per key. Each key succeeds or fails on
// its own; the first failure is thrown after every success has been applied locally.

import CSupport
import Primitives
import RedisTransport

extension SyncedCache {
    /// Values for `keys` (absent keys are left out): local hits first, the rest from Redis in one
    /// round trip.
    /// - Throws: ``CacheError/redis(_:)`` when the remote part fails; a value that does not
    ///   decode as `type` throws ``CacheError/decodingFailed(key:reason:)``.
    public nonisolated(nonsending) func getMany<Value: Codable & Sendable>(_ keys: [String], as type: Value.Type = Value.self) async throws(CacheError)
        -> [String: Value]
    {
        try checkBatch(keys.count)
        var found: [String: Value] = [:]
        var missing: [String] = []
        for key in Set(keys) {
            if let value = localValue(forKey: key, as: type) { found[key] = value } else { missing.append(key) }
        }
        guard !missing.isEmpty else { return found }
        try ensureOpen()
        for key in missing { try validate(key) }
        let records: [RemoteRecord?]
        do {
            records = try await traced("getMany", keys: missing.count) { try await fetchRecords(missing) }
        } catch {
            throw reported(.from(error), "getMany")
        }
        var firstError: CacheError?
        for (key, record) in zip(missing, records) {
            guard let record, !isStale(record) else {
                counters.increment(.remoteMisses)
                continue
            }
            do {
                let value = try marshaller.unmarshal(type, from: record.bytes)
                found[key] = value
                counters.increment(.remoteHits)
                fill(key, record, decoded: value)
            } catch {
                firstError = firstError ?? .decodingFailed(key: key, reason: String(describing: error))
            }
        }
        if let firstError {
            throw reported(firstError, "getMany")
        }
        return found
    }

    /// Stores several values in one round trip, each propagated as ``set(_:_:ttl:tags:)`` would.
    /// - Throws: the first failure, after every other key was applied.
    public func setMany<Value: Codable & Sendable>(_ values: [String: Value], ttl: Duration? = nil) async throws(CacheError) {
        try ensureOpen()
        try checkBatch(values.count)
        var prepared: [(key: String, bytes: [UInt8], value: Value)] = []
        for (key, value) in values {
            try validate(key)
            let bytes = try marshal(value)
            guard bytes.count <= options.maximumValueSize else {
                throw .valueTooLarge(size: bytes.count, limit: options.maximumValueSize)
            }
            prepared.append((key, bytes, value))
        }
        let ttl = try resolveTTL(ttl).map(jittered)
        let ttlMilliseconds = ttl?.saturatingMillisecondsRoundedUp
        let operation: RedisLayout.WriteOperation = options.readerCanSetToRedis ? .set : .announce
        let ticket = tracks ? changes.ticket() : 0
        let versions = try await pipelinedWrites("setMany", prepared.map { (operation, $0.key, $0.bytes, Action.set) }, ttlMilliseconds)
        var firstError: CacheError?
        for (item, result) in zip(prepared, versions) {
            switch result {
            case .failure(let error):
                if error.mayHaveRun { forgetLocally(item.key) }
                firstError = firstError ?? error
            case .success(let version):
                if tracks && !changes.mayCache(item.key, readAt: ticket) {
                    // Another client's change was reported meanwhile (see write(_:_:decoded:...)).
                    forgetLocally(item.key)
                    counters.increment(.sets)
                    continue
                }
                changes.recordChange(of: item.key, version: version, horizon: horizon.current)
                let expiresAt = ttl?.deadline(fromNanoseconds: dc_clock_now_ns()) ?? Int64.max
                local.store(item.key, item.value, version: version, expiresAt: expiresAt) { current in
                    current.map { version == 0 || $0 < version } ?? true
                }
                counters.increment(.sets)
            }
        }
        if let firstError {
            throw reported(firstError, "setMany")
        }
    }

    /// Deletes several keys in one round trip, each as ``delete(_:)`` would.
    /// - Throws: the first failure, after every other key was applied.
    public func deleteMany(_ keys: [String]) async throws(CacheError) {
        try ensureOpen()
        try checkBatch(keys.count)
        for key in keys { try validate(key) }
        let unique = Array(Set(keys))
        let versions = try await pipelinedWrites("deleteMany", unique.map { (.delete, $0, [], Action.delete) }, nil)
        var firstError: CacheError?
        for (key, result) in zip(unique, versions) {
            switch result {
            case .failure(let error):
                if error.mayHaveRun { forgetLocally(key) }
                firstError = firstError ?? error
            case .success(let version):
                changes.recordChange(of: key, version: version, horizon: horizon.current)
                local.remove(key) { version == 0 || $0 < version }
                counters.increment(.deletes)
            }
        }
        if let firstError {
            throw reported(firstError, "deleteMany")
        }
    }

    /// Runs one write per item in a single pipelined batch; returns each write's version (0 in
    /// the reference wire format). Reloads the script once if Redis forgot it.
    private func pipelinedWrites(
        _ operation: String, _ items: [(operation: RedisLayout.WriteOperation, key: String, bytes: [UInt8], action: Action)],
        _ ttlMilliseconds: Int64?
    ) async throws(CacheError) -> [Result<UInt64, CacheError>] {
        guard !items.isEmpty else { return [] }
        do {
            return try await traced(operation, keys: items.count) {
                if !layout.versioned {
                    var commands: [[any RESPArgument]] = []
                    for item in items {
                        switch item.operation {
                        case .set:
                            var set: [any RESPArgument] = ["SET", layout.dataKey(item.key), item.bytes]
                            if let ttlMilliseconds { set += ["PX", ttlMilliseconds] }
                            commands.append(set)
                        case .delete: commands.append(["DEL", layout.dataKey(item.key)])
                        case .announce: break
                        }
                        if !layout.eventChannel(for: item.operation).isEmpty {
                            let event = Event(key: item.key, sender: podID, action: item.action,
                                              value: item.action == .set ? item.bytes : [])
                            commands.append(["PUBLISH", layout.channel, outgoing(event)])
                        }
                    }
                    let replies = try await client.pipeline(commands)
                    var results: [Result<UInt64, CacheError>] = []
                    var index = 0
                    for item in items {
                        let width = (item.operation == .announce ? 0 : 1) + (layout.eventChannel(for: item.operation).isEmpty ? 0 : 1)
                        let failure = replies[index..<(index + width)].compactMap { reply -> CacheError? in
                            if case .failure(let error) = reply { return .redis(error) }
                            return nil
                        }.first
                        results.append(failure.map { .failure($0) } ?? .success(0))
                        index += width
                    }
                    return results
                }
                if signer != nil {
                    // Signed writes choose their versions one at a time (SyncedCache+Write.swift).
                    var results: [Result<UInt64, CacheError>] = []
                    for item in items {
                        do {
                            results.append(.success(try await runWriteScript(
                                item.operation, key: item.key, bytes: item.bytes, action: item.action,
                                ttlMilliseconds: ttlMilliseconds)))
                        } catch {
                            results.append(.failure(CacheError.from(error)))
                        }
                    }
                    return results
                }
                var attempt = 0
                while true {
                    let sha = try await client.sha1(of: RedisLayout.writeScript)
                    let commands: [[any RESPArgument]] = items.map { item in
                        let prefix = EventCodec.prefix(key: item.key, sender: podID, action: item.action,
                                                       value: item.action == .set ? item.bytes : [], versioned: true)
                        let (keys, arguments) = layout.writeArguments(
                            item.operation, key: item.key, value: item.bytes, ttlMilliseconds: ttlMilliseconds,
                            eventPrefix: prefix, eventSuffix: EventCodec.suffix(ttlMilliseconds: ttlMilliseconds),
                            streamLength: options.replayStreamLength,
                staleRetentionMilliseconds: staleRetentionMilliseconds)
                        return ["EVALSHA", sha, keys.count] + keys + arguments
                    }
                    let replies = try await client.pipeline(commands)
                    let forgotten = replies.contains {
                        if case .failure(.server(let message)) = $0 { return message.hasPrefix("NOSCRIPT") }
                        return false
                    }
                    if forgotten && attempt == 0 {
                        // Redis restarted or flushed its scripts; nothing of this batch ran.
                        client.forgetScript(RedisLayout.writeScript)
                        attempt += 1
                        continue
                    }
                    return replies.map { reply in
                        switch reply {
                        case .success(.integer(let version)) where version > 0 && UInt64(version) <= SyncedCache.maximumVersion:
                            horizon.learn(UInt64(version))
                            return .success(UInt64(version))
                        case .success(let other): return .failure(.redis(.protocolError("the write script replied \(other)")))
                        case .failure(let error): return .failure(.redis(error))
                        }
                    }
                }
            }
        } catch {
            throw reported(.from(error), "batch write")
        }
    }
}

extension SyncedCache {
    /// Refuses a batch larger than ``Options/maximumBatchSize``.
    func checkBatch(_ count: Int) throws(CacheError) {
        guard count <= options.maximumBatchSize else {
            throw .batchTooLarge(size: count, limit: options.maximumBatchSize)
        }
    }
}
