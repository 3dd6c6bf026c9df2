// dcache bench propagation: a set on one process until it is visible on another, next to raw
// PUBLISH -> SUBSCRIBE between the same two processes, in one run.
//
// The writer (this process) starts a receiver (`dcache bench propagation --receiver`, a child
// process). Both read CLOCK_MONOTONIC, which is system-wide, so a timestamp taken by the writer
// before each operation can be compared with the receiver's clock when the value arrives:
//   raw:   PUBLISH "<t0>" on a bench channel; latency = receiver's handler time - t0;
//   cache: set("prop:<i>", "<i>:<t0>"); latency = receiver's time when the set event is applied
//          (its onSetLocalCache hook, just before the value is stored) - t0.
// Writes are sequential (each awaits its reply), so the figures are latencies, not queueing.

import ArgumentParser
import DistributedCache
import EmbeddedRedis
import Foundation
import Primitives

extension Bench {
    struct Propagation: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set on one process until visible on another, next to raw PUBLISH -> SUBSCRIBE.")

        @OptionGroup var target: RedisTarget
        @Option(help: "Writes per measurement (at least 10,000 for a p99.9).") var writes = 10_000
        @Flag(help: "Print the result as JSON.") var json = false
        @Flag(help: .hidden) var receiver = false

        static let rawChannel = "dcache-bench:raw"

        struct Result: Codable {
            var raw: LatencySummary
            var cache: LatencySummary
            /// The writer's own round trips: PUBLISH, and cache.set (script included).
            var rawRoundTrip: LatencySummary?
            var cacheRoundTrip: LatencySummary?
        }

        func run() async throws {
            if receiver { return try await runReceiver() }
            let result = try await target.withServer { configuration in
                try await measure(address: "\(configuration.host):\(configuration.port)", password: configuration.password)
            }
            if json {
                writeLine(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
            } else {
                writeLine("raw PUBLISH -> SUBSCRIBE:      \(result.raw.row)")
                writeLine("cache set -> visible remotely: \(result.cache.row)")
                if let rawRoundTrip = result.rawRoundTrip, let cacheRoundTrip = result.cacheRoundTrip {
                    writeLine("writer's PUBLISH round trip:   \(rawRoundTrip.row)")
                    writeLine("writer's cache.set round trip: \(cacheRoundTrip.row)")
                }
                writeLine(String(format: "p50 ratio cache/raw: %.2f", result.cache.p50 / result.raw.p50))
            }
        }

        func measure(address: String, password: String?) async throws -> Result {
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            var arguments = ["bench", "propagation", "--receiver", "--redis", address, "--writes", String(writes)]
            if let password { arguments += ["--password", password] }
            let child = try InteractiveProcess(executable, arguments)
            guard try child.readLine(timeout: .seconds(30)) == "ready" else { throw ValidationError("receiver did not start") }

            var configuration = try RedisConfiguration(address: address)
            configuration.password = password
            let client = try RedisClient(configuration: configuration)
            try await client.connect()
            progress("raw: \(writes) PUBLISH ...")
            var rawRoundTrips = LatencyRecorder()
            for _ in 0..<writes {
                let sent = Self.now()
                try await client.publish(String(sent), to: Self.rawChannel)
                rawRoundTrips.record(nanoseconds: Self.now() - sent)
            }
            await client.close()

            var options = SyncedCache.Options()
            options.podID = "bench-writer"
            options.redisAddress = address
            options.redisPassword = password
            options.enableMetrics = false
            let cache = try await SyncedCache(options: options)
            progress("cache: \(writes) sets ...")
            var cacheRoundTrips = LatencyRecorder()
            for index in 0..<writes {
                let sent = Self.now()
                try await cache.set("prop:\(index)", "\(index):\(sent)")
                cacheRoundTrips.record(nanoseconds: Self.now() - sent)
            }
            await cache.close()

            let answer = try child.request("done", timeout: .seconds(60))
            _ = child.waitForExit()
            var result = try JSONDecoder().decode(Result.self, from: Data(answer.utf8))
            result.rawRoundTrip = rawRoundTrips.summary(operations: writes, seconds: 1)
            result.cacheRoundTrip = cacheRoundTrips.summary(operations: writes, seconds: 1)
            return result
        }

        /// The receiving process: records arrival latencies until told "done".
        func runReceiver() async throws {
            let raw = Locked(LatencyRecorder())
            let cached = Locked(LatencyRecorder())
            let address = target.redis ?? "localhost:6379"
            var configuration = try RedisConfiguration(address: address)
            configuration.password = target.password
            let subscriber = try RedisSubscriber(configuration: configuration)
            try await subscriber.connect()
            subscriber.addMessageHandler { message in
                guard let sent = Int64(String(decoding: message.payload, as: UTF8.self)) else { return }
                let latency = Self.now() - sent
                raw.withLock { $0.record(nanoseconds: latency) }
            }
            try await subscriber.subscribe([Self.rawChannel])

            var options = SyncedCache.Options()
            options.podID = "bench-receiver"
            options.redisAddress = address
            options.redisPassword = target.password
            options.enableMetrics = false
            options.onSetLocalCache = { event in
                let arrived = Self.now()
                // The value is the JSON string "<index>:<t0>".
                let text = String(decoding: event.value, as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if let sent = text.split(separator: ":").last.flatMap({ Int64($0) }) {
                    cached.withLock { $0.record(nanoseconds: arrived - sent) }
                }
                return text
            }
            let cache = try await SyncedCache(options: options)
            writeLine("ready")
            for await line in StandardInputLines.stream() where line == "done" { break }
            try await Task.sleep(for: .milliseconds(100))  // let the last events land
            let result = Result(
                raw: raw.withLock { $0.summary(operations: Int($0.histogram.totalCount), seconds: 1) },
                cache: cached.withLock { $0.summary(operations: Int($0.histogram.totalCount), seconds: 1) })
            writeLine(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
            await cache.close()
            await subscriber.close()
        }

        /// CLOCK_MONOTONIC in nanoseconds: one clock for both processes.
        static func now() -> Int64 {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        }
    }
}
