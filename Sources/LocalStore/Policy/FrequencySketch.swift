// FrequencySketch: a 4-bit count-min sketch with periodic aging, the memory of TinyLFU.
//
// Design note. The admission filter (`WindowTinyLFUPolicy+Eviction.swift`) asks one question:
// "has this key been asked for more often, recently, than that one?" It must answer for keys that
// are not in the cache, in constant time and a few bytes per cached entry. A count-min sketch [1]
// answers it with bounded overestimation; TinyLFU [2] showed that 4-bit counters and periodic
// halving ("reset") are enough, because admission only compares small frequencies and old counts
// must fade for the cache to follow a changing workload. The layout follows Caffeine's sketch [3]:
//
//   - The table is an array of 64-bit words of sixteen 4-bit counters. A key uses four counters,
//     one per "row" of the count-min matrix, and all four lie in one block of 8 words (64 bytes,
//     one cache line), so an estimate costs one memory access instead of four. Row i of a block is
//     words 2i and 2i+1, so the rows of one key never share a word: they are independent draws,
//     the property a count-min bound needs (ristretto's rows collided together for years because
//     its test checked the layout rather than this, dgraph-io/ristretto#108 [4]).
//   - One seeded 64-bit mix of the key hash (`spread`, a `SplitMix64.mix`) gives both the block
//     (low bits) and the four counter selectors (one byte each from the high 32 bits). The seed
//     is per cache, so no fixed set of keys collides in every cache; tests inject it.
//   - Size: the table has the next power of two of the cache's maximum entry count in words, so
//     4 × that many counters per row (Caffeine's choice [3]: error bound e / width with 93.75%
//     confidence for a depth of 4). It grows when the cache holds more entries than that (weighted
//     caches do not know their entry count up front); growing forgets the counts, which costs at
//     most one sample period of admission quality.
//   - `counterLimit` caps the counters per row. It is how the seed library's ristretto option
//     `NumCounters` maps [5]: ristretto keeps 4 rows of `NumCounters` 4-bit counters (2 bytes per
//     counter of a row in total); here a row of `counterLimit` counters needs `counterLimit / 4`
//     words, the same memory. Above the limit the table stops growing and the sketch saturates
//     earlier, which only blurs admission between warm keys.
//   - Aging: after `sampleSize` = 10 × maximum entries recorded increments, every counter is
//     halved. Ten is TinyLFU's sample W / C ratio [2] and Caffeine's [3]. The count of additions is
//     halved too, minus a quarter of the odd counters (their lost halves), as Caffeine does.
//   - A doorkeeper (`Doorkeeper.swift`) can absorb first occurrences, so the counters are spent on
//     keys seen at least twice [2]; it is cleared at every reset. By default (`.automatic`) it is
//     used only when `counterLimit` caps the table below its natural size, because that is where
//     it pays: with the table at 1/8 of its size, p3@76254 rose from 21.5% to 29.3% and
//     p3@381272 from 71.3% to 74.7% with it. At full size it cost: glimpse@250 fell from 15.6% to
//     12.9% (with 1% windows), because clearing it at a reset takes one more count from every key
//     that is not seen again in the new sample, which erases the history of keys seen about twice
//     per sample, exactly the loop keys a loop-heavy trace must keep.
//
// What we gave up: exact counts above 15, counts older than a few sample periods, and
// estimates that survive a resize. None matters for admission, which compares small numbers.
//
// [1] G. Cormode, S. Muthukrishnan, "An Improved Data Stream Summary: The Count-Min Sketch and its
//     Applications", J. Algorithms 55(1), 2005, http://dimacs.rutgers.edu/~graham/pubs/papers/cm-full.pdf
// [2] G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//     ACM Transactions on Storage 13(4), 2017, https://dl.acm.org/doi/10.1145/3149371
// [3] B. Manes, Caffeine `FrequencySketch.java`,
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/FrequencySketch.java
// [4] "Count-min sketch rows are all the same", https://github.com/dgraph-io/ristretto/issues/108
// [5] ristretto `Config.NumCounters`, https://pkg.go.dev/github.com/dgraph-io/ristretto#Config
//
// Concurrency: a plain class. Its owner (the policy) guards it with the cache's policy lock.

/// A 4-bit count-min sketch with aging. See the design note at the top of this file.
final class FrequencySketch {
    /// When the sketch puts a doorkeeper in front of its counters.
    enum DoorkeeperMode: Sendable {
        /// Only while `counterLimit` keeps the table below its natural size (see the design note).
        case automatic
        /// Always.
        case always
        /// Never.
        case never
    }

