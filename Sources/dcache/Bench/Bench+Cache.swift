// dcache bench cache: remote hits through the public API (`SyncedCache.get`), N concurrent callers.
//
// A writer instance stores `--keys` values of `--value-size` bytes in Redis; a reader instance
// whose local cache never keeps anything (or keeps one entry, `--local lru1`) then reads random
// keys, so every `get` is a remote hit. Callers are plain child tasks of a task group on the
// global executor, as in an application; each records every call's latency, from before `get`
// to after it returned. Runs for `--seconds` (bounded), after a warm-up of a tenth of that.

import ArgumentParser
import DistributedCache
import Foundation
import Primitives

extension Bench {
    struct Cache: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remote hits through SyncedCache.get with N concurrent callers.",
            usage: "dcache bench cache [<options>]")

        enum Local: String, ExpressibleByArgument, CaseIterable {
            /// A custom local cache that stores nothing: every get reads Redis, nothing is filled.
            case never
            /// The LRU option with room for one entry: every get reads Redis and fills it.
            case lru1
        }

        @OptionGroup var target: RedisTarget
        @OptionGroup var engine: EngineOptions
        @Option(help: "The reader's local cache: never (stores nothing) or lru1 (LRU, maxSize 1).")
        var local: Local = .never
        @Option(help: "Concurrent callers sharing one instance.") var callers = 1
        @Option(help: "Seconds to measure (after a warm-up of a tenth of that).") var seconds = 4.0
        @Option(help: "Keys written and read.") var keys = 10_000
        @Option(help: "Value size in bytes (a String of that many characters).") var valueSize = 32
        @Flag(help: "Run the callers on the cache's event loop (a shared EventLoop in the options, preferred as the callers' task executor) instead of the global executor.")
        var onLoop = false
        @Flag(help: "Print the result as one JSON object.") var json = false

        func validate() throws {
            guard callers >= 1, callers <= 4_096 else { throw ValidationError("--callers must be 1...4096") }
            guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
            guard keys >= 1, keys <= 1_000_000 else { throw ValidationError("--keys must be 1...1000000") }
        }

        func run() async throws {
            let summary =
                engine.isStandalone
                ? try await target.withServer { configuration in
                    try await measure(address: "\(configuration.host):\(configuration.port)", password: configuration.password)
                }
                : try await measure(address: target.redis ?? "localhost:6379", password: target.password)
            if json {
                print(String(decoding: try JSONEncoder().encode(summary), as: UTF8.self))
            } else {
                print("get (remote hit, local \(local.rawValue)) x\(callers) callers\(onLoop ? " on the loop" : ""): \(summary.row)")
            }
        }

        func measure(address: String, password: String?) async throws -> LatencySummary {
            var options = SyncedCache.Options()
            options.redisAddress = address
            options.redisPassword = password
            engine.apply(to: &options)
            options.enableMetrics = false
            options.readerCanSetToRedis = true
            options.podID = "bench-cache-writer"
            let writer = try await SyncedCache(options: options)
            let value = String(repeating: "v", count: valueSize)
            let names = (0..<keys).map { "bench:\($0)" }
            for start in stride(from: 0, to: keys, by: 500) {
                try await writer.setMany(Dictionary(uniqueKeysWithValues: names[start..<min(start + 500, keys)].map { ($0, value) }))
            }
            await writer.close()

            options.podID = "bench-cache-reader"
            switch local {
            case .never: options.localCache = .passThrough
            case .lru1:
                options.localCache = .lru
                options.localCacheConfig.maxSize = 1
            }
            let loop = onLoop ? try EventLoop(name: "bench-cache") : nil
            options.eventLoop = loop
            let reader = try await SyncedCache(options: options)
            defer { Task { await reader.close(); await loop?.shutdown() } }
            let callers = self.callers
            let keyCount = keys

            func load(for duration: Duration) async throws -> (LatencyRecorder, Int) {
                let deadline = ContinuousClock.now + duration
                return try await withThrowingTaskGroup(of: (LatencyRecorder, Int).self) { group in
                    for caller in 0..<callers {
                        group.addTask(executorPreference: loop) {
                            var recorder = LatencyRecorder()
                            var state = UInt64(caller + 1) &* 0x9E37_79B9_7F4A_7C15
                            var calls = 0
                            while calls & 63 != 0 || ContinuousClock.now < deadline {
                                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                                let key = names[Int((state >> 33) % UInt64(keyCount))]
                                let started = ContinuousClock.now
                                guard try await reader.get(key, as: String.self) != nil else {
                                    throw ValidationError("\(key) is missing in Redis")
                                }
                                recorder.record(nanoseconds: (ContinuousClock.now - started).saturatingNanoseconds)
                                calls += 1
                            }
                            return (recorder, calls)
                        }
                    }
                    var total = LatencyRecorder()
                    var calls = 0
                    for try await (recorder, count) in group {
                        total.merge(recorder)
                        calls += count
                    }
                    return (total, calls)
                }
            }

            progress("warming up...")
            _ = try await load(for: .seconds(seconds / 10))
            progress("measuring \(seconds) s of remote hits, \(callers) callers, local \(local.rawValue)...")
            let started = ContinuousClock.now
            let (recorder, calls) = try await load(for: .seconds(seconds))
            let elapsed = (ContinuousClock.now - started).secondsAsDouble
            await reader.close()
            await loop?.shutdown()
            return recorder.summary(operations: calls, seconds: elapsed)
        }
    }
}
