// KeyHasher: the one hash every key gets, once per operation.
//
// Design note. Keys are hashed once; the 64 bits are then split: the top bits pick the shard,
// the low bits the slot, and the frequency sketch and read buffers reuse the whole value. So the
// hash must be well mixed in every bit, fast on short keys (typical cache keys are 8-40 bytes),
// and seeded per cache so that an attacker who can choose keys cannot aim them at one probe
// chain without knowing the seed.
//
// The construction is multiply-fold mixing [1]: a 64 x 64 -> 128-bit multiply, whose two halves
// are XORed, diffuses every input bit into every output bit in one step; x86-64 does it in 3-4
// cycles (MULX). Input is consumed as 64-bit words, each XORed with a constant before the multiply
// so that a zero word cannot annihilate the state. Keys up to 32 bytes (nearly all cache keys) take
// no loop: two or four overlapping loads and one or two independent multiplies, then a final one.
// Length is mixed in, so keys that are prefixes of each other differ. perf/RESULTS.md has the
// instruction count per hash. We gave up cryptographic strength: this resists accidental and blind
// collisions, not an adversary who can observe timings at length; SipHash would cost ~4x.
//
// The constants are the hexadecimal expansions of pi's and e's fractional parts, with the lowest
// bit set: any odd constants with balanced bits would do, these are merely unarguable.
//
// [1] The multiply-fold ("mum") mixing step, as used by wyhash and rapidhash:
//     https://github.com/wangyi-fudan/wyhash (design notes only; no code taken).

/// A seeded 64-bit hash of a key's UTF-8 bytes.
///
/// Immutable after creation; `Sendable` because it holds only its seed.
@frozen
public struct KeyHasher: Sendable {
    @usableFromInline let seed: UInt64

    @usableFromInline static let k0: UInt64 = 0x243F_6A88_85A3_08D3
    @usableFromInline static let k1: UInt64 = 0x1319_8A2E_0370_7345
    @usableFromInline static let k2: UInt64 = 0xA409_3822_299F_31D1
    @usableFromInline static let k3: UInt64 = 0xB7E1_5162_8AED_2A6B

    /// Creates a hasher.
    /// - Parameter seed: the seed; two hashers with the same seed hash alike. Tests inject one;
    ///   caches take a random seed per instance.
    @inlinable
    public init(seed: UInt64) {
        self.seed = seed
    }

    /// Creates a hasher with a random seed.
    public static func random() -> KeyHasher {
        var generator = SystemRandomNumberGenerator()
        return KeyHasher(seed: generator.next())
    }

    /// The 128-bit product of `a` and `b`, folded to 64 bits.
    @inlinable @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// Hashes `count` bytes at `bytes`.
    /// - Parameters:
    ///   - bytes: the first byte; may be nil only when `count` is 0.
    ///   - count: the number of bytes.
    /// - Returns: the hash; equal inputs give equal hashes under one seed.
    @inlinable @inline(__always)
    public func hash(bytes: UnsafeRawPointer?, count: Int) -> UInt64 {
        let length = UInt64(truncatingIfNeeded: count)
        var state: UInt64
        if count <= 16 {
            // 0...16 bytes: two words read with overlapping loads, one multiply.
            var a: UInt64 = 0
            var b: UInt64 = 0
            if let bytes, count >= 8 {
                a = bytes.loadUnaligned(as: UInt64.self)
                b = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            } else if let bytes, count >= 4 {
                a = UInt64(bytes.loadUnaligned(as: UInt32.self))
                b = UInt64(bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
            } else if let bytes, count > 0 {
                // First, middle and last byte.
                a = UInt64(bytes.load(as: UInt8.self)) << 16
                    | UInt64(bytes.load(fromByteOffset: count / 2, as: UInt8.self)) << 8
                    | UInt64(bytes.load(fromByteOffset: count - 1, as: UInt8.self))
            }
            state = KeyHasher.fold(a ^ KeyHasher.k1 ^ seed, b ^ KeyHasher.k2 ^ length)
        } else if count <= 32 {
            // 17...32 bytes: first 16 and last 16 (overlapping), two independent multiplies.
            let bytes = bytes.unsafelyUnwrapped
            let a = bytes.loadUnaligned(as: UInt64.self)
            let b = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let c = bytes.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self)
            let d = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            state = KeyHasher.fold(a ^ KeyHasher.k1 ^ seed, b ^ KeyHasher.k2)
                ^ KeyHasher.fold(c ^ KeyHasher.k3 ^ length, d ^ KeyHasher.k0)
        } else {
            // Longer: 16 bytes per round, chained through the state, then the last 16 bytes.
            let bytes = bytes.unsafelyUnwrapped
            state = seed ^ length
            var offset = 0
            while count - offset > 16 {
                let a = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                let b = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
                state = KeyHasher.fold(a ^ KeyHasher.k1 ^ state, b ^ KeyHasher.k2)
                offset += 16
            }
            let c = bytes.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self)
            let d = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            state = KeyHasher.fold(c ^ KeyHasher.k3 ^ state, d ^ KeyHasher.k0)
        }
        // Final avalanche, so every output bit depends on every input bit (the shard index uses
        // the top bits, the slot index the bottom ones).
        return KeyHasher.fold(state ^ KeyHasher.k3, length ^ KeyHasher.k0 ^ seed)
    }

    /// Hashes a key's UTF-8 bytes without copying them (native Swift strings are contiguous).
    /// - Parameter key: the key.
    /// - Returns: the hash of `key.utf8`.
    @inlinable @inline(__always)
    public func hash(_ key: String) -> UInt64 {
        if let hash = key.utf8.withContiguousStorageIfAvailable({ hash(bytes: $0.baseAddress, count: $0.count) }) {
            return hash
        }
        // Bridged or otherwise non-contiguous strings: make a native copy once.
        var native = key
        return native.withUTF8 { hash(bytes: $0.baseAddress, count: $0.count) }
    }

    /// Hashes raw bytes.
    /// - Parameter bytes: the bytes.
    /// - Returns: the hash.
    @inlinable
    public func hash(_ bytes: some Collection<UInt8>) -> UInt64 {
        if let hash = bytes.withContiguousStorageIfAvailable({ hash(bytes: $0.baseAddress, count: $0.count) }) {
            return hash
        }
        return Array(bytes).withUnsafeBytes { hash(bytes: $0.baseAddress, count: $0.count) }
    }
}
