// Typed commands: the ones the cache needs, with Swift types in and out.
//
// Keys and values are `RESPArgument`s (String, [UInt8], ...): binary-safe, sent without copying
// into intermediate arrays. Each command checks the reply's shape and throws
// `RedisError.protocolError` if Redis answered something else.

extension RedisClient {
    /// Expiration of a key set with ``set(_:to:expiration:condition:)``.
    public enum Expiration: Sendable, Equatable {
        /// `EX seconds`
        case seconds(Int)
        /// `PX milliseconds`
        case milliseconds(Int)
        /// `KEEPTTL`: keep the key's current time to live.
        case keepTTL
    }

    /// When ``set(_:to:expiration:condition:)`` may write.
    public enum SetCondition: Sendable, Equatable {
        /// Always.
        case always
        /// `NX`: only if the key does not exist.
        case ifNotExists
        /// `XX`: only if the key exists.
        case ifExists
    }

    /// `GET key`.
    /// - Returns: the value's bytes, or nil when the key does not exist.
    @inlinable
    public nonisolated(nonsending) func get(_ key: some RESPArgument) async throws -> [UInt8]? {
        switch try await sendCommand("GET", key) {
        case .bulkString(let bytes): return bytes
        case .null: return nil
        case let other: throw RedisError.protocolError("GET replied \(other)")
        }
    }

    /// `SET key value [EX|PX|KEEPTTL] [NX|XX]`.
    /// - Returns: false when a condition kept the key from being written.
    @inlinable @discardableResult
    public nonisolated(nonsending) func set(
        _ key: some RESPArgument, to value: some RESPArgument, expiration: Expiration? = nil,
        condition: SetCondition = .always
    ) async throws -> Bool {
        let reply: RESPValue
        switch (expiration, condition) {
        case (nil, .always): reply = try await sendCommand("SET", key, value)
        case (nil, .ifNotExists): reply = try await sendCommand("SET", key, value, "NX")
        case (nil, .ifExists): reply = try await sendCommand("SET", key, value, "XX")
        case (.some(let expiration), _):
            var arguments: [any RESPArgument] = ["SET", key, value]
            switch expiration {
            case .seconds(let seconds): arguments += ["EX", seconds]
            case .milliseconds(let milliseconds): arguments += ["PX", milliseconds]
            case .keepTTL: arguments.append("KEEPTTL")
            }
            switch condition {
            case .always: break
            case .ifNotExists: arguments.append("NX")
            case .ifExists: arguments.append("XX")
            }
            reply = try await send(arguments)
        }
        switch reply {
        case .simpleString: return true
        case .null: return false
        case let other: throw RedisError.protocolError("SET replied \(other)")
        }
    }

    /// `DEL key [key ...]`.
    /// - Returns: the number of keys removed.
    @discardableResult
    public nonisolated(nonsending) func del(_ keys: [any RESPArgument]) async throws -> Int {
        try await integer(["DEL"] + keys, "DEL")
    }

    /// `DEL key`.
    @discardableResult
    @inlinable
    public nonisolated(nonsending) func del(_ key: some RESPArgument) async throws -> Int {
        try integer(try await sendCommand("DEL", key), "DEL")
    }

    /// `UNLINK key [key ...]`: like DEL, but Redis frees the memory in the background.
    /// - Returns: the number of keys removed.
    @discardableResult
    public nonisolated(nonsending) func unlink(_ keys: [any RESPArgument]) async throws -> Int {
        try await integer(["UNLINK"] + keys, "UNLINK")
    }

    /// `MGET key [key ...]`.
    /// - Returns: one entry per key, nil for missing keys.
    public nonisolated(nonsending) func mget(_ keys: [any RESPArgument]) async throws -> [[UInt8]?] {
        guard !keys.isEmpty else { return [] }
        guard case .array(let elements) = try await send(["MGET"] + keys), elements.count == keys.count else {
            throw RedisError.protocolError("MGET replied with the wrong shape")
        }
        return try elements.map { element in
            switch element {
            case .bulkString(let bytes): return bytes
            case .null: return nil
            default: throw RedisError.protocolError("MGET element \(element)")
            }
        }
    }

    /// `MSET key value [key value ...]`.
    public nonisolated(nonsending) func mset(_ pairs: [(key: any RESPArgument, value: any RESPArgument)]) async throws {
        guard !pairs.isEmpty else { return }
        var arguments: [any RESPArgument] = ["MSET"]
        arguments.reserveCapacity(1 + pairs.count * 2)
        for pair in pairs {
            arguments.append(pair.key)
            arguments.append(pair.value)
        }
        _ = try await send(arguments)
    }

