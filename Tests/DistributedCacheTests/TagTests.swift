import Foundation
import Testing
import TestSupport

@testable import DistributedCache

/// Tags: `set(_:_:ttl:tags:)` and `invalidate(tag:)` across instances, without scanning Redis.
@Suite struct TagTests {
    static func stored(_ options: inout SyncedCache.Options) { options.readerCanSetToRedis = true }

    @Test func invalidateTag_dropsItsValuesOnEveryInstance() async throws {
        try await withCaches(3, configure: Self.stored) { caches, server async throws in
            try await caches[0].set("a", "A", tags: ["team:1"])
            try await caches[0].set("b", "B", tags: ["team:1", "plan:pro"])
            try await caches[0].set("c", "C", tags: ["plan:pro"])
            try await caches[0].set("d", "D")
            for cache in caches {
                for (key, value) in [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")] {
                    await eventually("\(cache.podID) holds \(key)") {
                        _ = try? await cache.get(key, as: String.self)
                        return cache.localValue(forKey: key, as: String.self) == value
                    }
                }
            }
            let raw = try await rawClient(server)
            try await caches[1].invalidate(tag: "team:1")
            for cache in caches {
                await eventually("\(cache.podID) dropped a and b") {
                    cache.localValue(forKey: "a", as: String.self) == nil && cache.localValue(forKey: "b", as: String.self) == nil
                }
                // Redis still has them, but as values of an older generation: absent.
                #expect(try await cache.get("a", as: String.self) == nil)
                #expect(try await cache.getMany(["b", "c"], as: String.self) == ["c": "C"])
                #expect(cache.localValue(forKey: "c", as: String.self) == "C")
                #expect(cache.localValue(forKey: "d", as: String.self) == "D")
            }
            #expect(try await raw.exists(["dcache:a", "dcache:b"]) == 2, "nothing was deleted in Redis")
            await raw.close()
            // A value stored with the tag afterwards is current.
            try await caches[2].set("a", "A2", tags: ["team:1"])
            for cache in caches {
                await eventually("\(cache.podID) reads the new a") { (try? await cache.get("a", as: String.self)) == "A2" }
            }
        }
    }

    /// A writer that has not heard of an invalidation writes with an old generation: the script
    /// refuses, the writer learns the current one and succeeds.
    @Test func writeWithAnOutdatedGeneration_isRetried() async throws {
        try await withCaches(2, configure: {
            Self.stored(&$0)
            $0.pingInterval = .zero
        }) { caches, server async throws in
            try await caches[0].set("k", "v1", tags: ["t"])
            let raw = try await rawClient(server)
            // Moves the generation behind the instances' backs (no event).
            _ = try await raw.send("HINCRBY", "dcache:__tags", "t", "5")
            try await caches[0].set("k", "v2", tags: ["t"])
            await eventually("the other instance reads v2") { (try? await caches[1].get("k", as: String.self)) == "v2" }
            let stored = try #require(try await raw.get("dcache:k"))
            #expect(String(decoding: stored, as: UTF8.self).contains("#3#t=5:"))
            await raw.close()
        }
    }

    @Test func badTags_areTypedErrors() async throws {
        try await withCaches(1) { caches, _ async throws in
            for bad in ["", "a,b", "a=b", "a\"b", "with space", String(repeating: "x", count: 257)] {
                await #expect(throws: CacheError.self) { try await caches[0].set("k", "v", tags: [bad]) }
                await #expect(throws: CacheError.self) { try await caches[0].invalidate(tag: bad) }
            }
            let many = (0...TagRegistry.maximumTagsPerValue).map { "t\($0)" }
            await #expect(throws: CacheError.self) { try await caches[0].set("k", "v", tags: many) }
        }
        try await withCaches(1, configure: { $0.wireFormat = .reference; $0.namespace = "ref" }) { caches, _ async throws in
            _ = await #expect(throws: CacheError.self) { try await caches[0].set("k", "v", tags: ["t"]) }
        }
    }

    @Test func hostileTagHeaders_readAsUnversionedValues() {
        for header in [
            "5@0#5#t=abc:x", "5@0#3#=1:x", "5@0#19#t=99999999999999999:x", "5@0#3#t=1", "5@0#4#t=1,:x", "5@0#4#t\"=1:x",
            "5@0#t=1:x", "5@0#99#t=1:x", "5@0#0#:x", "5@0#3t=1:x", "5@0#2#t=1:x",
        ] {
            let parsed = RedisLayout.parseStored(Array(header.utf8))
            #expect(parsed.version == 0 && parsed.bytes == Array(header.utf8), "\(header)")
        }
        let good = RedisLayout.parseStored(Array("5@0#11#a:1=1,b#=22:x:z".utf8))
        #expect(good.version == 5 && good.bytes == Array("x:z".utf8))
        #expect(good.tags == [TagGeneration(tag: "a:1", generation: 1), TagGeneration(tag: "b#", generation: 22)])
        // Events: a bad tags field makes the event malformed.
        #expect(throws: (any Error).self) {
            try SyncedCache.Event(json: Array(#"{"key":"k","sender":"s","action":"set","value":"eA==","version":3,"tags":"x=y"}"#.utf8))
        }
    }
}
