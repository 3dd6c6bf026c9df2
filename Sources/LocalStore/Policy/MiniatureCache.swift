// MiniatureCache: a metadata-only W-TinyLFU over a sample of the keys, with a fixed window.
//
// Design note. The window climber (`WindowClimber.swift`) compares what the cache WOULD hit
// with other window sizes, on the same requests. Each candidate size is simulated by one
// miniature cache: the W-TinyLFU algorithm of `WindowTinyLFUPolicy` (LRU window, SLRU main with
// protected = 80%, TinyLFU admission, victim wins ties) reduced to key hashes, fed only the
// requests for a spatially sampled subset of the keys and sized by the same sampling rate. This
// is SHARDS-style miniature simulation [1]: a cache of R x C entries that sees the keys whose hash
// falls in a fraction R of the hash space has, in expectation, the hit ratio of the full cache of
// C entries, because sampling by key preserves each sampled key's reuse pattern. Admission asks
// the real cache's frequency sketch: it counts every request regardless of the configuration,
// so it is exactly what a full-size cache of this configuration would have consulted.
//
// Layout: struct-of-arrays indexed by Int32 slot numbers (links, queue, key hash), a free list,
// and an open-addressing table (linear probing, backward-shift deletion [2]) mapping key hashes
// to slots at a load of at most 1/2. Everything is allocated once, at init: a read never
// allocates, and costs one or two probes plus a few array writes.
//
// What we gave up: weights (a miniature counts entries; the climber sizes it by the real cache's
// average weight) and the admission jitter (it defends against crafted collisions, which do not
// change which window size is better).
//
// [1] C. A. Waldspurger, T. Saemundsson, I. Ahmad, N. Park, "Cache Modeling and Optimization using
//     Miniature Simulations", USENIX ATC 2017, https://www.usenix.org/conference/atc17/technical-sessions/presentation/waldspurger
// [2] D. E. Knuth, The Art of Computer Programming vol. 3, section 6.4, Algorithm R (deletion
//     with linear probing).
//
// Concurrency: a value type owned by the climber, guarded by the policy lock.

/// A key-hash-only W-TinyLFU with a fixed window. See the design note at the top of this file.
struct MiniatureCache {
    /// Queue tags, matching `PolicyQueue`'s roles.
    private static let window: UInt8 = 0, probation: UInt8 = 1, protected: UInt8 = 2
    /// "No slot" in a link.
    private static let none: Int32 = -1

    /// Owns the raw arrays below (frees them when the last copy of this miniature is gone).
    /// Raw memory rather than Swift arrays: every write to an array in a struct nested in the
    /// climber's array paid a uniqueness check, and callgrind counted the miniatures as a fifth
    /// of a local hit's instructions. A miniature is never copied and then mutated separately
    /// (`grown` builds a new one), so sharing the memory between copies is safe.
    private let storage: Storage
    /// Key hash per slot.
    private let keys: UnsafeMutablePointer<UInt64>
    /// Access-order links per slot (previous, next), and the queue the slot is on.
    private let previous: UnsafeMutablePointer<Int32>
    private let next: UnsafeMutablePointer<Int32>
    private let queue: UnsafeMutablePointer<UInt8>
    /// Least and most recently used slot per queue, and the entry count per queue.
    private var heads: (Int32, Int32, Int32) = (none, none, none)
    private var tails: (Int32, Int32, Int32) = (none, none, none)
    private var counts: (Int, Int, Int) = (0, 0, 0)
    /// First free slot; free slots are chained through `next`.
    private var free: Int32
    /// Slot + 1 per table cell, 0 for an empty cell.
    private let table: UnsafeMutablePointer<Int32>
    private let tableMask: Int

    /// Entries the miniature holds.
    let capacity: Int
    /// Entries its window holds.
    let windowCapacity: Int
    /// Entries its protected segment holds.
    let protectedCapacity: Int
    /// The window's share of the capacity.
    let windowShare: Double

    /// Creates an empty miniature.
    ///
    /// - Parameters:
    ///   - capacity: entries (at least 1).
    ///   - windowShare: the window's share of the capacity, 0...1.
    init(capacity: Int, windowShare: Double) {
        self.capacity = max(1, capacity)
        self.windowShare = windowShare
        self.windowCapacity = min(self.capacity, Int((Double(self.capacity) * windowShare).rounded()))
        self.protectedCapacity = Int(WindowTinyLFUPolicy.protectedShare * Double(self.capacity - windowCapacity))
        let slots = self.capacity + 1
        let cells = FrequencySketch.ceilingPowerOfTwo(2 * slots)
        storage = Storage(slots: slots, cells: cells)
        keys = storage.keys
        previous = storage.previous
        next = storage.next
        queue = storage.queue
        table = storage.table
        for slot in 0..<slots { next[slot] = slot + 1 < slots ? Int32(slot + 1) : MiniatureCache.none }
        free = 0
        tableMask = cells - 1
    }

