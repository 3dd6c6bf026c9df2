import Testing
import TestSupport

@testable import RedisTransport

/// A connected client on a fresh server, closed when `body` ends.
func withClient<Result>(
    _ options: RedisServer.Options = .init(),
    configure: (inout RedisConfiguration) -> Void = { _ in },
    _ body: (RedisClient, RedisServer) async throws -> Result
) async throws -> Result {
    try await withRedisServer(options) { server in
        var configuration = RedisConfiguration(host: server.host, port: server.port)
        configure(&configuration)
        let client = try RedisClient(configuration: configuration)
        try await client.connect()
        do {
            let result = try await body(client, server)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }
}

@Suite struct RedisClientTests {
    @Test func setGetDel_roundTrip() async throws {
        try await withClient { client, _ in
            #expect(try await client.get("missing") == nil)
            try await client.set("k", to: "v")
            #expect(try await client.get("k") == Array("v".utf8))
            #expect(try await client.del("k") == 1)
            #expect(try await client.get("k") == nil)
        }
    }

    @Test func set_conditionsAndExpiry() async throws {
        try await withClient { client, _ in
            #expect(try await client.set("nx", to: "1", condition: .ifNotExists))
            #expect(try await !client.set("nx", to: "2", condition: .ifNotExists))
            #expect(try await !client.set("xx-absent", to: "1", condition: .ifExists))
            #expect(try await client.set("nx", to: "3", condition: .ifExists))
            #expect(try await client.get("nx") == Array("3".utf8))
            // PTTL is read on a long expiry so a slow machine cannot let the key lapse first.
            try await client.set("px", to: "1", expiration: .milliseconds(10_000))
            let remaining = try await client.send("PTTL", "px").int!
            #expect(remaining > 0 && remaining <= 10_000)
            try await client.set("px-short", to: "1", expiration: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(120))
            #expect(try await client.get("px-short") == nil)
            try await client.set("ex", to: "1", expiration: .seconds(100), condition: .always)
            #expect(try await client.send("TTL", "ex").int! > 90)
        }
    }

    @Test func binarySafety_nulBytesNonUTF8EmptyAndOneMegabyte() async throws {
        try await withClient { client, _ in
            let nasty: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 13, 10, 0, 36, 42]
            try await client.set(nasty, to: nasty)
            #expect(try await client.get(nasty) == nasty)
            try await client.set("empty", to: [UInt8]())
            #expect(try await client.get("empty") == [])
            let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try await client.set("big", to: big)
            #expect(try await client.get("big") == big)
        }
    }

    /// hiredis reads subscription commands as C strings; an unterminated buffer once made it
    /// run into stray bytes and abort the process.
    @Test func encodedCommands_areNulTerminatedForHiredis() throws {
        for length in [0, 1, 7, 8, 15, 16, 31, 1000] {
            let channel = String(repeating: "$", count: length)
            let command = try PendingCommand.make("SUBSCRIBE", channel, limit: 1 << 20, timeout: .seconds(1))
            command.withEncodedBytes { bytes, count in #expect(bytes[count] == 0) }
        }
    }

    @Test func valueTooLarge_refusedBeforeSending() async throws {
        try await withClient(configure: { $0.maximumArgumentSize = 1_000 }) { client, _ async throws in
            let value = [UInt8](repeating: 7, count: 1_001)
            await #expect(throws: RedisError.valueTooLarge(size: 1_001, limit: 1_000)) {
                try await client.set("k", to: value)
            }
            #expect(try await client.exists(["k"]) == 0)
        }
    }

    @Test func commands_mgetMsetExistsIncrUnlinkPublishPingScan() async throws {
        try await withClient { client, _ in
            try await client.mset([(key: "a", value: "1"), (key: "b", value: "2")])
            #expect(try await client.mget(["a", "missing", "b"]) == [Array("1".utf8), nil, Array("2".utf8)])
            #expect(try await client.exists(["a", "b", "c"]) == 2)
            #expect(try await client.incr("counter") == 1)
            #expect(try await client.incr("counter") == 2)
            #expect(try await client.unlink(["a", "b"]) == 2)
            #expect(try await client.publish("hello", to: "nobody") == 0)
            #expect(try await client.ping() == "PONG")
            #expect(try await client.ping("echo") == "echo")
            for i in 0..<50 { try await client.set("scan:\(i)", to: "x") }
            let keys = try await client.scanAll(match: "scan:*", count: 7)
            #expect(Set(keys.map { String(decoding: $0, as: UTF8.self) }) == Set((0..<50).map { "scan:\($0)" }))
        }
    }

    @Test func scripts_evalEvalshaAndReloadAfterFlush() async throws {
        try await withClient { client, _ in
            #expect(try await client.eval("return ARGV[1] .. KEYS[1]", keys: ["k"], arguments: ["v"]).string == "vk")
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            #expect(try await client.run(script, keys: ["n"], arguments: [5]).int == 5)
            _ = try await client.send("SCRIPT", "FLUSH")
            #expect(try await client.run(script, keys: ["n"], arguments: [5]).int == 10)
            await #expect(throws: RedisError.self) { try await client.evalsha(String(repeating: "0", count: 40)) }
        }
    }

    @Test func selectAndClientSetName_applyToConnection() async throws {
        try await withClient(configure: { $0.database = 2; $0.clientName = "dcache-test" }) { client, _ async throws in
            try await client.set("in-db-2", to: "x")
            #expect(try await client.send("CLIENT", "GETNAME").string == "dcache-test")
            try await client.select(database: 0)
            #expect(try await client.get("in-db-2") == nil)
            try await client.select(database: 2)
            #expect(try await client.get("in-db-2") != nil)
            try await client.clientSetName("renamed")
            #expect(try await client.send("CLIENT", "GETNAME").string == "renamed")
        }
    }

    @Test func serverError_isTypedWithRedisMessage() async throws {
        try await withClient { client, _ in
            try await client.set("string", to: "x")
            await #expect {
                try await client.send("LPUSH", "string", "y")
            } throws: { error in
                guard case RedisError.server(let message) = error else { return false }
                return message.hasPrefix("WRONGTYPE")
            }
            // The connection keeps working after an error reply.
            #expect(try await client.get("string") == Array("x".utf8))
        }
    }

    @Test func thousandConcurrentTasks_everyReplyMatchesItsCaller() async throws {
        try await withClient { client, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<1_000 {
                    group.addTask {
                        try await client.set("key:\(i)", to: "value:\(i)")
                        let value = try await client.get("key:\(i)")
                        #expect(value == Array("value:\(i)".utf8))
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func callersOnTheLoopExecutor_getTheirReplies() async throws {
        try await withClient { client, _ in
            try await withTaskExecutorPreference(client.eventLoop) {
                #expect(client.eventLoop.inEventLoop)
                for i in 0..<200 { try await client.set("loop:\(i)", to: "\(i)") }
                #expect(try await client.get("loop:199") == Array("199".utf8))
                #expect(client.eventLoop.inEventLoop)
            }
        }
    }

    /// A client or subscriber released without close() closes its connections and stops its
    /// loop by itself: no crash (the loop still held callbacks into the released connections),
    /// no connection left open.
    @Test func clientAndSubscriberReleasedWithoutClose_closeThemselves() async throws {
        try await withRedisServer { server in
            let raw = try RedisClient(configuration: .init(host: server.host, port: server.port))
            try await raw.connect()
            do {
                let client = try RedisClient(configuration: .init(host: server.host, port: server.port, clientName: "released-client"))
                try await client.connect()
                try await client.set("k", to: "v")
                let subscriber = try RedisSubscriber(configuration: .init(host: server.host, port: server.port, clientName: "released-sub"))
                try await subscriber.connect()
                try await subscriber.subscribe(["released-channel"])
                let shared = try EventLoop(name: "shared")
                let onShared = try RedisClient(
                    configuration: .init(host: server.host, port: server.port, clientName: "released-shared"), eventLoop: shared)
                try await onShared.connect()
                // A command in flight when the last reference goes.
                Task { [onShared] in _ = try? await onShared.send("BLPOP", "never", "1") }
                try await Task.sleep(for: .milliseconds(20))
                _ = shared
            }
            await eventually("every released connection closed", timeout: .seconds(10)) {
                let clients = (try? await raw.send("CLIENT", "LIST").string) ?? "name=released"
                return !clients.contains("name=released")
            }
            #expect(try await raw.get("k") == Array("v".utf8))
            await raw.close()
        }
    }

    @Test func connect_refused_isTypedError() async throws {
        try await RedisServer.withRefusingLoopbackPort { port in
            let client = try RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: port))
            await #expect {
                try await client.connect()
            } throws: { error in
                if case RedisError.connectionRefused = error { return true }
                return false
            }
            await client.close()
        }
    }

    @Test func wrongPassword_isAuthenticationError() async throws {
        try await withRedisServer(.init(password: "secret")) { server in
            let client = try RedisClient(configuration: .init(host: server.host, port: server.port, password: "wrong"))
            await #expect {
                try await client.connect()
            } throws: { error in
                if case RedisError.authenticationFailed = error { return true }
                return false
            }
            await client.close()
            let good = try RedisClient(configuration: .init(host: server.host, port: server.port, password: "secret"))
            try await good.connect()
            #expect(try await good.ping() == "PONG")
            await good.close()
        }
    }

    @Test func aclUser_rightAndWrong() async throws {
        try await withRedisServer(.init(aclUser: (name: "alice", password: "wonderland"))) { server in
            let wrong = try RedisClient(
                configuration: .init(host: server.host, port: server.port, username: "alice", password: "nope"))
            await #expect {
                try await wrong.connect()
            } throws: { error in
                if case RedisError.authenticationFailed = error { return true }
                return false
            }
            await wrong.close()
            let unknown = try RedisClient(
                configuration: .init(host: server.host, port: server.port, username: "bob", password: "wonderland"))
            await #expect(throws: RedisError.self) { try await unknown.connect() }
            await unknown.close()
            let right = try RedisClient(
                configuration: .init(host: server.host, port: server.port, username: "alice", password: "wonderland"))
            try await right.connect()
            #expect(try await right.send("ACL", "WHOAMI").string == "alice")
            await right.close()
        }
    }

    @Test func timeout_pausedServer_failsWithinDeadline() async throws {
        try await withClient(configure: { $0.commandTimeout = .milliseconds(200) }) { client, server async throws in
            server.pause()
            let started = ContinuousClock.now
            await #expect(throws: RedisError.timeout) { try await client.get("k") }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < Duration.milliseconds(600).scaledForTests, "timed out after \(elapsed)")
            server.resume()
            // The late reply of the timed-out command is discarded; the connection still works.
            #expect(try await client.ping() == "PONG")
        }
    }

    @Test func cancellation_givesCancellationError() async throws {
        try await withClient { client, server in
            server.pause()
            let task = Task { try await client.get("k") }
            try await Task.sleep(for: .milliseconds(50))
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            server.resume()
            #expect(try await client.ping() == "PONG")
        }
    }

    @Test func close_failsLaterCommands() async throws {
        try await withRedisServer { server in
            let client = try RedisClient(configuration: .init(host: server.host, port: server.port))
            try await client.connect()
            await client.close()
            await client.close()
            await #expect(throws: RedisError.self) { try await client.get("k") }
        }
    }

    @Test func configuration_parsesAddresses() throws {
        let plain = try RedisConfiguration(address: "cache.local:6380")
        #expect(plain.host == "cache.local" && plain.port == 6380)
        #expect(try RedisConfiguration(address: "localhost").port == 6379)
        let v6 = try RedisConfiguration(address: "[::1]:7000")
        #expect(v6.host == "::1" && v6.port == 7000)
        #expect(throws: RedisError.self) { try RedisConfiguration(address: "host:notaport") }
        #expect(throws: RedisError.self) { try RedisConfiguration(address: ":6379") }
    }
}
