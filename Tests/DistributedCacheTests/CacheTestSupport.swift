import DistributedCache
import Foundation
import RedisTransport
import Testing
import TestSupport

struct Profile: Codable, Sendable, Equatable {
    var name: String
    var visits: Int
}

/// Options for a test instance on `server`. Pings go out fast, so that a recovered channel is
/// proven quickly, but a missing one is declared only after 5 s: the suite starts dozens of
/// servers and caches at once on a 2-core machine, and a shorter timeout there sent healthy
/// caches into degraded mode and a resync that emptied them under the tests' feet. Tests of the
/// liveness window itself (FaultInjectionTests) set their own.
func testOptions(_ server: RedisServer, pod: String, configure: (inout SyncedCache.Options) -> Void = { _ in })
    -> SyncedCache.Options
{
    var options = SyncedCache.Options()
    options.podID = pod
    options.redisAddress = server.address
    options.enableMetrics = false
    options.pingInterval = .milliseconds(100)
    options.pingTimeout = Duration.seconds(5).scaledForTests
    configure(&options)
    return options
}

/// `count` instances on one fresh server, closed afterwards.
func withCaches<Result>(
    _ count: Int, _ serverOptions: RedisServer.Options = .init(),
    configure: @escaping (inout SyncedCache.Options) -> Void = { _ in },
    _ body: ([SyncedCache], RedisServer) async throws -> Result
) async throws -> Result {
    try await withRedisServer(serverOptions) { server in
        var caches: [SyncedCache] = []
        for index in 0..<count {
            caches.append(try await SyncedCache(options: testOptions(server, pod: "pod-\(index)", configure: configure)))
        }
        do {
            let result = try await body(caches, server)
            for cache in caches { await cache.close() }
            return result
        } catch {
            for cache in caches { await cache.close() }
            throw error
        }
    }
}

/// A raw client on `server`, for looking at Redis directly.
func rawClient(_ server: RedisServer) async throws -> RedisClient {
    let client = try RedisClient(configuration: .init(host: server.host, port: server.port))
    try await client.connect()
    return client
}

/// Calls of a Redis command so far (INFO commandstats).
func commandCalls(_ client: RedisClient, _ command: String) async throws -> Int {
    let info = try await client.send("INFO", "commandstats").string ?? ""
    guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_\(command):") }),
        let calls = line.split(separator: ",").first?.split(separator: "=").last.flatMap({ Int($0) })
    else { return 0 }
    return calls
}
