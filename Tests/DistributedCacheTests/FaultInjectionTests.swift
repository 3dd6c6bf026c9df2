import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// Outages, pauses and partitions, longer than every timeout and the liveness window, under a
/// bounded mixed load on three instances; then recovery, and a steady state that lasts.
///
/// Each scenario checks, for every instance:
///   - no call waits past its timeout (`operationTimeout`, plus scheduling slack);
///   - every failed call was also reported through `onError`;
///   - no read is staler than the documented bound: while the fault lasts, the liveness window
///     plus `maximumStaleness`; once recovered, the propagation delay only (HistoryChecker);
///   - within `steadyStateBound` of the fault's end the instance is healthy, then stays so for a
///     quiet period of `quietPeriod` with no resync and with its local entries kept.
///
/// The suite runs in a pass of its own (scripts/run-tests): its bounds are about time, and the
/// other suites' CPU-bound tests would delay the loop threads it measures. When
/// `DCACHE_FAULT_TABLE` names a file, each scenario appends a row of its results to it;
/// `scripts/fault-table` runs the suite that way and writes the table to Tests/FAULTS.md.
@Suite(.serialized) struct FaultInjectionTests {
    /// The liveness window of the instances under test.
    static let pingInterval: Duration = .milliseconds(100)
    static let pingTimeout: Duration = Duration.milliseconds(500).scaledForTests
    static let operationTimeout: Duration = Duration.seconds(1).scaledForTests
    static let maximumStaleness: Duration = .seconds(1)
    /// How long after a fault ends every instance must be healthy and resynchronized.
    static let steadyStateBound: Duration = Duration.seconds(10).scaledForTests
    /// How long a steady state must last, with no resync and no local entry lost.
    static let quietPeriod: Duration = .seconds(3)
    /// Slack for scheduling on a busy two-core machine, on top of any bound in time.
    static let slack: Duration = Duration.milliseconds(500).scaledForTests

    enum Fault: Sendable, CustomTestStringConvertible, CaseIterable {
        case outage(tenths: Int)
        case pause(tenths: Int)
        case blackHoledSubscription
        case blackHoledCommands
        case repeatedSubscriberKill
        case slowReplies

        /// Outages and pauses at 0.5x, 2x and 5x the ping timeout (in tenths of it).
        static let allCases: [Fault] = [5, 20, 50].map(Fault.outage) + [5, 20, 50].map(Fault.pause)
            + [.blackHoledSubscription, .blackHoledCommands, .repeatedSubscriberKill, .slowReplies]

        var testDescription: String {
            switch self {
            case .outage(let tenths): return "Redis killed, restarted after \(Double(tenths) / 10)x the ping timeout"
            case .pause(let tenths): return "Redis paused (SIGSTOP) for \(Double(tenths) / 10)x the ping timeout"
            case .blackHoledSubscription: return "subscriptions black-holed"
            case .blackHoledCommands: return "command connections black-holed"
            case .repeatedSubscriberKill: return "CLIENT KILL of every subscriber, 5 times"
            case .slowReplies: return "replies delayed past the command timeout"
            }
        }

        /// How long the fault lasts.
        var duration: Duration {
            switch self {
            case .outage(let tenths), .pause(let tenths): return FaultInjectionTests.pingTimeout * tenths / 10
            case .blackHoledSubscription, .blackHoledCommands: return FaultInjectionTests.pingTimeout * 3
            case .repeatedSubscriberKill: return .milliseconds(1_500)
            case .slowReplies: return FaultInjectionTests.operationTimeout * 3
            }
        }
    }

    /// What one instance did under load.
    final class Tally: Sendable {
        let calls = Locked((succeeded: 0, failed: 0, longest: Duration.zero, reported: 0))
        func record(_ elapsed: Duration, failed: Bool) {
            calls.withLock { calls in
                if failed { calls.failed += 1 } else { calls.succeeded += 1 }
                calls.longest = max(calls.longest, elapsed)
            }
        }
    }

