// dcache-probe: exactly N operations after a fixed setup, for perf/instructions and perf/report.
//
//   dcache-probe <operation> <count> [--keys K] [--redis host:port] [--allocations]
//
// Callgrind counts every instruction of a run, setup included; perf/instructions runs a probe
// with N and with 2N operations and divides the difference by N, which cancels the setup. So
// the setup here must not depend on N or on timing: fixed hash seed, fixed key order, no pings,
// no metrics task. With --allocations it also prints the bytes the measuring thread allocated
// during the N operations (jemalloc's per-thread counter): 0 means no allocation.
//
// A separate, synchronous program rather than a `dcache` subcommand: Valgrind 3.19 crashes
// inside libdispatch's signal thread, which an `async` main starts.

import CSupport
import DistributedCache
import Foundation
import LocalStore

enum Operation: String, CaseIterable {
    /// LocalStore hit (the maintenance thread applies the rings; perf/instructions counts the
    /// calling thread only).
    case hit
    /// LocalStore hit with upkeep: a store with manual upkeep whose calling thread applies its
    /// ring after every `readBufferSize` reads, so that (this - hit) is the upkeep per read.
    case upkeep
    /// LocalStore miss.
    case miss
    /// LocalStore set (replacing existing keys), the calling thread's part: the policy applies
    /// the writes on the maintenance thread, which the probe lets catch up every 256 sets (so
    /// that the write buffer never fills and the writer never applies it itself).
    case set

    /// LocalStore insert of new keys, `count` of them (give --keys the same number): with
    /// --allocations, the memory an entry costs beyond its key and value (both allocated before
    /// measuring), amortized growth of the tables, sketch and climber included.
    case insert
    /// Swift Dictionary lookup of the same keys: the raw table lookup baseline.
    case dictionary
    /// Hashing the key only.
    case hash
    /// SyncedCache.localValue (public API, synchronous) hit; needs --redis.
    case cacheLocalValue = "cache-local-value"
    /// SyncedCache.get (public API, async) local hit; needs --redis.
    case cacheGet = "cache-get"
    /// The local-hit workload of dcache-hitbench (keys "bl:000000"..., the 32-byte String
    /// value): SyncedCache.get; needs --redis.
    case cacheGetString = "cache-get-string"
    /// The same workload on a Dictionary<String, String>.
    case dictionaryString = "dictionary-string"
}

struct Arguments {
    var operation = Operation.hit
    var count = 100_000
    var keys = 10_000
    var redis: String?
    var allocations = false

    init(_ arguments: [String]) throws {
        var positional: [String] = []
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--keys": keys = try Int(iterator.next() ?? "").orThrow("--keys needs a number")
            case "--redis": redis = try iterator.next().orThrow("--redis needs host:port")
            case "--allocations": allocations = true
            default: positional.append(argument)
            }
        }
        guard positional.count == 2, let operation = Operation(rawValue: positional[0]), let count = Int(positional[1]),
            count > 0, keys > 0
        else {
            let operations = Operation.allCases.map(\.rawValue).joined(separator: "|")
            throw UsageError("usage: dcache-probe <\(operations)> <count> [--keys K] [--redis host:port] [--allocations]")
        }
        self.operation = operation
        self.count = count
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Optional {
    func orThrow(_ message: String) throws -> Wrapped {
        guard let self else { throw UsageError(message) }
        return self
    }
}

final class Payload: Codable, Sendable {
    let id: Int
    init(_ id: Int) { self.id = id }
}

/// The probe's run; `checksum` keeps the loops from being optimized away.
struct Probe {
    /// dcache-hitbench's value.
    static let stringValue = "value-0123456789abcdef0123456789"

    let arguments: Arguments
    let names: [String]
    let order: [Int]
    var checksum = 0

    init(_ arguments: Arguments) {
        self.arguments = arguments
        switch arguments.operation {
        case .cacheGetString, .dictionaryString:
            names = (0..<arguments.keys).map { "bl:" + String(repeating: "0", count: max(0, 6 - String($0).count)) + String($0) }
        default:
            names = (0..<arguments.keys).map { "user:\($0):profile" }
        }
        var generator = SplitMix64(seed: 42)
        order = (0..<arguments.keys).shuffled(using: &generator)
    }

    /// Runs `body` for `count` keys in the fixed order; returns the bytes allocated meanwhile.
    func measured(_ body: (Int) -> Void) -> Int64 {
        let before = dc_alloc_thread_allocated_bytes()
        order.withUnsafeBufferPointer { order in
            var position = 0
            for _ in 0..<arguments.count {
                body(order[position])
                position = position &+ 1 == order.count ? 0 : position &+ 1
            }
        }
        return dc_alloc_thread_allocated_bytes() - before
    }

