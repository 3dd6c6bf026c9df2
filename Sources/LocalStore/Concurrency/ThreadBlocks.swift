// ThreadBlocks: per-thread counters and read buffers, so a hit writes only its own memory.
//
// Design note. A hit must not write any cache line that another thread writes, or the line
// ping-pongs between cores and two readers run slower than one. So each thread gets a block of its
// own, found through its epoch-reclamation record's dense index (dc_ebr_record_index: one
// %fs-relative load). A block holds:
//   - the thread's hit and miss counters (the striped metrics: summed on demand);
//   - a ring of the key hashes it read (hits and misses), the read buffer of Caffeine [1]: the policy's reordering
//     and frequency counting are not done on the read path but applied in batches, by whichever
//     thread fills its ring (every `ringSize` hits) and wins the policy lock's tryLock.
// The ring holds hashes, not entry pointers: a hash stays harmless however late it is read (the
// drain looks the entry up again, and a hash whose entry is gone is skipped), whereas a pointer
// would outlive the read section that protected it.
//
// Lossiness, on purpose: when the policy lock is busy, or a ring laps before it is drained, the
// oldest recorded hits are dropped, as in Caffeine and Ristretto. Single-threaded, nothing is
// dropped: every write drains all rings first, so the policy sees reads and writes in program
// order (the LRU policy is then exact). Up to 256 threads get private blocks; beyond that, threads
// share blocks (index modulo 256) and their counter updates may race and undercount.
//
// Layout of a block (64-byte aligned): line 0 = owner-written counters (hits, misses, ring write
// cursor); line 1 = drainer-written cursor; then the ring. Ownership: each block is written by its
// thread (line 0, ring) and by the maintenance drainer under the policy lock (line 1); it lives as
// long as the cache.
//
// [1] B. Manes, "Design of a Modern Cache", https://highscalability.com/design-of-a-modern-cache/
//     (read buffers, and why a lossy buffer is an acceptable trade).

import Atomics
import CSupport

/// The blocks of one cache: a directory of 256 block pointers, blocks allocated on first use.
@usableFromInline
final class ThreadBlocks: @unchecked Sendable {
    // @unchecked Sendable: the directory and blocks are raw memory accessed only through atomics;
    // `ringSize` is immutable.

    @usableFromInline static let directorySize = 256
    @usableFromInline static let ringOffset = 128

    /// Power of two.
    @usableFromInline let ringSize: Int
    @usableFromInline let directory: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>
    /// One more than the highest directory index in use, so scans stop early (most processes
    /// have a few dozen threads at most).
    private let used: UnsafeAtomic<Int>

    init(ringSize: Int) {
        precondition(ringSize >= 8 && ringSize & (ringSize - 1) == 0)
        self.ringSize = ringSize
        directory = .allocate(capacity: ThreadBlocks.directorySize)
        directory.initialize(repeating: UnsafeAtomic<UInt>.Storage(0), count: ThreadBlocks.directorySize)
        used = .create(0)
    }

    deinit {
        for index in 0..<ThreadBlocks.directorySize {
            let bits = UnsafeAtomic<UInt>(at: directory + index).load(ordering: .relaxed)
            if bits != 0 { dc_free_aligned(UnsafeMutableRawPointer(bitPattern: bits), blockSize, 64) }
        }
        directory.deallocate()
        used.destroy()
    }

    var blockSize: Int { ThreadBlocks.ringOffset + ringSize * 8 }

    /// The calling thread's block (given its epoch record's index).
    @inlinable @inline(__always)
    func block(threadIndex: UInt32) -> ThreadBlock {
        let index = Int(threadIndex) & (ThreadBlocks.directorySize - 1)
        let bits = UnsafeAtomic<UInt>(at: directory + index).load(ordering: .acquiring)
        if _fastPath(bits != 0) {
            return ThreadBlock(base: UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped, ringMask: ringSize &- 1)
        }
        return installBlock(at: index)
    }

    @usableFromInline
    func installBlock(at index: Int) -> ThreadBlock {
        guard let fresh = dc_alloc_aligned(blockSize, 64) else { fatalError("out of memory for a thread block") }
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
        dc_free_aligned(fresh, blockSize, 64)
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
    @inlinable var hits: UnsafeAtomic<UInt64> { word(0) }
    @inlinable var misses: UnsafeAtomic<UInt64> { word(8) }
    @inlinable var written: UnsafeAtomic<UInt64> { word(16) }
    // Drainer-written line.
    @inlinable var drained: UnsafeAtomic<UInt64> { word(64) }

    /// Counts a miss and appends `hash` to the ring (the adaptive policy samples misses too).
    /// Owner thread only: loads and stores, no read-modify-write.
    /// - Returns: true when the ring just filled up and should be drained.
    @inlinable
    func recordMiss(_ hash: UInt64) -> Bool {
        misses.store(misses.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return append(hash)
    }

    /// Counts a hit and appends `hash` to the ring. Owner thread only.
    /// - Returns: true when the ring just filled up and should be drained.
    @inlinable
    func recordHit(_ hash: UInt64) -> Bool {
        hits.store(hits.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return append(hash)
    }

    /// Appends a read's hash to the ring. Owner thread only.
    /// - Returns: true when the ring just filled up.
    @inlinable
    func append(_ hash: UInt64) -> Bool {
        let position = written.load(ordering: .relaxed)
        word(ThreadBlocks.ringOffset + (Int(truncatingIfNeeded: position) & ringMask) &* 8)
            .store(hash, ordering: .relaxed)
        let next = position &+ 1
        written.store(next, ordering: .releasing)
        return Int(truncatingIfNeeded: next) & ringMask == 0
    }

    /// Hands every hash recorded since the last drain to `body`, oldest first, dropping those a
    /// lap overwrote. Drainer only (policy lock held).
    @inline(__always)
    func drain(_ body: (UInt64) -> Void) {
        let end = written.load(ordering: .acquiring)
        var position = drained.load(ordering: .relaxed)
        let size = UInt64(ringMask + 1)
        if end &- position > size { position = end &- size }
        let ring = (base + ThreadBlocks.ringOffset).assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self)
        while position < end {
            body(UnsafeAtomic(at: ring + (Int(truncatingIfNeeded: position) & ringMask)).load(ordering: .relaxed))
            position &+= 1
        }
        drained.store(end, ordering: .relaxed)
    }

    /// True when hashes wait to be drained.
    var hasPendingReads: Bool {
        written.load(ordering: .acquiring) != drained.load(ordering: .relaxed)
    }
}
