// WindowTinyLFUPolicy+Climber: feeding reads to the window climber and resizing the window.
//
// Design note. Every read the store reports (a hit through `recordAccess`, a miss through
// `recordMiss`) is also a read of the climber's miniature caches when its key is sampled (see
// `WindowClimber.swift`). When the climber moves to another window share, the real window's
// target changes at once and the regions are rebalanced as Caffeine does [1]:
//
//   - Growing: the capacity comes out of main. Main's coldest entries (probation's least recently
//     used, then protected's) move to the window's most recently used end, so they stay cached
//     and age out by recency from now on; protected's target shrinks with main and its overflow
//     is demoted to probation.
//   - Shrinking: the window's least recently used entries move to probation's most recently used
//     end (they are not re-admitted through the filter: they are cached already).
//
// At most `transferLimit` entries move per event, so one read never pays for a large cache's
// whole rebalance (Caffeine's QUEUE_TRANSFER_THRESHOLD of 1,000 [1]). A larger move finishes
// through the eviction order: a window below its target takes new entries without evicting from
// itself, while main, above its target, supplies the victims; a window above its target hands
// its overflow to probation on the next insert.
//
// Weighted caches: the miniatures count entries, so they are sized for maximumWeight divided by
// the average weight. The policy measures that average whenever the cache is at least half full
// and rebuilds the miniatures (keeping the chosen share) when it is off by more than 2x; a cache
// of unit weights never rebuilds.
//
// [1] B. Manes, Caffeine `BoundedLocalCache.increaseWindow()` / `decreaseWindow()`,
//     https://github.com/ben-manes/caffeine/blob/master/caffeine/src/main/java/com/github/benmanes/caffeine/cache/BoundedLocalCache.java
//
// Concurrency: runs under the policy lock, like every method of the policy.

extension WindowTinyLFUPolicy {
    /// Replays a read in the climber's miniatures, if its key is sampled, and applies the move
    /// the climber may order. Inlined: an unsampled read (the great majority) costs one hash mix
    /// and a comparison.
    @inline(__always)
    func climb(_ keyHash: UInt64) {
        if climber.samples(keyHash) { climbSampled(keyHash) }
    }

    /// `climb` for a sampled key.
    @inline(never)
    func climbSampled(_ keyHash: UInt64) {
        guard let share = climber.readSampled(keyHash, sketch: sketch, mayMove: climberModelsTheFullCache) else { return }
        resizeWindow(to: WindowTinyLFUPolicy.windowTarget(share: share, maximumWeight: maximumWeight))
    }

    /// True once the miniatures model the cache at its full size: they reached the maximum
    /// (unit weights), or the cache is half full (then the average weight is known). Until then
    /// nothing is evicted, so the window's size does not matter yet, and a decision taken on the
    /// short epochs of a small model would be a transient the final one must undo.
    var climberModelsTheFullCache: Bool {
        climber.modeledEntries >= maximumWeight || weightedSize * 2 >= maximumWeight
    }

    /// The window weight for a share: at least 1, so that a new entry always passes through the
    /// window before it competes (as Caffeine never shrinks its window below 1).
    static func windowTarget(share: Double, maximumWeight: Int) -> Int {
        guard maximumWeight > 0 else { return 0 }
        return min(maximumWeight, max(1, Int((share * Double(maximumWeight)).rounded())))
    }

    /// Moves the window's target to `target` and rebalances up to `transferLimit` entries.
    func resizeWindow(to target: Int) {
        if target > windowMaximum {
            setWindowMaximum(target)
            var moved = 0
            while moved < WindowTinyLFUPolicy.transferLimit, windowWeight < windowMaximum,
                let node = probation.first ?? protected.first
            {
                if node.queue == .probation {
                    probation.remove(node)
                } else {
                    protected.remove(node)
                    protectedWeight -= Int(node.weight)
                }
                node.queue = .window
                window.append(node)
                windowWeight += Int(node.weight)
                moved += 1
            }
        } else if target < windowMaximum {
            setWindowMaximum(target)
            var moved = 0
            while moved < WindowTinyLFUPolicy.transferLimit, windowWeight > windowMaximum, let node = window.first {
                window.remove(node)
                windowWeight -= Int(node.weight)
                node.queue = .probation
                probation.append(node)
                moved += 1
            }
        }
    }

    /// Re-sizes the miniatures when the measured average weight says the cache holds a very
    /// different number of entries than they model (see the design note).
    func remodelIfNeeded() {
        guard entryCount > 0, weightedSize * 2 >= maximumWeight else { return }
        let entries = Int((Double(maximumWeight) * Double(entryCount) / Double(weightedSize)).rounded())
        let modeled = climber.modeledEntries
        if entries > modeled * 2 || entries * 2 < modeled {
            climber.resize(entries: entries, keepingShare: true)
        }
    }
}