    @Test(arguments: Fault.allCases)
    func fault_recoversToASteadyStateWithoutStaleReads(_ fault: Fault) async throws {
        let history = HistoryChecker()
        let tallies = (0..<3).map { _ in Tally() }
        try await withRedisServer { server in
            let proxy = try FaultProxy(to: server)
            defer { proxy.close() }
            var started: [SyncedCache] = []
            for (index, tally) in tallies.enumerated() {
                started.append(try await SyncedCache(options: faultOptions(proxy, pod: "pod-\(index)", tally: tally)))
            }
            let caches = started
            let stop = Locked(false)
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (index, cache) in caches.enumerated() {
                        group.addTask { await Self.runLoad(on: cache, index: index, tally: tallies[index], history: history, stop: stop) }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(500))

            let faultStart = history.now()
            try await inject(fault, server: server, proxy: proxy, caches: caches)
            let faultEnd = history.now()

            // Steady state: every instance healthy, then a quiet period with no resync.
            let steady = try await awaitSteadyState(caches, history: history, since: faultEnd)
            stop.withLock { $0 = true }
            await load.value

            // Staleness: the documented bound while the fault lasted, propagation only after.
            let duringFault = Self.pingTimeout + Self.pingInterval + Self.maximumStaleness + Self.slack
            let afterRecovery: Duration = .milliseconds(750)
            let violations = history.violations { read in read.start < steady.recoveredAt ? duringFault : afterRecovery }
            #expect(violations.isEmpty, "\(violations.count) stale reads, e.g. \(violations.prefix(3))")
            #expect(history.readCount > 50 && history.writeCount > 50, "the load ran")

            let bound = Self.operationTimeout + Self.slack
            var failures = 0
            for (index, tally) in tallies.enumerated() {
                let calls = tally.calls.withLock { $0 }
                failures += calls.failed
                #expect(calls.longest <= bound, "pod-\(index): a call waited \(calls.longest), over \(bound)")
                #expect(calls.reported >= calls.failed, "pod-\(index): \(calls.failed) calls failed, \(calls.reported) reported")
            }
            try FaultTable.append(
                fault: fault.testDescription, duration: faultEnd - faultStart, history: history, failures: failures,
                staleReads: violations.count, timeToSteadyState: steady.recoveredAt - faultEnd)
            for cache in caches { await cache.close() }
        }
    }

    func faultOptions(_ proxy: FaultProxy, pod: String, tally: Tally) -> SyncedCache.Options {
        var options = Self.loadOptions(pod: pod, tally: tally)
        options.redisAddress = proxy.address
        return options
    }

