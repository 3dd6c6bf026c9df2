import Foundation
import Primitives
import RedisTransport
import Testing
import TestSupport

@testable import DistributedCache

/// SyncedCache on a real Redis Cluster (3 primaries, 3 replicas): the reference flows, a slot
/// migration and failovers under load, each followed by a check of every read against the
/// history of writes.
@Suite(.serialized) struct ClusterCacheTests {
    typealias Load = FaultInjectionTests

    static func options(_ cluster: RedisCluster, pod: String, pubsub: SyncedCache.PubSubMode = .sharded,
                        tally: FaultInjectionTests.Tally? = nil) -> SyncedCache.Options {
        var options = Load.loadOptions(pod: pod, tally: tally ?? FaultInjectionTests.Tally())
        options.redisClusterNodes = cluster.seeds.map(\.description)
        options.pubsub = pubsub
        return options
    }

    @Test(arguments: SyncedCache.PubSubMode.allCases)
    func referenceFlows_onACluster(pubsub: SyncedCache.PubSubMode) async throws {
        try await withRedisCluster { cluster in
            let a = try await SyncedCache(options: Self.options(cluster, pod: "a", pubsub: pubsub))
            let b = try await SyncedCache(options: Self.options(cluster, pod: "b", pubsub: pubsub))
            // 1. set, propagated with the value
            try await a.set("user:1", "Ada")
            await eventually("propagation") { b.localValue(forKey: "user:1", as: String.self) == "Ada" }
            // 2. set with invalidation: B drops it and reads it from Redis (4.)
            try await a.setWithInvalidate("user:1", "Ada King")
            await eventually("invalidation") { b.localValue(forKey: "user:1", as: String.self) == nil }
            #expect(try await b.get("user:1", as: String.self) == "Ada King")
            // 3. local hit
            #expect(a.localValue(forKey: "user:1", as: String.self) == "Ada King")
            // 5. miss everywhere
            #expect(try await b.get("nobody", as: String.self) == nil)
            // 6. delete
            try await b.delete("user:1")
            await eventually("delete") { a.localValue(forKey: "user:1", as: String.self) == nil }
            #expect(try await a.get("user:1", as: String.self) == nil)
            // Batches, then 7. clear (SCAN on every primary)
            try await a.setMany(["x": 1, "y": 2, "z": 3])
            #expect(try await b.getMany(["x", "y", "z", "w"], as: Int.self) == ["x": 1, "y": 2, "z": 3])
            try await a.clear()
            await eventually("clear") { b.stats.localSize == 0 }
            #expect(try await b.getMany(["x", "y", "z"], as: Int.self).isEmpty)
            // Where the namespace lives: one slot, the hash tag's.
            let raw = try await rawClusterClient(cluster)
            try await a.set("k", "v")
            #expect(try await raw.get("{dcache}:k") != nil)
            await raw.close()
            await a.close()
            await b.close()
        }
    }

    enum Fault: String, CaseIterable, CustomTestStringConvertible {
        case migrateNamespaceSlot, failoverByCommand, killNamespacePrimary
        var testDescription: String {
            switch self {
            case .migrateNamespaceSlot: return "the namespace's slot migrated to another primary"
            case .failoverByCommand: return "CLUSTER FAILOVER on the namespace primary's replica"
            case .killNamespacePrimary: return "SIGKILL of the namespace's primary"
            }
        }
    }

    @Test(arguments: Fault.allCases)
    func fault_underLoad_endsInASteadyStateWithoutStaleReads(_ fault: Fault) async throws {
        try await withRedisCluster { cluster in
            let tallies = (0..<2).map { _ in FaultInjectionTests.Tally() }
            var started: [SyncedCache] = []
            for (index, tally) in tallies.enumerated() {
                started.append(try await SyncedCache(options: Self.options(cluster, pod: "pod-\(index)", tally: tally)))
            }
            let run = LoadRun(started, tallies: tallies)
            try await Task.sleep(for: .milliseconds(500))
            let raw = try await rawClusterClient(cluster)
            let owner = try #require(raw.clusterOwner(ofKey: "{dcache}"))
            switch fault {
            case .migrateNamespaceSlot:
                let target = try #require(raw.clusterPrimaries.first { $0 != owner })
                try await cluster.migrate(slot: ClusterSlots.slot(of: "{dcache}"), from: owner, to: target)
            case .failoverByCommand:
                let replica = try #require(try await cluster.replica(of: owner))
                try await cluster.redisCLI(["-p", String(replica.port), "CLUSTER", "FAILOVER"])
            case .killNamespacePrimary:
                cluster.server(at: owner)?.kill()
            }
            await raw.close()
            try await cluster.waitUntilStable(timeout: .seconds(30))
            let faultEnd = run.history.now()
            let caches = run.caches

            // Steady: every instance resynchronized after its subscription moved, healthy, and
            // writing again.
            for (index, cache) in caches.enumerated() {
                await eventually("pod-\(index) resynchronizes", timeout: .seconds(30)) {
                    cache.stats.resyncs >= 1 && cache.health.isHealthy && !cache.health.watch.withLock { $0.isBroken }
                }
            }
            try await run.finish(faultEnd: faultEnd)
        }
    }
}

