import Foundation
import Primitives
import Testing
import TestSupport

@testable import RedisTransport

/// Slots, slot maps and redirections, without a server.
@Suite struct ClusterSlotsTests {
    @Test func crc16_andSlots_matchTheSpecification() {
        // The specification's check value, and slots redis-cli reports (CLUSTER KEYSLOT).
        #expect(ClusterSlots.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(ClusterSlots.slot(of: "foo") == 12182)
        #expect(ClusterSlots.slot(of: "bar") == 5061)
        #expect(ClusterSlots.slot(of: "") == 0)
        // Hash tags: the first non-empty {...} decides.
        #expect(ClusterSlots.slot(of: "{user1000}.following") == ClusterSlots.slot(of: "{user1000}.followers"))
        #expect(ClusterSlots.slot(of: "{user1000}.following") == ClusterSlots.slot(of: "user1000"))
        #expect(ClusterSlots.slot(of: "foo{}{bar}") == ClusterSlots.slot(of: "foo{}{bar}"))
        #expect(ClusterSlots.slot(of: "foo{}{bar}") != ClusterSlots.slot(of: "bar"), "an empty {} makes the whole key count")
        #expect(ClusterSlots.slot(of: "foo{{bar}}zap") == ClusterSlots.slot(of: "{bar"))
        #expect(ClusterSlots.slot(of: "foo{bar}{zap}") == ClusterSlots.slot(of: "bar"))
    }

    @Test func redirections_parse_andHostileOnesDoNot() {
        let moved = Redirection("MOVED 3999 127.0.0.1:6381")
        #expect(moved?.ask == false && moved?.slot == 3999 && moved?.node == ClusterNode(host: "127.0.0.1", port: 6381))
        #expect(Redirection("ASK 3999 127.0.0.1:6381")?.ask == true)
        #expect(Redirection("MOVED 3999 [::1]:6381")?.node.host == "::1")
        for bad in ["MOVED", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h:0", "MOVED 1 h:70000", "MOVED 1 :1", "ERR x", "MOVED 1 h"] {
            #expect(Redirection(bad) == nil, "\(bad)")
        }
    }

    @Test func slotMap_parses_andRefusesHostileReplies() {
        let reply = RESPValue.array([
            .array([.integer(0), .integer(8191), .array([.bulkString(Array("127.0.0.1".utf8)), .integer(7000), .bulkString([])])]),
            .array([.integer(8192), .integer(16383), .array([.bulkString([]), .integer(7001)])]),
        ])
        let map = SlotMap.parse(reply, fallbackHost: "10.0.0.9")
        #expect(map?.owner(of: 0) == ClusterNode(host: "127.0.0.1", port: 7000))
        #expect(map?.owner(of: 16383) == ClusterNode(host: "10.0.0.9", port: 7001))
        #expect(map?.primaries.count == 2)
        for bad: RESPValue in [
            .integer(1),
            .array([.array([.integer(0), .integer(16384), .array([.bulkString([]), .integer(1)])])]),
            .array([.array([.integer(5), .integer(4), .array([.bulkString([]), .integer(1)])])]),
            .array([.array([.integer(0), .integer(1), .array([.bulkString([]), .integer(0)])])]),
            .array([.array([.integer(0), .integer(1)])]),
        ] {
            #expect(SlotMap.parse(bad, fallbackHost: "h") == nil, "\(bad)")
        }
    }
}

/// A RedisClient against a real 3-primary, 3-replica cluster.
@Suite(.serialized) struct ClusterClientTests {
    static func client(_ cluster: RedisCluster) async throws -> RedisClient {
        var configuration = RedisConfiguration()
        configuration.clusterNodes = cluster.seeds
        configuration.commandTimeout = .seconds(10)
        let client = try RedisClient(configuration: configuration)
        try await client.connect()
        return client
    }

