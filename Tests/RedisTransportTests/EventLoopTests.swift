import Dispatch
import Primitives
import Testing
import TestSupport

@testable import RedisTransport

/// The loop's cross-thread wake-up: an atomic "already signalled" flag in front of an eventfd
/// the loop polls. A lost wake-up would leave work in the inbox until some unrelated event, so
/// these submit from many threads at once, with idle gaps in between that let the loop go back
/// to sleep in epoll, and wait for every piece of work to have run.
@Suite struct EventLoopTests {
    @Test func workFromManyThreads_alwaysRuns_acrossIdleGaps() async throws {
        let loop = try EventLoop(name: "wakeup-test")
        let ran = Locked(0)
        let threads = 8
        let perThread = 500
        for burst in 1...20 {
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                for _ in 0..<perThread { loop.execute { ran.withLock { $0 += 1 } } }
            }
            let expected = burst * threads * perThread
            await eventually("burst \(burst) ran completely") { ran.withLock { $0 } == expected }
            // Idle: the loop blocks in epoll before the next burst.
            try await Task.sleep(for: .milliseconds(2))
        }
        await loop.shutdown()
    }

    @Test func singleSubmissions_afterSleeping_wakeTheLoopEachTime() async throws {
        let loop = try EventLoop(name: "wakeup-test")
        for round in 0..<50 {
            let ranOnLoop: Bool = await withCheckedContinuation { continuation in
                loop.execute { continuation.resume(returning: loop.inEventLoop) }
            }
            #expect(ranOnLoop, "round \(round)")
            try await Task.sleep(for: .milliseconds(1))
        }
        await loop.shutdown()
    }

    @Test func submissionsAfterShutdown_areDroppedSafely() async throws {
        let loop = try EventLoop(name: "wakeup-test")
        await loop.shutdown()
        var fellBack = false
        loop.execute({ Issue.record("ran after shutdown") }, otherwise: { fellBack = true })
        #expect(fellBack)
        loop.execute { Issue.record("ran after shutdown") }
    }
}
