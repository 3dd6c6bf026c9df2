import Testing

@testable import DistributedCache

@Suite struct InvalidationLogTests {
    /// Hot keys changing all the time: the record keeps its answers, and its memory follows the
    /// keys, not the changes.
    @Test func manyChangesOfFewKeys_keepTheAnswers_andABoundedOrder() {
        let log = InvalidationLog()
        var version: UInt64 = 100
        var lastTicket: [String: UInt64] = [:]
        for step in 0..<50_000 {
            let key = "k\(step % 3)"
            lastTicket[key] = log.ticket()
            version += 1
            log.recordChange(of: key, version: version, horizon: 1 << 40)
            #expect(log.orderEntries <= 2 * 3 + InvalidationLog.compactionSlack + 1)
        }
        // The last step (49,999) changed k1, the one before k0, the one before that k2.
        #expect(log.barrier(for: "k1") == version)
        #expect(log.barrier(for: "k0") == version - 1)
        #expect(log.barrier(for: "k2") == version - 2)
        #expect(log.barrier(for: "other") == 0)
        let now = log.ticket()
        #expect(log.mayCache("k1", readAt: now))
        #expect(!log.mayCache("k1", readAt: lastTicket["k1"]!))
        #expect(log.mayCache("other", readAt: 0))
    }

    /// A change that overtakes a read refuses the reply unless the reply is at least as new as
    /// every change recorded for the key, all of them versioned.
    @Test func overtakenRead_isCachedOnlyWhenAtLeastAsNewAsEveryChange() {
        let log = InvalidationLog()
        let horizon: UInt64 = 1 << 40
        let read = log.ticket()
        log.recordChange(of: "k", version: 500, horizon: horizon)
        #expect(!log.mayCache("k", readAt: read), "version unknown: refused")
        #expect(!log.mayCache("k", readAt: read, version: 499), "older than the change")
        #expect(log.mayCache("k", readAt: read, version: 500), "the change's own write")
        #expect(log.mayCache("k", readAt: read, version: 501))
        log.recordChange(of: "k", version: 700, horizon: horizon)
        #expect(!log.mayCache("k", readAt: read, version: 600), "older than the newest change")
        // A change without a version (a tracking invalidation, a tag invalidation, a resync)
        // bounds nothing: every overtaken read of the key is refused from then on.
        log.recordChange(of: "k", version: 0, horizon: horizon)
        #expect(!log.mayCache("k", readAt: read, version: 10_000))
        #expect(log.mayCache("k", readAt: log.ticket(), version: 1), "a read after every change")
    }
}
