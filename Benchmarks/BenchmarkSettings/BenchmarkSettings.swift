// The one place that decides how long a benchmark runs, shared by every target of the suite.
//
// A full run (`make benchmarks`) samples each benchmark for up to three seconds. A smoke run
// (`make benchmarks-smoke`, what CI does) sets DCACHE_BENCHMARK_SMOKE=1 and runs every benchmark
// for two samples with no warm-up: its figures mean nothing, but every benchmark's setup, body and
// teardown has run once, so the suite cannot rot unnoticed.

@preconcurrency import Benchmark
import Foundation

/// Whether this process runs the suite as a smoke test (DCACHE_BENCHMARK_SMOKE is set).
public let isSmokeRun = ProcessInfo.processInfo.environment["DCACHE_BENCHMARK_SMOKE"] != nil

/// The configuration every benchmark of the suite uses: wall clock, throughput and allocations.
/// - Parameters:
///   - timeUnits: the unit the figures are printed in.
///   - scalingFactor: operations per timed sample (`.kilo` for operations far below the ~40 ns
///     floor of two clock reads), so the figures are per operation.
///   - maxIterations: the most samples a full run takes (it also stops after three seconds).
public func suiteConfiguration(
    timeUnits: BenchmarkTimeUnits, scalingFactor: BenchmarkScalingFactor, maxIterations: Int
) -> Benchmark.Configuration {
    Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: timeUnits,
        warmupIterations: isSmokeRun ? 0 : 1,
        scalingFactor: scalingFactor,
        maxDuration: isSmokeRun ? .milliseconds(100) : .seconds(3),
        maxIterations: isSmokeRun ? 2 : maxIterations
    )
}
