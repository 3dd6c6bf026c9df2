import Testing

@testable import LocalStore

/// Tests of `Doorkeeper` and of the sketch's use of it.
@Suite struct DoorkeeperTests {
    @Test func insert_firstOccurrence_reportsNewThenSeen() {
        let d = Doorkeeper(sketchWords: 1_024, seed: 5)
        #expect(d.insert(17))
        #expect(!d.insert(17))
        #expect(d.contains(17))
    }

    @Test func contains_everyInsertedKey_neverFalseNegative() {
        let d = Doorkeeper(sketchWords: 256, seed: 5)
        let golden: UInt64 = 0x9E37_79B9_7F4A_7C15
        let keys = (0..<2_000).map { UInt64($0) &* golden }
        keys.forEach { _ = d.insert($0) }
        #expect(keys.allSatisfy(d.contains))
        d._checkInvariants()
    }

    @Test func contains_atEightBitsPerKey_falsePositiveRateNearTheBloomBound() {
        // m bits, n = m / 8 keys, k = 3 probes: a free-probe Bloom filter has a false-positive
        // rate (1 - e^(-3/8))^3 = 3.1%. Confining the probes to one 64-bit word costs some
        // accuracy (Putze et al. measure well under 2x at this load); allow 6%.
        let d = Doorkeeper(sketchWords: 4_096, seed: 9)
        let bits = d.words.count * 64
        let golden: UInt64 = 0x9E37_79B9_7F4A_7C15, other: UInt64 = 0xD1B5_4A32_D192_ED03
        for i in 0..<(bits / 8) { _ = d.insert(UInt64(i) &* golden) }
        let probes = 100_000
        var falsePositives = 0
        for i in 0..<probes where d.contains(UInt64(i + 1_000_000) &* other) {
            falsePositives += 1
        }
        #expect(Double(falsePositives) / Double(probes) < 0.06)
    }

    @Test func clear_afterInserts_forgetsEveryKey() {
        let d = Doorkeeper(sketchWords: 64, seed: 5)
        (0..<50).forEach { _ = d.insert(UInt64($0)) }
        d.clear()
        #expect((0..<50).allSatisfy { !d.contains(UInt64($0)) })
    }

    @Test func sketchWithDoorkeeper_firstOccurrenceCountsOnceAndAgesAway() {
        // The first occurrence only sets the doorkeeper (estimate 1); later ones reach the
        // counters. A reset clears the doorkeeper and halves the counters: a key seen once drops
        // to 0, a key seen five times (doorkeeper + 4 counted) to 4 / 2 = 2.
        let s = FrequencySketch(maximumEntries: 4_096, seed: 3, doorkeeper: .always)
        s.increment(1)
        for _ in 0..<5 { s.increment(2) }
        #expect(s.frequency(1) == 1)
        #expect(s.frequency(2) == 5)
        s.reset()
        #expect(s.frequency(1) == 0)
        #expect(s.frequency(2) == 2)
    }
}
