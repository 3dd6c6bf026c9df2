// RedisConfiguration: where the server is, how to log in, and the client's time limits.

import Primitives

/// Settings of a ``RedisClient`` or ``RedisSubscriber``.
public struct RedisConfiguration: Sendable, Equatable {
    /// How reconnection attempts are spaced after a connection fails.
    ///
    /// The n-th attempt (n = 0, 1, ...) waits `min(maximumDelay, initialDelay * multiplier^n)`,
    /// of which a random fraction `jitter` is drawn uniformly (`jitter = 0.5`: between half and
    /// all of it), so that many clients that lost the same server do not return in lockstep.
    public struct Backoff: Sendable, Equatable {
        /// Delay before the first reconnection attempt.
        public var initialDelay: Duration
        /// Upper bound of any delay.
        public var maximumDelay: Duration
        /// Growth factor per failed attempt (at least 1).
        public var multiplier: Double
        /// Randomized share of each delay, in 0...1.
        public var jitter: Double

        /// Creates a backoff policy.
        public init(
            initialDelay: Duration = .milliseconds(50), maximumDelay: Duration = .seconds(2),
            multiplier: Double = 2, jitter: Double = 0.5
        ) {
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
            self.multiplier = multiplier
            self.jitter = jitter
        }

        /// The delay before attempt `attempt` (0-based).
        public func delay(forAttempt attempt: Int) -> Duration {
            let base = initialDelay.secondsAsDouble
            let cap = maximumDelay.secondsAsDouble
            let full = max(0, min(cap, base * pow(max(multiplier, 1), Double(min(max(attempt, 0), 64)))))
            let fixed = full * (1 - min(max(jitter, 0), 1))
            let seconds = fixed + Double.random(in: 0...max(0, full - fixed))
            return Duration(saturatingSeconds: seconds)
        }
    }

    /// Host name or address of the server.
    public var host: String
    /// TCP port.
    public var port: Int
    /// ACL user name for `AUTH username password` (Redis 6+); nil authenticates as `default`.
    public var username: String?
    /// Password for `AUTH`; nil sends no AUTH.
    public var password: String?
    /// Database selected with `SELECT` after connecting (0 sends nothing).
    public var database: Int
    /// Name given with `CLIENT SETNAME` (shown by `CLIENT LIST`); nil sends nothing.
    public var clientName: String?
    /// Limit for establishing a TCP connection.
    public var connectTimeout: Duration
    /// Default limit for one command, from submission to reply (the reference library's
    /// `ContextTimeout`, 5 s). Commands may override it.
    public var commandTimeout: Duration
    /// Arguments longer than this are refused before anything is sent (Redis's own limit,
    /// `proto-max-bulk-len`, is 512 MB).
    public var maximumArgumentSize: Int
    /// Number of command connections; commands are spread over them round-robin. One pipelined
    /// connection is usually enough (concurrent callers share it); more help only when one loop
    /// turn's batch is not the bottleneck.
    public var connectionCount: Int
    /// Spacing of reconnection attempts.
    public var backoff: Backoff
    /// Redis Cluster: seed nodes to read the slot map from (`CLUSTER SLOTS`). Empty, the
    /// default: one server at `host:port`. With seeds, a ``RedisClient`` keeps one connection per
    /// primary and sends each command to the primary of its key's slot, following `MOVED` and
    /// `ASK` redirections; `host` and `port` are then unused.
    public var clusterNodes: [ClusterNode] = []

    /// Creates a configuration.
    public init(
        host: String = "localhost", port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0, clientName: String? = nil, connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(5), maximumArgumentSize: Int = 512 * 1024 * 1024,
        connectionCount: Int = 1, backoff: Backoff = Backoff()
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.clientName = clientName
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.maximumArgumentSize = maximumArgumentSize
        self.connectionCount = connectionCount
        self.backoff = backoff
    }

    /// Parses "host:port" (or "host", port 6379; "[::1]:6379" for IPv6 literals).
    /// - Throws: ``RedisError/invalidArgument(_:)`` for a malformed address.
    public init(address: String) throws(RedisError) {
        self.init()
        var host = Substring(address)
        var port = 6379
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") {
                guard let parsed = Int(rest.dropFirst()) else { throw .invalidArgument("bad port in address \"\(address)\"") }
                port = parsed
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let parsed = Int(host[host.index(after: colon)...]) else {
                throw .invalidArgument("bad port in address \"\(address)\"")
            }
            port = parsed
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw .invalidArgument("empty host in address \"\(address)\"") }
        guard (1...65535).contains(port) else { throw .invalidArgument("port out of range in address \"\(address)\"") }
        self.host = String(host)
        self.port = port
    }

    /// Parses "HOST:PORT[,HOST:PORT...]" into cluster seed nodes.
    /// - Throws: ``RedisError/invalidArgument(_:)`` for a malformed address.
    public static func clusterNodes(_ list: String) throws(RedisError) -> [ClusterNode] {
        var nodes: [ClusterNode] = []
        for item in list.split(separator: ",") {
            let parsed = try RedisConfiguration(address: String(item.filter { $0 != " " }))
            nodes.append(ClusterNode(host: parsed.host, port: parsed.port))
        }
        guard !nodes.isEmpty else { throw .invalidArgument("no cluster node in \"\(list)\"") }
        return nodes
    }

    /// This configuration aimed at one node (host and port replaced; the seeds kept).
    public func aimed(at node: ClusterNode) -> RedisConfiguration {
        var copy = self
        copy.host = node.host
        copy.port = node.port
        return copy
    }

    /// Checks the settings.
    /// - Throws: ``RedisError/invalidArgument(_:)`` naming the bad setting.
    public func validate() throws(RedisError) {
        if host.isEmpty { throw .invalidArgument("host must not be empty") }
        if !(1...65535).contains(port) { throw .invalidArgument("port must be in 1...65535, got \(port)") }
        if database < 0 { throw .invalidArgument("database must be >= 0, got \(database)") }
        if connectTimeout <= .zero { throw .invalidArgument("connectTimeout must be positive") }
        if commandTimeout <= .zero { throw .invalidArgument("commandTimeout must be positive") }
        if maximumArgumentSize <= 0 { throw .invalidArgument("maximumArgumentSize must be positive") }
        if !(1...64).contains(connectionCount) {
            throw .invalidArgument("connectionCount must be in 1...64, got \(connectionCount)")
        }
        for node in clusterNodes where node.host.isEmpty || !(1...65535).contains(node.port) {
            throw .invalidArgument("cluster node \(node) is not a HOST:PORT")
        }
        if !clusterNodes.isEmpty && database != 0 {
            throw .invalidArgument("Redis Cluster has only database 0, got \(database)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Duration {
    /// Whole milliseconds, rounded up, at least 1 for a positive duration (libuv timer units).
    var roundedUpMilliseconds: UInt64 { UInt64(saturatingMillisecondsRoundedUp) }
}
