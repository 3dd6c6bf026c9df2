import DistributedCache
import InMemoryTracing
import Testing
import TestSupport
import Tracing

/// Spans of Redis operations: one client span per operation that goes to Redis, with the
/// operation, the namespace and the key count, never a key or a value; none for a local hit.
@Suite struct TracingTests {
    @Test func redisOperations_makeSpans_localHitsDoNot() async throws {
        try await withRedisServer { server in
            let tracer = InMemoryTracer()
            let cache = try await SyncedCache(options: testOptions(server, pod: "traced") {
                $0.tracer = tracer
                $0.readerCanSetToRedis = true
            })
            try await cache.set("user:1", "ada")
            #expect(try await cache.get("user:1", as: String.self) == "ada", "a local hit")
            try await cache.delete("user:1")
            #expect(try await cache.get("user:1", as: String.self) == nil, "a remote miss")
            _ = try await cache.getMany(["a", "b", "c"], as: String.self)
            try await cache.setMany(["a": "1", "b": "2"])
            await cache.close()

            let spans = tracer.finishedSpans
            #expect(spans.map(\.operationName) == ["dcache.set", "dcache.delete", "dcache.get", "dcache.getMany", "dcache.setMany"])
            for span in spans {
                #expect(span.kind == .client)
                #expect(span.attributes.get("db.system.name") == .string("redis"))
                #expect(span.attributes.get("dcache.namespace") == .string(cache.options.effectiveNamespace))
                var names: Set<String> = []
                span.attributes.forEach { name, _ in names.insert(name) }
                #expect(names == ["db.system.name", "db.operation.name", "dcache.namespace", "dcache.key_count"], "no key, no value")
            }
            #expect(spans.first { $0.operationName == "dcache.getMany" }?.attributes.get("dcache.key_count") == .int64(3))
            #expect(spans.first { $0.operationName == "dcache.setMany" }?.attributes.get("dcache.key_count") == .int64(2))
        }
    }

    @Test func failedOperation_recordsTheErrorOnItsSpan() async throws {
        try await withRedisServer { server in
            let tracer = InMemoryTracer()
            let cache = try await SyncedCache(options: testOptions(server, pod: "traced") {
                $0.tracer = tracer
                $0.operationTimeout = .milliseconds(300)
            })
            server.kill()
            await #expect(throws: CacheError.self) { try await cache.set("k", "v") }
            await cache.close()
            let span = try #require(tracer.finishedSpans.first { $0.operationName == "dcache.set" })
            #expect(!span.errors.isEmpty)
            #expect(span.status?.code == .error)
        }
    }

    @Test func noTracer_makesNoSpans() async throws {
        try await withRedisServer { server in
            let cache = try await SyncedCache(options: testOptions(server, pod: "untraced"))
            try await cache.set("k", "v")
            #expect(try await cache.get("k", as: String.self) == "v")
            await cache.close()
        }
    }
}
