import Foundation
import Primitives
import RedisTransport
import Testing
import TestSupport

@testable import DistributedCache

/// Events from anyone who can PUBLISH on the channel: out-of-range numbers, forged versions,
/// replayed captures. None may crash an instance, pin a key, or bring a deleted key back.
@Suite struct HostileEventTests {
    /// Captures the payloads published on the invalidation channel, for replaying them later.
    final class Capture: Sendable {
        let subscriber: RedisSubscriber
        let payloads = Locked<[[UInt8]]>([])

        init(_ server: RedisServer) async throws {
            subscriber = try RedisSubscriber(configuration: .init(host: server.host, port: server.port))
            try await subscriber.connect()
            subscriber.addMessageHandler { [payloads] message in payloads.withLock { $0.append(message.payload) } }
            try await subscriber.subscribe(["cache:invalidate"])
        }

        /// The first captured event for `key` with `action`.
        func event(_ action: SyncedCache.Action, of key: String) -> [UInt8]? {
            payloads.withLock { $0 }.first { payload in
                guard case .success(let event) = EventCodec.decode(payload) else { return false }
                return event.key == key && event.action == action
            }
        }
    }

    /// The numbers that once crashed every receiver (an overflow trap converting the TTL) are
    /// malformed events now: counted and skipped, and the instance keeps working.
    @Test func outOfRangeTTLs_areSkippedAndTheInstanceKeepsWorking() async throws {
        try await withCaches(2) { caches, server async throws in
            let raw = try await rawClient(server)
            for ttl in ["9007199254740992", "9223372036854775807", "-9223372036854775808", "0"] {
                try await raw.publish(
                    #"{"key":"k","sender":"ghost","action":"set","value":"IngiIg==","version":1,"ttl":\#(ttl)}"#, to: "cache:invalidate")
            }
            try await raw.publish(#"{"key":"k","sender":"ghost","action":"set","value":"IngiIg==","version":9007199254740993}"#,
                                  to: "cache:invalidate")
            await eventually("the five events were skipped") { caches[1].stats.eventsMalformed == 5 }
            #expect(caches[1].localValue(forKey: "k", as: String.self) == nil)
            try await caches[0].set("k", "fine", ttl: .seconds(60))
            await eventually("a valid event still applies") { caches[1].localValue(forKey: "k", as: String.self) == "fine" }
            await raw.close()
        }
    }

    /// Version poisoning: a set with the largest version there is must not pin its key. The
    /// next legitimate set of the key finds the forged version above Redis's counter, drops it
    /// and applies.
    @Test func forgedMaximumVersion_doesNotPinTheKey() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            let raw = try await rawClient(server)
            try await caches[0].set("k", "v1")
            await eventually("propagation") { caches[1].localValue(forKey: "k", as: String.self) == "v1" }
            try await raw.publish(
                #"{"key":"k","sender":"ghost","action":"set","value":"ImZvcmdlZCI=","version":9007199254740992}"#,
                to: "cache:invalidate")
            await eventually("the forged value arrived") { caches[1].localValue(forKey: "k", as: String.self) == "forged" }
            try await caches[0].set("k", "v2")
            await eventually("the legitimate set wins") { caches[1].localValue(forKey: "k", as: String.self) == "v2" }
            #expect(caches[1].stats.forgedVersions == 1)
            // A forged delete and a forged clear at the maximum version cannot block later sets either.
            try await raw.publish(#"{"key":"k","sender":"ghost","action":"delete","version":9007199254740992}"#, to: "cache:invalidate")
            await eventually("the forged delete applied") { caches[1].localValue(forKey: "k", as: String.self) == nil }
            try await caches[0].set("k", "v3")
            await eventually("set after a forged delete") { caches[1].localValue(forKey: "k", as: String.self) == "v3" }
            try await raw.publish(#"{"key":"*","sender":"ghost","action":"clear","version":9007199254740992}"#, to: "cache:invalidate")
            await eventually("the forged clear applied") { caches[1].localValue(forKey: "k", as: String.self) == nil }
            try await caches[0].set("other", "v4")
            await eventually("set after a forged clear") { caches[1].localValue(forKey: "other", as: String.self) == "v4" }
            await raw.close()
        }
    }

    /// A deleted key does not come back: a captured set event replayed after the delete is older
    /// than the delete's tombstone, whether the delete was this instance's or another's.
    @Test func replayedSetAfterDelete_isRefused() async throws {
        try await withCaches(2) { caches, server async throws in
            let capture = try await Capture(server)
            let raw = try await rawClient(server)
            try await caches[0].set("k", "captured")
            await eventually("captured") { capture.event(.set, of: "k") != nil }
            await eventually("propagation") { caches[1].localValue(forKey: "k", as: String.self) == "captured" }
            let replay = try #require(capture.event(.set, of: "k"))
            for deleter in [caches[0], caches[1]] {
                try await deleter.delete("k")
                await eventually("deleted everywhere") { caches.allSatisfy { $0.localValue(forKey: "k", as: String.self) == nil } }
                let ignoredBefore = caches[1].stats.eventsIgnored
                try await raw.publish(replay, to: "cache:invalidate")
                await eventually("the replay arrived") { caches[1].stats.eventsIgnored > ignoredBefore }
                #expect(caches[1].localValue(forKey: "k", as: String.self) == nil, "the deleted key came back")
                try await caches[0].set("k", "captured")  // for the next round (a newer version)
                await eventually("propagation") { caches[1].localValue(forKey: "k", as: String.self) == "captured" }
            }
            await capture.subscriber.close()
            await raw.close()
        }
    }

    /// The same guard after a reconnection: the replay resync drops a key deleted while the
    /// subscription was down and leaves its tombstone, so a captured older set of it that arrives
    /// with the live events afterwards is refused too.
    @Test func replayResync_leavesTombstones() async throws {
        try await withRedisServer { server in
            let capture = try await Capture(server)
            let raw = try await rawClient(server)
            let writer = try await SyncedCache(options: testOptions(server, pod: "writer") { $0.readerCanSetToRedis = true })
            let reader = try await SyncedCache(options: testOptions(server, pod: "reader") {
                $0.readerCanSetToRedis = true
                $0.resyncStrategy = .replay
                $0.reconnectBackoff = .init(initialDelay: .milliseconds(400), maximumDelay: .milliseconds(400), jitter: 0)
            })
            try await writer.set("k", "captured")
            try await writer.set("untouched", "same")
            await eventually("propagation") { reader.localValue(forKey: "untouched", as: String.self) == "same" }
            // The capture has its own connection: it may see the events later than the reader.
            await eventually("captured") { capture.event(.set, of: "k") != nil }
            let replay = try #require(capture.event(.set, of: "k"))
            try await killSubscription(of: reader, on: server)
            try await Task.sleep(for: .milliseconds(50))
            try await writer.delete("k")  // missed by the reader, found by its replay
            await eventually("reader resynced", timeout: .seconds(10)) { reader.stats.resyncs >= 1 && reader.health.isHealthy }
            #expect(reader.localValue(forKey: "untouched", as: String.self) == "same", "replay keeps what did not change")
            let ignoredBefore = reader.stats.eventsIgnored
            try await raw.publish(replay, to: "cache:invalidate")
            await eventually("the replay arrived") { reader.stats.eventsIgnored > ignoredBefore }
            #expect(reader.localValue(forKey: "k", as: String.self) == nil, "the deleted key came back")
            await writer.close()
            await reader.close()
            await capture.subscriber.close()
            await raw.close()
        }
    }

    /// A version counter that went back (Redis lost its data and someone reset it, or an event
    /// carried a forged version past it) makes the replay resync clear everything rather than
    /// trust a cursor Redis never reached.
    @Test func replayResync_afterTheCounterWentBack_clears() async throws {
        try await withRedisServer { server in
            let raw = try await rawClient(server)
            let writer = try await SyncedCache(options: testOptions(server, pod: "writer") { $0.readerCanSetToRedis = true })
            let reader = try await SyncedCache(options: testOptions(server, pod: "reader") {
                $0.resyncStrategy = .replay
                $0.reconnectBackoff = .init(initialDelay: .milliseconds(400), maximumDelay: .milliseconds(400), jitter: 0)
            })
            try await writer.set("k", "v1")
            await eventually("propagation") { reader.localValue(forKey: "k", as: String.self) == "v1" }
            try await killSubscription(of: reader, on: server)
            try await raw.set("dcache:__version", to: "5")
            await eventually("reader resynced", timeout: .seconds(10)) { reader.stats.resyncs >= 1 && reader.health.isHealthy }
            #expect(reader.localValue(forKey: "k", as: String.self) == nil)
            await writer.close()
            await reader.close()
            await raw.close()
        }
    }
}
