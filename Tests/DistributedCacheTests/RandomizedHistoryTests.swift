import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// A randomized checker of the cache's read guarantee: tasks on several instances perform random
/// sets, deletes and gets on a small key space; every read is then checked against the history of
/// acknowledged writes (HistoryChecker). The allowed staleness covers event propagation
/// (microseconds on loopback; generous here for shared CI machines).
@Suite struct RandomizedHistoryTests {
    @Test func randomOperations_everyReadRespectsTheHistory() async throws {
        let window: Duration = .milliseconds(750)
        let history = HistoryChecker()
        try await withCaches(3, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<6 {
                    let cache = caches[task % caches.count]
                    group.addTask {
                        var random = SystemRandomNumberGenerator()
                        for step in 0..<150 {
                            let key = "k\(Int.random(in: 0..<4, using: &random))"
                            let roll = Int.random(in: 0..<100, using: &random)
                            let start = history.now()
                            if roll < 35 {
                                let value = "t\(task)-\(step)"
                                try await cache.set(key, value)
                                history.recordWrite(key: key, value: value, start: start, succeeded: true)
                            } else if roll < 45 {
                                try await cache.delete(key)
                                history.recordWrite(key: key, value: nil, start: start, succeeded: true)
                            } else {
                                let result = try await cache.get(key, as: String.self)
                                history.recordRead(key: key, result: result, start: start)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let violations = history.violations { _ in window }
        #expect(history.readCount > 300 && history.writeCount > 300)
        #expect(violations.isEmpty, "\(violations.count) stale reads, e.g. \(violations.prefix(3))")
    }
}
