// SlotTable: one shard's hash table, in raw memory, readable without locks.
//
// Design note. Open addressing with linear probing over an array of 8-byte slots. A slot holds
// one word: 0 (empty), 1 (tombstone), or an entry pointer with a 16-bit tag of the key's hash in
// its top bits. User-space pointers on x86-64 Linux fit in 47 bits (the kernel hands out higher
// addresses only to mmap calls that ask for them), so the top 16 bits are free; `encode` checks
// it. The tag lets a probe skip non-matching slots without touching their entries: a lookup reads
// one cache line of slots (8 per line) and dereferences an entry only on a tag match (a false
// match has probability 2^-16), where an 8-byte pointer-only slot would dereference every probed
// entry and a 16-byte hash+pointer slot would halve the slots per line.
//
// Linear probing keeps the probe within a line or two at our load factor (at most 3/4 counting
// tombstones: expected probes 2.5 for a hit and 8.5 for a miss, Knuth [1]). Deletion writes a
// tombstone instead of shifting entries back, because readers probe concurrently: a key that is in
// the table for the whole duration of a lookup is always found, since no writer ever moves it.
// Tombstones are purged when the table is rebuilt (on growth, or when they pass 1/4 of the slots).
//
// Concurrency: readers load slots with acquire ordering and never write. Writers hold the shard's
// lock and store slots with release ordering, so a reader that loads an entry pointer also sees
// the entry's initialized fields. A rebuild copies live slots into a new table, publishes it, and
// retires the old one to the epoch reclaimer; a reader still probing the old table sees a
// snapshot that was valid when it started, which is what linearizability allows.
//
// [1] D. E. Knuth, The Art of Computer Programming, vol. 3, 2nd ed., section 6.4 (linear probing).

import Atomics
import CSupport

/// A view of one slot table in raw memory. Does not own the memory: `SlotTable.allocate` creates
/// it and the owning shard frees it (through the reclaimer) when it is replaced.
@frozen @usableFromInline
struct SlotTable {
    /// Header (64 bytes: capacity at offset 0), then `capacity` slots.
    @usableFromInline let base: UnsafeMutableRawPointer

    @usableFromInline static let headerSize = 64
    @usableFromInline static let empty: UInt = 0
    @usableFromInline static let tombstone: UInt = 1
    @usableFromInline static let pointerMask: UInt = (1 << 48) - 1

    @inlinable
    init(base: UnsafeMutableRawPointer) {
        self.base = base
    }

    /// Allocates a zeroed (all-empty) table. `capacity` must be a power of two >= 8.
    static func allocate(capacity: Int) -> SlotTable {
        precondition(capacity >= 8 && capacity & (capacity - 1) == 0, "capacity must be a power of two >= 8")
        let size = byteCount(capacity: capacity)
        guard let base = dc_alloc_aligned(size, 64) else { fatalError("out of memory for a \(size)-byte slot table") }
        base.storeBytes(of: capacity, as: Int.self)
        return SlotTable(base: base)
    }

    static func byteCount(capacity: Int) -> Int { headerSize + capacity * MemoryLayout<UInt>.stride }

    /// Frees the memory. Only the reclaimer calls this, once no reader can be probing the table.
    func deallocate() {
        dc_free_aligned(base, SlotTable.byteCount(capacity: capacity), 64)
    }

    @inlinable var capacity: Int { base.load(as: Int.self) }
    @inlinable var mask: Int { capacity &- 1 }

    @inlinable
    var slots: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage> {
        (base + SlotTable.headerSize).assumingMemoryBound(to: UnsafeAtomic<UInt>.Storage.self)
    }

    @inlinable
    func slot(_ index: Int) -> UnsafeAtomic<UInt> { UnsafeAtomic(at: slots + index) }

    /// The tag stored with an entry: hash bits 32...47 (the shard index uses the top bits and the
    /// slot index the low bits, so these are independent of both).
    @inlinable
    static func tag(_ hash: UInt64) -> UInt { UInt(truncatingIfNeeded: (hash >> 32) & 0xFFFF) }

    @inlinable
    static func encode(_ entry: UnsafeRawPointer, hash: UInt64) -> UInt {
        let bits = UInt(bitPattern: entry)
        precondition(bits & ~pointerMask == 0, "entry address above 2^48: tagged slots need 48-bit addresses")
        return bits | (tag(hash) << 48)
    }

    @inlinable
    static func entryPointer(_ slot: UInt) -> UnsafeRawPointer {
        UnsafeRawPointer(bitPattern: slot & pointerMask).unsafelyUnwrapped
    }

