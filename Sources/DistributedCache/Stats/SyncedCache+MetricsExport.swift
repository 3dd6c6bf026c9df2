// Exporting the statistics through swift-metrics, once a second, off the hot path entirely.

import Metrics
import Primitives

extension SyncedCache {
    /// Exports the statistics through swift-metrics once a second: counters advance by the
    /// difference since the last export, gauges are set. Off the hot path entirely.
    func startMetricsExport() -> Task<Void, Never> {
        let exporter = MetricsExporter(podID: podID)
        return repeating(every: .seconds(1)) { cache in exporter.export(cache.stats, healthy: cache.health.isHealthy) }
    }
}

/// The swift-metrics counters and gauges of one instance, and what it exported last.
private final class MetricsExporter: Sendable {
    private let exported: [(KeyPath<SyncedCache.Stats, UInt64> & Sendable, Counter)]
    private let size: Gauge
    private let healthy: Gauge
    private let previous = Locked(SyncedCache.Stats())

    init(podID: String) {
        let dimensions = [("pod", podID)]
        func counter(_ name: String) -> Counter { Counter(label: "dcache_\(name)_total", dimensions: dimensions) }
        exported = [
            (\.localHits, counter("local_hits")), (\.localMisses, counter("local_misses")),
            (\.remoteHits, counter("remote_hits")), (\.remoteMisses, counter("remote_misses")),
            (\.sets, counter("sets")), (\.deletes, counter("deletes")), (\.clears, counter("clears")),
            (\.eventsReceived, counter("events_received")), (\.eventsApplied, counter("events_applied")),
            (\.eventsIgnored, counter("events_ignored")), (\.eventsMalformed, counter("events_malformed")),
            (\.eventsRejected, counter("events_rejected")),
            (\.invalidations, counter("invalidations")), (\.errors, counter("errors")), (\.resyncs, counter("resyncs")),
            (\.staleReads, counter("stale_reads")), (\.loads, counter("loads")),
            (\.forgedVersions, counter("forged_versions")),
            (\.trackingInvalidations, counter("tracking_invalidations")), (\.refreshes, counter("refreshes")),
            (\.loaderTimeouts, counter("loader_timeouts")), (\.removalsDropped, counter("removals_dropped")),
        ]
        size = Gauge(label: "dcache_local_entries", dimensions: dimensions)
        healthy = Gauge(label: "dcache_channel_healthy", dimensions: dimensions)
    }

    func export(_ now: SyncedCache.Stats, healthy isHealthy: Bool) {
        let before = previous.withLock { previous in
            defer { previous = now }
            return previous
        }
        for (path, metric) in exported where now[keyPath: path] > before[keyPath: path] {
            metric.increment(by: Int64(now[keyPath: path] - before[keyPath: path]))
        }
        size.record(now.localSize)
        healthy.record(isHealthy ? 1 : 0)
    }
}
