// custom-marshaller: MessagePack instead of JSON, and a marshaller of your own wrapped around it.
//
// Every instance sharing a namespace and channel must use the same marshaller: values are
// decoded by whichever instance reads them.

import DistributedCache
import ExampleSupport

struct Order: Codable, Sendable {
    var id: Int
    var customer: String
    var lines: [Line]
    var signature: [UInt8]  // binary: MessagePack stores it as bytes, JSON as an array of numbers

    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int
        var unitPrice: Int
    }
}

await runExample("Custom marshaller: MessagePack, framed with a checksum") { redisAddress in
    let order = Order(
        id: 1_042, customer: "Grace Hopper",
        lines: [.init(sku: "COBOL-101", quantity: 2, unitPrice: 4_999), .init(sku: "NANO-1", quantity: 100, unitPrice: 3)],
        signature: Array(repeating: 0xAB, count: 32))

    section("1. The same order, marshalled three ways")
    let framed = ChecksummedMarshaller(base: MessagePackMarshaller())
    for marshaller in [JSONMarshaller(), MessagePackMarshaller(), framed] as [any Marshaller] {
        let size = try marshaller.marshal(order).count
        print("  \(marshaller.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(size) bytes")
    }

    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:custom-marshaller"
    options.readerCanSetToRedis = true
    // For plain MessagePack, `options.serializationFormat = .msgpack` is enough; a custom
    // marshaller takes precedence over it.
    options.marshaller = framed
    options.podID = "checkout"
    let checkout = try await SyncedCache(options: options)
    options.podID = "shipping"
    let shipping = try await SyncedCache(options: options)

    section("2. checkout stores the order; shipping decodes it (frame checked, then MessagePack)")
    var before = shipping.stats.eventsApplied
    try await checkout.set("order:1042", order)
    _ = await waitUntil { shipping.stats.eventsApplied > before }
    let received = try await shipping.get("order:1042", as: Order.self)
    print("  shipping got order \(received?.id ?? 0) for \(received?.customer ?? "?"), \(received?.lines.count ?? 0) lines")

    section("3. A damaged value is refused, not misread")
    var damaged = try framed.marshal(order)
    damaged[10] ^= 0x01  // one flipped bit inside the payload
    before = shipping.stats.eventsApplied
    try await checkout.setBytes("order:1043", damaged)  // stores bytes as given, bypassing the marshaller
    _ = await waitUntil { shipping.stats.eventsApplied > before }
    do {
        _ = try await shipping.get("order:1043", as: Order.self)
    } catch {
        print("  shipping: \(error)")
    }

    section("4. An instance with another marshaller cannot read these values")
    options.podID = "legacy"
    options.marshaller = nil
    options.serializationFormat = .msgpack
    let legacy = try await SyncedCache(options: options)
    do {
        _ = try await legacy.get("order:1042", as: Order.self)
    } catch {
        print("  legacy (plain msgpack): \(error)")
    }

    for cache in [checkout, shipping, legacy] { await cache.close() }
}