    /// Entries held.
    var count: Int { counts.0 + counts.1 + counts.2 }

    /// A miniature of `newCapacity` entries (at least the current capacity) holding the same keys
    /// on the same queues in the same order, for a cache that grew while the key sample stayed
    /// the same (see `WindowClimber.grow`).
    func grown(to newCapacity: Int) -> MiniatureCache {
        var copy = MiniatureCache(capacity: max(capacity, newCapacity), windowShare: windowShare)
        for (q, first) in [(MiniatureCache.window, heads.0), (MiniatureCache.probation, heads.1), (MiniatureCache.protected, heads.2)] {
            var slot = first
            while slot != MiniatureCache.none {
                let newSlot = copy.free
                copy.free = copy.next[Int(newSlot)]
                copy.keys[Int(newSlot)] = keys[Int(slot)]
                copy.insertIntoTable(newSlot)
                copy.append(newSlot, to: q)
                slot = next[Int(slot)]
            }
        }
        // The regions only grow with the capacity, so nothing is over its target; keep the
        // protected segment's bound exact all the same.
        while copy.counts.2 > copy.protectedCapacity, let demoted = copy.head(MiniatureCache.protected) {
            copy.unlink(demoted)
            copy.append(demoted, to: MiniatureCache.probation)
        }
        return copy
    }

    /// Replays one read of a sampled key: a hit reorders, a miss inserts and evicts.
    ///
    /// - Returns: whether the key was present.
    mutating func read(_ keyHash: UInt64, sketch: FrequencySketch) -> Bool {
        if let slot = find(keyHash) {
            hit(slot)
            return true
        }
        let slot = free
        free = next[Int(slot)]
        keys[Int(slot)] = keyHash
        insertIntoTable(slot)
        append(slot, to: MiniatureCache.window)
        evict(sketch: sketch)
        return false
    }

    /// W-TinyLFU's reordering on a hit (see `WindowTinyLFUPolicy.recordAccess`).
    private mutating func hit(_ slot: Int32) {
        let q = queue[Int(slot)]
        unlink(slot)
        if q == MiniatureCache.window {
            append(slot, to: MiniatureCache.window)
            return
        }
        append(slot, to: MiniatureCache.protected)
        while counts.2 > protectedCapacity, let demoted = head(MiniatureCache.protected) {
            unlink(demoted)
            append(demoted, to: MiniatureCache.probation)
        }
    }

    /// Window overflow becomes a candidate; while over capacity the candidate competes with
    /// main's victim (see `WindowTinyLFUPolicy+Eviction.swift`).
    private mutating func evict(sketch: FrequencySketch) {
        var candidate = MiniatureCache.none
        if counts.0 > windowCapacity, let overflow = head(MiniatureCache.window) {
            unlink(overflow)
            append(overflow, to: MiniatureCache.probation)
            candidate = overflow
        }
        while count > capacity {
            guard let victim = head(MiniatureCache.probation) ?? head(MiniatureCache.protected) ?? head(MiniatureCache.window)
            else { return }
            if candidate == MiniatureCache.none || candidate == victim {
                drop(victim)
                candidate = MiniatureCache.none
            } else if sketch.frequency(keys[Int(candidate)]) > sketch.frequency(keys[Int(victim)]) {
                drop(victim)
                candidate = MiniatureCache.none
            } else {
                drop(candidate)
                candidate = MiniatureCache.none
            }
        }
    }

    // MARK: - Lists

    private func head(_ q: UInt8) -> Int32? {
        let h = q == 0 ? heads.0 : q == 1 ? heads.1 : heads.2
        return h == MiniatureCache.none ? nil : h
    }

    private mutating func append(_ slot: Int32, to q: UInt8) {
        queue[Int(slot)] = q
        let tail = q == 0 ? tails.0 : q == 1 ? tails.1 : tails.2
        previous[Int(slot)] = tail
        next[Int(slot)] = MiniatureCache.none
        if tail != MiniatureCache.none { next[Int(tail)] = slot } else { setHead(q, slot) }
        setTail(q, slot)
        adjustCount(q, by: 1)
    }

    private mutating func unlink(_ slot: Int32) {
        let q = queue[Int(slot)]
        let p = previous[Int(slot)], n = next[Int(slot)]
        if p != MiniatureCache.none { next[Int(p)] = n } else { setHead(q, n) }
        if n != MiniatureCache.none { previous[Int(n)] = p } else { setTail(q, p) }
        adjustCount(q, by: -1)
    }

