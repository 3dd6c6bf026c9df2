// The data the API serves, and the slow source of truth behind the cache.

import Hummingbird

/// A product, as stored in the cache and returned as JSON.
struct Product: Codable, Sendable, ResponseEncodable {
    var id: Int
    var name: String
    var priceCents: Int
}

/// Stands in for a database: 5 ms per read, which is what the cache saves on every hit.
struct ProductDatabase: Sendable {
    let productCount: Int

    func product(_ id: Int) async throws -> Product {
        try await Task.sleep(for: .milliseconds(5))
        return Product(id: id, name: "Product \(id)", priceCents: 1_000 + id)
    }
}
