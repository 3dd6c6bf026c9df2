import CacheSimulation
import Testing

@testable import LocalStore

/// Tests of the window climber through the policy: it must follow the workload's character.
@Suite struct WindowClimberTests {
    private let keeper = NodeKeeper()

    /// Replays keys (get, put on a miss) and returns the hit ratio of the second half.
    private func replay(_ keys: [UInt64], through policy: WindowTinyLFUPolicy) -> Double {
        // The table is keyed by the key's hash (SplitMix64.mix is a bijection), so a victim's
        // entry is found from the node alone.
        var table: [UInt64: PolicyNode] = [:]
        var hits = 0
        for (index, key) in keys.enumerated() {
            let keyHash = SplitMix64.mix(key)
            if let node = table[keyHash] {
                if index >= keys.count / 2 { hits += 1 }
                policy.recordAccess(node)
                continue
            }
            policy.recordMiss(keyHash: keyHash)
            let node = keeper.node(keyHash)
            table[keyHash] = node
            policy.add(node) { victim, _ in table[victim.keyHash] = nil }
        }
        return Double(hits) / Double(keys.count - keys.count / 2)
    }

    @Test func climb_pureRecencyBursts_growTheWindow() {
        // Every key is read twice, 100 distinct keys apart, and never again (the corda pattern).
        // A 1% window (5 entries) misses every second read; only a window of at least ~100 entries
        // catches them, so the climber must leave the initial share for 12% or more, and the
        // hit ratio must approach the 50% ceiling of a two-read workload.
        var keys: [UInt64] = []
        var next: UInt64 = 0
        for _ in 0..<200 {
            let burst = (0..<100).map { next + UInt64($0) }
            next += 100
            keys += burst + burst
        }
        let policy = WindowTinyLFUPolicy(maximumWeight: 512, seed: 3)
        let ratio = replay(keys, through: policy)
        #expect(policy.climber.share >= 0.12)
        #expect(policy.windowMaximum >= 60)
        #expect(ratio > 0.45)
    }

    @Test func climb_loopLongerThanTheCache_keepsTheWindowSmall() {
        // A loop over 600 keys through a 512-entry cache: only a frequency-filtered main that
        // keeps a fixed subset hits (~85% of the loop at best); a big window is LRU-like and
        // gets 0%. The climber must stay at 4% or less.
        let keys = (0..<120).flatMap { _ in (0..<600).map { UInt64($0) } }
        let policy = WindowTinyLFUPolicy(maximumWeight: 512, seed: 3)
        let ratio = replay(keys, through: policy)
        #expect(policy.climber.share <= 0.04)
        #expect(ratio > 0.6)
    }

    @Test func climb_skewedFrequencies_stayNearTheInitialShare() {
        // Zipf(1.0) over 20,000 keys: frequency is everything, so no large window may win.
        var generator = ZipfGenerator(alpha: 1.0, universe: 20_000, seed: 42)
        let keys = generator.keys(200_000)
        let policy = WindowTinyLFUPolicy(maximumWeight: 1_000, seed: 3)
        _ = replay(keys, through: policy)
        #expect(policy.climber.share <= 0.12)
    }

    @Test func init_hugeMaximum_modelsOnlyWhatTheCacheHolds() {
        // The seed's default cost budget (1 GiB of cost units) must not allocate miniatures for a
        // billion entries: the model starts at 65,536 entries and grows with the cache.
        let policy = WindowTinyLFUPolicy(maximumWeight: 1 << 30)
        #expect(policy.climber.modeledEntries == WindowTinyLFUPolicy.eagerClimberEntries)
        let nodes = (0..<40_000).map { keeper.node(SplitMix64.mix(UInt64($0))) }
        for node in nodes { policy.add(node) { _, _ in } }
        #expect(policy.climber.modeledEntries > 65_536 && policy.climber.modeledEntries <= 4 * 40_000)
    }

    @Test func grow_sameSample_keepsTheMiniaturesContents() {
        // Above 65,536 entries the sampling rate is at its floor, so growing keeps the sample and
        // every miniature keeps what it holds.
        var climber = WindowClimber(seed: 5)
        climber.resize(entries: 100_000)
        let sketch = FrequencySketch(maximumEntries: 1_000, seed: 5)
        for key in 0..<50_000 { _ = climber.read(SplitMix64.mix(UInt64(key)), sketch: sketch, mayMove: false) }
        let before = climber.miniatureCounts
        #expect(before.allSatisfy { $0 > 0 })
        climber.grow(entries: 400_000)
        #expect(climber.modeledEntries == 400_000)
        #expect(climber.miniatureCounts == before)
        #if DCACHE_INTERNAL_CHECKS
        climber._checkInvariants()
        #endif
    }
}
