import Primitives
import Testing
import TestSupport

@testable import RedisTransport

/// Collects what a handler receives, for assertions from the test task. (`Locked`, not
/// Synchronization's `Mutex`: ThreadSanitizer does not see the futex inside `Mutex`.)
final class Inbox<Element: Sendable>: Sendable {
    private let items = Locked<[Element]>([])
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
    /// Waits until `predicate` holds for the received items, or fails after `timeout`.
    func wait(
        for timeout: Duration = .seconds(5), until predicate: ([Element]) -> Bool
    ) async throws -> [Element] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let snapshot = all
            if predicate(snapshot) { return snapshot }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("timed out waiting; have \(all.count) items")
        return all
    }
}

@Suite struct RedisSubscriberTests {
    @Test func subscribe_receivesMessagesOnTheLoopThread() async throws {
        try await withRedisServer { server in
            let configuration = RedisConfiguration(host: server.host, port: server.port)
            let subscriber = try RedisSubscriber(configuration: configuration)
            try await subscriber.connect()
            let inbox = Inbox<RedisPubSubMessage>()
            let offLoop = Inbox<RedisPubSubMessage>()
            // The loop, not the subscriber: a handler that captured its own subscriber would keep
            // both alive forever (a cycle LeakSanitizer reports).
            let loop = subscriber.eventLoop
            subscriber.addMessageHandler { message in
                if !loop.inEventLoop { offLoop.append(message) }
                inbox.append(message)
            }
            try await subscriber.subscribe(["news"])
            try await subscriber.psubscribe(["cache:*"])
            let client = try RedisClient(configuration: configuration)
            try await client.connect()
            #expect(try await client.publish("hello", to: "news") == 1)
            #expect(try await client.publish([0, 255, 10], to: "cache:x") == 1)
            let received = try await inbox.wait { $0.count == 2 }
            #expect(received.contains(RedisPubSubMessage(channel: "news", payload: Array("hello".utf8))))
            #expect(received.contains(RedisPubSubMessage(channel: "cache:x", pattern: "cache:*", payload: [0, 255, 10])))
            #expect(offLoop.all.isEmpty, "handlers run on the loop thread")
            try await subscriber.unsubscribe(["news"])
            #expect(try await client.publish("again", to: "news") == 0)
            await client.close()
            await subscriber.close()
        }
    }

    @Test func stream_deliversAndReportsOverflow() async throws {
        try await withRedisServer { server in
            let configuration = RedisConfiguration(host: server.host, port: server.port)
            let subscriber = try RedisSubscriber(configuration: configuration)
            try await subscriber.connect()
            try await subscriber.subscribe(["burst"])
            let stream = subscriber.messages(bufferSize: 10)
            let client = try RedisClient(configuration: configuration)
            try await client.connect()
            // 100 messages published before the consumer reads: the 10 oldest are buffered, 90 are
            // dropped. Once the consumer has read the 10, the next message ("last") is preceded by
            // an overflow event counting the 90.
            for i in 0..<100 { try await client.publish("m\(i)", to: "burst") }
            let deadline = ContinuousClock.now + .seconds(5)
            while subscriber.droppedMessageCount < 90 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            var iterator = stream.makeAsyncIterator()
            for i in 0..<10 {
                #expect(await iterator.next() == .message(RedisPubSubMessage(channel: "burst", payload: Array("m\(i)".utf8))))
            }
            try await client.publish("last", to: "burst")
            #expect(await iterator.next() == .overflow(dropped: 90))
            #expect(await iterator.next() == .message(RedisPubSubMessage(channel: "burst", payload: Array("last".utf8))))
            let overflow = 90
            #expect(subscriber.droppedMessageCount == overflow)
            await client.close()
            await subscriber.close()
        }
    }

    @Test func serverRestart_resubscribesAndReportsStates() async throws {
        try await withRedisServer { server in
            var configuration = RedisConfiguration(host: server.host, port: server.port)
            configuration.backoff = .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
            let subscriber = try RedisSubscriber(configuration: configuration)
            let states = Inbox<ConnectionState>()
            subscriber.addStateObserver { states.append($0) }
            try await subscriber.connect()
            try await subscriber.subscribe(["events"])
            let inbox = Inbox<RedisPubSubMessage>()
            subscriber.addMessageHandler { inbox.append($0) }

            server.kill()
            _ = try await states.wait { $0.contains { if case .disconnected = $0 { return true } else { return false } } }
            try await server.restart()
            _ = try await states.wait(for: .seconds(10)) { $0.last == .connected }

            let client = try RedisClient(configuration: configuration)
            try await client.connect()
            #expect(try await client.publish("after restart", to: "events") == 1)
            _ = try await inbox.wait { $0.contains { $0.payload == Array("after restart".utf8) } }
            await client.close()
            await subscriber.close()
        }
    }
}