    /// `EXISTS key [key ...]`.
    /// - Returns: how many of the keys exist (a key named twice counts twice).
    public nonisolated(nonsending) func exists(_ keys: [any RESPArgument]) async throws -> Int {
        try await integer(["EXISTS"] + keys, "EXISTS")
    }

    /// `PUBLISH channel message`.
    /// - Returns: the number of subscribers that received the message.
    @discardableResult
    @inlinable
    public nonisolated(nonsending) func publish(_ message: some RESPArgument, to channel: some RESPArgument) async throws -> Int {
        try integer(try await sendCommand("PUBLISH", channel, message), "PUBLISH")
    }

    /// `INCR key`.
    /// - Returns: the value after the increment.
    @inlinable
    public nonisolated(nonsending) func incr(_ key: some RESPArgument) async throws -> Int64 {
        guard case .integer(let value) = try await sendCommand("INCR", key) else {
            throw RedisError.protocolError("INCR did not reply with an integer")
        }
        return value
    }

    /// `PING [message]`.
    /// - Returns: "PONG", or the message echoed.
    public nonisolated(nonsending) func ping(_ message: String? = nil) async throws -> String {
        let reply: RESPValue
        if let message {
            reply = try await sendCommand("PING", message)
        } else {
            reply = try await sendCommand("PING")
        }
        guard let text = reply.string else { throw RedisError.protocolError("PING replied \(reply)") }
        return text
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count]`: one step of an incremental key iteration.
    /// - Returns: the next cursor (0 when the iteration is complete) and this step's keys.
    public nonisolated(nonsending) func scan(cursor: UInt64, match pattern: String? = nil, count: Int? = nil) async throws -> (
        cursor: UInt64, keys: [[UInt8]]
    ) {
        var arguments: [any RESPArgument] = ["SCAN", cursor]
        if let pattern { arguments += ["MATCH", pattern] }
        if let count { arguments += ["COUNT", count] }
        guard case .array(let parts) = try await send(arguments), parts.count == 2,
            let next = parts[0].string.flatMap(UInt64.init), case .array(let keys) = parts[1]
        else { throw RedisError.protocolError("SCAN replied with the wrong shape") }
        return (next, keys.compactMap(\.bytes))
    }

    /// Every key matching `pattern`, by iterating SCAN to the end (`count` is the per-step hint).
    public nonisolated(nonsending) func scanAll(match pattern: String, count: Int = 1_000) async throws -> [[UInt8]] {
        var cursor: UInt64 = 0
        var keys: [[UInt8]] = []
        repeat {
            let step = try await scan(cursor: cursor, match: pattern, count: count)
            keys += step.keys
            cursor = step.cursor
        } while cursor != 0
        return keys
    }

    /// `EVAL script numkeys key... arg...`.
    public nonisolated(nonsending) func eval(_ script: String, keys: [any RESPArgument] = [], arguments: [any RESPArgument] = []) async throws
        -> RESPValue
    {
        try await send(["EVAL", script, keys.count] + keys + arguments)
    }

    /// `EVALSHA sha1 numkeys key... arg...`. Throws ``RedisError/server(_:)`` starting with
    /// "NOSCRIPT" when the server does not have the script; ``run(_:keys:arguments:)`` handles that.
    public nonisolated(nonsending) func evalsha(_ sha1: String, keys: [any RESPArgument] = [], arguments: [any RESPArgument] = []) async throws
        -> RESPValue
    {
        try await send(["EVALSHA", sha1, keys.count] + keys + arguments)
    }

    /// `SCRIPT LOAD script`.
    /// - Returns: the script's SHA1, for EVALSHA.
    public nonisolated(nonsending) func scriptLoad(_ script: String) async throws -> String {
        guard let sha = try await sendCommand("SCRIPT", "LOAD", script).string else {
            throw RedisError.protocolError("SCRIPT LOAD did not reply with a string")
        }
        return sha
    }

    /// Runs a script by its SHA1 (EVALSHA). The SHA1 comes from SCRIPT LOAD the first time this
    /// client runs the script, and is cached; when the server has forgotten the script (restart,
    /// SCRIPT FLUSH), the call is retried once with EVAL, which also puts the script back into
    /// the server's cache under the same SHA1. The script body crosses the network only on those
    /// occasions, and a retry costs one command, not two: NOSCRIPT answers at once, so the call
    /// still completes within about one command timeout.
    public nonisolated(nonsending) func run(_ script: RedisScript, keys: [any RESPArgument] = [], arguments: [any RESPArgument] = []) async throws
        -> RESPValue
    {
        let sha1: String
        if let known = scriptHashes.withLock({ $0[script.source] }) {
            sha1 = known
        } else {
            sha1 = try await loadScript(script)
        }
        do {
            return try await evalsha(sha1, keys: keys, arguments: arguments)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            return try await eval(script.source, keys: keys, arguments: arguments)
        }
    }

    /// The SHA1 of `script`, loading it into Redis (SCRIPT LOAD) the first time. For callers that
    /// pipeline EVALSHA themselves.
    public nonisolated(nonsending) func sha1(of script: RedisScript) async throws -> String {
        if let known = scriptHashes.withLock({ $0[script.source] }) { return known }
        return try await loadScript(script)
    }

    /// Forgets a script's SHA1 (after a NOSCRIPT reply), so the next use loads it again.
    public func forgetScript(_ script: RedisScript) {
        _ = scriptHashes.withLock { $0.removeValue(forKey: script.source) }
    }

    private nonisolated(nonsending) func loadScript(_ script: RedisScript) async throws -> String {
        // A cluster keeps scripts per node: every primary gets it (a failover's promoted replica
        // does not have it; its NOSCRIPT leads to EVAL, or to a reload after forgetScript).
        for primary in clusterPrimaries.dropFirst() { _ = try? await send(["SCRIPT", "LOAD", script.source], toPrimary: primary) }
        if let first = clusterPrimaries.first {
            guard let sha1 = try await send(["SCRIPT", "LOAD", script.source], toPrimary: first).string else {
                throw RedisError.protocolError("SCRIPT LOAD did not return a SHA1")
            }
            scriptHashes.withLock { $0[script.source] = sha1 }
            return sha1
        }
        let sha1 = try await scriptLoad(script.source)
        scriptHashes.withLock { $0[script.source] = sha1 }
        return sha1
    }

    /// `AUTH [username] password` on every connection; the credentials are also used for every
    /// later reconnection.
    public nonisolated(nonsending) func auth(username: String? = nil, password: String) async throws {
        try await broadcast(["AUTH"] + (username.map { [$0] } ?? []) + [password])
        await updateSettings {
            $0.username = username
            $0.password = password
        }
    }

    /// `SELECT index` on every connection; also used for every later reconnection.
    public nonisolated(nonsending) func select(database: Int) async throws {
        try await broadcast(["SELECT", String(database)])
        await updateSettings { $0.database = database }
    }

    /// `CLIENT SETNAME name` on every connection; also used for every later reconnection.
    public nonisolated(nonsending) func clientSetName(_ name: String) async throws {
        try await broadcast(["CLIENT", "SETNAME", name])
        await updateSettings { $0.clientName = name }
    }

    /// Turns on client tracking in broadcasting mode (`CLIENT TRACKING on REDIRECT <id> BCAST
    /// PREFIX <prefix>... NOLOOP`) on the first command connection, after turning off whatever
    /// tracking it had (the prefixes of a tracking connection cannot be changed in place). Redis
    /// then sends every change of a key under the prefixes, made by any other client, to the
    /// subscriber connection with that id, on ``RedisSubscriber/trackingChannel``.
    ///
    /// Tracking belongs to the connection: it ends when the connection breaks, and the
    /// redirection breaks when the subscriber's connection does. Whoever relies on it calls this
    /// again after either reconnects. With several command connections, writes sent through the
    /// others are reported too (NOLOOP spares only the tracking connection's own, and Redis 7.0
    /// reports even those when a script made them).
    /// - Parameters:
    ///   - clientID: the subscriber's ``RedisSubscriber/clientID``.
    ///   - prefixes: key prefixes to track; empty tracks every key.
    /// - Throws: ``RedisError/server(_:)`` when Redis refuses (before 6.0, or without permission).
    public nonisolated(nonsending) func enableTracking(redirectTo clientID: Int64, prefixes: [String]) async throws {
        var on = ["CLIENT", "TRACKING", "on", "REDIRECT", String(clientID), "BCAST"]
        for prefix in prefixes { on += ["PREFIX", prefix] }
        on.append("NOLOOP")
        // With Redis Cluster, tracking runs on the primary of the first prefix's slot (a
        // namespace's keys share one slot: its hash tag), where the subscriber must be too.
        let connection = router?.connection(forSlot: prefixes.first.map { ClusterSlots.slot(of: $0) }) ?? connections[0]
        for arguments in [["CLIENT", "TRACKING", "off"], on] {
            try await send(arguments, on: connection)
        }
    }

    private nonisolated(nonsending) func integer(_ arguments: [any RESPArgument], _ name: String) async throws -> Int {
        try integer(try await send(arguments), name)
    }

    @usableFromInline
    func integer(_ reply: RESPValue, _ name: String) throws -> Int {
        guard case .integer(let value) = reply else { throw RedisError.protocolError("\(name) replied \(reply)") }
        return Int(value)
    }
}

/// A Lua script, run with ``RedisClient/run(_:keys:arguments:)`` (EVALSHA with automatic loading).
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String

    /// Creates a script.
    public init(_ source: String) {
        self.source = source
    }
}
