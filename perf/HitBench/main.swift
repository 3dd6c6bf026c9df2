// dcache-hitbench: the cost of a local hit through the public API, next to a plain Dictionary.
//
//   dcache-hitbench [--seconds S] [--runs R] [--json]
//
// The workload is fixed so that other implementations (the Go reference library, a Dictionary)
// can be run against exactly the same one: 10,000 keys "bl:000000" ... "bl:009999", each holding
// the 32-byte String "value-0123456789abcdef0123456789", read in the order of 2^21 random key
// indices drawn once from a fixed seed (SplitMix64, seed 42). Every variant reads the value and
// adds its UTF-8 length to a checksum, so that no read can be optimized away and every variant
// does the same work with the value. Each variant runs for `--seconds` (default 3) per run; the
// figure is the median of `--runs` runs (default 3), in nanoseconds per read on the reading
// thread's clock (for the two-thread variants: per read per thread, and the throughput ratio).
// With two threads, the second starts half-way through the index array: in lockstep, two threads
// would read the same key at the same moment, and copying its value would measure the contention
// on that value's reference count, not the cache (dcache bench local showed two lockstep readers
// at 0.55x one reader's throughput in some runs and 1.7x in others).
//
// Variants: the Dictionary<String, String> baseline (unsynchronized, one thread); SyncedCache.get
// from a nonisolated async function and from a @MainActor function; SyncedCache.localValue; with
// the default policy (W-TinyLFU) and with LRU; two threads reading with localValue, each key's
// value a distinct String object; two threads reading one hot key, with localValue (copies the
// value: its reference count is written by both threads) and with withLocalValue (borrows it).
// The caches run on a throwaway redis-server on loopback (EmbeddedRedis) that the benchmark
// starts and stops; no read in the measured loops goes to Redis.

import DistributedCache
import EmbeddedRedis
import Foundation
import LocalStore

// MARK: - The workload

let keyCount = 10_000
let keys: [String] = (0..<keyCount).map { "bl:" + String(repeating: "0", count: 6 - String($0).count) + String($0) }
let value = "value-0123456789abcdef0123456789"
let indexBits = 21

let indices: [Int32] = {
    var random = SplitMix64(seed: 42)
    return (0..<(1 << indexBits)).map { _ in Int32(truncatingIfNeeded: random.next() % UInt64(keyCount)) }
}()

// MARK: - Arguments

struct Arguments {
    var seconds = 3.0
    var runs = 3
    var json = false

    init() {
        var iterator = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--seconds": seconds = Double(iterator.next() ?? "") ?? seconds
            case "--runs": runs = Int(iterator.next() ?? "") ?? runs
            case "--json": json = true
            default:
                FileHandle.standardError.write(Data("usage: dcache-hitbench [--seconds S] [--runs R] [--json]\n".utf8))
                exit(2)
            }
        }
    }
}

let arguments = Arguments()

// MARK: - Timing

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Runs `pass` (one pass over the index array, returning a checksum) until `seconds` elapsed;
/// returns nanoseconds per read.
func timed(_ pass: () -> Int) -> Double {
    var reads = 0
    var checksum = 0
    let start = now()
    let budget = UInt64(arguments.seconds * 1e9)
    while now() - start < budget {
        checksum &+= pass()
        reads += indices.count
    }
    let elapsed = Double(now() - start)
    if checksum == 42 { print("") }
    return elapsed / Double(reads)
}