    /// The largest value a counter holds.
    static let maximumCount = 15
    /// TinyLFU's ratio of the sample (the events between two resets) to the cache size [2].
    static let sampleFactor = 10
    /// Without a configured limit: enough counters for any cache that fits in memory, 2^31 words.
    static let unlimited = Int.max
    /// A word with each nibble's low bit set: counting odd counters at a reset.
    private static let oneMask: UInt64 = 0x1111_1111_1111_1111
    /// Clears each nibble's top bit after the word is shifted right by one (halving every counter).
    private static let resetMask: UInt64 = 0x7777_7777_7777_7777

    /// The counters, sixteen per word, `8 × (blockMask + 1)` words.
    /// Raw memory rather than an array: an array written from a class property pays a
    /// uniqueness check per write (four per increment, on every replayed read). Owned by the
    /// sketch: allocated in `ensureCapacity`, freed on growth and in `deinit`.
    private(set) var table: UnsafeMutableBufferPointer<UInt64>
    /// Number of 8-word blocks minus one (a power of two minus one).
    private var blockMask: Int
    /// Increments recorded since the last reset (Caffeine's `size`).
    private(set) var additions: Int = 0
    /// Increments between two resets.
    private(set) var sampleSize: Int
    /// The largest table, in words, that `counterLimit` allows.
    let maximumWords: Int
    /// Spreads key hashes; injected so tests and simulations are reproducible.
    let seed: UInt64
    /// When to use a doorkeeper.
    let doorkeeperMode: DoorkeeperMode
    /// The first-occurrence filter, present while the mode calls for one.
    private(set) var doorkeeper: Doorkeeper?
    /// Resets so far.
    private(set) var resets: Int = 0

    /// Creates a sketch sized for a cache of `maximumEntries` entries.
    ///
    /// - Parameters:
    ///   - maximumEntries: the cache's expected maximum entry count (at least 1 is assumed).
    ///   - counterLimit: the most counters per row (ristretto's `NumCounters`); at least 32.
    ///   - seed: the hash seed.
    ///   - doorkeeper: when first occurrences go to a Bloom filter instead of the counters.
    init(
        maximumEntries: Int, counterLimit: Int = FrequencySketch.unlimited, seed: UInt64,
        doorkeeper: DoorkeeperMode = .automatic
    ) {
        let limitWords = max(8, counterLimit / 4)
        self.maximumWords = min(1 << 31, 1 << (Int.bitWidth - 1 - limitWords.leadingZeroBitCount))
        self.seed = seed
        self.doorkeeperMode = doorkeeper
        self.table = UnsafeMutableBufferPointer(start: nil, count: 0)
        self.blockMask = 0
        self.sampleSize = FrequencySketch.sampleFactor
        ensureCapacity(maximumEntries)
    }

    deinit {
        table.deallocate()
    }

    /// Sizes the sketch for `maximumEntries` entries. The table only grows (forgetting all counts
    /// when it does); the sample size always follows the new maximum.
    ///
    /// - Parameter maximumEntries: the number of entries the cache may hold.
    func ensureCapacity(_ maximumEntries: Int) {
        let entries = max(1, maximumEntries)
        let natural = max(8, FrequencySketch.ceilingPowerOfTwo(entries))
        let wanted = min(maximumWords, natural)
        sampleSize = entries > Int.max / FrequencySketch.sampleFactor ? Int.max : entries * FrequencySketch.sampleFactor
        if wanted > table.count {
            table.deallocate()
            table = .allocate(capacity: wanted)
            table.initialize(repeating: 0)
            blockMask = (wanted >> 3) - 1
            additions = 0
            doorkeeper?.clear()
        }
        // A smaller maximum shrinks the sample: age the counts until they fit in it again.
        while additions >= sampleSize { reset() }
        let useDoorkeeper: Bool
        switch doorkeeperMode {
        case .always: useDoorkeeper = true
        case .never: useDoorkeeper = false
        case .automatic: useDoorkeeper = wanted < natural
        }
        if useDoorkeeper {
            if let doorkeeper {
                doorkeeper.ensureCapacity(table.count)
            } else {
                doorkeeper = Doorkeeper(sketchWords: table.count, seed: ~seed)
            }
        } else {
            doorkeeper = nil
        }
    }

    /// The seeded mix that places a key in the table.
    @inline(__always)
    func spread(_ keyHash: UInt64) -> UInt64 {
        SplitMix64.mix(keyHash ^ seed)
    }

    /// The block of a key's counters and their four selectors, from its `spread`.
    @inline(__always)
    private func positions(spread h: UInt64) -> (block: Int, selectors: UInt32) {
        ((Int(truncatingIfNeeded: h) & blockMask) << 3, UInt32(truncatingIfNeeded: h >> 32))
    }

