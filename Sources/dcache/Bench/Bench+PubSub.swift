// dcache bench pubsub: PUBLISH -> subscriber handler latency, and a burst.

import ArgumentParser
import Foundation
import Primitives
import RedisTransport
import Synchronization

extension Bench {
    struct PubSub: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pubsub",
            abstract: "Latency from PUBLISH to the subscriber's handler, one message at a time; then a burst.",
            usage: "dcache bench pubsub [<options>]",
            discussion: """
                The publisher and the subscriber share one event loop, and the publisher runs on \
                it, so the figure is Redis's pub/sub round trip plus our decoding: no thread hop. \
                The burst publishes --burst messages back to back and reports how long delivery \
                took and whether a bounded stream (--buffer) had to drop any.
                """)

        @OptionGroup var target: RedisTarget
        @Option(help: "Messages for the latency measurement (one at a time).") var messages = 10_000
        @Option(help: "Messages published back to back in the burst.") var burst = 5_000
        @Option(help: "Buffer size of the stream that consumes the burst.") var buffer = 1_024
        @Flag(help: "Print the result as one JSON object.") var json = false

        struct Result: Codable {
            var latency: LatencySummary
            var burstMessages: Int
            var burstMilliseconds: Double
            var burstDroppedByStream: Int
            var burstReceivedByHandler: Int
        }

        func run() async throws {
            let result = try await target.withServer { configuration in try await measure(configuration) }
            if json {
                print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
            } else {
                print("PUBLISH -> handler: \(result.latency.row)")
                print(
                    "burst of \(result.burstMessages): delivered to the handler in \(Int(result.burstMilliseconds)) ms, "
                        + "handler got \(result.burstReceivedByHandler), a \(buffer)-message stream dropped \(result.burstDroppedByStream)")
            }
        }

        func measure(_ configuration: RedisConfiguration) async throws -> Result {
            let loop = try EventLoop(name: "bench-pubsub")
            let client = try RedisClient(configuration: configuration, eventLoop: loop)
            let subscriber = try RedisSubscriber(configuration: configuration, eventLoop: loop)
            try await client.connect()
            try await subscriber.connect()
            try await subscriber.subscribe(["bench:pubsub"])

            // The handler runs on the loop thread, as does the publishing task: a plain class
            // confined to that thread carries the state between them.
            final class Probe: @unchecked Sendable {
                var waiter: CheckedContinuation<Void, Never>?
                var received = 0
            }
            let probe = Probe()
            subscriber.addMessageHandler { _ in
                probe.received += 1
                if let waiter = probe.waiter {
                    probe.waiter = nil
                    waiter.resume()
                }
            }

            progress("measuring \(messages) PUBLISH -> handler round trips...")
            let recorder = await withTaskExecutorPreference(loop) {
                var recorder = LatencyRecorder()
                for index in 0..<(messages + messages / 10) {
                    let started = ContinuousClock.now
                    await withCheckedContinuation { continuation in
                        probe.waiter = continuation
                        Task(executorPreference: loop) { _ = try? await client.publish("x", to: "bench:pubsub") }
                    }
                    let elapsed = ContinuousClock.now - started
                    if index >= messages / 10 {  // the first tenth warms up
                        recorder.record(nanoseconds: elapsed.saturatingNanoseconds)
                    }
                }
                return recorder
            }
            let latency = recorder.summary(operations: messages, seconds: 1)

            progress("publishing a burst of \(burst)...")
            let stream = subscriber.messages(bufferSize: buffer)
            let baseline = await withTaskExecutorPreference(loop) { probe.received }
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<burst {
                    group.addTask(executorPreference: loop) { try await client.publish("burst", to: "bench:pubsub") }
                }
                try await group.waitForAll()
            }
            while await withTaskExecutorPreference(loop, operation: { probe.received }) < baseline + burst {
                try await Task.sleep(for: .microseconds(100))
            }
            let burstTime = ContinuousClock.now - started
            _ = stream
            let dropped = subscriber.droppedMessageCount
            let handled = await withTaskExecutorPreference(loop) { probe.received } - baseline
            await subscriber.close()
            await client.close()
            await loop.shutdown()
            return Result(
                latency: latency, burstMessages: burst,
                burstMilliseconds: burstTime.secondsAsDouble * 1_000,
                burstDroppedByStream: dropped, burstReceivedByHandler: handled)
        }
    }
}
