import Foundation
import Primitives
import RedisTransport
import Testing
import TestSupport

@testable import DistributedCache

/// Signed events (`signingSecrets`): instances with a shared secret stay in sync; unsigned,
/// forged, altered or foreign-signed events are rejected and counted, and none can pin a key.
@Suite struct SignedEventTests {
    static let secret = "correct horse battery staple"
    static let other = "another secret of enough bytes"

    private func signed(_ secrets: [String], storeInRedis: Bool = true) -> (inout SyncedCache.Options) -> Void {
        { options in
            options.signingSecrets = secrets
            options.readerCanSetToRedis = storeInRedis
        }
    }

    @Test func sharedSecret_keepsInstancesInSync_andEventsCarryASignature() async throws {
        try await withCaches(2, configure: signed([Self.secret])) { caches, server async throws in
            let capture = try await HostileEventTests.Capture(server)
            try await caches[0].set("k", "v1", ttl: .seconds(60))
            await eventually("the set arrived") { caches[1].localValue(forKey: "k", as: String.self) == "v1" }
            try await caches[0].setWithInvalidate("k", "v2")
            await eventually("the invalidation arrived") { caches[1].localValue(forKey: "k", as: String.self) == nil }
            #expect(try await caches[1].get("k", as: String.self) == "v2")
            try await caches[0].setMany(["a": "1", "b": "2"])
            await eventually("the batch arrived") { caches[1].localValue(forKey: "b", as: String.self) == "2" }
            try await caches[0].delete("a")
            await eventually("the delete arrived") { caches[1].localValue(forKey: "a", as: String.self) == nil }
            #expect(caches[1].stats.eventsRejected == 0)
            let payloads = capture.payloads.withLock { $0 }
            #expect(!payloads.isEmpty)
            #expect(payloads.allSatisfy { String(decoding: $0, as: UTF8.self).contains(#","sig":""#) })
            await capture.subscriber.close()
        }
    }

