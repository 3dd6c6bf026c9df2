import Foundation
import Locking
import Testing
import TestSupport

@testable import DistributedCache

/// A randomized checker of the cache's read guarantee: tasks on several instances perform random
/// sets, deletes and gets on a small key space; every read is then checked against the history of
/// acknowledged writes.
///
/// The guarantee checked (README, "Consistency"): a read returns the value of some write w that
/// was not superseded long ago, i.e. there is no write w' of the same key that started after w
/// was acknowledged and was itself acknowledged more than `window` before the read started. The
/// window covers event propagation (microseconds on loopback; generous here for shared CI
/// machines). Deletes are writes of "no value"; a key never written reads as no value.
@Suite struct RandomizedHistoryTests {
    struct Write {
        var key: String
        var value: String?  // nil: delete
        var start: Duration
        var ack: Duration
    }

    struct Read {
        var key: String
        var result: String?
        var start: Duration
        var end: Duration
    }

    @Test func randomOperations_everyReadRespectsTheHistory() async throws {
        let window: Duration = .milliseconds(750)
        let writes = Locked<[Write]>([])
        let reads = Locked<[Read]>([])
        let origin = ContinuousClock.now
        func now() -> Duration { ContinuousClock.now - origin }

        try await withCaches(3, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<6 {
                    let cache = caches[task % caches.count]
                    group.addTask {
                        var random = SystemRandomNumberGenerator()
                        for step in 0..<150 {
                            let key = "k\(Int.random(in: 0..<4, using: &random))"
                            let roll = Int.random(in: 0..<100, using: &random)
                            let start = now()
                            if roll < 35 {
                                let value = "t\(task)-\(step)"
                                try await cache.set(key, value)
                                writes.withLock { $0.append(Write(key: key, value: value, start: start, ack: now())) }
                            } else if roll < 45 {
                                try await cache.delete(key)
                                writes.withLock { $0.append(Write(key: key, value: nil, start: start, ack: now())) }
                            } else {
                                let result = try await cache.get(key, as: String.self)
                                reads.withLock { $0.append(Read(key: key, result: result, start: start, end: now())) }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }

        let history = writes.withLock { $0 }
        let observed = reads.withLock { $0 }
        var violations: [String] = []
        for read in observed {
            let cutoff = read.start - window
            let sameKey = history.filter { $0.key == read.key }
            // Writes that could have produced this result (written before the read ended).
            var candidates = sameKey.filter { $0.value == read.result && $0.start < read.end }
            if read.result == nil {
                candidates.append(Write(key: read.key, value: nil, start: .zero, ack: .zero))  // never written
            }
            guard !candidates.isEmpty else {
                violations.append("\(read.key) read \(read.result ?? "nil"), which was never written")
                continue
            }
            let fresh = candidates.contains { candidate in
                !sameKey.contains { later in later.start > candidate.ack && later.ack < cutoff }
            }
            if !fresh {
                violations.append("\(read.key) read \(read.result ?? "nil") at \(read.start), superseded before \(cutoff)")
            }
        }
        #expect(observed.count > 300 && history.count > 300)
        #expect(violations.isEmpty, "\(violations.count) stale reads, e.g. \(violations.prefix(3))")
    }
}
