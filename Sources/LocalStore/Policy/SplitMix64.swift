// SplitMix64: the small seedable generator behind every random choice the policies make.
//
// Design note. The admission filter's anti-flooding jitter, the Zipf workload generator and the
// tests all need random numbers that a seed reproduces exactly, so a test or a hit-ratio run gives
// the same figures on every machine. SplitMix64 [1] is the generator Java's `SplittableRandom`
// uses: one 64-bit word of state, one add and three xor-shift-multiply rounds per output, and it
// passes BigCrush. Its output is the reference for the Zipf fingerprints in the traces' `zipf.md`,
// so the constants below must never change.
//
// What we gave up: SplitMix64 is not cryptographic. An attacker who sees enough outputs can predict
// the rest. The admission jitter only has to be unpredictable to a workload that cannot observe it
// (see `WindowTinyLFUPolicy+Eviction.swift`), and each cache seeds its generator separately.
//
// [1] G. L. Steele, D. Lea, C. H. Flood, "Fast Splittable Pseudorandom Number Generators",
//     OOPSLA 2014, https://doi.org/10.1145/2660193.2660195

/// A seedable 64-bit pseudo-random generator (SplitMix64). Not thread-safe: each owner keeps its
/// own, guarded by the owner's lock.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's whole state; the next output is derived from it.
    private var state: UInt64

    /// Creates a generator whose sequence is fully determined by `seed`.
    ///
    /// - Parameter seed: the initial state. Equal seeds always give equal sequences.
    public init(seed: UInt64) {
        self.state = seed
    }

    /// Returns the next 64 random bits.
    ///
    /// - Returns: a value uniformly distributed over all of `UInt64`.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The SplitMix64 output function on its own: a bijective 64-bit mixer. The sketch and the
    /// doorkeeper use it to spread a key hash with a seed, so that no key hash, however chosen,
    /// lands in a predictable counter. (A single multiply-fold, four instructions cheaper, placed
    /// the counters well enough on uniform keys but cost glimpse@500 2.3 points of hit ratio.)
    ///
    /// - Parameter x: any 64-bit value.
    /// - Returns: a well-mixed 64-bit value; distinct inputs give distinct outputs.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
