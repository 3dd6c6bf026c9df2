import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// Kills one instance's command connection (CLIENT KILL ID), leaving its subscription alone.
func killCommandConnection(of cache: SyncedCache, on server: RedisServer) async throws {
    let raw = try await rawClient(server)
    let list = try await raw.send("CLIENT", "LIST").string ?? ""
    for line in list.split(separator: "\n") where line.contains("name=dcache:\(cache.podID) ") && !line.contains("flags=P") {
        if let id = line.split(separator: " ").first(where: { $0.hasPrefix("id=") })?.dropFirst(3) {
            _ = try await raw.send("CLIENT", "KILL", "ID", String(id))
        }
    }
    await raw.close()
}

/// Invalidation mode `.tracking`: Redis's client tracking reports changes made by anyone.
@Suite struct TrackingTests {
    static func tracking(_ options: inout SyncedCache.Options) {
        options.invalidation = .tracking
        options.readerCanSetToRedis = true
    }

    /// Every instance holds `key` locally, read from Redis. A read is not cached while the
    /// invalidation of the write before it may still be on its way, so this reads until it is.
    static func warm(_ caches: [SyncedCache], _ key: String, _ value: String) async throws {
        for cache in caches {
            #expect(try await cache.get(key, as: String.self) == value)
            try await eventually("\(cache.podID) caches \(key)") {
                _ = try await cache.get(key, as: String.self)
                return cache.localValue(forKey: key, as: String.self) == value
            }
        }
    }

    @Test func externalWrite_dropsEveryInstancesCopy() async throws {
        try await withCaches(3, configure: Self.tracking) { caches, server async throws in
            let raw = try await rawClient(server)
            _ = try await raw.send("SET", "dcache:k", "\"v1\"")
            try await Self.warm(caches, "k", "v1")
            // A write that knows nothing of the library: no event, no version header.
            _ = try await raw.send("SET", "dcache:k", "\"v2\"")
            for cache in caches {
                await eventually("\(cache.podID) dropped its copy") { cache.localValue(forKey: "k", as: String.self) == nil }
                #expect(try await cache.get("k", as: String.self) == "v2")
                #expect(cache.stats.trackingInvalidations >= 1)
            }
            // Keys outside the namespace, and internal ones, are not ours.
            let before = caches[0].stats.trackingInvalidations
            _ = try await raw.send("SET", "other:k", "x")
            _ = try await raw.send("SET", "dcache:__version", "99")
            _ = try await raw.send("SET", "dcache:k", "\"v3\"")
            await eventually("the next invalidation") { caches[0].localValue(forKey: "k", as: String.self) == nil }
            #expect(caches[0].stats.trackingInvalidations == before + 1)
            await raw.close()
        }
    }

    @Test func flushDB_clearsEveryLocalCache() async throws {
        try await withCaches(2, configure: Self.tracking) { caches, server async throws in
            try await caches[0].set("a", "1")
            try await caches[0].set("b", "2")
            try await Self.warm(caches, "a", "1")
            let raw = try await rawClient(server)
            _ = try await raw.send("FLUSHDB")
            for cache in caches {
                await eventually("\(cache.podID) cleared") { cache.stats.localSize == 0 }
            }
            #expect(try await caches[1].get("a", as: String.self) == nil)
            await raw.close()
        }
    }

    /// A library write: the others drop their copies and read the new value; no set event is
    /// published for a value Redis stores. (The writer's own copy may be dropped too: Redis 7.0
    /// reports writes made inside a script even to the tracking connection that ran it, NOLOOP
    /// notwithstanding; then its next read goes to Redis.)
    @Test func libraryWrite_keepsWritersCopy_othersReRead() async throws {
        try await withCaches(2, configure: Self.tracking) { caches, server async throws in
            try await caches[0].set("k", "v1")
            try await Self.warm(caches, "k", "v1")
            let raw = try await rawClient(server)
            let events = caches[1].stats.eventsReceived
            try await caches[0].set("k", "v2")
            await eventually("B dropped v1") { caches[1].localValue(forKey: "k", as: String.self) == nil }
            #expect(try await caches[0].get("k", as: String.self) == "v2")
            #expect(try await caches[1].get("k", as: String.self) == "v2")
            #expect(caches[1].stats.eventsReceived == events)
            // What Redis does not store still goes out as an event: an invalidate-only set that is
            // not written, and a delete's effect through tracking.
            try await caches[0].delete("k")
            await eventually("B dropped v2") { caches[1].localValue(forKey: "k", as: String.self) == nil }
            #expect(try await caches[1].get("k", as: String.self) == nil)
            await raw.close()
        }
    }

    /// Sets not stored in Redis (readerCanSetToRedis off) still reach the others as events.
    @Test func announcedSets_stillTravelAsEvents() async throws {
        try await withCaches(2, configure: { $0.invalidation = .tracking }) { caches, _ async throws in
            try await caches[0].set("k", "announced")
            await eventually("propagation") { caches[1].localValue(forKey: "k", as: String.self) == "announced" }
        }
    }

    /// The documented race: a GET reply that arrives after the invalidation of its key is not
    /// cached.
    @Test func lateReplyAfterInvalidation_isNotCached() async throws {
        let gate = Gate()
        try await withRedisServer { server in
            let reader = try await SyncedCache(options: testOptions(server, pod: "reader") {
                Self.tracking(&$0)
                $0.testHooks.beforeFill = { _ in await gate.wait() }
            })
            let raw = try await rawClient(server)
            _ = try await raw.send("SET", "dcache:k", "\"old\"")
            await eventually("the first invalidation arrived") { reader.stats.trackingInvalidations == 1 }
            let read = Task { try await reader.get("k", as: String.self) }
            await eventually("the GET replied") { gate.arrived == 1 }
            _ = try await raw.send("SET", "dcache:k", "\"new\"")
            await eventually("the invalidation arrived") { reader.stats.trackingInvalidations == 2 }
            gate.open()
            #expect(try await read.value == "old")
            #expect(reader.localValue(forKey: "k", as: String.self) == nil)
            #expect(try await reader.get("k", as: String.self) == "new")
            await raw.close()
            await reader.close()
        }
    }

    /// Tracking is turned on again after either connection is re-established; the resync drops
    /// what was missed meanwhile.
    @Test(arguments: ["subscription", "command connection"])
    func trackingSurvivesReconnection(of connection: String) async throws {
        try await withCaches(1, configure: {
            Self.tracking(&$0)
            $0.reconnectBackoff = .init(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(100), jitter: 0)
        }) { caches, server async throws in
            let cache = caches[0]
            let raw = try await rawClient(server)
            _ = try await raw.send("SET", "dcache:k", "\"v1\"")
            try await Self.warm(caches, "k", "v1")
            if connection == "subscription" {
                try await killSubscription(of: cache, on: server)
            } else {
                try await killCommandConnection(of: cache, on: server)
            }
            await eventually("resynced", timeout: .seconds(10).scaledForTests) { cache.stats.resyncs >= 1 && cache.health.isHealthy }
            _ = try await raw.send("SET", "dcache:k", "\"v2\"")
            try await Self.warm(caches, "k", "v2")
            _ = try await raw.send("SET", "dcache:k", "\"v3\"")
            await eventually("tracked again") { cache.localValue(forKey: "k", as: String.self) == nil }
            #expect(try await cache.get("k", as: String.self) == "v3")
            await raw.close()
        }
    }
}