@Suite struct RedisFaultTests {
    @Test func killMidTraffic_everyCallerSucceedsOrFailsInTime_thenRecovers() async throws {
        try await withRedisServer { server in
            var configuration = RedisConfiguration(host: server.host, port: server.port)
            configuration.commandTimeout = .milliseconds(500)
            configuration.backoff = .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
            let client = try RedisClient(configuration: configuration)
            let states = Inbox<ConnectionState>()
            client.addStateObserver { states.append($0) }
            try await client.connect()

            let outcomes = Inbox<(ok: Bool, elapsed: Duration)>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<20 {
                    group.addTask {
                        for i in 0..<150 {
                            let started = ContinuousClock.now
                            do {
                                try await client.set("w\(worker):\(i)", to: "v")
                                outcomes.append((true, ContinuousClock.now - started))
                            } catch let error as RedisError {
                                #expect(error.isConnectionFailure || error == .closed, "unexpected \(error)")
                                outcomes.append((false, ContinuousClock.now - started))
                                try await Task.sleep(for: .milliseconds(2))
                            }
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(30))
                    server.kill()
                    try await Task.sleep(for: .milliseconds(150))
                    try await server.restart()
                }
                try await group.waitForAll()
            }
            let all = outcomes.all
            #expect(all.count == 20 * 150, "every call returned")
            #expect(all.contains { !$0.ok }, "some calls failed while Redis was down")
            let slowest = all.map(\.elapsed).max()!
            // Each call is bounded by its command timeout; the margin absorbs a slow scheduler.
            let bound = (configuration.commandTimeout * 3).scaledForTests
            #expect(slowest < bound, "no call waited past its timeout (slowest \(slowest), bound \(bound))")
            _ = try await states.wait { $0.last == .connected }
            #expect(states.all.contains { if case .disconnected = $0 { return true } else { return false } })
            try await client.set("after", to: "ok")
            #expect(try await client.get("after") == Array("ok".utf8))
            await client.close()
        }
    }

    @Test func reconnect_reappliesAuthAndSelect() async throws {
        try await withRedisServer(.init(password: "pw")) { server in
            var configuration = RedisConfiguration(host: server.host, port: server.port, password: "pw", database: 3)
            configuration.backoff = .init(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
            let client = try RedisClient(configuration: configuration)
            let states = Inbox<ConnectionState>()
            client.addStateObserver { states.append($0) }
            try await client.connect()
            // Kills this client's own connection (the reply may be lost with it).
            _ = try? await client.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")
            _ = try await states.wait { states in states.filter { $0 == .connected }.count >= 2 }
            try await client.set("k", to: "v")
            #expect(try await client.send("CLIENT", "INFO").string?.contains("db=3") == true)
            await client.close()
        }
    }

    /// A SUBSCRIBE the server refuses (NOPERM) fails at once with the server's message; hiredis
    /// 0.14 routes that reply to no callback, so without the shim's hook it was a timeout.
    @Test func refusedSubscribe_failsAtOnceWithTheServersMessage() async throws {
        try await withRedisServer(.init(aclUser: (name: "admin", password: "pw"))) { server in
            let admin = try RedisClient(configuration: .init(host: server.host, port: server.port, username: "admin", password: "pw"))
            try await admin.connect()
            _ = try await admin.send("ACL", "SETUSER", "limited", "on", ">pw", "~*", "resetchannels", "&allowed", "+@all")
            let subscriber = try RedisSubscriber(
                configuration: .init(host: server.host, port: server.port, username: "limited", password: "pw"))
            try await subscriber.connect()
            let started = ContinuousClock.now
            await #expect {
                try await subscriber.subscribe(["forbidden"])
            } throws: { error in
                guard case RedisError.server(let message) = error else { return false }
                return message.hasPrefix("NOPERM")
            }
            #expect(ContinuousClock.now - started < .seconds(1))
            // hiredis drops a connection that receives an unrouted error; the subscriber
            // reconnects, without the refused channel, and keeps what is allowed.
            try await subscriber.subscribe(["allowed"])
            let deadline = ContinuousClock.now + .seconds(5)
            var receivers = 0
            while receivers == 0, ContinuousClock.now < deadline {
                receivers = try await admin.publish("still works", to: "allowed")
                if receivers == 0 { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(receivers == 1)
            #expect(try await admin.send("PUBSUB", "NUMSUB", "forbidden") == .array([.bulkString(Array("forbidden".utf8)), .integer(0)]))
            await subscriber.close()
            await admin.close()
        }
    }
}