    /// The attack of the outage issue, with signing on: one forged max-version set from any
    /// publisher, unsigned or signed with a guess, cannot pin the key.
    @Test func forgedMaxVersionEvent_isRejected_andCannotPinAKey() async throws {
        try await withCaches(2, configure: signed([Self.secret])) { caches, server async throws in
            let raw = try await rawClient(server)
            let forged = Array(#"{"key":"k","sender":"ghost","action":"set","value":"ImZvcmdlZCI=","version":9007199254740992}"#.utf8)
            _ = try await raw.publish(forged, to: "cache:invalidate")
            let guessed = EventSigner(secrets: ["a guessed secret, wrong"])!.sign(forged)
            _ = try await raw.publish(guessed, to: "cache:invalidate")
            await eventually("both were rejected") { caches[1].stats.eventsRejected == 2 }
            #expect(caches[1].localValue(forKey: "k", as: String.self) == nil)
            try await caches[0].set("k", "legit")
            await eventually("the legitimate set arrived") { caches[1].localValue(forKey: "k", as: String.self) == "legit" }
            await raw.close()
        }
    }

    /// A captured signed event replayed with a higher version: the signature covers the version.
    @Test func capturedEventWithAlteredVersion_isRejected() async throws {
        try await withCaches(2, configure: signed([Self.secret])) { caches, server async throws in
            let capture = try await HostileEventTests.Capture(server)
            try await caches[0].set("k", "old")
            await eventually("captured") { capture.payloads.withLock { !$0.isEmpty } }
            try await caches[0].set("k", "new")
            await eventually("the new value arrived") { caches[1].localValue(forKey: "k", as: String.self) == "new" }
            let captured = String(decoding: capture.payloads.withLock { $0[0] }, as: UTF8.self)
            let altered = captured.replacingOccurrences(
                of: #""version":(\d+)"#, with: #""version":9007199254740000"#, options: .regularExpression)
            #expect(altered != captured)
            let raw = try await rawClient(server)
            let before = caches[1].stats.eventsRejected
            _ = try await raw.publish(altered, to: "cache:invalidate")
            await eventually("rejected") { caches[1].stats.eventsRejected == before + 1 }
            #expect(caches[1].localValue(forKey: "k", as: String.self) == "new")
            await raw.close()
            await capture.subscriber.close()
        }
    }

    /// Rotation: an instance signing with a new secret is understood by those that list it, and
    /// rejected by one that knows only the old secret.
    @Test func rotation_acceptsEveryListedSecret() async throws {
        try await withRedisServer { server in
            let writer = try await SyncedCache(options: testOptions(server, pod: "writer", configure: signed([Self.other, Self.secret])))
            let rotated = try await SyncedCache(options: testOptions(server, pod: "rotated", configure: signed([Self.secret, Self.other])))
            let stale = try await SyncedCache(options: testOptions(server, pod: "stale", configure: signed([Self.secret])))
            try await writer.set("k", "v")
            await eventually("the rotated reader applied it") { rotated.localValue(forKey: "k", as: String.self) == "v" }
            await eventually("the stale reader rejected it") { stale.stats.eventsRejected >= 1 }
            #expect(stale.localValue(forKey: "k", as: String.self) == nil)
            for cache in [writer, rotated, stale] { await cache.close() }
        }
    }

    /// Two writers race on one namespace: every signed write claims a version of its own (the
    /// loser of a race retries above the counter), in increasing order.
    @Test func concurrentSignedWriters_getDistinctIncreasingVersions() async throws {
        try await withCaches(2, configure: signed([Self.secret])) { caches, server async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, cache) in caches.enumerated() {
                    group.addTask { for step in 0..<40 { try await cache.set("w\(index):\(step % 5)", step) } }
                }
                try await group.waitForAll()
            }
            let raw = try await rawClient(server)
            let entries = try await raw.send("XRANGE", "dcache:__events", "-", "+")
            guard case .array(let list) = entries else { Issue.record("no stream"); return }
            let versions = list.compactMap { entry -> UInt64? in
                guard case .array(let parts) = entry, case .bulkString(let id) = parts.first else { return nil }
                return UInt64(String(decoding: id, as: UTF8.self).split(separator: "-")[0])
            }
            #expect(versions.count == 80)
            #expect(versions == versions.sorted() && Set(versions).count == versions.count)
            await raw.close()
        }
    }

    @Test func referenceFormat_signedEventsAreVerifiedToo() async throws {
        try await withCaches(2, configure: { options in
            options.wireFormat = .reference
            options.signingSecrets = [Self.secret]
        }) { caches, server async throws in
            try await caches[0].set("k", "v")
            await eventually("applied") { caches[1].localValue(forKey: "k", as: String.self) == "v" }
            let raw = try await rawClient(server)
            _ = try await raw.publish(#"{"key":"k","sender":"ghost","action":"delete"}"#, to: "cache:invalidate")
            await eventually("rejected") { caches[1].stats.eventsRejected == 1 }
            #expect(caches[1].localValue(forKey: "k", as: String.self) == "v")
            await raw.close()
        }
    }

    @Test func options_refuseShortSecrets_andReadTheEnvironment() throws {
        var options = SyncedCache.Options()
        options.signingSecrets = ["short"]
        #expect(throws: CacheError.self) { try options.validate() }
        let fromEnvironment = try SyncedCache.Options.fromEnvironment(["CACHE_SIGNING_SECRETS": "\(Self.secret),\(Self.other)"])
        #expect(fromEnvironment.signingSecrets == [Self.secret, Self.other])
    }

    @Test func signer_roundTrips_andRefusesTampering() {
        let signer = EventSigner(secrets: [Self.secret])!
        let event = Array(#"{"key":"k","sender":"p","action":"delete","version":7}"#.utf8)
        let signed = signer.sign(event)
        #expect(signer.verify(signed) == event)
        #expect(signer.verify(event) == nil)
        var tampered = signed
        tampered[9] = UInt8(ascii: "x")
        #expect(signer.verify(tampered) == nil)
        #expect(EventSigner(secrets: [Self.other])!.verify(signed) == nil)
        #expect(EventSigner(secrets: []) == nil)
    }
}
