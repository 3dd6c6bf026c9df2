// ThreadBlocks: per-thread counters and read buffers, so a hit writes only its own memory.
//
// Design note. A hit must not write any cache line that another thread writes, or the line
// ping-pongs between cores and two readers run slower than one. So each thread gets a block of its
// own, found through its epoch-reclamation record's dense index (dc_ebr_record_index: one
// %fs-relative load). A block holds:
//   - the thread's miss counter and the ring's write cursor, which counts every read (hits are
//     the reads that were not misses, so a hit writes one counter, the cursor, not two);
//   - a ring of what it read, the read buffer of Caffeine [1]: the policy's reordering and
//     frequency counting are not done on the read path but applied in batches by the maintenance
//     thread (or a writer holding the policy lock anyway).
//
// What the ring holds. A hit records the entry's address, a miss its key hash. The store sets the
// top bit of every key hash it computes (`hashMark`), and no user-space address has it (they are
// below 2^63 on every 64-bit platform Swift runs on), so the top bit tells the two apart. Recording the address
// spares the drain a second table lookup per read, which was a third of its work. An address
// outlives the read section that protected it, so two rules keep it harmless:
//   - a reader writes the ring slot and the cursor before leaving its read section;
//   - a retired entry is freed only after a drain that began after its grace period
//     (`EntryStore.collectRetired`): every reader that could have seen it has left its section,
//     so its ring writes are behind the cursor that drain read, and the drain skips the entry (it
//     is dead, so the policy ignores it). Later drains start past those positions, and a slot a
//     lap overwrote holds only a newer address, whose entry cannot have been freed yet.
// Both rules need each ring to have one writer. A thread whose index is beyond the directory
// (more than `directorySize` threads alive at once, 1,024 by default) therefore records nothing in a ring: it
// counts its reads in two shared atomic counters, and the policy learns from the other threads.
//
// Lossiness, on purpose: a ring that laps before it is drained drops its oldest reads, as in
// Caffeine and Ristretto. Single-threaded, nothing is dropped: every write drains all rings
// first, so the policy sees reads and writes in program order (the LRU policy is then exact).
//
// Layout of a block (128-byte aligned, in 128-byte units because x86's adjacent-line prefetcher
// fetches lines in pairs): bytes 0..<128 = owner-written counters (misses, ring write cursor);
// 128..<256 = drainer-written cursor; then the ring. Ownership: each block is written by its
// thread (counters, ring) and by the drainer under the policy lock (its cursor); it lives as
// long as the cache.
//
// [1] B. Manes, "Design of a Modern Cache", https://highscalability.com/design-of-a-modern-cache/
//     (read buffers, and why a lossy buffer is an acceptable trade).

import Atomics
import CSupport

/// The blocks of one cache: a directory of `directorySize` block pointers, blocks allocated on
/// first use, and the shared counters of threads beyond the directory.
@usableFromInline
final class ThreadBlocks: @unchecked Sendable {
    // @unchecked Sendable: the directory, blocks and overflow counters are raw memory accessed
    // only through atomics; `ringSize` is immutable.

    /// The bit the store sets in every key hash and no entry address has (see the design note).
    /// A miss is recorded with it set even if a caller passed a hash of its own.
    @usableFromInline static let hashMark: UInt64 = 1 << 63

    /// Threads with a ring of their own by default (8 KB of directory per cache).
    static let defaultDirectorySize = 1024

    /// Threads with a ring of their own: those whose index is below this.
    @usableFromInline let directorySize: Int
    /// Where the drainer's cursor and the ring start: 128-byte apart (see the layout note).
    @usableFromInline static let drainerOffset = 128
    @usableFromInline static let ringOffset = 256
    /// Blocks are 128-byte aligned: x86's adjacent-line prefetcher fetches 64-byte lines in
    /// 128-byte pairs, so two threads' hot lines must not share a pair either.
    static let blockAlignment = 128

    /// Power of two.
    @usableFromInline let ringSize: Int
    @usableFromInline let directory: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>
    /// One more than the highest directory index in use, so scans stop early (most processes
    /// have a few dozen threads at most).
    private let used: UnsafeAtomic<Int>
    /// Reads of threads beyond the directory (rare: more than `directorySize` threads at once).
    @usableFromInline let overflowReads: UnsafeAtomic<UInt64>
    @usableFromInline let overflowMisses: UnsafeAtomic<UInt64>

    /// - Parameters:
    ///   - ringSize: reads per ring, a power of two of at least 8.
    ///   - directorySize: threads with a ring of their own (tests make it small to reach the
    ///     overflow path without a thousand threads).
    init(ringSize: Int, directorySize: Int = ThreadBlocks.defaultDirectorySize) {
        precondition(ringSize >= 8 && ringSize & (ringSize - 1) == 0 && directorySize > 0)
        self.ringSize = ringSize
        self.directorySize = directorySize
        directory = .allocate(capacity: directorySize)
        directory.initialize(repeating: UnsafeAtomic<UInt>.Storage(0), count: directorySize)
        used = .create(0)
        overflowReads = .create(0)
        overflowMisses = .create(0)
    }

    deinit {
        for index in 0..<directorySize {
            let bits = UnsafeAtomic<UInt>(at: directory + index).load(ordering: .relaxed)
            if bits != 0 { dc_free_aligned(UnsafeMutableRawPointer(bitPattern: bits), blockSize, ThreadBlocks.blockAlignment) }
        }
        directory.deallocate()
        used.destroy()
        overflowReads.destroy()
        overflowMisses.destroy()
    }

    var blockSize: Int { ThreadBlocks.ringOffset + ringSize * 8 }