    @Test func routesEveryKey_pipelinesAcrossNodes_andFollowsMigrations() async throws {
        try await withRedisCluster { cluster in
            let client = try await Self.client(cluster)
            #expect(client.clusterPrimaries.count == 3)
            // Keys on every primary.
            let keys = (0..<60).map { "key:\($0)" }
            #expect(Set(keys.compactMap { client.clusterOwner(ofKey: $0) }).count == 3)
            for key in keys { try await client.set(key, to: key) }
            for key in keys { #expect(try await client.get(key) == Array(key.utf8)) }
            // A pipeline over all nodes, reassembled in order.
            let replies = try await client.pipeline(keys.map { ["GET", $0] })
            #expect(replies.map { try? $0.get().string } == keys)
            // Scripts route by their first key.
            let reply = try await client.eval("return redis.call('GET', KEYS[1])", keys: ["{key:7}"], arguments: [])
            #expect(reply == .null)

            // Move the slot of one key to another primary: MOVED (and ASK during the move) are
            // followed, the map learns the new owner.
            let key = keys[0]
            let slot = ClusterSlots.slot(of: key)
            let source = try #require(client.clusterOwner(ofKey: key))
            let target = try #require(client.clusterPrimaries.first { $0 != source })
            try await cluster.migrate(slot: slot, from: source, to: target)
            // A pipeline first, on the old map: the moved key's GET comes back MOVED and is sent
            // again on its own; the results keep their order.
            let afterMove = try await client.pipeline(keys.map { ["GET", $0] })
            #expect(afterMove.map { try? $0.get().string } == keys)
            #expect(client.clusterOwner(ofKey: key) == target)
            #expect(try await client.get(key) == Array(key.utf8))
            try await client.set(key, to: "after")
            #expect(try await client.get(key) == Array("after".utf8))
            await client.close()
        }
    }

    @Test func failover_commandsReachThePromotedReplica() async throws {
        try await withRedisCluster { cluster in
            let client = try await Self.client(cluster)
            let key = "survivor"
            try await client.set(key, to: "v")
            let owner = try #require(client.clusterOwner(ofKey: key))
            // Wait for the replica to have the write, then kill its primary.
            try await Task.sleep(for: .milliseconds(500))
            cluster.server(at: owner)?.kill()
            try await cluster.waitUntilStable(timeout: .seconds(30))
            var value: [UInt8]?
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if let read = try? await client.get(key) { value = read; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(value == Array("v".utf8))
            #expect(client.clusterOwner(ofKey: key) != owner)
            await client.close()
        }
    }
}

/// Sharded pub/sub on a real cluster: SSUBSCRIBE on the slot's primary, SPUBLISH delivered, and
/// the subscription follows its slot when it moves.
@Suite(.serialized) struct ClusterSubscriberTests {
    @Test func shardedChannel_deliversAndFollowsItsSlot() async throws {
        try await withRedisCluster { cluster in
            let client = try await ClusterClientTests.client(cluster)
            let channel = "{ns}:events"
            var configuration = RedisConfiguration()
            configuration.clusterNodes = cluster.seeds
            configuration.backoff = .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200), jitter: 0)
            let subscriber = try RedisSubscriber(configuration: configuration, eventLoop: client.eventLoop)
            subscriber.setAddressProvider { client.clusterOwner(ofKey: channel) }
            let moved = Locked(0)
            subscriber.onShardMoved {
                moved.withLock { $0 += 1 }
                Task { await client.refreshClusterSlots() }
            }
            let received = Locked<[String]>([])
            subscriber.addMessageHandler { message in
                received.withLock { $0.append(String(decoding: message.payload, as: UTF8.self)) }
            }
            let states = Locked<[ConnectionState]>([])
            subscriber.addStateObserver { state in states.withLock { $0.append(state) } }
            try await subscriber.connect()
            try await subscriber.ssubscribe([channel])
            _ = try await client.send("SPUBLISH", channel, "one")
            try await waitFor("one") { received.withLock { $0 } == ["one"] }

            let source = try #require(client.clusterOwner(ofKey: channel))
            let target = try #require(client.clusterPrimaries.first { $0 != source })
            try await cluster.migrate(slot: ClusterSlots.slot(of: channel), from: source, to: target)
            try await waitFor("the moved notice") { moved.withLock { $0 } >= 1 }
            try await waitFor("the new owner") { client.clusterOwner(ofKey: channel) == target }
            try await waitFor("the subscription back") {
                let seen = states.withLock { $0 }
                guard let lost = seen.lastIndex(where: { if case .disconnected = $0 { return true } else { return false } }) else { return false }
                return seen[lost...].contains(.connected)
            }
            #expect(try await client.send("SPUBLISH", channel, "two") == .integer(1))
            try await waitFor("two") { received.withLock { $0 }.contains("two") }
            await subscriber.close()
            await client.close()
        }
    }

    func waitFor(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
