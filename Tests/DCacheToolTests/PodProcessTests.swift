import Foundation
import Testing
import RedisTransport
import TestSupport

/// The dcache executable built next to this test bundle.
let dcacheExecutable: String = {
    let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0])
    return bundle.deletingLastPathComponent().appendingPathComponent("dcache").path
}()

/// Two `dcache pod` processes on one fresh server.
func withPods(_ extra: [String] = [], _ body: (InteractiveProcess, InteractiveProcess, RedisServer) async throws -> Void)
    async throws
{
    try await withRedisServer { server in
        let pods = try ["pod-A", "pod-B"].map { name in
            try InteractiveProcess(dcacheExecutable, ["pod", "--redis", server.address, "--pod", name] + extra)
        }
        for pod in pods { #expect(try pod.request("ping") == "pong") }
        try await body(pods[0], pods[1], server)
        for pod in pods {
            #expect(try pod.request("quit") == "bye")
            #expect(pod.waitForExit() == 0)
        }
    }
}

/// Repeats a read-only command until `expected` (or returns the last answer after `timeout`).
func poll(
    _ pod: InteractiveProcess, _ command: String, until expected: String, timeout: Duration = .seconds(5)
) async throws -> String {
    let deadline = ContinuousClock.now + timeout.scaledForTests
    var answer = try pod.request(command)
    while answer != expected && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(2))
        answer = try pod.request(command)
    }
    return answer
}

@Suite(.serialized) struct PodProcessTests {
    @Test func sevenFlows_endToEndThroughTwoProcesses() async throws {
        try await withPods(["--reader-can-set-to-redis"]) { a, b, _ async throws in
            // 1. set with value propagation
            #expect(try a.request("set user:1 Ada Lovelace") == "ok")
            #expect(try await poll(b, "peek user:1", until: "hit Ada Lovelace") == "hit Ada Lovelace")
            // 3. local hit
            #expect(try a.request("get user:1") == "hit Ada Lovelace")
            // 2. set with invalidation: B drops it, then (4.) reads it from Redis
            #expect(try a.request("setinv user:1 Ada King") == "ok")
            #expect(try await poll(b, "peek user:1", until: "miss") == "miss")
            #expect(try b.request("get user:1") == "hit Ada King")
            #expect(try b.request("peek user:1") == "hit Ada King")
            // 5. miss everywhere
            #expect(try b.request("get nobody") == "miss")
            // 6. delete
            #expect(try b.request("del user:1") == "ok")
            #expect(try await poll(a, "peek user:1", until: "miss") == "miss")
            #expect(try a.request("get user:1") == "miss")
            // 7. clear
            #expect(try a.request("set k1 v1") == "ok")
            #expect(try await poll(b, "peek k1", until: "hit v1") == "hit v1")
            #expect(try b.request("clear") == "ok")
            #expect(try await poll(a, "peek k1", until: "miss") == "miss")
            // stats: one JSON line with every counter
            let stats = try JSONSerialization.jsonObject(with: Data(try b.request("stats").utf8)) as? [String: Any]
            #expect(stats?["remoteHits"] as? Int == 1)
            #expect(stats?["clears"] as? Int == 1)
        }
    }

