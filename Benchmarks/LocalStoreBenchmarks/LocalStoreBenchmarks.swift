// Local store benchmarks: hit, miss, set and a 90/10 mix on 10k and 1M keys, one and two threads,
// next to a plain Swift Dictionary lookup as the "raw table lookup" baseline.
//
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark \
//        --target LocalStoreBenchmarks
//
// Each timed sample runs 1,000 operations (scalingFactor .kilo), so the reported nanoseconds are
// per operation: a single operation is far below the ~40 ns floor of two clock reads. Keys are
// visited in a shuffled order so the hardware prefetcher does not walk the table for us.

@preconcurrency import Benchmark
import BenchmarkSettings
import Dispatch
import LocalStore

/// The value type: a class, so a hit pays the retain a real cached object costs.
final class Payload: Sendable {
    let id: Int
    init(_ id: Int) { self.id = id }
}

/// Keys like real cache keys: 20+ UTF-8 bytes, so Swift stores them on the heap.
func makeKeys(_ count: Int) -> [String] {
    (0..<count).map { "user:\($0):profile" }
}

struct Fixture {
    let cache: ShardedCache<Payload>
    let keys: [String]
    let order: [Int]

    init(keys count: Int, policy: ShardedCache<Payload>.Policy = .windowTinyLFU, capacity: Int? = nil) {
        cache = try! ShardedCache<Payload>(
            configuration: .init(policy: policy, capacity: .entries(capacity ?? count * 2), hashSeed: 7))
        keys = makeKeys(count)
        for (index, key) in keys.enumerated() { cache.setValue(Payload(index), forKey: key) }
        var generator = SplitMix64(seed: 42)
        order = (0..<count).shuffled(using: &generator)
    }
}

nonisolated(unsafe) let perOperation = suiteConfiguration(timeUnits: .nanoseconds, scalingFactor: .kilo, maxIterations: 1_000_000)

/// Runs `body` on `threads` threads at once, each doing `count` operations; returns when all end.
func onThreads(_ threads: Int, _ body: @Sendable @escaping (Int) -> Void) {
    DispatchQueue.concurrentPerform(iterations: threads) { body($0) }
}

let benchmarks: @Sendable () -> Void = {
    // Fixtures are built once per process, lazily, so listing benchmarks stays fast.
    nonisolated(unsafe) var small: Fixture?
    nonisolated(unsafe) var large: Fixture?
    func smallFixture() -> Fixture {
        if small == nil { small = Fixture(keys: 10_000) }
        return small!
    }
    func largeFixture() -> Fixture {
        if large == nil { large = Fixture(keys: 1_000_000) }
        return large!
    }

    for (label, fixture) in [("10k", smallFixture), ("1M", largeFixture)] {
        Benchmark("LocalStore.hit.\(label)", configuration: perOperation) { benchmark in
            let f = fixture()
            var position = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(f.cache.value(forKey: f.keys[f.order[position]]))
                position = position &+ 1 == f.order.count ? 0 : position &+ 1
            }
        }
    }

    Benchmark("Baseline.dictionary.hit.10k", configuration: perOperation) { benchmark in
        let f = smallFixture()
        var dictionary: [String: Payload] = [:]
        for (index, key) in f.keys.enumerated() { dictionary[key] = Payload(index) }
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(dictionary[f.keys[f.order[position]]])
            position = position &+ 1 == f.order.count ? 0 : position &+ 1
        }
    }

    Benchmark("LocalStore.miss.10k", configuration: perOperation) { benchmark in
        let f = smallFixture()
        let absent = (0..<10_000).map { "absent:\($0):profile" }
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(f.cache.value(forKey: absent[f.order[position]]))
            position = position &+ 1 == f.order.count ? 0 : position &+ 1
        }
    }

    Benchmark("LocalStore.set.replace.10k", configuration: perOperation) { benchmark in
        let f = smallFixture()
        let payload = Payload(0)
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            f.cache.setValue(payload, forKey: f.keys[f.order[position]])
            position = position &+ 1 == f.order.count ? 0 : position &+ 1
        }
    }

    Benchmark("LocalStore.set.evicting.10k", configuration: perOperation) { benchmark in
        // A full cache of 10,000 entries taking new keys: every set admits or rejects and evicts.
        let cache = try! ShardedCache<Payload>(configuration: .init(capacity: .entries(10_000), hashSeed: 7))
        let keys = makeKeys(100_000)
        for key in keys.prefix(10_000) { cache.setValue(Payload(0), forKey: key) }
        let payload = Payload(1)
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            cache.setValue(payload, forKey: keys[position])
            position = position &+ 1 == keys.count ? 0 : position &+ 1
        }
    }

    Benchmark("LocalStore.mix90-10.10k", configuration: perOperation) { benchmark in
        let f = smallFixture()
        let payload = Payload(0)
        var position = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let key = f.keys[f.order[position]]
            if position % 10 == 0 {
                f.cache.setValue(payload, forKey: key)
            } else {
                blackHole(f.cache.value(forKey: key))
            }
            position = position &+ 1 == f.order.count ? 0 : position &+ 1
        }
    }

    // Scaling: the same hit loop on one and on two threads. Each thread does the full iteration
    // count, so the two-thread figure is per operation per thread; throughput(2)/throughput(1) =
    // 2 x time(1) / time(2).
    for threads in [1, 2] {
        Benchmark("LocalStore.hit.10k.threads\(threads)", configuration: perOperation) { benchmark in
            let f = smallFixture()
            let count = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            onThreads(threads) { thread in
                var position = thread * 4_999
                for _ in 0..<count {
                    blackHole(f.cache.value(forKey: f.keys[f.order[position]]))
                    position = position &+ 1 == f.order.count ? 0 : position &+ 1
                }
            }
        }
    }
}