    private mutating func setHead(_ q: UInt8, _ slot: Int32) {
        switch q { case 0: heads.0 = slot; case 1: heads.1 = slot; default: heads.2 = slot }
    }

    private mutating func setTail(_ q: UInt8, _ slot: Int32) {
        switch q { case 0: tails.0 = slot; case 1: tails.1 = slot; default: tails.2 = slot }
    }

    private mutating func adjustCount(_ q: UInt8, by delta: Int) {
        switch q { case 0: counts.0 += delta; case 1: counts.1 += delta; default: counts.2 += delta }
    }

    /// Removes a slot from its list and the table, and frees it.
    private mutating func drop(_ slot: Int32) {
        unlink(slot)
        removeFromTable(slot)
        next[Int(slot)] = free
        free = slot
    }

    // MARK: - Table

    /// The home cell of a key hash (Fibonacci hashing of the already mixed hash).
    @inline(__always)
    private func home(_ keyHash: UInt64) -> Int {
        Int(truncatingIfNeeded: (keyHash &* 0x9E37_79B9_7F4A_7C15) >> 32) & tableMask
    }

    private func find(_ keyHash: UInt64) -> Int32? {
        var cell = home(keyHash)
        while true {
            let entry = table[cell]
            if entry == 0 { return nil }
            if keys[Int(entry - 1)] == keyHash { return entry - 1 }
            cell = (cell + 1) & tableMask
        }
    }

    private mutating func insertIntoTable(_ slot: Int32) {
        var cell = home(keys[Int(slot)])
        while table[cell] != 0 { cell = (cell + 1) & tableMask }
        table[cell] = slot + 1
    }

    /// Deletes without tombstones: later entries of the probe run move back into the hole when
    /// their home does not lie cyclically between the hole and their cell.
    private mutating func removeFromTable(_ slot: Int32) {
        var hole = home(keys[Int(slot)])
        while table[hole] != slot + 1 { hole = (hole + 1) & tableMask }
        var cell = hole
        while true {
            cell = (cell + 1) & tableMask
            let entry = table[cell]
            if entry == 0 { break }
            let entryHome = home(keys[Int(entry - 1)])
            let reachable = hole <= cell ? (entryHome > hole && entryHome <= cell) : (entryHome > hole || entryHome <= cell)
            if !reachable {
                table[hole] = entry
                hole = cell
            }
        }
        table[hole] = 0
    }

    #if DCACHE_INTERNAL_CHECKS
    /// Checks the lists, the counts, the capacities and that every listed key is found.
    func _checkInvariants() {
        var listed = 0
        for (q, h, expected) in [(UInt8(0), heads.0, counts.0), (1, heads.1, counts.1), (2, heads.2, counts.2)] {
            var n = 0
            var p = MiniatureCache.none
            var slot = h
            while slot != MiniatureCache.none {
                precondition(queue[Int(slot)] == q && previous[Int(slot)] == p, "broken miniature list")
                precondition(find(keys[Int(slot)]) == slot, "listed key missing from the table")
                n += 1
                p = slot
                slot = next[Int(slot)]
            }
            precondition(n == expected, "miniature count mismatch")
            listed += n
        }
        precondition(listed <= capacity && counts.2 <= max(protectedCapacity, 0), "miniature over capacity")
        precondition((0...tableMask).filter { table[$0] != 0 }.count == listed, "table holds unlisted slots")
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}

extension MiniatureCache {
    /// The raw arrays of one miniature, allocated zeroed (links set by the miniature) and freed
    /// together.
    final class Storage {
        let keys: UnsafeMutablePointer<UInt64>
        let previous: UnsafeMutablePointer<Int32>
        let next: UnsafeMutablePointer<Int32>
        let queue: UnsafeMutablePointer<UInt8>
        let table: UnsafeMutablePointer<Int32>

        init(slots: Int, cells: Int) {
            keys = .allocate(capacity: slots)
            keys.initialize(repeating: 0, count: slots)
            previous = .allocate(capacity: slots)
            previous.initialize(repeating: -1, count: slots)
            next = .allocate(capacity: slots)
            next.initialize(repeating: -1, count: slots)
            queue = .allocate(capacity: slots)
            queue.initialize(repeating: 0, count: slots)
            table = .allocate(capacity: cells)
            table.initialize(repeating: 0, count: cells)
        }

        deinit {
            keys.deallocate()
            previous.deallocate()
            next.deallocate()
            queue.deallocate()
            table.deallocate()
        }
    }
}