    /// Issue 16's shell surface: tracking mode sees a write made with redis-cli; tags; load with
    /// negative caching, and its loader calls in stats.
    @Test func tracking_tags_andLoad_fromTheShell() async throws {
        try await withPods(["--invalidation", "tracking", "--reader-can-set-to-redis", "--negative-ttl", "60000"]) { a, b, server async throws in
            #expect(try a.request("set k v1") == "ok")
            #expect(try await poll(b, "get k", until: "hit v1") == "hit v1")
            #expect(try await poll(b, "peek k", until: "hit v1") == "hit v1")
            let raw = try RedisClient(configuration: .init(host: server.host, port: server.port))
            try await raw.connect()
            _ = try await raw.send("SET", "dcache:k", "\"external\"")
            #expect(try await poll(b, "peek k", until: "miss") == "miss")
            #expect(try b.request("get k") == "hit external")
            await raw.close()

            #expect(try a.request("set t1 one tags=team:1,x") == "ok")
            #expect(try a.request("set t2 two tags=team:2") == "ok")
            #expect(try b.request("get t1") == "hit one")
            #expect(try b.request("invalidate-tag team:1") == "ok")
            #expect(try await poll(a, "get t1", until: "miss") == "miss")
            #expect(try a.request("get t2") == "hit two")
            #expect(try a.request("invalidate-tag bad,tag").hasPrefix("error: invalid tag"))

            #expect(try a.request("load user:7") == "hit loaded:user:7")
            #expect(try b.request("load user:7") == "hit loaded:user:7")
            #expect(try a.request("load absent:8") == "miss")
            #expect(try a.request("load absent:8") == "miss")
            #expect(try b.request("load absent:8") == "miss")
            let loadsA = (try JSONSerialization.jsonObject(with: Data(try a.request("stats").utf8)) as? [String: Any])?["loads"] as? Int
            let loadsB = (try JSONSerialization.jsonObject(with: Data(try b.request("stats").utf8)) as? [String: Any])?["loads"] as? Int
            #expect(loadsA == 2 && loadsB == 0, "loader calls: A \(loadsA ?? -1), B \(loadsB ?? -1)")
        }
    }

    @Test func ttl_expiresOnBothInstances() async throws {
        try await withPods { a, b, _ async throws in
            let stored = ContinuousClock.now
            #expect(try a.request("set session abc ttl=2000") == "ok")
            #expect(try await poll(b, "peek session", until: "hit abc") == "hit abc")
            #expect(try await poll(a, "peek session", until: "miss", timeout: .seconds(20)) == "miss")
            #expect(try await poll(b, "peek session", until: "miss", timeout: .seconds(20)) == "miss")
            #expect(ContinuousClock.now - stored >= .seconds(2), "not before its TTL")
        }
    }

    @Test func badInput_isAnsweredWithErrorsAndTheInstanceKeepsRunning() async throws {
        try await withPods { a, _, _ async throws in
            #expect(try a.request("") == "error: empty command")
            #expect(try a.request("fly me to the moon").hasPrefix("error: unknown command \"fly\""))
            #expect(try a.request("get").hasPrefix("error: usage"))
            #expect(try a.request("set onlykey").hasPrefix("error: usage"))
            #expect(try a.request("set k v ttl=abc").hasPrefix("error:"))
            let huge = "set big " + String(repeating: "x", count: 3 << 20)
            #expect(try a.request(huge, timeout: .seconds(30)).hasPrefix("error: line too long"))
            #expect(try a.request("ping") == "pong")
            #expect(try a.request("set k \u{1F600} with spaces  and  tabs\t!") == "ok")
            #expect(try a.request("get k") == "hit \u{1F600} with spaces  and  tabs\t!")
        }
    }

    @Test func endOfInput_isQuit() async throws {
        try await withRedisServer { server in
            let pod = try InteractiveProcess(dcacheExecutable, ["pod", "--redis", server.address])
            #expect(try pod.request("ping") == "pong")
            pod.closeInput()
            #expect(pod.waitForExit() == 0)
        }
    }

    @Test func unreachableRedis_exitsWithAClearMessage() async throws {
        try await RedisServer.withRefusingLoopbackPort { port in
            let pod = try InteractiveProcess(dcacheExecutable, ["pod", "--redis", "127.0.0.1:\(port)"])
            #expect(pod.waitForExit() == 1)
        }
    }

    @Test func watch_printsDecodedEventsAndMalformedOnes() async throws {
        try await withRedisServer { server in
            let watcher = try InteractiveProcess(dcacheExecutable, ["watch", "--redis", server.address, "--count", "2"])
            #expect(try watcher.readLine().hasPrefix("watching cache:invalidate"))
            let pod = try InteractiveProcess(dcacheExecutable, ["pod", "--redis", server.address, "--pod", "writer"])
            #expect(try pod.request("ping") == "pong")
            #expect(try pod.request("set greeting hello") == "ok")
            let event = try watcher.readLine()
            #expect(event.contains("writer  set  greeting  7 bytes  v"))
            let client = try RedisClient(configuration: .init(host: server.host, port: server.port))
            try await client.connect()
            try await client.publish("garbage", to: "cache:invalidate")
            #expect(try watcher.readLine().contains("malformed"))
            #expect(watcher.waitForExit() == 0)
            await client.close()
            _ = try pod.request("quit")
        }
    }

