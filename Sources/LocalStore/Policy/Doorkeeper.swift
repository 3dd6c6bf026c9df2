// Doorkeeper: a Bloom filter that absorbs the first occurrence of each key before the sketch.
//
// Design note. In most workloads the majority of distinct keys occur once in a sample period
// ("one-hit wonders"). Counting them in the 4-bit sketch wastes counters and inflates the
// estimates of the keys that share those counters. TinyLFU [1] puts a Bloom filter, the
// doorkeeper, in front: a key's first occurrence since the last reset only sets its bits, later
// occurrences go to the sketch, and the estimate is the sketch's count plus one when the
// doorkeeper holds the key. The doorkeeper is cleared at every reset, which ages it exactly as
// halving ages the counters (a count of one halves to zero).
//
// Parameters:
//   - Size: 16 bits per sketch word, i.e. a quarter of the sketch's memory. A sample period
//     records 10 × maximum increments, so at most that many keys enter between two clears; on the
//     measured traces a period held 1.5 to 4 distinct keys per cache entry, which 16 bits per
//     table word (≥ 16 bits per cache entry, since the table has at least one word per entry)
//     keeps at a false-positive rate of a few percent with three probes. (A false positive only
//     makes a new key look like a second-timer.)
//   - Three probes, all in one 64-bit word chosen by the hash (a register-blocked Bloom filter
//     [2]): one memory access per query, at the price of a slightly higher false-positive rate than
//     free probes.
//   - Its own seed (the sketch's seed inverted), so its probes are independent of the counters'.
//
// What we gave up: a false positive lets a one-hit wonder into the sketch; a cleared doorkeeper
// forgets keys seen once, which is the intended aging.
//
// [1] G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//     ACM Transactions on Storage 13(4), 2017, section 3.4.2, https://dl.acm.org/doi/10.1145/3149371
// [2] F. Putze, P. Sanders, J. Singler, "Cache-, Hash- and Space-Efficient Bloom Filters",
//     WEA 2007, https://doi.org/10.1007/978-3-540-72845-0_9
//
// Concurrency: a plain class, guarded by its owner's (the sketch's) lock.

/// A one-word-blocked Bloom filter with three probes. See the design note at the top of this file.
final class Doorkeeper {
    /// Bits of filter per word of the sketch it guards (see the design note).
    static let bitsPerSketchWord = 16

    /// The filter's bits: raw memory owned by the filter (allocated in `ensureCapacity`, freed on
    /// growth and in `deinit`), so that a write pays no array uniqueness check.
    private(set) var words: UnsafeMutableBufferPointer<UInt64>
    /// Number of words minus one (a power of two minus one).
    private var wordMask: Int
    /// Spreads key hashes independently of the sketch.
    let seed: UInt64

    /// Creates an empty filter sized for a sketch of `sketchWords` words.
    init(sketchWords: Int, seed: UInt64) {
        self.seed = seed
        self.words = UnsafeMutableBufferPointer(start: nil, count: 0)
        self.wordMask = 0
        ensureCapacity(sketchWords)
    }

    deinit {
        words.deallocate()
    }

    /// Grows the filter for a sketch of `sketchWords` words (a power of two); growing clears it.
    func ensureCapacity(_ sketchWords: Int) {
        let wanted = max(1, sketchWords * Doorkeeper.bitsPerSketchWord / 64)
        if wanted > words.count {
            words.deallocate()
            words = .allocate(capacity: FrequencySketch.ceilingPowerOfTwo(wanted))
            words.initialize(repeating: 0)
            wordMask = words.count - 1
        }
    }

    /// The word index and the three-bit mask of a key.
    @inline(__always)
    private func probe(_ keyHash: UInt64) -> (Int, UInt64) {
        let h = SplitMix64.mix(keyHash ^ seed)
        let bits: UInt64 = (1 << ((h >> 40) & 63)) | (1 << ((h >> 46) & 63)) | (1 << ((h >> 52) & 63))
        return (Int(truncatingIfNeeded: h) & wordMask, bits)
    }

    /// Whether the key may have been inserted since the last clear (false positives possible,
    /// false negatives never).
    @inline(__always)
    func contains(_ keyHash: UInt64) -> Bool {
        let (index, bits) = probe(keyHash)
        return words.baseAddress.unsafelyUnwrapped[index] & bits == bits
    }

    /// Inserts the key.
    ///
    /// - Returns: true when the key was not (as far as the filter can tell) present before.
    @inline(__always)
    func insert(_ keyHash: UInt64) -> Bool {
        let (index, bits) = probe(keyHash)
        let word = words.baseAddress.unsafelyUnwrapped + index
        let old = word.pointee
        if old & bits == bits { return false }
        word.pointee = old | bits
        return true
    }

    /// Forgets every key.
    func clear() {
        words.update(repeating: 0)
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Checks that the filter has a power-of-two number of words.
    func _checkInvariants() {
        precondition(!words.isEmpty && words.count & wordMask == 0 && wordMask == words.count - 1, "bad filter size")
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
