import DistributedCache
import Foundation
import Testing
import TestSupport

/// The seven flows of the reference library's diagrams, with two or three instances.
@Suite struct SyncedCacheFlowTests {
    /// Flow 1: set stores locally and in Redis (switch on), and the others store the propagated
    /// value without reading Redis.
    @Test func set_propagatesTheValue_othersStoreItWithoutReadingRedis() async throws {
        try await withCaches(3, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            let value = Profile(name: "John Doe", visits: 1)
            try await caches[0].set("user:123", value)
            #expect(caches[0].localValue(forKey: "user:123", as: Profile.self) == value)
            for other in caches[1...] {
                await eventually("propagation") { other.localValue(forKey: "user:123", as: Profile.self) == value }
                #expect(other.stats.remoteHits == 0 && other.stats.remoteMisses == 0, "no Redis read")
            }
            let raw = try await rawClient(server)
            let stored = try await raw.get("dcache:user:123").map { String(decoding: $0, as: UTF8.self) }
            #expect(stored?.hasSuffix(#":{"name":"John Doe","visits":1}"#) == true)
            await raw.close()
        }
    }

    /// The reference's default: set does not write Redis (readerCanSetToRedis == false), but the
    /// value still reaches the other instances.
    @Test func set_byDefault_doesNotWriteRedisButPropagates() async throws {
        try await withCaches(2) { caches, server async throws in
            try await caches[0].set("k", "v")
            await eventually("propagation") { caches[1].localValue(forKey: "k", as: String.self) == "v" }
            let raw = try await rawClient(server)
            #expect(try await raw.get("dcache:k") == nil)
            await raw.close()
        }
    }

    /// Flow 2: setWithInvalidate stores locally and in Redis; the others drop their copy and
    /// read the new value from Redis on their next get.
    @Test func setWithInvalidate_othersDropAndRefetch() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            try await caches[0].set("item", Profile(name: "old", visits: 1))
            await eventually("propagation") { caches[1].localValue(forKey: "item", as: Profile.self) != nil }
            try await caches[0].setWithInvalidate("item", Profile(name: "new", visits: 2))
            await eventually("invalidation") { caches[1].localValue(forKey: "item", as: Profile.self) == nil }
            let fetched = try await caches[1].get("item", as: Profile.self)
            #expect(fetched == Profile(name: "new", visits: 2))
            #expect(caches[1].stats.remoteHits == 1)
            #expect(caches[1].localValue(forKey: "item", as: Profile.self) == fetched, "the remote hit filled the local cache")
        }
    }

    /// Flow 3: a local hit does not touch Redis.
    @Test func get_localHit_neverReachesRedis() async throws {
        // No liveness pings: each reads the version counter with a GET, and this test counts GETs.
        try await withCaches(1, configure: { $0.pingInterval = .zero }) { caches, server async throws in
            try await caches[0].set("hot", 42)
            let raw = try await rawClient(server)
            let before = try await commandCalls(raw, "get")
            for _ in 0..<100 { #expect(try await caches[0].get("hot", as: Int.self) == 42) }
            #expect(try await commandCalls(raw, "get") == before)
            #expect(caches[0].stats.localHits >= 100)
            await raw.close()
        }
    }

    /// Flow 4: a remote hit fills the local cache.
    @Test func get_remoteHit_fillsTheLocalCache() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, _ async throws in
            try await caches[0].setWithInvalidate("cold", "value")
            #expect(caches[1].localValue(forKey: "cold", as: String.self) == nil)
            #expect(try await caches[1].get("cold", as: String.self) == "value")
            #expect(caches[1].stats.remoteHits == 1)
            #expect(try await caches[1].get("cold", as: String.self) == "value")
            #expect(caches[1].stats.remoteHits == 1, "second get was local")
        }
    }

    /// Flow 5: a miss on both levels returns nil.
    @Test func get_missEverywhere_returnsNil() async throws {
        try await withCaches(1) { caches, _ async throws in
            #expect(try await caches[0].get("nothing", as: String.self) == nil)
            #expect(caches[0].stats.remoteMisses == 1)
        }
    }

    /// Flow 6: delete removes the key from Redis, locally and on the others.
    @Test func delete_removesEverywhere() async throws {
        try await withCaches(3, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            try await caches[0].set("gone", "soon")
            for other in caches[1...] {
                await eventually("propagation") { other.localValue(forKey: "gone", as: String.self) == "soon" }
            }
            try await caches[1].delete("gone")
            #expect(caches[1].localValue(forKey: "gone", as: String.self) == nil)
            for other in [caches[0], caches[2]] {
                await eventually("delete event") { other.localValue(forKey: "gone", as: String.self) == nil }
            }
            let raw = try await rawClient(server)
            #expect(try await raw.get("dcache:gone") == nil)
            await raw.close()
        }
    }

    /// Flow 7: clear empties every local cache and this cache's keys in Redis, and leaves other
    /// applications' keys in the same database alone (no FLUSHDB).
    @Test func clear_emptiesTheNamespaceOnly() async throws {
        try await withCaches(2, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            let raw = try await rawClient(server)
            try await raw.set("other-app:config", to: "keep me")
            for i in 0..<50 { try await caches[0].set("key:\(i)", i) }
            await eventually("propagation") { caches[1].localValue(forKey: "key:49", as: Int.self) == 49 }
            try await caches[1].clear()
            #expect(caches[1].localValue(forKey: "key:0", as: Int.self) == nil)
            await eventually("clear event") { caches[0].localValue(forKey: "key:49", as: Int.self) == nil }
            #expect(try await raw.scanAll(match: "dcache:key:*").isEmpty)
            #expect(try await raw.get("other-app:config") == Array("keep me".utf8))
            #expect(try await raw.exists(["dcache:__version"]) == 1, "the version counter survives a clear")
            await raw.close()
        }
    }

    /// An instance ignores its own events.
    @Test func ownEvents_areIgnored() async throws {
        try await withCaches(1) { caches, _ async throws in
            try await caches[0].set("mine", 1)
            await eventually("own event seen") { caches[0].stats.eventsIgnored >= 1 }
            #expect(caches[0].stats.eventsApplied == 0)
        }
    }

    /// Close is idempotent, and operations afterwards fail clearly.
    @Test func close_isIdempotentAndFinal() async throws {
        try await withRedisServer { server in
            let cache = try await SyncedCache(options: testOptions(server, pod: "closing"))
            try await cache.set("k", "v")
            await cache.close()
            await cache.close()
            await #expect(throws: CacheError.closed) { try await cache.set("k", "v") }
            await #expect(throws: CacheError.closed) { try await cache.get("other", as: String.self) }
        }
    }
}
