// Where a command finds Redis: the address given with --redis, or a throwaway server.

import ArgumentParser
import EmbeddedRedis
import RedisTransport

/// `--redis HOST:PORT`, optional: without it, commands that allow it start a throwaway
/// `redis-server` on a free loopback port and stop it when they end.
struct RedisTarget: ParsableArguments {
    @Option(name: .long, help: "Redis address HOST:PORT; omitted: start a throwaway redis-server on loopback.")
    var redis: String?

    @Option(name: .long, help: "Redis password.")
    var password: String?

    /// Runs `body` with a configuration for the chosen server; a throwaway server lives exactly
    /// as long as `body`.
    func withServer<Result>(_ body: (RedisConfiguration) async throws -> Result) async throws -> Result {
        if let redis {
            var configuration = try RedisConfiguration(address: redis)
            configuration.password = password
            return try await body(configuration)
        }
        let server = try await RedisServerProcess.start(.init(password: password))
        defer { server.stop() }
        var configuration = RedisConfiguration(host: server.host, port: server.port)
        configuration.password = password
        return try await body(configuration)
    }
}
