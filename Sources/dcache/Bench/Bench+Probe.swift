// dcache bench probe: exactly N operations after a fixed setup, for perf/instructions.
//
// Callgrind counts every instruction of a run, setup included; perf/instructions runs a probe
// with N and with 2N operations and divides the difference by N, which cancels the setup. So
// the setup here must not depend on N or on timing: fixed hash seed, fixed key order, no pings,
// no metrics task. With --allocations, it also reports the bytes the calling thread allocated
// during the N operations (jemalloc's per-thread counter): 0 means no allocation.

import ArgumentParser
import CSupport
import DistributedCache
import Foundation

extension Bench {
    struct Probe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run exactly N operations after a fixed setup (for perf/instructions).", shouldDisplay: false)

        enum Operation: String, ExpressibleByArgument, CaseIterable {
            /// LocalStore hit.
            case hit
            /// LocalStore miss.
            case miss
            /// LocalStore set (replacing existing keys).
            case set
            /// Swift Dictionary lookup of the same keys: the raw table lookup baseline.
            case dictionary
            /// Hashing the key only.
            case hash
            /// SyncedCache.localValue (public API, synchronous) hit; needs --redis.
            case cacheLocalValue = "cache-local-value"
            /// SyncedCache.get (public API, async) local hit; needs --redis.
            case cacheGet = "cache-get"
        }

        @Option(help: "The operation.") var op: Operation = .hit
        @Option(help: "How many operations.") var count = 100_000
        @Option(help: "Keys (visited in a fixed shuffled order).") var keys = 10_000
        @Option(help: "Redis for the cache operations.") var redis: String?
        @Flag(help: "Report bytes allocated by the operations (jemalloc).") var allocations = false

        final class Payload: Codable, Sendable {
            let id: Int
            init(_ id: Int) { self.id = id }
        }

        func run() async throws {
            let names = (0..<keys).map { "user:\($0):profile" }
            var generator = SplitMixGenerator(seed: 42)
            let order = (0..<keys).shuffled(using: &generator)
            var checksum = 0
            var allocated: Int64 = 0

            func measured(_ body: () -> Void) {
                let before = dc_alloc_thread_allocated_bytes()
                body()
                allocated = dc_alloc_thread_allocated_bytes() - before
            }
            func loop(_ body: (Int) -> Void) {
                order.withUnsafeBufferPointer { order in
                    var position = 0
                    for _ in 0..<count {
                        body(order[position])
                        position = position &+ 1 == order.count ? 0 : position &+ 1
                    }
                }
            }

            switch op {
            case .hit, .miss, .set, .hash:
                let store = try ShardedCache<Payload>(configuration: .init(capacity: .entries(keys * 2), hashSeed: 7))
                for (index, name) in names.enumerated() { store.setValue(Payload(index), forKey: name) }
                let absent = names.map { "absent:" + $0 }
                let payload = Payload(0)
                // Warm every key once (thread block, rings, branch predictors).
                for name in names { checksum &+= store.value(forKey: name)?.id ?? 0 }
                measured {
                    switch op {
                    case .hit: loop { checksum &+= store.value(forKey: names[$0])?.id ?? 0 }
                    case .miss: loop { checksum &+= store.value(forKey: absent[$0])?.id ?? 1 }
                    case .set: loop { store.setValue(payload, forKey: names[$0]) }
                    default: loop { checksum &+= Int(truncatingIfNeeded: store.hash(names[$0])) }
                    }
                }
            case .dictionary:
                var dictionary: [String: Payload] = [:]
                for (index, name) in names.enumerated() { dictionary[name] = Payload(index) }
                for name in names { checksum &+= dictionary[name]?.id ?? 0 }
                measured { loop { checksum &+= dictionary[names[$0]]?.id ?? 0 } }
            case .cacheLocalValue, .cacheGet:
                guard let redis else { throw ValidationError("--redis is required for \(op.rawValue)") }
                var options = SyncedCache.Options()
                options.redisAddress = redis
                options.podID = "probe"
                options.enableMetrics = false
                options.pingInterval = .zero
                let cache = try await SyncedCache(options: options)
                for (index, name) in names.enumerated() { try await cache.set(name, Payload(index)) }
                for name in names { checksum &+= cache.localValue(forKey: name, as: Payload.self)?.id ?? 0 }
                if op == .cacheLocalValue {
                    measured { loop { checksum &+= cache.localValue(forKey: names[$0], as: Payload.self)?.id ?? 0 } }
                } else {
                    let before = dc_alloc_thread_allocated_bytes()
                    var position = 0
                    for _ in 0..<count {
                        checksum &+= try await cache.get(names[order[position]], as: Payload.self)?.id ?? 0
                        position = position &+ 1 == order.count ? 0 : position &+ 1
                    }
                    allocated = dc_alloc_thread_allocated_bytes() - before
                }
                await cache.close()
            }
            if allocations {
                writeLine("allocated_bytes=\(allocated) per_operation=\(Double(allocated) / Double(count))")
            }
            if checksum == 42 { writeLine("") }  // keeps the loops from being optimized away
        }
    }
}

/// SplitMix64: a fixed key order for every run.
struct SplitMixGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
