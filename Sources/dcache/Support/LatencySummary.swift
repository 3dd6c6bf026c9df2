// Latency percentiles from HdrHistogram, printed as a table row or as JSON for perf/ scripts.

import Histogram

/// Latencies in nanoseconds, recorded per operation.
struct LatencyRecorder: Sendable {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(nanoseconds: Int64) {
        _ = histogram.record(UInt64(max(nanoseconds, 1)))
    }

    mutating func merge(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
    }

    /// The figures reported for a run of `count` operations over `seconds`; with `distribution`,
    /// also the latency at every percentile (the points of a CDF chart).
    func summary(operations count: Int, seconds: Double, distribution: Bool = false) -> LatencySummary {
        LatencySummary(
            operations: count,
            throughput: Double(count) / seconds,
            p50: Double(histogram.valueAtPercentile(50)) / 1_000,
            p99: Double(histogram.valueAtPercentile(99)) / 1_000,
            p999: Double(histogram.valueAtPercentile(99.9)) / 1_000,
            max: Double(histogram.max) / 1_000,
            distribution: distribution ? Self.chartedPercentiles.map { [$0, Double(histogram.valueAtPercentile($0)) / 1_000] } : nil)
    }

    /// 1, 2, ... 99, then the tail in finer steps.
    static let chartedPercentiles: [Double] = (1...99).map(Double.init) + [99.5, 99.9, 99.95, 99.99, 100]
}

/// Throughput (operations per second) and latency percentiles (microseconds).
struct LatencySummary: Codable, Sendable {
    var operations: Int
    var throughput: Double
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double
    /// [percentile, microseconds] pairs, when asked for (perf/charts draws them).
    var distribution: [[Double]]? = nil

    var row: String {
        func f(_ value: Double, _ digits: Int = 1) -> String {
            let scale = Double([1, 10, 100, 1000][digits])
            return String(Double((value * scale).rounded()) / scale)
        }
        return "\(operations) ops  \(f(throughput / 1_000, 1)) k ops/s  p50 \(f(p50)) µs  p99 \(f(p99)) µs  p99.9 \(f(p999)) µs  max \(f(max)) µs"
    }
}
