// dcache bench local: the local store on its own (no Redis), one and two threads.

import ArgumentParser
import Dispatch
import Foundation
import LocalStore

extension Bench {
    struct Local: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hit, miss, set and 90/10 mix on the local store, one and two threads.",
            usage: "dcache bench local [<options>]",
            discussion: """
                Keys ("user:<n>:profile") are visited in a shuffled order; values are small class \
                instances, so a hit pays the retain a real cached object costs. With two threads \
                the second starts half-way through the order, so the two do not copy the same \
                value at the same moment. For repeatable, \
                side-by-side figures use perf/instructions (callgrind) or the Benchmarks package.
                """)

        @Option(help: "Number of keys (the cache holds all of them).") var keys = 10_000
        @Option(help: "Operations per measurement.") var operations = 5_000_000
        @Option(help: "Runs of each measurement; the fastest is reported (shared machines only ever add time).") var rounds = 3
        @Option(help: "Eviction policy: lfu or lru.") var policy = "lfu"
        @Flag(help: "Print the results as JSON.") var json = false

        final class Payload: Sendable {
            let id: Int
            init(_ id: Int) { self.id = id }
        }

        struct Row: Codable {
            var name: String
            var nanosecondsPerOperation: Double
            var millionsPerSecond: Double
        }

        func run() async throws {
            let cache = try ShardedCache<Payload>(configuration: .init(
                policy: policy == "lru" ? .lru : .windowTinyLFU, capacity: .entries(keys * 2), hashSeed: 7))
            let names = (0..<keys).map { "user:\($0):profile" }
            let absent = (0..<keys).map { "absent:\($0):profile" }
            for (index, name) in names.enumerated() { cache.setValue(Payload(index), forKey: name) }
            var generator = SystemRandomNumberGenerator()
            let order = (0..<keys).shuffled(using: &generator)
            let payload = Payload(0)
            var rows: [Row] = []

            /// `body` gets the thread's number (0, 1, ...).
            func measure(_ name: String, threads: Int = 1, _ body: @escaping @Sendable (Int) -> Void) {
                progress("measuring \(name) ...")
                // The fastest of `rounds` runs: on a shared machine, other tenants only ever add time.
                var elapsed = Double.infinity
                for _ in 0..<max(1, rounds) {
                    let started = DispatchTime.now().uptimeNanoseconds
                    DispatchQueue.concurrentPerform(iterations: threads) { body($0) }
                    elapsed = min(elapsed, Double(DispatchTime.now().uptimeNanoseconds - started))
                }
                let total = Double(operations * threads)
                rows.append(Row(name: name, nanosecondsPerOperation: elapsed / Double(operations),
                                millionsPerSecond: total / elapsed * 1_000))
            }
            let count = operations
            measure("hit") { _ in Self.loop(count, order) { _ = cache.value(forKey: names[$0]) } }
            // Thread 1 starts half-way through the order: in lockstep, both would retain and release
            // the same value at the same moment, which measures that reference count, not the store.
            measure("hit, 2 threads", threads: 2) { thread in
                Self.loop(count, order, from: thread * order.count / 2) { _ = cache.value(forKey: names[$0]) }
            }
            measure("miss") { _ in Self.loop(count, order) { _ = cache.value(forKey: absent[$0]) } }
            measure("set (replace)") { _ in Self.loop(count / 10, order) { cache.setValue(payload, forKey: names[$0]) } }
            measure("90/10 read/write") { _ in
                Self.loop(count, order) { index in
                    if index % 10 == 0 { cache.setValue(payload, forKey: names[index]) } else { _ = cache.value(forKey: names[index]) }
                }
            }
            rows[3].nanosecondsPerOperation *= 10  // the set loop ran a tenth of the operations
            rows[3].millionsPerSecond /= 10
            if json {
                writeLine(String(decoding: try JSONEncoder().encode(rows), as: UTF8.self))
            } else {
                writeLine("local store, \(keys) keys, \(policy), \(operations) operations per row")
                writeLine("  operation            ns/op   Mops/s (all threads)")
                for row in rows {
                    let name = row.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    writeLine("  \(name) \(String(format: "%6.1f", row.nanosecondsPerOperation))   \(String(format: "%6.2f", row.millionsPerSecond))")
                }
                let scaling = rows[1].millionsPerSecond / rows[0].millionsPerSecond
                writeLine("  two-thread hit throughput: \(String(format: "%.2f", scaling))x one thread")
            }
        }

        /// Calls `body` `count` times with the keys' indices in `order`, from position `start` on.
        @inline(__always)
        static func loop(_ count: Int, _ order: [Int], from start: Int = 0, _ body: (Int) -> Void) {
            order.withUnsafeBufferPointer { order in
                var position = start
                for _ in 0..<count {
                    body(order[position])
                    position = position &+ 1 == order.count ? 0 : position &+ 1
                }
            }
        }
    }
}
