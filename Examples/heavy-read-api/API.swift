// The HTTP routes: reads served from the cache, a price update, statistics, probes, and
// Prometheus metrics.

import DistributedCache
import Hummingbird
import NIOCore
import Prometheus

/// `GET /stats`: the cache's counters as JSON.
struct StatsResponse: ResponseEncodable {
    var pod: String
    var stats: SyncedCache.Stats
}

func makeRouter(
    cache: SyncedCache, direct: SyncedCache, database: ProductDatabase, registry: PrometheusCollectorRegistry
) -> Router<BasicRequestContext> {
    let router = Router()
    // Request counts and durations per route, into the same registry as the cache's metrics.
    router.add(middleware: MetricsMiddleware())

    // The hot path: a local hit answers from memory; a miss reads Redis, and a key that Redis
    // lacks too is loaded from the database once (getOrLoad guards against a stampede, also
    // across pods) and stored for every pod.
    router.get("products/:id") { _, context -> Product in
        let id = try context.parameters.require("id", as: Int.self)
        guard (1...database.productCount).contains(id) else { throw HTTPError(.notFound) }
        return try await cache.getOrLoad("product:\(id)", as: Product.self) { try await database.product(id) }
    }

    // The same read without a useful local cache (an LRU of one entry, for 1,000 products): a
    // Redis GET on every request, the baseline the cached route is measured against.
    router.get("direct/products/:id") { _, context -> Product in
        let id = try context.parameters.require("id", as: Int.self)
        guard (1...database.productCount).contains(id) else { throw HTTPError(.notFound) }
        return try await direct.getOrLoad("product:\(id)", as: Product.self) { try await database.product(id) }
    }

    // An admin write: a new price, stored in Redis and sent to every pod with the event, so that
    // each serves it from memory at once. (A real service would update its database first.)
    router.put("products/:id/price") { request, context -> Product in
        let id = try context.parameters.require("id", as: Int.self)
        guard (1...database.productCount).contains(id) else { throw HTTPError(.notFound) }
        let body = String(buffer: try await request.body.collect(upTo: 32))
        guard let cents = Int(body.filter { !$0.isWhitespace }), cents >= 0 else {
            throw HTTPError(.badRequest, message: "the body is the price in cents")
        }
        var product = try await cache.getOrLoad("product:\(id)", as: Product.self) { try await database.product(id) }
        product.priceCents = cents
        try await cache.set("product:\(id)", product)
        return product
    }

    router.get("stats") { _, _ in StatsResponse(pod: cache.podID, stats: cache.stats) }

    // Probes: liveness asks only that the process answers (a Redis outage is no reason to restart
    // a pod that keeps serving its local cache); readiness asks the cache whether it trusts its
    // local copies (channel proven, no resync pending).
    router.get("healthz") { _, _ in "ok" }
    router.get("readyz") { _, _ -> Response in
        Response(status: cache.isHealthy ? .ok : .serviceUnavailable)
    }

    // The Prometheus text format. The cache exports its statistics once a second.
    router.get("metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
    return router
}
