// ReadReplay: applying the reads recorded in the threads' rings to the policy.
//
// A recorded hit is the address of the entry that was read (ThreadBlocks.swift says why that
// address is still valid here); the policy credits the access if the entry is still linked, and
// ignores it when the entry has left since (replaced, removed, evicted: its successor, if any, does
// not get the credit, as in Caffeine). A recorded miss is the key's hash (its top bit, which the
// store sets in every hash, tells it from an address); only the adaptive policy's window sizing
// uses it. Every write drains the rings first, so a miss
// followed by its fill reaches the policy in that order.
//
// Non-generic on purpose: it sees entries only as PolicyNodes, so it is compiled once, fully
// specialized, with no metadata lookups and no closure contexts.

enum ReadReplay {
    /// Drains every thread's ring into `engine`; with `renewing` (time to idle), each hit is
    /// also handed to it. Policy lock held.
    static func apply(_ blocks: ThreadBlocks, to engine: PolicyEngine, renewing: ((PolicyNode) -> Void)? = nil) {
        // The switch is outside the loop, so each loop calls its policy's methods directly and
        // they inline: the replay of one read is the ring load and the policy's work.
        if let renewing {
            switch engine {
            case .windowTinyLFU(let policy):
                drain(blocks, hit: { policy.recordAccess($0); renewing($0) }, miss: policy.recordMiss)
            case .lru(let policy):
                drain(blocks, hit: { policy.recordAccess($0); renewing($0) }, miss: { _ in })
            }
            return
        }
        switch engine {
        case .windowTinyLFU(let policy): drain(blocks, hit: policy.recordAccess, miss: policy.recordMiss)
        case .lru(let policy): drain(blocks, hit: policy.recordAccess, miss: { _ in })
        }
    }

    @inline(__always)
    private static func drain(_ blocks: ThreadBlocks, hit: (PolicyNode) -> Void, miss: (UInt64) -> Void) {
        blocks.forEachBlock { block in
            guard block.hasPendingReads else { return }
            block.drain { read in
                if read & ThreadBlocks.hashMark != 0 { return miss(read) }
                // Safe: a recorded entry is not freed before a drain that follows its grace period.
                Unmanaged<PolicyNode>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(read)).unsafelyUnwrapped)
                    ._withUnsafeGuaranteedRef(hit)
            }
        }
    }
}