    mutating func runLocal() throws -> Int64 {
        var checksum = 0
        defer { self.checksum &+= checksum }
        let names = self.names
        switch arguments.operation {
        case .dictionaryString:
            var dictionary: [String: String] = [:]
            for name in names { dictionary[name] = Probe.stringValue }
            for name in names { checksum &+= dictionary[name]?.utf8.count ?? 0 }
            return measured { checksum &+= dictionary[names[$0]]?.utf8.count ?? 0 }
        case .dictionary:
            var dictionary: [String: Payload] = [:]
            for (index, name) in names.enumerated() { dictionary[name] = Payload(index) }
            for name in names { checksum &+= dictionary[name]?.id ?? 0 }
            return measured { checksum &+= dictionary[names[$0]]?.id ?? 0 }
        case .insert:
            // Manual upkeep: every write is applied, and every retired table freed, on this thread,
            // whose allocation counters are the ones read (with the maintenance thread, frees it
            // did would count as held memory here).
            let store = try ShardedCache<Payload>(
                configuration: .init(capacity: .entries(names.count), hashSeed: 7, upkeep: .manual))
            let payloads = names.indices.map { Payload($0) }
            let inserts = min(arguments.count, names.count)
            let before = dc_alloc_thread_allocated_bytes()
            let freedBefore = dc_alloc_thread_deallocated_bytes()
            for index in 0..<inserts { store.setValue(payloads[index], forKey: names[index]) }
            // Free what the growth retired: old slot tables wait for the epoch reclaimer, which
            // frees them three epoch advances (one per pass) after they were retired.
            for _ in 0..<4 { store.runMaintenance() }
            let allocated = dc_alloc_thread_allocated_bytes() - before
            let freed = dc_alloc_thread_deallocated_bytes() - freedBefore
            if arguments.allocations {
                // Held: what the inserts left allocated (the store's memory for these entries).
                print("held_bytes=\(allocated - freed) per_entry=\(Double(allocated - freed) / Double(inserts))")
            }
            checksum &+= store.count
            return allocated
        default:
            let upkeep: StoreConfiguration.Upkeep = arguments.operation == .upkeep ? .manual : .maintenanceThread
            let store = try ShardedCache<Payload>(
                configuration: .init(capacity: .entries(arguments.keys * 2), hashSeed: 7, upkeep: upkeep))
            for (index, name) in names.enumerated() { store.setValue(Payload(index), forKey: name) }
            let absent = names.map { "absent:" + $0 }
            let payload = Payload(0)
            // Warm every key once (thread block, rings, branch predictors).
            for name in names { checksum &+= store.value(forKey: name)?.id ?? 0 }
            switch arguments.operation {
            case .hit: return measured { checksum &+= store.value(forKey: names[$0])?.id ?? 0 }
            case .upkeep:
                let ring = store.configuration.readBufferSize
                var reads = 0
                store.runMaintenance()
                return measured {
                    checksum &+= store.value(forKey: names[$0])?.id ?? 0
                    reads &+= 1
                    if reads == ring {
                        reads = 0
                        store.runMaintenance()
                    }
                }
            case .miss: return measured { checksum &+= store.value(forKey: absent[$0])?.id ?? 1 }
            case .set:
                var sets = 0
                return measured {
                    store.setValue(payload, forKey: names[$0])
                    sets &+= 1
                    if sets == 256 {
                        sets = 0
                        var rest = timespec(tv_sec: 0, tv_nsec: 100_000)
                        while store.pendingWrites > 0 { nanosleep(&rest, nil) }
                    }
                }
            default: return measured { checksum &+= Int(truncatingIfNeeded: store.hash(names[$0])) }
            }
        }
    }

    func runCache() async throws -> (allocated: Int64, checksum: Int) {
        guard let redis = arguments.redis else {
            throw UsageError("--redis is required for \(arguments.operation.rawValue)")
        }
        var options = SyncedCache.Options()
        options.redisAddress = redis
        options.podID = "probe"
        options.enableMetrics = false
        options.pingInterval = .zero
        let cache = try await SyncedCache(options: options)
        var checksum = 0
        if arguments.operation == .cacheGetString {
            for name in names { try await cache.set(name, Probe.stringValue) }
            for name in names { checksum &+= cache.localValue(forKey: name, as: String.self)?.utf8.count ?? 0 }
            let before = dc_alloc_thread_allocated_bytes()
            var position = 0
            for _ in 0..<arguments.count {
                checksum &+= try await cache.get(names[order[position]], as: String.self)?.utf8.count ?? 0
                position = position &+ 1 == order.count ? 0 : position &+ 1
            }
            let allocated = dc_alloc_thread_allocated_bytes() - before
            await cache.close()
            return (allocated, checksum)
        }
        for (index, name) in names.enumerated() { try await cache.set(name, Payload(index)) }
        for name in names { checksum &+= cache.localValue(forKey: name, as: Payload.self)?.id ?? 0 }
        let allocated: Int64
        if arguments.operation == .cacheLocalValue {
            allocated = measured { checksum &+= cache.localValue(forKey: names[$0], as: Payload.self)?.id ?? 0 }
        } else {
            let before = dc_alloc_thread_allocated_bytes()
            var position = 0
            for _ in 0..<arguments.count {
                checksum &+= try await cache.get(names[order[position]], as: Payload.self)?.id ?? 0
                position = position &+ 1 == order.count ? 0 : position &+ 1
            }
            allocated = dc_alloc_thread_allocated_bytes() - before
        }
        await cache.close()
        return (allocated, checksum)
    }
}

/// Runs an async body from synchronous code and waits for it (setup only; never measured).
func blocking<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) throws -> Result {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var outcome: Swift.Result<Result, any Error>?
    Task {
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome!.get()
}

do {
    let arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
    var probe = Probe(arguments)
    let allocated: Int64
    switch arguments.operation {
    case .cacheLocalValue, .cacheGet, .cacheGetString:
        let finished = probe
        let result = try blocking { try await finished.runCache() }
        allocated = result.allocated
        probe.checksum &+= result.checksum
    default:
        allocated = try probe.runLocal()
    }
    if arguments.allocations {
        print("allocated_bytes=\(allocated) per_operation=\(Double(allocated) / Double(arguments.count))")
    }
    if probe.checksum == 42 { print("") }
} catch {
    FileHandle.standardError.write(Data("dcache-probe: \(error)\n".utf8))
    exit(2)
}
