import Testing

@testable import LocalStore

@Suite struct KeyHasherTests {
    let hasher = KeyHasher(seed: 0x1234_5678)

    @Test func hash_equalKeys_equalHashes() {
        for length in 0...80 {
            let key = String(repeating: "k", count: length)
            #expect(hasher.hash(key) == hasher.hash(Array(key.utf8)))
        }
    }

    @Test func hash_differentSeeds_differ() {
        #expect(KeyHasher(seed: 1).hash("user:1") != KeyHasher(seed: 2).hash("user:1"))
    }

    @Test func hash_prefixesAndEveryLength_doNotCollide() {
        // Every prefix of a 100-byte string, plus one-byte changes at every position of each
        // length class (<=16, 17...32, >32): 64-bit hashes of distinct inputs should all differ.
        let base = Array("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_=+abcdefghijklmnopqrstuvwxyz012345".utf8)
        var seen = Set<UInt64>()
        var inputs = 0
        for length in 0...base.count {
            seen.insert(hasher.hash(base[0..<length]))
            inputs += 1
            for position in 0..<length {
                var changed = Array(base[0..<length])
                changed[position] ^= 0x01
                seen.insert(hasher.hash(changed))
                inputs += 1
            }
        }
        #expect(seen.count == inputs)
    }

    @Test func hash_bitsAreBalanced() {
        // Each output bit should be set for about half of 4,096 sequential keys (binomial: mean
        // 2048, sd 32; 6 sd = 192). Shard and slot indexes use the top and bottom bits.
        var ones = [Int](repeating: 0, count: 64)
        for i in 0..<4096 {
            let hash = hasher.hash("key:\(i)")
            for bit in 0..<64 where hash >> UInt64(bit) & 1 == 1 { ones[bit] += 1 }
        }
        for (bit, count) in ones.enumerated() {
            #expect(abs(count - 2048) < 192, "bit \(bit) set \(count) times of 4096")
        }
    }
}
