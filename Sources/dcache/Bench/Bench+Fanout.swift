// dcache bench fanout: one writer at a fixed rate, N receiving processes, one Redis.
//
// The writer is a SyncedCache publishing set events (carrying a value of --value-size bytes) or
// invalidate-only events (`setWithInvalidate`, no value) at --rate writes per second, for
// --seconds. Each receiver is a process of its own (`dcache bench fanout --receiver`) with one
// subscription to the channel, as every instance of a fleet has: what grows with N is what Redis
// pushes. Each event's key carries its send time on CLOCK_MONOTONIC (system-wide), so every
// receiver measures the propagation of every event. The instances' own handling of an event
// (about a microsecond, the same whatever N) is left out: receivers only decode the key.
// Reported: propagation p50/p99 over all receivers, the rate reached, and Redis's CPU time
// (INFO cpu before and after) per write and as a share of one core.

import ArgumentParser
import DistributedCache
import EmbeddedRedis
import Foundation
import Primitives
import RedisTransport

extension Bench {
    struct Fanout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One writer at a fixed rate, N receiving processes: propagation and Redis CPU as N grows.",
            usage: "dcache bench fanout [<options>]")

        enum EventKind: String, ExpressibleByArgument, CaseIterable, Codable {
            /// Set events carrying the value.
            case set
            /// Invalidate-only events.
            case invalidate
        }

        @OptionGroup var target: RedisTarget
        @Option(help: "Receiving processes (1...256).") var receivers = 4
        @Option(help: "Writes per second.") var rate = 1_000
        @Option(help: "Seconds to write.") var seconds = 3.0
        @Option(help: "set (value-carrying events) or invalidate (invalidate-only events).") var event: EventKind = .set
        @Option(help: "Value size in bytes (set events).") var valueSize = 256
        @Flag(help: "Print the result as JSON.") var json = false
        @Flag(help: .hidden) var receiver = false

        static let channel = "cache:invalidate"

        struct Result: Codable {
            var receivers: Int
            var event: EventKind
            var targetRate: Int
            var rate: Double
            var delivered: Int
            var propagation: LatencySummary
            /// Redis CPU time (user + system) per write, in microseconds.
            var redisCPUPerWrite: Double
            /// Redis CPU time as a share of one core during the writes (0...1).
            var redisCPUShare: Double
            /// Bytes of one event as published.
            var eventBytes: Int
        }

        func validate() throws {
            guard (1...256).contains(receivers) else { throw ValidationError("--receivers must be 1...256") }
            guard (1...200_000).contains(rate) else { throw ValidationError("--rate must be 1...200000") }
            guard seconds > 0, seconds <= 60 else { throw ValidationError("--seconds must be in (0, 60]") }
            guard (0...1_048_576).contains(valueSize) else { throw ValidationError("--value-size must be 0...1048576") }
        }

        func run() async throws {
            if receiver { return try await runReceiver() }
            let result = try await target.withServer { configuration in
                try await measure(address: "\(configuration.host):\(configuration.port)", password: configuration.password)
            }
            if json {
                writeLine(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
            } else {
                writeLine("\(receivers) receivers, \(event.rawValue) events at \(Int(result.rate))/s: propagation \(result.propagation.row)")
                writeLine(String(format: "Redis CPU: %.1f us per write, %.0f%% of a core", result.redisCPUPerWrite, result.redisCPUShare * 100))
            }
        }

        func measure(address: String, password: String?) async throws -> Result {
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            var arguments = ["bench", "fanout", "--receiver", "--redis", address]
            if let password { arguments += ["--password", password] }
            var children: [InteractiveProcess] = []
            for _ in 0..<receivers {
                let child = try InteractiveProcess(executable, arguments)
                guard try child.readLine(timeout: .seconds(30)) == "ready" else { throw ValidationError("a receiver did not start") }
                children.append(child)
            }
            var options = SyncedCache.Options()
            options.podID = "bench-fanout-writer"
            options.redisAddress = address
            options.redisPassword = password
            options.enableMetrics = false
            options.pingInterval = .zero
            let cache = try await SyncedCache(options: options)
            let value = String(repeating: "v", count: valueSize)
            let writes = Int(Double(rate) * seconds)
            let interval = Duration.nanoseconds(1_000_000_000 / rate)
            let cpuBefore = try await Bench.Propagation.redisCPU(cache)
            let clock = ContinuousClock()
            let started = clock.now
            for index in 0..<writes {
                try await clock.sleep(until: started + interval * index, tolerance: .microseconds(50))
                let key = "fan:\(Bench.Propagation.now())"
                switch event {
                case .set: try await cache.set(key, value)
                case .invalidate: try await cache.setWithInvalidate(key, value)
                }
            }
            let elapsed = (clock.now - started).secondsAsDouble
            let cpuAfter = try await Bench.Propagation.redisCPU(cache)
            let sample = SyncedCache.Event(key: "fan:\(Bench.Propagation.now())", sender: options.podID!, action: event == .set ? .set : .invalidate,
                               value: event == .set ? Array("\"\(value)\"".utf8) : [], version: 1_800_000_000_000_000)
            await cache.close()
            var merged = LatencyRecorder()
            var delivered = 0
            for child in children {
                let answer = try child.request("done", timeout: .seconds(60))
                _ = child.waitForExit()
                let recorder = try JSONDecoder().decode(ReceiverReport.self, from: Data(answer.utf8))
                delivered += recorder.count
                for (value, count) in recorder.latencies { for _ in 0..<count { merged.record(nanoseconds: value) } }
            }
            let cpu = cpuAfter - cpuBefore
            return Result(
                receivers: receivers, event: event, targetRate: rate, rate: Double(writes) / elapsed, delivered: delivered,
                propagation: merged.summary(operations: delivered, seconds: elapsed),
                redisCPUPerWrite: cpu * 1_000_000 / Double(writes), redisCPUShare: cpu / elapsed, eventBytes: sample.json.count)
        }

        /// What a receiver sends back: its latencies, bucketed to microseconds (value ns -> count).
        struct ReceiverReport: Codable {
            var count: Int
            var latencies: [Int64: Int]
        }

        func runReceiver() async throws {
            let latencies = Locked([Int64: Int]())
            let count = Locked(0)
            var configuration = try RedisConfiguration(address: target.redis ?? "localhost:6379")
            configuration.password = target.password
            let subscriber = try RedisSubscriber(configuration: configuration)
            try await subscriber.connect()
            subscriber.addMessageHandler { message in
                let arrived = Bench.Propagation.now()
                // The key is "fan:<send time>": found in the JSON without decoding it all.
                let text = String(decoding: message.payload.prefix(96), as: UTF8.self)
                guard let range = text.range(of: "\"key\":\"fan:"), let end = text[range.upperBound...].firstIndex(of: "\""),
                    let sent = Int64(text[range.upperBound..<end])
                else { return }
                let bucket = max(arrived - sent, 1) / 1_000 * 1_000
                latencies.withLock { $0[bucket, default: 0] += 1 }
                count.withLock { $0 += 1 }
            }
            try await subscriber.subscribe([Self.channel])
            writeLine("ready")
            for await line in StandardInputLines.stream() where line == "done" { break }
            try await Task.sleep(for: .milliseconds(200))  // the last events
            let report = ReceiverReport(count: count.withLock { $0 }, latencies: latencies.withLock { $0 })
            writeLine(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
            await subscriber.close()
        }
    }
}
