// Reclaimer: frees what lock-free readers might still be looking at, once they cannot be.
//
// Design note. The store's readers take no lock and no reference count: they find an entry
// pointer in a slot and read the entry under an epoch read section (dc_ebr.h). So a writer that
// removes an entry, or replaces a slot table, must not release it at once. It retires it here,
// tagged with the global epoch read after the removal; `collect` releases everything whose tag is
// at least three epochs old. Two epochs suffice on x86-TSO; the third covers a retire whose
// removal became visible only after the next epoch was taken, without leaning on the memory model
// (see dc_ebr.h for the argument).
//
// Collection is amortized: it runs in the cache's maintenance (after writes and read-buffer
// drains) and only when garbage is waiting, because advancing the epoch costs a membarrier
// system call (~200 ns). `retire` never collects by itself: callers retire while holding the
// shard or policy lock, and collecting frees entries, which may run a value's deinit (user code)
// that must not run under our locks. They call `collect` after unlocking; `retire` tells them
// when the list has grown past `collectThreshold`. Before freeing an entry, `collect` lets the
// store drain its read rings and its write buffer, which may still name the entry
// (ThreadBlocks.swift, WriteBuffer.swift).
//
// What we gave up: memory of removed entries is held for a few epoch periods (typically
// microseconds to milliseconds); a thread stalled inside a read section (it cannot block inside
// one: sections cover a lookup only) would hold back all reclamation.

import CSupport
import Primitives

/// One thing waiting to be freed.
@usableFromInline
enum Garbage: @unchecked Sendable {
    // @unchecked Sendable: each case is owned by exactly one party (the reclaimer) once retired.
    /// The table's strong reference to an entry.
    case entry(Unmanaged<PolicyNode>)
    /// A replaced slot table.
    case table(SlotTable)

    var isEntry: Bool {
        if case .entry = self { return true }
        return false
    }

    func free() {
        switch self {
        case .entry(let entry): entry.release()
        case .table(let table): table.deallocate()
        }
    }
}

/// The retire list of one cache. Thread-safe: `retire` and `collect` take an internal lock.
final class Reclaimer: Sendable {
    private struct Retired {
        var epoch: UInt64
        var garbage: Garbage
    }

    /// A collection is due once this many items were retired since the last one. 64 items: an
    /// epoch advance (~200 ns) amortized over 64 writes costs ~3 ns per write, while holding at
    /// most a few KB of removed entries between collections.
    static let collectThreshold = 64

    private struct Pending {
        var items: [Retired] = []
        /// `items.count` at which `retire` asks for a collection: what the last collection left
        /// waiting (too young to free) plus the threshold, so that items that must wait a few
        /// epochs do not make every following retire ask for a collection again.
        var collectAt = Reclaimer.collectThreshold
    }

    private let pending = Locked(Pending())

    init() {}

    deinit {
        // The cache is gone, so no reader of it exists: free everything now.
        for item in pending.withLock({ $0.items }) { item.garbage.free() }
    }

    /// Retires `garbage`, which must already be unreachable for new readers.
    /// - Returns: true when enough is waiting that the caller should `collect` after unlocking.
    @discardableResult
    func retire(_ garbage: Garbage) -> Bool {
        let epoch = dc_ebr_retire_epoch()
        return pending.withLock { pending in
            pending.items.append(Retired(epoch: epoch, garbage: garbage))
            return pending.items.count >= pending.collectAt
        }
    }

    /// Retires several items with one fence.
    /// - Returns: true when the caller should `collect` after unlocking.
    @discardableResult
    func retire(_ items: [Garbage]) -> Bool {
        guard !items.isEmpty else { return false }
        let epoch = dc_ebr_retire_epoch()
        return pending.withLock { pending in
            for item in items { pending.items.append(Retired(epoch: epoch, garbage: item)) }
            return pending.items.count >= pending.collectAt
        }
    }

    /// Number of items waiting.
    var pendingCount: Int { pending.withLock { $0.items.count } }

    /// Advances the epoch if possible and frees what is old enough. Must not be called inside a
    /// read section of the calling thread (it would hold back its own advance).
    /// - Parameter beforeFreeingEntries: runs after the items to free are chosen and before any
    ///   entry among them is freed (the store applies its read rings and write buffer there).
    /// - Returns: the number of items freed.
    @discardableResult
    func collect(beforeFreeingEntries: () -> Void) -> Int {
        guard pending.withLock({ !$0.items.isEmpty }) else { return 0 }
        let epoch = dc_ebr_try_advance()
        let ready: [Retired] = pending.withLock { pending in
            // Concurrent retirers may append slightly out of epoch order, so filter the whole
            // list rather than cut a prefix. The waiting items move forward in place.
            var ready: [Retired] = []
            var kept = 0
            for index in pending.items.indices {
                let item = pending.items[index]
                if item.epoch + 3 <= epoch {
                    ready.append(item)
                } else {
                    pending.items[kept] = item
                    kept += 1
                }
            }
            pending.items.removeLast(pending.items.count - kept)
            pending.collectAt = kept + Reclaimer.collectThreshold
            return ready
        }
        if ready.contains(where: \.garbage.isEntry) { beforeFreeingEntries() }
        for item in ready { item.garbage.free() }
        return ready.count
    }
}
