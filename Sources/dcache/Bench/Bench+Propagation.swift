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
//
// With `--invalidation tracking` both caches run in tracking mode and the writer's sets are
// stored in Redis. Redis's invalidation names the key, not the writer's timestamp, so the
// receiver first holds every key locally (the writer stored them beforehand), then records when
// each key's copy is dropped (its onRemoval listener, cause `.invalidated`: one task hop after
// the drop), and the writer pairs those times with its own send times. Both modes also report
// Redis's CPU time per cache write (INFO cpu, before and after the writes).

import ArgumentParser
import DistributedCache
import EmbeddedRedis
import Foundation
import Primitives
import RedisTransport

extension Bench {
    struct Propagation: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set on one process until visible on another, next to raw PUBLISH -> SUBSCRIBE.",
            usage: "dcache bench propagation [<options>]")

        @OptionGroup var target: RedisTarget
        @Option(help: "Writes per measurement (at least 10,000 for a p99.9).") var writes = 10_000
        @Option(help: "Invalidation mode of both caches: pubsub or tracking.") var invalidation = "pubsub"
        @Flag(help: "Print the result as JSON.") var json = false
        @Flag(help: .hidden) var receiver = false

        static let rawChannel = "dcache-bench:raw"

        struct Result: Codable {
            var raw: LatencySummary
            var cache: LatencySummary
            /// The writer's own round trips: PUBLISH, and cache.set (script included).
            var rawRoundTrip: LatencySummary?
            var cacheRoundTrip: LatencySummary?
            /// Redis's CPU time (user + system) per cache write, in microseconds.
            var redisCPUPerWrite: Double?
            /// Tracking mode: when the receiver dropped each key (index -> CLOCK_MONOTONIC ns).
            var dropped: [Int: Int64]?
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
                if let cpu = result.redisCPUPerWrite { writeLine(String(format: "Redis CPU per cache write: %.1f us", cpu)) }
            }
        }

        func measure(address: String, password: String?) async throws -> Result {
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            var arguments = ["bench", "propagation", "--receiver", "--redis", address, "--writes", String(writes),
                             "--invalidation", invalidation]
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
            options.invalidation = tracking ? .tracking : .pubsub
            // Stored in Redis in both modes, so that both do the same work there.
            options.readerCanSetToRedis = true
            let cache = try await SyncedCache(options: options)
            if tracking {
                // Every key in Redis, then in the receiver's local cache.
                for index in 0..<writes { try await cache.set("prop:\(index)", "initial") }
                guard try child.request("warm", timeout: .seconds(120)) == "warm" else { throw ValidationError("receiver did not warm") }
            }
            progress("cache: \(writes) sets ...")
            let cpuBefore = try await Self.redisCPU(cache)
            var cacheRoundTrips = LatencyRecorder()
            var sentAt = [Int64](repeating: 0, count: writes)
            for index in 0..<writes {
                let sent = Self.now()
                sentAt[index] = sent
                try await cache.set("prop:\(index)", "\(index):\(sent)")
                cacheRoundTrips.record(nanoseconds: Self.now() - sent)
            }
            let cpuAfter = try await Self.redisCPU(cache)
            await cache.close()

            let answer = try child.request("done", timeout: .seconds(60))
            _ = child.waitForExit()
            var result = try JSONDecoder().decode(Result.self, from: Data(answer.utf8))
            if let dropped = result.dropped {
                var latencies = LatencyRecorder()
                for (index, time) in dropped where sentAt.indices.contains(index) { latencies.record(nanoseconds: time - sentAt[index]) }
                result.cache = latencies.summary(operations: dropped.count, seconds: 1, distribution: true)
                result.dropped = nil
            }
            result.rawRoundTrip = rawRoundTrips.summary(operations: writes, seconds: 1)
            result.cacheRoundTrip = cacheRoundTrips.summary(operations: writes, seconds: 1)
            result.redisCPUPerWrite = (cpuAfter - cpuBefore) * 1_000_000 / Double(writes)
            return result
        }

        var tracking: Bool { invalidation == "tracking" }

        /// Redis's CPU seconds so far (used_cpu_user + used_cpu_sys).
        static func redisCPU(_ cache: SyncedCache) async throws -> Double {
            var configuration = try RedisConfiguration(address: cache.options.redisAddress)
            configuration.password = cache.options.redisPassword
            let client = try RedisClient(configuration: configuration)
            try await client.connect()
            defer { Task { await client.close() } }
            let info = try await client.send("INFO", "cpu").string ?? ""
            var total = 0.0
            for line in info.split(separator: "\r\n") where line.hasPrefix("used_cpu_user:") || line.hasPrefix("used_cpu_sys:") {
                total += Double(line.split(separator: ":").last ?? "") ?? 0
            }
            return total
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
            options.invalidation = tracking ? .tracking : .pubsub
            let dropped = Locked([Int: Int64]())
            if tracking {
                options.onRemoval = { removal in
                    guard removal.cause == .invalidated, let index = Int(removal.key.dropFirst("prop:".count)) else { return }
                    let arrived = Self.now()
                    dropped.withLock { if $0[index] == nil { $0[index] = arrived } }
                }
            }
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
            for await line in StandardInputLines.stream() {
                if line == "warm" {
                    // Holds every key locally (a fill refused while an invalidation was on its way
                    // is read again).
                    let keys = (0..<writes).map { "prop:\($0)" }
                    var missing = keys
                    while !missing.isEmpty {
                        for start in stride(from: 0, to: missing.count, by: 1_000) {
                            _ = try await cache.getMany(Array(missing[start..<min(start + 1_000, missing.count)]), as: String.self)
                        }
                        missing = missing.filter { cache.localValue(forKey: $0, as: String.self) == nil }
                    }
                    writeLine("warm")
                }
                if line == "done" { break }
            }
            try await Task.sleep(for: .milliseconds(100))  // let the last events land
            var result = Result(
                raw: raw.withLock { $0.summary(operations: Int($0.histogram.totalCount), seconds: 1, distribution: true) },
                cache: cached.withLock { $0.summary(operations: Int($0.histogram.totalCount), seconds: 1, distribution: true) })
            if tracking { result.dropped = dropped.withLock { $0 } }
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
