// ZipfGenerator: the synthetic Zipf workload of the hit-ratio baselines, bit for bit.
//
// Design note. The baselines' `zipf-0.8` and `zipf-1.0` rows come from a generator specified in
// the traces' `zipf.md` [1]: ranks 1...N with weight k^-alpha, the cumulative distribution summed
// in rank order in IEEE double, normalized, its last entry forced to 1; SplitMix64 seeded with 42
// draws u = (next >> 11) * 2^-53, and the key is one plus the first index whose CDF exceeds u
// (binary search). Any deviation changes the stream, so this file follows the spec literally and
// the tests check its fingerprints (first twenty keys, count of key 1, distinct keys).
//
// `pow` may differ from Java's `Math.pow` in the last bit, which can move a handful of samples
// across a CDF boundary; the spec allows the sum of keys to differ by a few units for that reason.
//
// [1] `zipf.md` beside the traces (reference implementation `HitRatio.zipf()`).
//
// Concurrency: a value type; each generator is used by one thread.

import Foundation
import LocalStore

/// A seeded Zipf key stream, exactly as specified in the traces' `zipf.md`.
public struct ZipfGenerator: Sendable {
    /// The normalized cumulative distribution, `cdf[k - 1]` for rank k.
    private let cdf: [Double]
    /// The draw generator.
    private var random: SplitMix64

    /// The spec's universe size.
    public static let baselineUniverse = 1_000_000
    /// The spec's stream length.
    public static let baselineRequests = 5_000_000
    /// The spec's seed.
    public static let baselineSeed: UInt64 = 42

    /// Creates a generator.
    ///
    /// - Parameters:
    ///   - alpha: the skew; 0.8 and 1.0 are the baselines' streams.
    ///   - universe: the number of ranks (keys 1...universe); at least 1.
    ///   - seed: the SplitMix64 seed (42 in the baselines).
    public init(alpha: Double, universe: Int = ZipfGenerator.baselineUniverse, seed: UInt64 = ZipfGenerator.baselineSeed) {
        precondition(universe >= 1, "the universe holds at least one key")
        var cdf = [Double](repeating: 0, count: universe)
        var sum = 0.0
        for k in 1...universe {
            sum += pow(Double(k), -alpha)
            cdf[k - 1] = sum
        }
        for i in cdf.indices { cdf[i] /= sum }
        cdf[universe - 1] = 1.0
        self.cdf = cdf
        self.random = SplitMix64(seed: seed)
    }

    /// Draws the next key, a rank in 1...universe.
    public mutating func next() -> UInt64 {
        let u = Double(random.next() >> 11) * 0x1p-53
        var low = 0
        var high = cdf.count - 1
        while low < high {
            let middle = (low + high) >> 1
            if cdf[middle] > u { high = middle } else { low = middle + 1 }
        }
        return UInt64(low + 1)
    }

    /// Draws `count` keys.
    ///
    /// - Parameter count: the number of keys; the baselines use 5,000,000.
    /// - Returns: the keys in draw order.
    public mutating func keys(_ count: Int = ZipfGenerator.baselineRequests) -> [UInt64] {
        var keys: [UInt64] = []
        keys.reserveCapacity(count)
        for _ in 0..<count { keys.append(next()) }
        return keys
    }
}
