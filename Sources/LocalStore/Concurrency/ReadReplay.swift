// ReadReplay: applying the hashes recorded in the threads' rings to the policy.
//
// Non-generic on purpose: it sees the tables only as raw slot arrays and the entries only as
// PolicyNodes, so it is compiled once, fully specialized, with no metadata lookups and no
// closure contexts; the profile of the read path showed the generic version costing more than
// the hits it served. Each recorded hash is looked up again (by hash only, SlotTable.lookup(hash:))
// inside an epoch read section: a hash whose entry is in the table is credited as an access (the
// entry may have been replaced since the read: the new one gets the credit); a hash with no entry
// is reported as a miss (it was one, or its entry left since), which only the adaptive policy's
// window sizing uses. Every write drains the rings first, so a miss followed by its fill reaches
// the policy in that order.

import Atomics
import CSupport

struct ReadReplay {
    let tables: UnsafeMutablePointer<UnsafeAtomic<UInt>.Storage>
    let shardMask: Int

    /// Drains every thread's ring into `engine`. Policy lock held.
    func apply(_ blocks: ThreadBlocks, to engine: PolicyEngine) {
        let record = dc_ebr_thread_record()
        dc_ebr_enter(record)
        defer { dc_ebr_exit(record) }
        blocks.forEachBlock { block in
            guard block.hasPendingReads else { return }
            block.drain { hash in
                let shard = Int(truncatingIfNeeded: hash &>> 52) & shardMask
                let bits = UnsafeAtomic<UInt>(at: tables + shard).load(ordering: .acquiring)
                let table = SlotTable(base: UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped)
                guard let pointer = table.lookup(hash: hash) else {
                    engine.recordMiss(keyHash: hash)
                    return
                }
                Unmanaged<PolicyNode>.fromOpaque(pointer)._withUnsafeGuaranteedRef { engine.recordAccess($0) }
            }
        }
    }
}