    /// The estimated number of recent occurrences of the key, at most 15 (16 with a doorkeeper).
    /// Never less than the true count since the last reset, unless a counter saturated.
    @inline(__always)
    func frequency(_ keyHash: UInt64) -> Int {
        let (block, selectors) = positions(spread: spread(keyHash))
        let words = table.baseAddress.unsafelyUnwrapped + block
        var count = FrequencySketch.maximumCount
        for row in 0..<4 {
            let selector = Int((selectors >> UInt32(row << 3)) & 0xFF)
            let word = words[(selector & 1) + (row << 1)]
            count = min(count, Int((word >> UInt64(((selector >> 1) & 15) << 2)) & 0xF))
        }
        if let doorkeeper, doorkeeper.contains(keyHash) {
            count += 1
        }
        return count
    }

    /// Records one occurrence of the key. With a doorkeeper, a key's first occurrence since the
    /// last reset only sets its doorkeeper bits. Every recorded change counts towards the sample;
    /// when the sample is full, all counters are halved.
    ///
    /// The four counters are bumped without branching on each other (each one's saturation test
    /// is its own), reading and writing the one 64-byte block the key maps to: this runs for
    /// every read the policy sees, and its cost is most of the upkeep budget.
    ///
    /// - Returns: true when this increment completed a sample and aged the sketch.
    @discardableResult
    @inline(__always)
    func increment(_ keyHash: UInt64) -> Bool {
        var added: Bool
        if let doorkeeper, doorkeeper.insert(keyHash) {
            added = true
        } else {
            let (block, selectors) = positions(spread: spread(keyHash))
            let words = table.baseAddress.unsafelyUnwrapped + block
            added = FrequencySketch.bump(words + Int(selectors & 1), nibble: (selectors >> 1) & 15)
            added = FrequencySketch.bump(words + 2 + Int(selectors >> 8 & 1), nibble: (selectors >> 9) & 15) || added
            added = FrequencySketch.bump(words + 4 + Int(selectors >> 16 & 1), nibble: (selectors >> 17) & 15) || added
            added = FrequencySketch.bump(words + 6 + Int(selectors >> 24 & 1), nibble: (selectors >> 25) & 15) || added
        }
        guard added else { return false }
        additions &+= 1
        guard additions >= sampleSize else { return false }
        reset()
        return true
    }

    /// Adds one to a 4-bit counter unless it is saturated; returns whether it changed.
    @inline(__always)
    private static func bump(_ word: UnsafeMutablePointer<UInt64>, nibble: UInt32) -> Bool {
        let shift = UInt64(nibble << 2)
        let value = word.pointee
        guard (value >> shift) & 0xF != 0xF else { return false }
        word.pointee = value &+ (1 << shift)
        return true
    }

    /// Halves every counter and the addition count, and clears the doorkeeper (aging).
    func reset() {
        var odd = 0
        for i in table.indices {
            odd += (table[i] & FrequencySketch.oneMask).nonzeroBitCount
            table[i] = (table[i] >> 1) & FrequencySketch.resetMask
        }
        additions = max(0, (additions - (odd >> 2)) >> 1)
        doorkeeper?.clear()
        resets += 1
    }

    /// The four (word, nibble) positions of a key's counters, row by row. Tests use it to build
    /// colliding keys; the policy never needs it.
    func counterPositions(_ keyHash: UInt64) -> [(word: Int, nibble: Int)] {
        let (block, selectors) = positions(spread: spread(keyHash))
        return (0..<4).map { row in
            let selector = Int((selectors >> UInt32(row << 3)) & 0xFF)
            return (block + (selector & 1) + (row << 1), (selector >> 1) & 15)
        }
    }

    /// The smallest power of two at least `x` (x >= 1), saturating at 2^62.
    static func ceilingPowerOfTwo(_ x: Int) -> Int {
        x <= 1 ? 1 : min(1 << 62, 1 << (Int.bitWidth - (x - 1).leadingZeroBitCount))
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Checks the layout invariants: a power-of-two number of whole blocks within the limit,
    /// additions within the sample.
    func _checkInvariants() {
        precondition(table.count >= 8 && table.count & (table.count - 1) == 0, "table is not 2^k words")
        precondition(table.count <= max(8, maximumWords), "table above the counter limit")
        precondition(blockMask == (table.count >> 3) - 1, "block mask does not match the table")
        precondition(additions >= 0 && additions < sampleSize, "additions outside the sample")
        doorkeeper?._checkInvariants()
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