    @inlinable
    static func isEntry(_ slot: UInt) -> Bool { slot > tombstone }

    // MARK: - Reader side (no lock; inside an epoch read section)

    /// Finds the entry for `key`, or nil. The returned pointer is valid until the caller leaves
    /// its epoch read section.
    @inlinable @inline(__always)
    func lookup(hash: UInt64, key: String) -> UnsafeRawPointer? {
        let tag = SlotTable.tag(hash)
        let mask = self.mask
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slot(index).load(ordering: .acquiring)
            if word == SlotTable.empty { return nil }
            if word >> 48 == tag && word != SlotTable.tombstone {
                let pointer = SlotTable.entryPointer(word)
                let matches = Unmanaged<KeyedEntry>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                    $0.keyHash == hash && $0.key == key
                }
                if matches { return pointer }
            }
            index = (index &+ 1) & mask
        }
    }

    // MARK: - Writer side (shard lock held)

    /// Where `key` is, or where it would be inserted.
    enum Probe {
        /// The key is at `index`; its slot word is `word`.
        case found(index: Int, word: UInt)
        /// The key is absent; insert at `index` (the first tombstone on the probe path, or the
        /// empty slot that ended it). `reusesTombstone` tells which.
        case absent(index: Int, reusesTombstone: Bool)
    }

    func probe(hash: UInt64, key: String) -> Probe {
        let tag = SlotTable.tag(hash)
        var index = Int(truncatingIfNeeded: hash) & mask
        var firstTombstone = -1
        while true {
            let word = slot(index).load(ordering: .relaxed)
            if word == SlotTable.empty {
                return firstTombstone >= 0
                    ? .absent(index: firstTombstone, reusesTombstone: true)
                    : .absent(index: index, reusesTombstone: false)
            }
            if word == SlotTable.tombstone {
                if firstTombstone < 0 { firstTombstone = index }
            } else if word >> 48 == tag {
                let entry = Unmanaged<KeyedEntry>.fromOpaque(SlotTable.entryPointer(word))
                if entry._withUnsafeGuaranteedRef({ $0.keyHash == hash && $0.key == key }) {
                    return .found(index: index, word: word)
                }
            }
            index = (index &+ 1) & mask
        }
    }

    /// The slot of the entry with this hash and exactly this deadline, and its word, or nil.
    func find(hash: UInt64, expiresAt: Int64) -> (index: Int, word: UInt)? {
        let tag = SlotTable.tag(hash)
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slot(index).load(ordering: .relaxed)
            if word == SlotTable.empty { return nil }
            if word >> 48 == tag && word != SlotTable.tombstone {
                let matches = Unmanaged<PolicyNode>.fromOpaque(SlotTable.entryPointer(word))._withUnsafeGuaranteedRef {
                    $0.keyHash == hash && $0.expiresAt == expiresAt
                }
                if matches { return (index, word) }
            }
            index = (index &+ 1) & mask
        }
    }

    /// The slot holding exactly `entry`, or nil.
    func index(of entry: UnsafeRawPointer, hash: UInt64) -> Int? {
        let wanted = SlotTable.encode(entry, hash: hash)
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slot(index).load(ordering: .relaxed)
            if word == SlotTable.empty { return nil }
            if word == wanted { return index }
            index = (index &+ 1) & mask
        }
    }

    /// Publishes `word` at `index` (release: the entry's fields are visible to whoever loads it).
    func store(_ word: UInt, at index: Int) {
        slot(index).store(word, ordering: .releasing)
    }

    /// Copies every live slot of `self` into `destination` (which must be empty and large enough).
    /// Runs before `destination` is published, so plain placement is enough.
    func copyLiveSlots(into destination: SlotTable, hashOf: (UInt) -> UInt64) {
        let destinationMask = destination.mask
        for index in 0..<capacity {
            let word = slot(index).load(ordering: .relaxed)
            guard SlotTable.isEntry(word) else { continue }
            var target = Int(truncatingIfNeeded: hashOf(word)) & destinationMask
            while destination.slot(target).load(ordering: .relaxed) != SlotTable.empty {
                target = (target &+ 1) & destinationMask
            }
            destination.slot(target).store(word, ordering: .relaxed)
        }
    }

    /// Calls `body` with every live slot word.
    func forEachEntry(_ body: (UInt) -> Void) {
        for index in 0..<capacity {
            let word = slot(index).load(ordering: .relaxed)
            if SlotTable.isEntry(word) { body(word) }
        }
    }
}
