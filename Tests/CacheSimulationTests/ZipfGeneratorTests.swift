import CacheSimulation
import LocalStore
import Testing

/// Tests of `ZipfGenerator` against the fingerprints of the reference (`zipf.md`).
@Suite struct ZipfGeneratorTests {
    @Test func splitMix64_seed42_matchesTheReferenceOutputs() {
        var random = SplitMix64(seed: 42)
        #expect([random.next(), random.next(), random.next()]
            == [13_679_457_532_755_275_413, 2_949_826_092_126_892_291, 5_139_283_748_462_763_858])
    }

    /// Draws the full baseline stream and summarises it as `zipf.md` does.
    private func fingerprint(alpha: Double) -> (first20: [UInt64], countKey1: Int, unique: Int, sum: UInt64) {
        var generator = ZipfGenerator(alpha: alpha)
        var seen = [Bool](repeating: false, count: ZipfGenerator.baselineUniverse + 1)
        var first20: [UInt64] = []
        var countKey1 = 0, unique = 0
        var sum: UInt64 = 0
        for _ in 0..<ZipfGenerator.baselineRequests {
            let key = generator.next()
            if first20.count < 20 { first20.append(key) }
            if key == 1 { countKey1 += 1 }
            if !seen[Int(key)] { seen[Int(key)] = true; unique += 1 }
            sum += key
        }
        return (first20, countKey1, unique, sum)
    }

    @Test func keys_alpha08_matchTheReferenceFingerprint() {
        let f = fingerprint(alpha: 0.8)
        #expect(f.first20 == [247010, 380, 3303, 8019, 7, 514691, 1239, 352562, 7605, 107245, 965, 38528, 46191, 48922,
                              149622, 939, 86, 39411, 62, 175851])
        #expect(f.countKey1 == 66_542)
        #expect(f.unique == 843_330)
        // zipf.md allows a few units of difference: a last-bit difference in pow can move a
        // sample across a CDF boundary.
        #expect(f.sum.distance(to: 883_391_327_980).magnitude <= 100)
    }

    @Test func keys_alpha10_matchTheReferenceFingerprint() {
        let f = fingerprint(alpha: 1.0)
        #expect(f.first20 == [24244, 6, 31, 80, 1, 150085, 13, 56730, 75, 4123, 11, 677, 909, 999, 8073, 10, 2, 702, 2, 11368])
        #expect(f.countKey1 == 347_662)
        #expect(f.unique == 571_840)
        #expect(f.sum.distance(to: 348_074_743_845).magnitude <= 100)
    }
}
