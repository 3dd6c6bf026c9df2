// dcache bench remote: GET or SET round trips through the transport, N concurrent callers.

import ArgumentParser
import Foundation
import Primitives
import RedisTransport

extension Bench {
    struct Remote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GET or SET through the Redis transport with N concurrent callers.",
            usage: "dcache bench remote [<options>]",
            discussion: """
                Callers are tasks that prefer the client's event loop as their executor (the \
                lowest-latency way to use the transport); --off-loop runs them on the global \
                executor instead. Latency is measured per call, from before encoding to after the \
                reply resumed the caller.
                """)

        enum Operation: String, ExpressibleByArgument, CaseIterable {
            case get, set
        }

        @OptionGroup var target: RedisTarget
        @Option(help: "The command: get or set.") var op: Operation = .get
        @Option(help: "Concurrent callers sharing one client.") var callers = 1
        @Option(help: "Total calls, spread over the callers.") var requests = 100_000
        @Option(help: "Value size in bytes (redis-benchmark's -d).") var valueSize = 3
        @Flag(help: "Run callers on the global executor instead of the event loop.") var offLoop = false
        @Flag(help: "Print the result as one JSON object.") var json = false

        func run() async throws {
            let summary = try await target.withServer { configuration in
                try await measure(configuration)
            }
            if json {
                let data = try JSONEncoder().encode(summary)
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("\(op.rawValue.uppercased()) x\(callers) callers\(offLoop ? " (off loop)" : ""): \(summary.row)")
            }
        }

        func measure(_ configuration: RedisConfiguration) async throws -> LatencySummary {
            let client = try RedisClient(configuration: configuration)
            try await client.connect()
            defer { Task { await client.close() } }
            let key = "key:__rand_int__"
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueSize)
            try await client.set(key, to: value)
            let perCaller = max(1, requests / callers)
            let operation = op
            let executor: (any TaskExecutor)? = offLoop ? nil : client.eventLoop

            func load(_ calls: Int) async throws -> LatencyRecorder {
                try await withThrowingTaskGroup(of: LatencyRecorder.self) { group in
                    for _ in 0..<callers {
                        group.addTask(executorPreference: executor) {
                            var recorder = LatencyRecorder()
                            for _ in 0..<calls {
                                let started = ContinuousClock.now
                                switch operation {
                                case .get: _ = try await client.get(key)
                                case .set: try await client.set(key, to: value)
                                }
                                recorder.record(nanoseconds: (ContinuousClock.now - started).saturatingNanoseconds)
                            }
                            return recorder
                        }
                    }
                    var total = LatencyRecorder()
                    for try await recorder in group { total.merge(recorder) }
                    return total
                }
            }

            progress("warming up...")
            _ = try await load(max(1, perCaller / 10))
            progress("measuring \(perCaller * callers) \(operation.rawValue.uppercased()) calls, \(callers) callers...")
            let started = ContinuousClock.now
            let recorder = try await load(perCaller)
            let seconds = (ContinuousClock.now - started).secondsAsDouble
            await client.close()
            return recorder.summary(operations: perCaller * callers, seconds: seconds)
        }
    }
}
