// SyncedCache as a swift-service-lifecycle Service.
//
// Like the database and Redis clients of the Swift server ecosystem, the cache is created first
// (it connects and subscribes in its initializer, so a misconfiguration fails the start) and then
// handed to a ServiceGroup, which runs it next to the application: `run()` returns when the group
// shuts down gracefully (SIGTERM, or another service finishing), after closing the cache, so the
// application's last requests are served and in-flight commands finish within their timeout.

import DistributedCache
import ServiceLifecycle

extension SyncedCache: Service {
    /// Waits for the service group's graceful shutdown (or cancellation), then closes the cache.
    ///
    /// ```swift
    /// let cache = try await SyncedCache(options: .fromEnvironment())
    /// let group = ServiceGroup(services: [cache, httpServer], gracefulShutdownSignals: [.sigterm], logger: logger)
    /// try await group.run()
    /// ```
    public func run() async throws {
        // Returns at graceful shutdown; throws CancellationError when the group cancels us.
        try? await gracefulShutdown()
        await close()
    }
}
