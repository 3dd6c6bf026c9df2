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
}