    /// Records a read of the calling thread (given its epoch record's index): a hit of the entry
    /// at `entry`, or a miss of `hash` when `entry` is nil. Must run inside the read section that
    /// found the entry (see the design note). Owner thread only: no read-modify-write, except for
    /// threads beyond the directory.
    /// - Returns: true when the thread's ring just filled up and should be drained.
    @inlinable @inline(__always)
    func recordRead(threadIndex: UInt32, entry: UnsafeRawPointer?, hash: UInt64) -> Bool {
        let index = Int(threadIndex)
        guard _fastPath(index < directorySize) else {
            overflowReads.wrappingIncrement(ordering: .relaxed)
            if entry == nil { overflowMisses.wrappingIncrement(ordering: .relaxed) }
            return false
        }
        let bits = UnsafeAtomic<UInt>(at: directory + index).load(ordering: .acquiring)
        let block =
            _fastPath(bits != 0)
            ? ThreadBlock(base: UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped, ringMask: ringSize &- 1)
            : installBlock(at: index)
        if let entry { return block.append(UInt64(UInt(bitPattern: entry))) }
        block.misses.store(block.misses.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return block.append(hash | ThreadBlocks.hashMark)
    }

    /// Hits and misses over every thread. A snapshot: it may miss increments in flight, and may
    /// pair a newer cursor with an older miss count (overcounting hits by the misses in flight).
    var readCounts: (hits: UInt64, misses: UInt64) {
        var reads = overflowReads.load(ordering: .relaxed)
        var misses = overflowMisses.load(ordering: .relaxed)
        forEachBlock { block in
            reads &+= block.written.load(ordering: .relaxed)
            misses &+= block.misses.load(ordering: .relaxed)
        }
        return (reads &- misses, misses)
    }

    @usableFromInline
    func installBlock(at index: Int) -> ThreadBlock {
        guard let fresh = dc_alloc_aligned(blockSize, ThreadBlocks.blockAlignment) else {
            fatalError("out of memory for a thread block")
        }
        let slot = UnsafeAtomic<UInt>(at: directory + index)
        let (exchanged, original) = slot.compareExchange(
            expected: 0, desired: UInt(bitPattern: fresh), ordering: .acquiringAndReleasing)
        if exchanged {
            var limit = used.load(ordering: .relaxed)
            while limit < index + 1 {
                let (done, seen) = used.compareExchange(expected: limit, desired: index + 1, ordering: .releasing)
                if done { break }
                limit = seen
            }
            return ThreadBlock(base: fresh, ringMask: ringSize - 1)
        }
        dc_free_aligned(fresh, blockSize, ThreadBlocks.blockAlignment)
        return ThreadBlock(base: UnsafeMutableRawPointer(bitPattern: original)!, ringMask: ringSize - 1)
    }

    /// Calls `body` with every allocated block. Any thread; counters read this way are a
    /// snapshot that may miss increments in flight.
    func forEachBlock(_ body: (ThreadBlock) -> Void) {
        for index in 0..<used.load(ordering: .acquiring) {
            let bits = UnsafeAtomic<UInt>(at: directory + index).load(ordering: .acquiring)
            if bits != 0 { body(ThreadBlock(base: UnsafeMutableRawPointer(bitPattern: bits)!, ringMask: ringSize - 1)) }
        }
    }
}

/// A view of one thread's block. Valid as long as its cache.
@frozen @usableFromInline
struct ThreadBlock {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let ringMask: Int

    @inlinable
    init(base: UnsafeMutableRawPointer, ringMask: Int) {
        self.base = base
        self.ringMask = ringMask
    }

    @inlinable
    func word(_ offset: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (base + offset).assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
    }

    // Owner-written line.
    @inlinable var misses: UnsafeAtomic<UInt64> { word(8) }
    /// Reads recorded so far (hits and misses): the ring's write cursor.
    @inlinable var written: UnsafeAtomic<UInt64> { word(16) }

    // Drainer-written line.
    @inlinable var drained: UnsafeAtomic<UInt64> { word(ThreadBlocks.drainerOffset) }

    /// Appends a read (an entry address, or a key hash with `hashMark` set) to the ring. Owner
    /// thread only.
    /// - Returns: true when the ring just filled up.
    @inlinable
    func append(_ read: UInt64) -> Bool {
        let position = written.load(ordering: .relaxed)
        // Release, like the cursor below: a drainer racing with a lap may read this slot before
        // the cursor says it was written, and then reads the entry it names; the slot's own
        // release/acquire pair makes the entry's contents visible to it (free on x86, where
        // every store is a release).
        word(ThreadBlocks.ringOffset + (Int(truncatingIfNeeded: position) & ringMask) &* 8)
            .store(read, ordering: .releasing)
        let next = position &+ 1
        written.store(next, ordering: .releasing)
        return Int(truncatingIfNeeded: next) & ringMask == 0
    }

    /// Hands every read recorded since the last drain to `body`, oldest first, dropping those a
    /// lap overwrote. Drainer only (policy lock held).
    @inline(__always)
    func drain(_ body: (UInt64) -> Void) {
        let end = written.load(ordering: .acquiring)
        var position = drained.load(ordering: .relaxed)
        let size = UInt64(ringMask + 1)
        if end &- position > size { position = end &- size }
        let ring = (base + ThreadBlocks.ringOffset).assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self)
        while position < end {
            body(UnsafeAtomic(at: ring + (Int(truncatingIfNeeded: position) & ringMask)).load(ordering: .acquiring))
            position &+= 1
        }
        drained.store(end, ordering: .relaxed)
    }

    /// True when reads wait to be drained.
    var hasPendingReads: Bool {
        written.load(ordering: .acquiring) != drained.load(ordering: .relaxed)
    }
}
