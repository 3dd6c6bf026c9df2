// PolicyNode: the part of a cache entry that the eviction and expiry policies own.
//
// Design note. As in Caffeine, storage and policy are separate: the sharded table maps keys to
// entries and serves reads without locks; the policy decides which entries stay, under one policy
// lock, from a stream of events (insert, access, replace, remove) that the table hands it in
// batches. An entry is a `StoreEntry<Value>`, a subclass of this class, so the policy code is
// compiled once, without generics, and links entries intrusively (no side allocation per entry,
// no hashing on the policy's path).
//
// Links are unretained (`Unmanaged`): a node is linked only while the table holds a strong
// reference to its entry, or while the thread that removed it from the table still holds one (it
// unlinks the node before letting go, or a buffered write names it, see WriteBuffer.swift). So a
// linked node is always alive, and the links cost no reference counting. The invariant is checked
// by `_checkInvariants()` in debug builds, and so is its misuse: with internal checks on, a node
// freed while linked traps in its deinit.
//
// Concurrency contract:
//   - `let` properties are immutable after init and may be read from any thread (readers check
//     `expiresAt` without a lock);
//   - every `var` is guarded by the owning cache's policy lock.

/// Which list of the eviction policy a node is on.
enum PolicyQueue: UInt8 {
    /// Not on any list (new, or removed).
    case none
    /// W-TinyLFU's admission window (an LRU list).
    case window
    /// W-TinyLFU's main space, probation segment.
    case probation
    /// W-TinyLFU's main space, protected segment.
    case protected
    /// The single list of the LRU policy.
    case lru
}

/// Where a node is in its life, as the policy sees it.
enum PolicyNodeState: UInt8 {
    /// Inserted in the table; the policy has not seen its insert yet.
    case pending
    /// On a policy list.
    case linked
    /// Removed. A later insert or access event for it must be ignored: the table has moved on.
    case dead
}

/// The policy's view of one cache entry. See the design note at the top of this file.
///
/// `package`: the distributed cache's entry classes (StoreEntry.swift) derive from it.
@usableFromInline
package class PolicyNode {
    // Layout: Swift stores properties in declaration order, so the order below is chosen to
    // leave no padding: after the 16-byte object header, two 8-byte fields, then the 4-byte
    // weight and the 1 + 1 bytes of policy state in one 8-byte word, then the links: 56 bytes.
    // With a key (16) and a class value (8), an entry is 80 bytes, a jemalloc size class. Timer
    // links used to live here (16 bytes more, 96 in all): the timer wheel now holds tickets of
    // its own (TimerWheel.swift).

    /// The key's 64-bit hash (seeded per cache). The frequency sketch and the read buffers use it.
    @usableFromInline package let keyHash: UInt64
    /// Monotonic deadline in nanoseconds (see `dc_clock_now_ns`), or `Int64.max` for no expiry.
    @usableFromInline package let expiresAt: Int64
    /// The entry's weight ("cost"): its share of the cache's maximum weight. At least 1.
    @usableFromInline let weight: UInt32

    /// The list this node is on. Guarded by the policy lock.
    var queue: PolicyQueue = .none
    /// Guarded by the policy lock.
    var state: PolicyNodeState = .pending
    /// Set by the owner before the entry is stored, never after: this entry replaces its key's
    /// entry with the same value in another form (the distributed cache's decode-once step), so
    /// the replacement is not reported to the removal listener. Fits in the padding after
    /// `state`.
    package var replacesSilently = false
    /// Access-order links (window, probation, protected or LRU list). Guarded by the policy lock.
    ///
    /// Stored as `Unmanaged` rather than `unowned(unsafe)` references: turning an unowned(unsafe)
    /// load into a reference costs a retain and a release, four pairs per replayed hit, which
    /// callgrind showed as a quarter of a hit's instructions. `AccessOrderDeque` works on the
    /// links through `_withUnsafeGuaranteedRef`; other code reads `previous` and `next`.
    var previousLink: Unmanaged<PolicyNode>?
    var nextLink: Unmanaged<PolicyNode>?

    #if DCACHE_INTERNAL_CHECKS
    deinit {
        // Freed while linked: some deque still holds an unretained link to this memory, a
        // use-after-free waiting to happen. Whoever gives nodes to a policy must keep them alive
        // until the policy has unlinked them (policies unlink everything when they go, with
        // internal checks on).
        precondition(state != .linked, "a PolicyNode was freed while an eviction policy still links it")
    }
    #endif

    @usableFromInline
    package init(keyHash: UInt64, weight: UInt32, expiresAt: Int64) {
        self.keyHash = keyHash
        self.weight = max(weight, 1)
        self.expiresAt = expiresAt
    }

    /// The previous node in access order (towards the least recently used end), or nil.
    var previous: PolicyNode? { previousLink?.takeUnretainedValue() }
    /// The next node in access order (towards the most recently used end), or nil.
    var next: PolicyNode? { nextLink?.takeUnretainedValue() }

    /// True when the node carries a deadline.
    @inlinable
    package var expires: Bool { expiresAt != Int64.max }
}

/// An entry that left the cache, as the removal listener (``StoreConfiguration/removalListener``)
/// gets it.
public struct Removal: Sendable {
    /// The entry's key.
    public var key: String { entry.key }
    /// Why it left.
    public let cause: RemovalCause
    /// The entry itself (the distributed cache looks at its value's type and version).
    package let entry: KeyedEntry

    package init(entry: KeyedEntry, cause: RemovalCause) {
        self.entry = entry
        self.cause = cause
    }
}

/// Why an entry left the cache. Each cause has its own counter in the cache's metrics.
public enum RemovalCause: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Evicted by the policy to stay within the maximum weight (including admission rejections).
    case size
    /// Its time to live ran out.
    case expired
    /// Removed by the caller: delete, clear, or replaced by a newer value.
    case explicit
    /// Replaced by a set of the same key.
    case replaced
    /// Removed by its owner because the data changed elsewhere (for the distributed cache:
    /// another instance's write, Redis's report, a resynchronization).
    case invalidated

    public var description: String {
        switch self {
        case .size: return "size"
        case .expired: return "expired"
        case .explicit: return "explicit"
        case .replaced: return "replaced"
        case .invalidated: return "invalidated"
        }
    }
}
