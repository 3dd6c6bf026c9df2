// ClockCache: a small local cache of your own, plugged into SyncedCache through `LocalCache`.
//
// The policy is CLOCK (second chance) [1]: entries sit on a ring with a "referenced" bit that a
// hit sets; to make room, a hand sweeps the ring, clearing set bits and evicting the first entry
// whose bit is already clear. It approximates LRU with one bit per entry and no reordering on
// hits. Everything runs under one lock: simple and correct, but every read takes it, so this
// cache is for illustration and modest read rates; the built-in caches read without locks.
//
// What a conformance must do (see LocalCache's documentation for the full contract and test):
//   - be thread-safe, and linearizable per key;
//   - never return a value after its time to live;
//   - implement the conditional `setValue(_:forKey:cost:ttl:when:)` and
//     `removeValue(forKey:when:)` atomically if it can (here: under the same lock). The
//     protocol's defaults check, then act, which lets a concurrent older event overwrite a newer
//     value; the cache uses these to never replace a newer version with an older one;
//   - count hits and misses in `metrics`: `SyncedCache.stats` reports them from there.
//
// [1] F. J. Corbató, "A Paging Experiment with the Multics System", MIT Project MAC, 1968.

import DistributedCache
import Synchronization

/// A fixed-capacity CLOCK cache with per-entry deadlines.
final class ClockCache<Value: Sendable>: LocalCache {
    private struct Slot {
        var key: String
        var value: Value
        var deadline: ContinuousClock.Instant?
        var referenced: Bool
    }

    private struct State {
        var slots: [Slot?]
        var indexByKey: [String: Int] = [:]
        /// Indices of empty slots: new entries fill these before the hand evicts anything.
        var free: [Int]
        var hand = 0
        var metrics = LocalCacheMetrics()
        var closed = false

        init(capacity: Int, metrics: LocalCacheMetrics = .init(), closed: Bool = false) {
            slots = Array(repeating: nil, count: capacity)
            free = Array((0..<capacity).reversed())
            self.metrics = metrics
            self.closed = closed
        }

        /// The value for `key` if present and not expired (an expired entry is dropped on the spot);
        /// a hit sets the entry's referenced bit.
        mutating func live(_ key: String) -> Value? {
            guard let index = indexByKey[key], let slot = slots[index] else { return nil }
            if let deadline = slot.deadline, deadline <= .now {
                remove(key)
                metrics.evictionsByExpiry += 1
                return nil
            }
            slots[index]!.referenced = true
            return slot.value
        }

        mutating func remove(_ key: String) {
            guard let index = indexByKey.removeValue(forKey: key) else { return }
            slots[index] = nil
            free.append(index)
        }

        mutating func removeAll() {
            self = State(capacity: slots.count, metrics: metrics, closed: closed)
        }

        /// An empty slot: a free one if any, else one made by the CLOCK sweep, which ends within
        /// two turns of the hand (the first turn clears every referenced bit it passes).
        mutating func freeSlot() -> Int {
            if let index = free.popLast() { return index }
            while true {
                let index = hand
                hand = (hand + 1) % slots.count
                guard let slot = slots[index] else { return index }
                if slot.referenced {
                    slots[index]!.referenced = false
                } else {
                    indexByKey[slot.key] = nil
                    slots[index] = nil
                    metrics.evictionsBySize += 1
                    return index
                }
            }
        }
    }

    private let state: Mutex<State>

    init(capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        state = Mutex(State(capacity: capacity))
    }

    func value(forKey key: String) -> Value? {
        state.withLock { state in
            guard let value = state.live(key) else {
                state.metrics.misses += 1
                return nil
            }
            state.metrics.hits += 1
            return value
        }
    }

    @discardableResult
    func setValue(_ value: Value, forKey key: String, cost: Int, ttl: Duration?) -> Bool {
        setValue(value, forKey: key, cost: cost, ttl: ttl) { _ in true }
    }

    @discardableResult
    func setValue(
        _ value: Value, forKey key: String, cost: Int, ttl: Duration?, when shouldReplace: (Value?) -> Bool
    ) -> Bool {
        state.withLock { state in
            guard !state.closed, shouldReplace(state.live(key)) else { return false }
            let slot = Slot(key: key, value: value, deadline: ttl.map { .now + $0 }, referenced: false)
            let index = state.indexByKey[key] ?? state.freeSlot()
            state.slots[index] = slot
            state.indexByKey[key] = index
            state.metrics.sets += 1
            return true
        }
    }

    @discardableResult
    func removeValue(forKey key: String) -> Bool {
        removeValue(forKey: key) { _ in true }
    }

    @discardableResult
    func removeValue(forKey key: String, when shouldRemove: (Value) -> Bool) -> Bool {
        state.withLock { state in
            guard let value = state.live(key), shouldRemove(value) else { return false }
            state.remove(key)
            state.metrics.explicitRemovals += 1
            return true
        }
    }

    func removeAll() {
        state.withLock { state in
            state.metrics.explicitRemovals += UInt64(state.indexByKey.count)
            state.removeAll()
        }
    }

    func close() {
        state.withLock { state in
            state.closed = true
            state.removeAll()
        }
    }

    var metrics: LocalCacheMetrics {
        state.withLock { state in
            var metrics = state.metrics
            metrics.entryCount = state.indexByKey.count
            metrics.totalCost = state.indexByKey.count
            return metrics
        }
    }
}