/// A raw cluster client, for looking at Redis directly.
func rawClusterClient(_ cluster: RedisCluster) async throws -> RedisClient {
    var configuration = RedisConfiguration()
    configuration.clusterNodes = cluster.seeds
    let client = try RedisClient(configuration: configuration)
    try await client.connect()
    return client
}

/// SyncedCache behind Redis Sentinel: the primary found through the sentinels, and a failover
/// under load followed by a resync and no stale read.
@Suite(.serialized) struct SentinelCacheTests {
    typealias Load = FaultInjectionTests

    @Test func failover_underLoad_movesTheConnections_andResyncs() async throws {
        try await withRedisSentinels { group in
            let tallies = (0..<2).map { _ in FaultInjectionTests.Tally() }
            var started: [SyncedCache] = []
            for (index, tally) in tallies.enumerated() {
                var options = Load.loadOptions(pod: "pod-\(index)", tally: tally)
                options.redisSentinels = group.sentinelNodes.map(\.description)
                options.sentinelMasterName = group.name
                started.append(try await SyncedCache(options: options))
            }
            let run = LoadRun(started, tallies: tallies)
            let caches = run.caches
            try await caches[0].set("before", "failover")
            #expect(try await caches[1].get("before", as: String.self) == "failover")
            try await Task.sleep(for: .milliseconds(500))
            let old = try await group.primary()
            try await group.failover()
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, try await group.primary() == old {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await group.primary() != old, "the sentinels failed over")
            let faultEnd = run.history.now()
            // The switch moves the connections, which ends in a resync: wait for it before the markers.
            for (index, cache) in caches.enumerated() {
                await eventually("pod-\(index) follows the new primary and resynchronizes", timeout: .seconds(20)) {
                    cache.sentinel?.primary != old && cache.stats.resyncs >= 1 && cache.health.isHealthy
                        && !cache.health.watch.withLock { $0.isBroken }
                }
            }
            try await run.finish(faultEnd: faultEnd)
        }
    }
}

/// Instances under FaultInjectionTests' mixed load, and the checks that end each fault: every
/// instance writes again, the writes propagate, then no read was stale (history checker) and no
/// call waited past its timeout.
struct LoadRun {
    typealias Load = FaultInjectionTests
    let caches: [SyncedCache]
    let tallies: [FaultInjectionTests.Tally]
    let history = HistoryChecker()
    let stop = Locked(false)
    let task: Task<Void, Never>

    init(_ caches: [SyncedCache], tallies: [FaultInjectionTests.Tally]) {
        self.caches = caches
        self.tallies = tallies
        let (history, stop) = (self.history, self.stop)
        task = Task {
            await withTaskGroup(of: Void.self) { group in
                for (index, cache) in caches.enumerated() {
                    group.addTask {
                        await FaultInjectionTests.runLoad(on: cache, index: index, tally: tallies[index], history: history, stop: stop)
                    }
                }
            }
        }
    }

    /// After the fault ended at `faultEnd` and every instance resynchronized: markers, then the
    /// checks; closes the instances.
    func finish(faultEnd: Duration) async throws {
        for (index, cache) in caches.enumerated() {
            await eventually("pod-\(index) writes again", timeout: .seconds(20)) { (try? await cache.set("marker:\(index)", "kept")) != nil }
        }
        for cache in caches {
            await eventually("markers propagated", timeout: .seconds(10)) {
                (0..<caches.count).allSatisfy { cache.localValue(forKey: "marker:\($0)", as: String.self) == "kept" }
            }
        }
        let recoveredAt = history.now()
        try await Task.sleep(for: .seconds(1))
        stop.withLock { $0 = true }
        await task.value
        let duringFault = Load.pingTimeout + Load.pingInterval + Load.maximumStaleness + Load.slack
        let violations = history.violations { read in read.start < recoveredAt ? duringFault + (recoveredAt - faultEnd) : .milliseconds(750) }
        #expect(violations.isEmpty, "\(violations.count) stale reads, e.g. \(violations.prefix(3))")
        #expect(history.readCount > 50 && history.writeCount > 50, "the load ran")
        for (index, tally) in tallies.enumerated() {
            let calls = tally.calls.withLock { $0 }
            #expect(calls.longest <= Load.operationTimeout + Load.slack, "pod-\(index): a call waited \(calls.longest), over its timeout")
        }
        for cache in caches { await cache.close() }
    }
}
