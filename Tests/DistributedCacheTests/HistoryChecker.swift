import Foundation
import Primitives

/// Records the operations of a concurrent test and checks every read against the history of
/// writes: the read guarantee of README's "Consistency" section.
///
/// A read returns the value of some write w that was not superseded long ago: there must be no
/// write w' of the same key that started after w was acknowledged and was itself acknowledged
/// more than the allowed staleness before the read started. Deletes are writes of "no value"; a
/// key never written reads as no value. A write that failed may still have happened in Redis (a
/// timed-out command can run later): it counts as a possible source of any later read, and never
/// supersedes anything.
final class HistoryChecker: Sendable {
    struct Write {
        var key: String
        var value: String?  // nil: delete
        var start: Duration
        /// nil: the write failed and may or may not have happened.
        var ack: Duration?
    }

    struct Read {
        var key: String
        var result: String?
        var start: Duration
        var end: Duration
    }

    private let origin = ContinuousClock.now
    private let writes = Locked<[Write]>([])
    private let reads = Locked<[Read]>([])

    /// Time since the checker was created: what every record is stamped with.
    func now() -> Duration { ContinuousClock.now - origin }

    func recordWrite(key: String, value: String?, start: Duration, succeeded: Bool) {
        let write = Write(key: key, value: value, start: start, ack: succeeded ? now() : nil)
        writes.withLock { $0.append(write) }
    }

    func recordRead(key: String, result: String?, start: Duration) {
        let read = Read(key: key, result: result, start: start, end: now())
        reads.withLock { $0.append(read) }
    }

    var writeCount: Int { writes.withLock { $0.count } }
    var readCount: Int { reads.withLock { $0.count } }

    /// Every read that is staler than `staleness(read)` allows, described.
    func violations(staleness: (Read) -> Duration) -> [String] {
        let history = writes.withLock { $0 }
        var byKey: [String: [Write]] = [:]
        for write in history { byKey[write.key, default: []].append(write) }
        var found: [String] = []
        for read in reads.withLock({ $0 }) {
            let cutoff = read.start - staleness(read)
            let sameKey = byKey[read.key] ?? []
            // Writes that could have produced this result (started before the read ended).
            var candidates = sameKey.filter { $0.value == read.result && $0.start < read.end }
            if read.result == nil {
                candidates.append(Write(key: read.key, value: nil, start: .zero, ack: .zero))  // never written
            }
            guard !candidates.isEmpty else {
                found.append("\(read.key) read \(read.result ?? "nil"), which was never written")
                continue
            }
            let fresh = candidates.contains { candidate in
                // A failed candidate's ack is unknown: assume the latest possible (the read's end).
                let candidateAck = candidate.ack ?? read.end
                return !sameKey.contains { later in
                    guard let laterAck = later.ack else { return false }
                    return later.start > candidateAck && laterAck < cutoff
                }
            }
            if !fresh {
                found.append("\(read.key) read \(read.result ?? "nil") at \(read.start), superseded before \(cutoff)")
            }
        }
        return found
    }
}
