import DistributedCache
import Foundation
import Primitives
import RedisTransport
import Testing
import TestSupport

/// Plays a reference-library instance: publishes and reads the exact payloads of
/// ../shared/reference/wire-format.md.
@Suite struct WireFormatTests {
    /// Subscribes a raw subscriber to the default channel and collects payloads.
    func listen(_ server: RedisServer) async throws -> (RedisSubscriber, Inbox) {
        let subscriber = try RedisSubscriber(configuration: .init(host: server.host, port: server.port))
        try await subscriber.connect()
        let inbox = Inbox()
        subscriber.addMessageHandler { inbox.append(String(decoding: $0.payload, as: UTF8.self)) }
        try await subscriber.subscribe(["cache:invalidate"])
        return (subscriber, inbox)
    }

    @Test func referenceFormat_ourEventsAreByteForByteTheReferences() async throws {
        try await withCaches(1, configure: { $0.wireFormat = .reference; $0.podID = "pod-1" }) { caches, server async throws in
            let (subscriber, inbox) = try await listen(server)
            try await caches[0].set("user:123", ["name": "John Doe"])
            try await caches[0].setWithInvalidate("user:123", ["name": "John Doe"])
            try await caches[0].delete("user:123")
            let payloads = try await inbox.wait(count: 3)
            #expect(payloads[0] == #"{"key":"user:123","sender":"pod-1","action":"set","value":"eyJuYW1lIjoiSm9obiBEb2UifQ=="}"#)
            #expect(payloads[1] == #"{"key":"user:123","sender":"pod-1","action":"invalidate"}"#)
            #expect(payloads[2] == #"{"key":"user:123","sender":"pod-1","action":"delete"}"#)
            await subscriber.close()
        }
    }

    @Test func referenceFormat_clearRefusesToFlushWithoutBeingAsked() async throws {
        try await withCaches(1, configure: { $0.wireFormat = .reference }) { caches, _ async throws in
            await #expect {
                try await caches[0].clear()
            } throws: { error in
                if case CacheError.invalidOption(name: "clearScope", _) = error { return true }
                return false
            }
        }
    }

    @Test func referenceFormat_clearWithDatabaseScopeFlushesAndPublishesStar() async throws {
        try await withCaches(1, configure: { $0.wireFormat = .reference; $0.podID = "pod-1"; $0.clearScope = .database }) {
            caches, server async throws in
            let (subscriber, inbox) = try await listen(server)
            let raw = try await rawClient(server)
            try await raw.set("anything", to: "x")
            try await caches[0].clear()
            #expect(try await inbox.wait(count: 1) == [#"{"key":"*","sender":"pod-1","action":"clear"}"#])
            #expect(try await raw.exists(["anything"]) == 0)
            await raw.close()
            await subscriber.close()
        }
    }

    @Test func referenceInstanceEvents_areApplied() async throws {
        try await withCaches(1, configure: { $0.wireFormat = .reference }) { caches, server async throws in
            let cache = caches[0]
            let raw = try await rawClient(server)
            try await raw.publish(
                #"{"key":"user:123","sender":"go-pod","action":"set","value":"eyJuYW1lIjoiSm9obiBEb2UifQ=="}"#,
                to: "cache:invalidate")
            await eventually("set event") { cache.localValue(forKey: "user:123", as: [String: String].self) != nil }
            #expect(cache.localValue(forKey: "user:123", as: [String: String].self) == ["name": "John Doe"])
            try await raw.publish(#"{"key":"user:123","sender":"go-pod","action":"invalidate"}"#, to: "cache:invalidate")
            await eventually("invalidate") { cache.localValue(forKey: "user:123", as: [String: String].self) == nil }
            try await raw.publish(
                #"{"key":"a","sender":"go-pod","action":"set","value":"MQ=="}"#, to: "cache:invalidate")
            await eventually("set a") { cache.localValue(forKey: "a", as: Int.self) == 1 }
            try await raw.publish(#"{"key":"*","sender":"go-pod","action":"clear"}"#, to: "cache:invalidate")
            await eventually("clear") { cache.localValue(forKey: "a", as: Int.self) == nil }
            await raw.close()
        }
    }

    @Test func versionedEvents_areASupersetTheReferenceCanRead() async throws {
        try await withCaches(1, configure: { $0.podID = "pod-1" }) { caches, server async throws in
            let (subscriber, inbox) = try await listen(server)
            try await caches[0].set("user:123", ["name": "John Doe"], ttl: .seconds(60))
            let payload = try await inbox.wait(count: 1)[0]
            #expect(payload.hasPrefix(#"{"key":"user:123","sender":"pod-1","action":"set","value":"eyJuYW1lIjoiSm9obiBEb2UifQ==","version":"#))
            #expect(payload.hasSuffix(#","ttl":60000}"#))
            await subscriber.close()
        }
    }

    @Test func goStyleEscaping_ofKeys() async throws {
        try await withCaches(1, configure: { $0.wireFormat = .reference; $0.podID = "p" }) { caches, server async throws in
            let (subscriber, inbox) = try await listen(server)
            try await caches[0].delete("a<b>&\"c\"\\\n\u{1}\u{2028}é")
            let payload = try await inbox.wait(count: 1)[0]
            #expect(payload == #"{"key":"a\u003cb\u003e\u0026\"c\"\\\n\u0001\u2028é","sender":"p","action":"delete"}"#)
            await subscriber.close()
        }
    }

    @Test func malformedEvents_areCountedAndSkipped() async throws {
        // maximumValueSize 1 MB, so the oversized payload (2 MB) stays under Redis's own pub/sub
        // output-buffer limit (32 MB), past which Redis would drop the subscriber instead.
        try await withCaches(1, configure: { $0.maximumValueSize = 1 << 20 }) { caches, server async throws in
            let cache = caches[0]
            try await cache.set("survivor", "still here")
            let raw = try await rawClient(server)
            let bad: [[UInt8]] = [
                Array("not json".utf8),
                Array(#"{"key":"k","sender":"x","action":"explode"}"#.utf8),
                Array(#"{"key":"k","sender":"x","action":"set","value":"@@not base64@@"}"#.utf8),
                Array(#"{"sender":"x","action":"delete"}"#.utf8),
                [0xFF, 0xFE, 0x00, 0x01],
                Array(#"{"key":"k","sender":"x","action":"set","value":""#.utf8)
                    + Array(repeating: UInt8(ascii: "A"), count: cache.options.maximumValueSize * 2) + Array(#""}"#.utf8),
            ]
            for payload in bad { try await raw.publish(payload, to: "cache:invalidate") }
            await eventually("all counted") { cache.stats.eventsMalformed == UInt64(bad.count) }
            #expect(cache.localValue(forKey: "survivor", as: String.self) == "still here")
            // A set event whose value does not decode as the type asked for is not returned.
            try await raw.publish(#"{"key":"typed","sender":"x","action":"set","value":"Im5vdCBhbiBpbnQi"}"#, to: "cache:invalidate")
            await eventually("stored as bytes") { cache.localValue(forKey: "typed", as: String.self) == "not an int" }
            #expect(cache.localValue(forKey: "typed", as: Int.self) == nil)
            await raw.close()
        }
    }
}

/// Collects strings from a handler.
final class Inbox: Sendable {
    private let items = Locked<[String]>([])
    func append(_ item: String) { items.withLock { $0.append(item) } }
    func wait(count: Int, timeout: Duration = .seconds(5)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let snapshot = items.withLock { $0 }
            if snapshot.count >= count { return snapshot }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("timed out waiting for \(count) messages")
        return items.withLock { $0 }
    }
}
