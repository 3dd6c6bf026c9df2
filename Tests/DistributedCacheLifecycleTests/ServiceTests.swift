import DistributedCache
import DistributedCacheLifecycle
import Logging
import ServiceLifecycle
import Testing
import TestSupport

/// SyncedCache inside a ServiceGroup: serving while the group runs, closed when it shuts down.
@Suite struct ServiceTests {
    @Test func gracefulShutdown_closesTheCache() async throws {
        try await withRedisServer { server in
            var options = SyncedCache.Options()
            options.redisAddress = server.address
            options.enableMetrics = false
            let cache = try await SyncedCache(options: options)
            let group = ServiceGroup(services: [cache], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            try await cache.set("k", "v")
            #expect(try await cache.get("k", as: String.self) == "v")
            #expect(!cache.isClosed)
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(cache.isClosed)
        }
    }
}