/// The async form of `timed`, for `get`.
nonisolated(nonsending) func timedAsync(_ pass: () async -> Int) async -> Double {
    var reads = 0
    var checksum = 0
    let start = now()
    let budget = UInt64(arguments.seconds * 1e9)
    while now() - start < budget {
        checksum &+= await pass()
        reads += indices.count
    }
    let elapsed = Double(now() - start)
    if checksum == 42 { print("") }
    return elapsed / Double(reads)
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// Runs `body` on two threads at once, telling each where in the index array to start (0 and
/// half-way); returns each thread's ns per read, averaged.
func onTwoThreads(_ body: @escaping @Sendable (_ start: Int) -> Double) -> Double {
    let results = ResultsBox()
    let group = DispatchGroup()
    for thread in 0..<2 {
        group.enter()
        Thread {
            results.append(body(thread * indices.count / 2))
            group.leave()
        }.start()
    }
    group.wait()
    return results.values.reduce(0, +) / 2
}

final class ResultsBox: @unchecked Sendable {
    // @unchecked Sendable: `values` is guarded by `lock`.
    private let lock = NSLock()
    private var stored: [Double] = []
    func append(_ value: Double) { lock.withLock { stored.append(value) } }
    var values: [Double] { lock.withLock { stored } }
}

// MARK: - Variants

/// Calls `body` with every index of the array once, starting at `start` and wrapping around.
@inline(__always)
func forEachIndex(from start: Int, _ body: (Int) -> Void) {
    for index in indices[start...] { body(Int(index)) }
    for index in indices[..<start] { body(Int(index)) }
}

func dictionaryPass(_ dictionary: [String: String], from start: Int = 0) -> Int {
    var checksum = 0
    forEachIndex(from: start) { checksum &+= dictionary[keys[$0]]?.utf8.count ?? 0 }
    return checksum
}

func localValuePass(_ cache: SyncedCache, from start: Int = 0) -> Int {
    var checksum = 0
    forEachIndex(from: start) { checksum &+= cache.localValue(forKey: keys[$0], as: String.self)?.utf8.count ?? 0 }
    return checksum
}

func hotLocalValuePass(_ cache: SyncedCache) -> Int {
    var checksum = 0
    let key = keys[0]
    for _ in indices { checksum &+= cache.localValue(forKey: key, as: String.self)?.utf8.count ?? 0 }
    return checksum
}

func hotBorrowingPass(_ cache: SyncedCache) -> Int {
    var checksum = 0
    let key = keys[0]
    for _ in indices { checksum &+= cache.withLocalValue(forKey: key, as: String.self) { $0.utf8.count } ?? 0 }
    return checksum
}

nonisolated func getPass(_ cache: SyncedCache) async -> Int {
    var checksum = 0
    for index in indices { checksum &+= (try? await cache.get(keys[Int(index)], as: String.self))??.utf8.count ?? 0 }
    return checksum
}

@MainActor func mainActorGetPass(_ cache: SyncedCache) async -> Int {
    var checksum = 0
    for index in indices { checksum &+= (try? await cache.get(keys[Int(index)], as: String.self))??.utf8.count ?? 0 }
    return checksum
}

nonisolated func timeGet(_ cache: SyncedCache) async -> Double { await timedAsync { await getPass(cache) } }
@MainActor func timeMainActorGet(_ cache: SyncedCache) async -> Double { await timedAsync { await mainActorGetPass(cache) } }

/// A cache on `server` holding every key; with `distinctValues`, each key's value is its own
/// String object (the default shares one storage object, as a value set from one literal would).
func makeCache(_ server: RedisServerProcess, policy: SyncedCache.LocalCacheKind, distinctValues: Bool = false) async throws
    -> SyncedCache
{
    var options = SyncedCache.Options()
    options.redisAddress = server.address
    options.podID = "hitbench-\(UInt32.random(in: 0...UInt32.max))"
    options.enableMetrics = false
    options.localCache = policy
    options.localCacheConfig.maxSize = keyCount * 2
    let cache = try await SyncedCache(options: options)
    var values: [String: String] = [:]
    for key in keys { values[key] = distinctValues ? String(value.utf8.map { Character(UnicodeScalar($0)) }) : value }
    try await cache.setMany(values)
    return cache
}

struct Row: Codable {
    var name: String
    var nanosecondsPerRead: Double
    var ratioToDictionary: Double
}

// MARK: - Main

let server = try await RedisServerProcess.start()
defer { server.stop() }
var rows: [Row] = []
@MainActor func record(_ name: String, _ figures: [Double], baseline: Double?) {
    let figure = median(figures)
    rows.append(Row(name: name, nanosecondsPerRead: figure, ratioToDictionary: baseline.map { figure / $0 } ?? 1))
}
func progress(_ text: String) { FileHandle.standardError.write(Data("hitbench: \(text)\n".utf8)) }

var dictionary: [String: String] = [:]
for key in keys { dictionary[key] = value }
progress("Dictionary baseline")
let baseline = median((0..<arguments.runs).map { _ in timed { dictionaryPass(dictionary) } })
record("Dictionary<String, String> subscript", [baseline], baseline: baseline)

for (label, policy) in [("LFU", SyncedCache.LocalCacheKind.lfu), ("LRU", .lru)] {
    let cache = try await makeCache(server, policy: policy)
    progress("\(label): get, nonisolated")
    var runs: [Double] = []
    for _ in 0..<arguments.runs { runs.append(await timeGet(cache)) }
    record("SyncedCache.get, \(label), nonisolated caller", runs, baseline: baseline)
    progress("\(label): get, @MainActor")
    runs = []
    for _ in 0..<arguments.runs { runs.append(await timeMainActorGet(cache)) }
    record("SyncedCache.get, \(label), @MainActor caller", runs, baseline: baseline)
    progress("\(label): localValue")
    record("SyncedCache.localValue, \(label)", (0..<arguments.runs).map { _ in timed { localValuePass(cache) } },
           baseline: baseline)
    await cache.close()
}

do {
    // The same two-thread measure on a Dictionary of distinct values: what the machine allows when
    // two cores copy (retain and release) values they share.
    var distinct: [String: String] = [:]
    for key in keys { distinct[key] = String(value.utf8.map { Character(UnicodeScalar($0)) }) }
    let frozen = distinct
    progress("Dictionary, distinct values")
    let one = median((0..<arguments.runs).map { _ in timed { dictionaryPass(frozen) } })
    record("Dictionary, distinct values, 1 thread", [one], baseline: baseline)
    let two = median((0..<arguments.runs).map { _ in onTwoThreads { start in timed { dictionaryPass(frozen, from: start) } } })
    record("Dictionary, distinct values, 2 threads (per thread)", [two], baseline: baseline)
}

do {
    let cache = try await makeCache(server, policy: .lfu, distinctValues: true)
    progress("two threads, distinct values")
    let one = median((0..<arguments.runs).map { _ in timed { localValuePass(cache) } })
    record("localValue, LFU, distinct values, 1 thread", [one], baseline: baseline)
    let two = median((0..<arguments.runs).map { _ in onTwoThreads { start in timed { localValuePass(cache, from: start) } } })
    record("localValue, LFU, distinct values, 2 threads (per thread)", [two], baseline: baseline)
    progress("two threads, one hot value")
    let hotOne = median((0..<arguments.runs).map { _ in timed { hotLocalValuePass(cache) } })
    record("localValue, one hot key, 1 thread", [hotOne], baseline: baseline)
    let hotTwo = median((0..<arguments.runs).map { _ in onTwoThreads { _ in timed { hotLocalValuePass(cache) } } })
    record("localValue, one hot key, 2 threads (per thread)", [hotTwo], baseline: baseline)
    let borrowOne = median((0..<arguments.runs).map { _ in timed { hotBorrowingPass(cache) } })
    record("withLocalValue, one hot key, 1 thread", [borrowOne], baseline: baseline)
    let borrowTwo = median((0..<arguments.runs).map { _ in onTwoThreads { _ in timed { hotBorrowingPass(cache) } } })
    record("withLocalValue, one hot key, 2 threads (per thread)", [borrowTwo], baseline: baseline)
    await cache.close()
}

@MainActor func figure(_ name: String) -> Double { rows.first { $0.name == name }!.nanosecondsPerRead }
let scaling: [(String, Double)] = [
    ("2 threads / 1 thread throughput, Dictionary, distinct values",
     2 * figure("Dictionary, distinct values, 1 thread") / figure("Dictionary, distinct values, 2 threads (per thread)")),
    ("2 threads / 1 thread throughput, distinct values",
     2 * figure("localValue, LFU, distinct values, 1 thread") / figure("localValue, LFU, distinct values, 2 threads (per thread)")),
    ("2 threads / 1 thread throughput, one hot key, localValue",
     2 * figure("localValue, one hot key, 1 thread") / figure("localValue, one hot key, 2 threads (per thread)")),
    ("2 threads / 1 thread throughput, one hot key, withLocalValue",
     2 * figure("withLocalValue, one hot key, 1 thread") / figure("withLocalValue, one hot key, 2 threads (per thread)")),
    ("get from @MainActor / from nonisolated, LFU",
     figure("SyncedCache.get, LFU, @MainActor caller") / figure("SyncedCache.get, LFU, nonisolated caller")),
    ("get from @MainActor / from nonisolated, LRU",
     figure("SyncedCache.get, LRU, @MainActor caller") / figure("SyncedCache.get, LRU, nonisolated caller")),
]

if arguments.json {
    struct Report: Codable {
        var rows: [Row]
        var ratios: [String: Double]
    }
    let report = Report(rows: rows, ratios: Dictionary(uniqueKeysWithValues: scaling))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
} else {
    print("| read (10,000 keys, 32-byte String values, 2^21 random indices) | ns per read | ratio to Dictionary |")
    print("|---|--:|--:|")
    for row in rows { print(String(format: "| %@ | %.1f | %.2f |", row.name, row.nanosecondsPerRead, row.ratioToDictionary)) }
    print("")
    print("| ratio | value |")
    print("|---|--:|")
    for (name, ratio) in scaling { print(String(format: "| %@ | %.2f |", name, ratio)) }
}