    /// Bare keys (the reference wire format): a namespace clear would flush everything, so it is
    /// refused with an error that names both ways out; `--clear-scope database` flushes on purpose.
    @Test func clear_withBareKeys_namesTheOptionsAndFlushesWhenAsked() async throws {
        try await withPods(["--wire-format", "reference"]) { a, _, _ async throws in
            let refused = try a.request("clear")
            #expect(refused.hasPrefix("error: "))
            #expect(refused.contains("--namespace") && refused.contains("--clear-scope database"), "\(refused)")
        }
        try await withPods(["--wire-format", "reference", "--clear-scope", "database", "--reader-can-set-to-redis"]) {
            a, b, server async throws in
            let raw = try RedisClient(configuration: .init(host: server.host, port: server.port))
            try await raw.connect()
            try await raw.set("foreign", to: #""written by redis-cli""#)  // JSON, as the pod's marshaller reads it
            #expect(try a.request("set k v") == "ok")
            #expect(try b.request("get foreign") == "hit written by redis-cli", "bare keys are shared with other tools")
            #expect(try a.request("clear") == "ok")
            #expect(try await raw.exists(["foreign", "k"]) == 0, "FLUSHDB, as asked")
            await raw.close()
        }
    }

    @Test func stats_reportsWhatRedisHolds() async throws {
        try await withPods(["--reader-can-set-to-redis"]) { a, _, server async throws in
            #expect(try a.request("set k0 v") == "ok")
            func report() throws -> [String: Any]? {
                let stats = try InteractiveProcess(dcacheExecutable, ["stats", "--redis", server.address, "--json"])
                return try JSONSerialization.jsonObject(with: Data(try stats.readLine().utf8)) as? [String: Any]
            }
            // The counter starts at the server's clock in microseconds (RedisLayout's write
            // script), then counts one per write.
            let first = try #require(try report()?["version"] as? Int)
            #expect(first > 1_700_000_000_000_000)
            for i in 1..<5 { #expect(try a.request("set k\(i) v") == "ok") }
            let report = try report()
            #expect(report?["keys"] as? Int == 5)
            #expect(report?["version"] as? Int == first + 4)
            #expect(report?["channelSubscribers"] as? Int == 2)
            #expect((report?["pods"] as? [String])?.sorted() == ["pod-A", "pod-B"])
        }
    }
}

/// `dcache pod --cluster` and `--sentinels`: the same shell session against each engine.
@Suite(.serialized) struct ClusterPodTests {
    static func session(_ extra: [String]) async throws {
        let pods = try ["pod-A", "pod-B"].map { name in
            try InteractiveProcess(dcacheExecutable, ["pod", "--pod", name, "--reader-can-set-to-redis"] + extra)
        }
        for pod in pods { #expect(try pod.request("ping") == "pong") }
        #expect(try pods[0].request("set user:1 Ada") == "ok")
        #expect(try await poll(pods[1], "peek user:1", until: "hit Ada") == "hit Ada")
        #expect(try pods[1].request("del user:1") == "ok")
        #expect(try await poll(pods[0], "peek user:1", until: "miss") == "miss")
        #expect(try pods[0].request("load user:2") == "hit loaded:user:2")
        #expect(try pods[1].request("get user:2") == "hit loaded:user:2")
        for pod in pods {
            #expect(try pod.request("quit") == "bye")
            #expect(pod.waitForExit() == 0)
        }
    }

    @Test(arguments: ["sharded", "classic"])
    func pods_onACluster(pubsub: String) async throws {
        try await withRedisCluster { cluster in
            try await Self.session(["--cluster", cluster.seedList, "--pubsub", pubsub])
        }
    }

    @Test func pods_behindSentinel() async throws {
        try await withRedisSentinels { group in
            try await Self.session(["--sentinels", group.sentinelList, "--sentinel-master", group.name])
        }
    }
}
