import Testing

@testable import LocalStore

/// Tests of `FrequencySketch`: the count-min guarantees, independent rows, saturation, aging.
@Suite struct FrequencySketchTests {
    /// A plain sketch (no doorkeeper) for `entries` entries.
    private func sketch(_ entries: Int, seed: UInt64 = 42, limit: Int = FrequencySketch.unlimited) -> FrequencySketch {
        FrequencySketch(maximumEntries: entries, counterLimit: limit, seed: seed, doorkeeper: .never)
    }

    @Test func frequency_afterIncrements_neverUnderestimates() {
        // Count-min only ever adds other keys' counts, so an estimate is at least the true count
        // (below saturation and before any reset).
        let s = sketch(1_024)
        var random = SplitMix64(seed: 1)
        var truth: [UInt64: Int] = [:]
        for _ in 0..<3_000 {
            let key = random.next() % 800
            truth[key, default: 0] += 1
            s.increment(key)
        }
        s._checkInvariants()
        #expect(s.resets == 0)
        for (key, count) in truth {
            #expect(s.frequency(key) >= min(count, FrequencySketch.maximumCount))
        }
    }

    @Test func frequency_fullLoad_overestimatesWithinTheCountMinBound() {
        // 4,096 keys counted once in a sketch for 4,096 entries: W = 4,096 words, so 4W = 16,384
        // counters per row. A row's counter for key x is shared with another key with probability
        // (8 / W) * (1 / 32) = 1 / (4W) (same block, same one of 32 counters), so the expected
        // overcount in one row is T / (4W) = 0.25 and, by Markov, P(error >= t) <= 0.25 / t. The
        // estimate is the minimum of four rows, so the fraction of keys off by t or more must stay
        // under that single-row bound.
        let s = sketch(4_096)
        let keys = (0..<4_096).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        keys.forEach { s.increment($0) }
        for t in 1...3 {
            let off = keys.filter { s.frequency($0) - 1 >= t }.count
            #expect(Double(off) / Double(keys.count) <= 0.25 / Double(t))
        }
    }

    @Test func frequency_fullLoad_rowsFailIndependently() {
        // Same load as above. If the four rows were one row repeated (dgraph-io/ristretto#108),
        // a key would be overcounted whenever its single counter is shared: about 1 - (31/32)^7
        // = 20% of keys (8 keys per block on average). With independent rows all four must be
        // shared at once: about 0.2^4 = 0.16%. Allow ten times that.
        let s = sketch(4_096)
        let keys = (0..<4_096).map { UInt64($0) &* 0xD1B5_4A32_D192_ED03 }
        keys.forEach { s.increment($0) }
        let inflated = keys.filter { s.frequency($0) > 1 }.count
        #expect(Double(inflated) / Double(keys.count) < 0.016)
    }

    @Test func frequency_keySharingOneRowWithAHotKey_isNotInflated() {
        // Collider keys: search for a key whose row-0 counter is the hot key's row-0 counter while
        // its other three counters are free. Fifteen increments of the hot key then saturate that
        // shared counter, but the other rows keep the cold key's estimate exact.
        let s = sketch(64)
        let hot: UInt64 = 7
        let hotPositions = s.counterPositions(hot)
        let cold = (UInt64(8)...).lazy.first { candidate in
            let p = s.counterPositions(candidate)
            return p[0] == hotPositions[0] && (1..<4).allSatisfy { p[$0] != hotPositions[$0] }
        }!
        for _ in 0..<15 { s.increment(hot) }
        s.increment(cold)
        #expect(s.frequency(hot) == 15)
        #expect(s.frequency(cold) == 1)
    }

    @Test func frequency_colliderForOneSeed_doesNotCollideForAnother() {
        // The seed is per cache: keys built to collide in every row under one seed are spread
        // under another, so no fixed key set can inflate every cache's estimates. An 8-word
        // sketch has one block, so a key's counters are fixed by the 5 low bits of each selector
        // byte (bits 32...63 of the seeded mix); the search filters on those bits first (about
        // 32^4 = 10^6 candidates) and confirms with the sketch's own positions.
        let a = sketch(8, seed: 1), b = sketch(8, seed: 2)  // 8 words, a sample of 80: no reset here
        let target = a.counterPositions(1)
        let selectorBits: UInt64 = 0x1F1F_1F1F << 32
        let targetBits = a.spread(1) & selectorBits
        let collider = (UInt64(2)...).lazy.first {
            a.spread($0) & selectorBits == targetBits && a.counterPositions($0).elementsEqual(target, by: ==)
        }!
        for _ in 0..<15 { a.increment(1); b.increment(1) }
        #expect(a.frequency(collider) == 15)
        #expect(b.frequency(collider) < 15)
    }

    @Test func increment_pastFifteen_saturatesAtFifteen() {
        let s = sketch(64)
        for _ in 0..<40 { s.increment(99) }
        #expect(s.frequency(99) == FrequencySketch.maximumCount)
    }

    @Test func reset_afterAFullSample_halvesEveryEstimate() {
        // Keys with counts 1...15, then filler keys, each incremented once, whose counters avoid
        // the test keys' counters (so the estimates stay exact), until the sample of 10 x 4,096
        // increments completes. No counter can saturate at this load (2.5 per counter), so every
        // increment counts and the reset must come exactly at the sample size, leaving
        // floor(count / 2).
        let s = sketch(4_096)
        let keys = (1...15).map { UInt64($0) << 40 }
        for (index, key) in keys.enumerated() {
            for _ in 0...index { s.increment(key) }
        }
        let before = keys.map(s.frequency)
        #expect(before == Array(1...15))
        let taken = Set(keys.flatMap { s.counterPositions($0).map { $0.word * 16 + $0.nibble } })
        var increments = (1...15).reduce(0, +)
        var filler: UInt64 = 1
        while s.resets == 0 {
            filler += 1
            let candidate = filler &* 0x9E37_79B9_7F4A_7C15
            guard s.counterPositions(candidate).allSatisfy({ !taken.contains($0.word * 16 + $0.nibble) }) else {
                continue
            }
            s.increment(candidate)
            increments += 1
        }
        s._checkInvariants()
        #expect(increments == s.sampleSize, "every increment changed a counter, so the reset came at the sample size")
        #expect(keys.map(s.frequency) == before.map { $0 / 2 })
    }

    @Test func ensureCapacity_beyondTheCounterLimit_staysWithinTheLimit() {
        // ristretto's NumCounters = 256 counters per row means at most 256 / 4 = 64 words
        // (2 bytes per counter of a row), whatever the cache size asks for.
        let s = sketch(1 << 20, limit: 256)
        #expect(s.table.count == 64)
        s.ensureCapacity(1 << 22)
        #expect(s.table.count == 64)
        #expect(s.sampleSize == 10 << 22)
    }

    @Test func ensureCapacity_growing_forgetsCountsAndKeepsTheBound() {
        let s = sketch(64)
        for _ in 0..<5 { s.increment(3) }
        s.ensureCapacity(8_192)
        s._checkInvariants()
        #expect(s.frequency(3) == 0)
        #expect(s.table.count == 8_192)
    }
}
