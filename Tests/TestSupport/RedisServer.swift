// The test fixture: a real `redis-server` per test or suite, on a free loopback port.
//
// It is the same launcher the `dcache demo` command uses (EmbeddedRedis), so the demo and the
// tests start Redis one way. `withRedisServer` scopes a server to a closure and kills it by PID
// when the closure ends, however it ends.

@_exported import EmbeddedRedis

/// A `redis-server` started for a test: host, port, stop, kill -9, restart on the same port,
/// pause and resume (SIGSTOP / SIGCONT). See ``RedisServerProcess``.
public typealias RedisServer = RedisServerProcess

/// Starts a server, runs `body` with it, and kills the server afterwards (also when `body` throws).
/// - Parameters:
///   - options: password, ACL user, extra configuration.
///   - body: the test; the server is valid for its whole duration.
/// - Returns: what `body` returns.
public func withRedisServer<Result>(
    _ options: RedisServer.Options = .init(),
    _ body: (RedisServer) async throws -> Result
) async throws -> Result {
    let server = try await RedisServer.start(options)
    defer { server.kill() }
    return try await body(server)
}

