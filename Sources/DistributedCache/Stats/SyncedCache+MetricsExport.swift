// Exporting the statistics through swift-metrics, once a second, off the hot path entirely.

import Metrics

extension SyncedCache {
    /// Exports the statistics through swift-metrics once a second: counters advance by the
    /// difference since the last export, gauges are set. Off the hot path entirely.
    func metricsLoop() async {
        let dimensions = [("pod", podID)]
        func counter(_ name: String) -> Counter { Counter(label: "dcache_\(name)_total", dimensions: dimensions) }
        let exported: [(KeyPath<Stats, UInt64>, Counter)] = [
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
        let size = Gauge(label: "dcache_local_entries", dimensions: dimensions)
        let healthy = Gauge(label: "dcache_channel_healthy", dimensions: dimensions)
        var previous = Stats()
        while !Task.isCancelled && !isClosed {
            let now = stats
            for (path, metric) in exported where now[keyPath: path] > previous[keyPath: path] {
                metric.increment(by: Int64(now[keyPath: path] - previous[keyPath: path]))
            }
            size.record(now.localSize)
            healthy.record(health.isHealthy ? 1 : 0)
            previous = now
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
