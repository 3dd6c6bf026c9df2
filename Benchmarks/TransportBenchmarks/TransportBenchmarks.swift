// Redis transport benchmarks: GET and SET round trips with 1 and 50 concurrent callers sharing
// one client, on a throwaway redis-server. The ratio to redis-benchmark is measured by
// perf/compare (same Redis, same run); these report latency, throughput and allocations per
// command.
//
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark \
//        --target TransportBenchmarks
//
// Callers run on the client's event loop (withTaskExecutorPreference), the transport's fastest
// configuration. Each timed sample is `scaledIterations` commands, so figures are per command.

@preconcurrency import Benchmark
import BenchmarkSettings
import EmbeddedRedis
import RedisTransport

/// One server and client per benchmark process, started by the first benchmark's setup.
final class Shared: @unchecked Sendable {
    // @unchecked: written once in setup (before any measurement), read afterwards.
    var server: RedisServerProcess?
    var client: RedisClient?

    func start() async throws -> RedisClient {
        if let client { return client }
        let server = try await RedisServerProcess.start()
        let client = try RedisClient(configuration: .init(host: server.host, port: server.port))
        try await client.connect()
        try await client.set("key:__rand_int__", to: "xxx")
        self.server = server
        self.client = client
        return client
    }

    /// Closes the client and stops the server, so the process leaves nothing running.
    func stop() async {
        await client?.close()
        server?.stop()
    }
}

let shared = Shared()

nonisolated(unsafe) let perCommand = suiteConfiguration(timeUnits: .nanoseconds, scalingFactor: .kilo, maxIterations: 10_000)

/// Runs `count` commands on `callers` concurrent tasks on the client's loop.
func load(_ client: RedisClient, callers: Int, count: Int, _ command: @escaping @Sendable (RedisClient) async throws -> Void)
    async throws
{
    try await withThrowingTaskGroup(of: Void.self) { group in
        for caller in 0..<callers {
            let share = count / callers + (caller < count % callers ? 1 : 0)
            group.addTask(executorPreference: client.eventLoop) {
                for _ in 0..<share { try await command(client) }
            }
        }
        try await group.waitForAll()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.teardown = { await shared.stop() }
    for callers in [1, 50] {
        Benchmark("Transport.GET.callers\(callers)", configuration: perCommand) { benchmark in
            let client = try await shared.start()
            benchmark.startMeasurement()
            try await load(client, callers: callers, count: benchmark.scaledIterations.count) { client in
                blackHole(try await client.get("key:__rand_int__"))
            }
        }
        Benchmark("Transport.SET.callers\(callers)", configuration: perCommand) { benchmark in
            let client = try await shared.start()
            let value: [UInt8] = Array("xxx".utf8)
            benchmark.startMeasurement()
            try await load(client, callers: callers, count: benchmark.scaledIterations.count) { client in
                try await client.set("key:__rand_int__", to: value)
            }
        }
    }
}