    /// The settings of an instance under the fault load, whatever Redis it talks to: stored
    /// writes, the suite's liveness window and timeouts, fast reconnection, errors tallied.
    static func loadOptions(pod: String, tally: Tally) -> SyncedCache.Options {
        var options = SyncedCache.Options()
        options.podID = pod
        options.enableMetrics = false
        options.readerCanSetToRedis = true
        options.pingInterval = pingInterval
        options.pingTimeout = pingTimeout
        options.operationTimeout = operationTimeout
        options.maximumStaleness = maximumStaleness
        options.reconnectBackoff = .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(500))
        options.onError = { _ in tally.calls.withLock { $0.reported += 1 } }
        return options
    }

    /// Random sets, deletes and gets on eight keys, one call at a time, until told to stop.
    static func runLoad(on cache: SyncedCache, index: Int, tally: Tally, history: HistoryChecker, stop: Locked<Bool>) async {
        var random = SystemRandomNumberGenerator()
        var step = 0
        while !stop.withLock({ $0 }) {
            step += 1
            let key = "k\(Int.random(in: 0..<8, using: &random))"
            let roll = Int.random(in: 0..<100, using: &random)
            let start = history.now()
            do {
                if roll < 35 {
                    let value = "p\(index)-\(step)"
                    do {
                        try await cache.set(key, value)
                        history.recordWrite(key: key, value: value, start: start, succeeded: true)
                    } catch {
                        history.recordWrite(key: key, value: value, start: start, succeeded: false)
                        throw error
                    }
                } else if roll < 45 {
                    do {
                        try await cache.delete(key)
                        history.recordWrite(key: key, value: nil, start: start, succeeded: true)
                    } catch {
                        history.recordWrite(key: key, value: nil, start: start, succeeded: false)
                        throw error
                    }
                } else {
                    let result = try await cache.get(key, as: String.self)
                    history.recordRead(key: key, result: result, start: start)
                }
                tally.record(history.now() - start, failed: false)
            } catch {
                tally.record(history.now() - start, failed: true)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Starts the fault, lets it last, ends it.
    func inject(_ fault: Fault, server: RedisServer, proxy: FaultProxy, caches: [SyncedCache]) async throws {
        switch fault {
        case .outage:
            server.kill()
            try await Task.sleep(for: fault.duration)
            try await server.restart()
        case .pause:
            server.pause()
            try await Task.sleep(for: fault.duration)
            server.resume()
        case .blackHoledSubscription:
            proxy.set(.blackHole, for: .subscription)
            try await Task.sleep(for: fault.duration)
            proxy.set(.pass, for: .subscription)
        case .blackHoledCommands:
            proxy.set(.blackHole, for: .command)
            try await Task.sleep(for: fault.duration)
            proxy.set(.pass, for: .command)
        case .repeatedSubscriberKill:
            for _ in 0..<5 {
                for cache in caches { try await killSubscription(of: cache, on: server) }
                try await Task.sleep(for: fault.duration / 5)
            }
        case .slowReplies:
            proxy.set(.delay(Self.operationTimeout + .milliseconds(200)), for: .command)
            try await Task.sleep(for: fault.duration)
            proxy.set(.pass, for: .command)
        }
    }

    struct SteadyState {
        /// When the last instance became healthy for good.
        var recoveredAt: Duration
    }

    /// Waits until every instance is healthy, then checks that the state holds for the quiet
    /// period: no resync, no local entry lost (each instance writes a marker that every instance
    /// must keep), still healthy.
    func awaitSteadyState(_ caches: [SyncedCache], history: HistoryChecker, since faultEnd: Duration) async throws -> SteadyState {
        let deadline = faultEnd + Self.steadyStateBound
        while history.now() < deadline, !caches.allSatisfy({ $0.health.isHealthy && !$0.health.watch.withLock { $0.isBroken } }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let recoveredAt = history.now()
        #expect(recoveredAt < deadline, "not every instance recovered within \(Self.steadyStateBound) of the fault's end")
        let resyncs = caches.map(\.stats.resyncs)
        for (index, cache) in caches.enumerated() { try await retrying { try await cache.set("marker:\(index)", "kept") } }
        for cache in caches {
            await eventually("markers propagated") {
                (0..<caches.count).allSatisfy { cache.localValue(forKey: "marker:\($0)", as: String.self) == "kept" }
            }
        }
        try await Task.sleep(for: Self.quietPeriod)
        for (index, cache) in caches.enumerated() {
            #expect(cache.stats.resyncs == resyncs[index], "pod-\(index) resynchronized during the quiet period")
            #expect(cache.health.isHealthy, "pod-\(index) degraded during the quiet period")
            for marker in 0..<caches.count {
                #expect(cache.localValue(forKey: "marker:\(marker)", as: String.self) == "kept",
                        "pod-\(index) lost marker:\(marker) during the quiet period")
            }
        }
        return SteadyState(recoveredAt: recoveredAt)
    }
}

/// Rows of the fault table (scripts/fault-table), appended when DCACHE_FAULT_TABLE names a file.
enum FaultTable {
    static func append(
        fault: String, duration: Duration, history: HistoryChecker, failures: Int, staleReads: Int,
        timeToSteadyState: Duration
    ) throws {
        guard let path = ProcessInfo.processInfo.environment["DCACHE_FAULT_TABLE"] else { return }
        func milliseconds(_ duration: Duration) -> Int { Int(duration.saturatingMilliseconds) }
        let row = "| \(fault) | \(milliseconds(duration)) | \(history.writeCount + history.readCount) | \(failures) "
            + "| \(staleReads) | \(milliseconds(timeToSteadyState)) |\n"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(row.utf8))
    }
}
