// heavy-read-api: an HTTP API whose reads are served by the cache, with Prometheus metrics.
//
// The shape of a read-heavy service (a catalogue, a feature-flag or pricing service): every pod
// keeps hot data in its local cache and answers reads from memory, while writes made anywhere
// reach every pod through Redis. Here one process plays an API pod and an admin instance that
// changes a price while the API is under load.
//
//   GET /products/{id}   a product (getOrLoad: local cache, else Redis, else the "database")
//   GET /stats           the API pod's cache counters, as JSON
//   GET /metrics         Prometheus text: dcache_* series and Hummingbird's HTTP metrics
//
// By default it load-tests itself over loopback for a few seconds and exits. With --serve it
// listens on 127.0.0.1:8080 (or $PORT) until Ctrl-C.

import Configuration
import DistributedCache
import DistributedCacheConfiguration
import DistributedCacheLifecycle
import ExampleSupport
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

let serve = CommandLine.arguments.contains("--serve")
let database = ProductDatabase(productCount: 1_000)

// swift-metrics backend first: the cache creates its counters when it starts.
let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

await runExample("Heavy-read API: Hummingbird + cache + Prometheus") { redisAddress in
    // Configured as the rest of a Swift server is, through swift-configuration: the reference's
    // environment variables first (the Kubernetes example sets them from a ConfigMap and the
    // pod's name), then this example's defaults for what they leave unset.
    let config = ConfigReader(providers: [
        EnvironmentVariablesProvider(),
        InMemoryProvider(name: "example defaults", values: [
            "cache.redisAddr": ConfigValue(.string(redisAddress), isSecret: false),
            "cache.namespace": "examples:heavy-read-api",
            // Writers must store values in Redis too: getOrLoad does, and a set that did not would
            // leave Redis with the value getOrLoad stored before, for any pod that misses the key.
            "cache.readerCanSetToRedis": true,
            "cache.podId": "api-1",
            // BIND_ADDRESS=0.0.0.0 in a container; loopback otherwise. PORT with --serve.
            "bind.address": "127.0.0.1",
            "port": 8080,
        ]),
    ])
    var options = try SyncedCache.Options(config: config)
    let cache = try await SyncedCache(options: options)
    options.podID = "\(cache.podID)-admin"
    let admin = try await SyncedCache(options: options)
    options.podID = "\(cache.podID)-direct"
    options.localCache = .lru
    options.localCacheConfig.maxSize = 1
    options.enableMetrics = false
    let direct = try await SyncedCache(options: options)

    // Loopback only. Without --serve, port 0: the kernel picks a free one, reported once bound.
    let port = serve ? config.int(forKey: "port", default: 8080) : 0
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: "heavy-read-api")
    logger.logLevel = serve ? .info : .warning
    let app = Application(
        router: makeRouter(cache: cache, direct: direct, database: database, registry: registry),
        configuration: .init(address: .hostname(config.string(forKey: "bind.address", default: "127.0.0.1"), port: port)),
        onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger)

    // The server and the cache run in a ServiceGroup (the cache is a Service through
    // DistributedCacheLifecycle), which shuts both down gracefully on SIGINT or SIGTERM, or when
    // asked to after the load test, in reverse order: the server stops taking requests, then the
    // cache closes.
    let server = ServiceGroup(
        configuration: .init(services: [cache, app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        let baseURL = "http://127.0.0.1:\(await iterator.next() ?? port)"
        if serve {
            print("Serving on \(baseURL): try /products/1, /stats and /metrics. Ctrl-C stops.")
        } else {
            try await runLoadTest(baseURL: baseURL, productCount: database.productCount, cache: cache, admin: admin)
            await server.triggerGracefulShutdown()
        }
        try await group.waitForAll()
    }
    await direct.close()
    await admin.close()
    await cache.close()
}

func runLoadTest(baseURL: String, productCount: Int, cache: SyncedCache, admin: SyncedCache) async throws {
    section("1. Load: 8 concurrent clients, up to 4,000 reads or 3 s, 80 % on 50 popular products")
    // A second in, the admin instance puts product 1 on sale; the API pod gets the new value with
    // the event and serves it from then on.
    let sale = Task {
        try await Task.sleep(for: .seconds(1))
        try await admin.set("product:1", Product(id: 1, name: "Product 1", priceCents: 1))
    }
    let result = await LoadTest(baseURL: baseURL, productCount: productCount).run()
    try await sale.value
    let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
    print("  \(result.requests) requests in \(result.elapsed.millisecondsText) (\(Int(Double(result.requests) / seconds)) per second), \(result.failures) failed")
    print("  latency p50 \(result.percentile(0.5).millisecondsText), p99 \(result.percentile(0.99).millisecondsText)")

    section("2. The cache did the work")
    let stats = cache.stats
    print("  local misses \(stats.localMisses), of which Redis had \(stats.remoteHits); database loads \(stats.loads)")
    print("  local hits \(stats.localHits) (getOrLoad looks again after a load: one more hit each)")
    let product1 = try await get("\(baseURL)/products/1").body
    print("  GET /products/1 after the sale -> \(product1)")

    section("3. GET /metrics (excerpt; the cache exports once a second)")
    try await Task.sleep(for: .milliseconds(1_100))
    let metrics = try await get("\(baseURL)/metrics").body
    let wanted = ["dcache_local_hits_total{pod=\"api-1\"}", "dcache_loads_total{pod=\"api-1\"}", "dcache_local_entries{pod=\"api-1\"}", "hb_requests"]
    for line in metrics.split(separator: "\n") where wanted.contains(where: { line.hasPrefix($0) }) {
        print("  \(line)")
    }
}
