// custom-config: the options worth tuning for production, each with the reason to change it.
//
// Every option has the reference library's default (see `SyncedCache.Options`); the values below
// are examples, not recommendations for every service.

import DistributedCache
import ExampleSupport
import Synchronization

struct Product: Codable, Sendable {
    var id: Int
    var name: String
    var price: Int
}

/// Collects what `onError` reports. The callback runs on whichever thread met the error (often the
/// cache's event loop), so it must be quick and thread-safe.
final class ErrorLog: Sendable {
    private let errors = Mutex<[CacheError]>([])
    func record(_ error: CacheError) { errors.withLock { $0.append(error) } }
    var all: [CacheError] { errors.withLock { $0 } }
}

await runExample("Custom configuration") { redisAddress in
    let errorLog = ErrorLog()
    var options = SyncedCache.Options()

    // Connection. A short timeout fails fast when Redis is slow instead of piling up requests;
    // reads of keys held locally keep working meanwhile.
    options.redisAddress = redisAddress
    options.operationTimeout = .milliseconds(500)

    // Names. A namespace per service (or per version of a value schema) keeps keys and clear()
    // apart; a channel per namespace keeps unrelated events away.
    options.namespace = "examples:custom-config"
    options.invalidationChannel = "examples:custom-config:events"

    // Local cache: sized in entries (cost 1 each, bookkeeping ignored).
    options.localCache = .lfu
    options.localCacheConfig = .init(numCounters: 1_000_000, maxCost: 100_000, ignoreInternalCost: true)

    // Values: MessagePack is smaller and faster than JSON; limits refuse runaway values and keys;
    // a default TTL bounds how long anything lives, in Redis and locally.
    options.serializationFormat = .msgpack
    options.maximumValueSize = 64 * 1024
    options.maximumKeySize = 256
    options.defaultTTL = .seconds(600)

    // Recovery after the channel was interrupted: replay drops exactly the keys written meanwhile
    // (from a capped stream in Redis) instead of clearing the whole local cache. Pings detect a
    // silent channel within pingTimeout; local entries are then served for at most
    // maximumStaleness before reads go to Redis.
    options.resyncStrategy = .replay
    options.replayStreamLength = 10_000
    options.pingInterval = .milliseconds(500)
    options.pingTimeout = .milliseconds(1_500)
    options.maximumStaleness = .seconds(2)

    // Behaviour. Write values to Redis on set, so that instances started later (or that evicted
    // a key) find them there. Report errors to your monitoring.
    options.readerCanSetToRedis = true
    options.onError = { error in errorLog.record(error) }
    options.enableMetrics = false  // no swift-metrics backend here (see heavy-read-api)

    options.podID = "writer"
    let writer = try await SyncedCache(options: options)

    // The reader decodes values once, when their set event arrives, instead of on first read,
    // and keeps no local copy of drafts (returning nil drops the key locally). The hook sees every
    // set event and must return the value to keep: it has to know each key's type.
    var readerOptions = options
    readerOptions.podID = "reader"
    readerOptions.onSetLocalCache = { event in
        let marshaller = MessagePackMarshaller()
        if event.key.hasPrefix("draft:") { return nil }
        if event.key.hasPrefix("product:") { return try marshaller.unmarshal(Product.self, from: event.value) }
        return try marshaller.unmarshal(String.self, from: event.value)
    }
    let reader = try await SyncedCache(options: readerOptions)
    print("Two instances; \(options.serializationFormat.rawValue) values, resync by \(options.resyncStrategy.rawValue).")

    func eventsOnReader() -> UInt64 { reader.stats.eventsApplied }

    section("1. onSetLocalCache: products decoded on arrival, drafts not kept locally")
    var before = eventsOnReader()
    try await writer.set("product:1", Product(id: 1, name: "Kettle", price: 2_999))
    try await writer.set("draft:2", Product(id: 2, name: "Toaster (draft)", price: 0))
    _ = await waitUntil { eventsOnReader() >= before + 2 }
    print("  reader holds product:1 locally: \(reader.localValue(forKey: "product:1", as: Product.self) != nil)")
    print("  reader holds draft:2 locally:   \(reader.localValue(forKey: "draft:2", as: Product.self) != nil)")

    section("2. readerCanSetToRedis: an instance started later finds the value in Redis")
    options.podID = "latecomer"
    let latecomer = try await SyncedCache(options: options)
    let found = try await latecomer.get("product:1", as: Product.self)
    print("  latecomer get product:1 -> \(found?.name ?? "nil")   (remote hits: \(latecomer.stats.remoteHits))")

    section("3. A per-call TTL overrides defaultTTL, on every instance and in Redis")
    before = eventsOnReader()
    try await writer.set("flash-sale", "30% off", ttl: .milliseconds(200))
    _ = await waitUntil { eventsOnReader() > before }
    print("  reader, at once:      \(reader.localValue(forKey: "flash-sale", as: String.self) ?? "nil")")
    try await Task.sleep(for: .milliseconds(300))
    let expired = try await reader.get("flash-sale", as: String.self)
    print("  reader, 300 ms later: \(expired ?? "nil")   (gone locally and in Redis)")

    section("4. Limits refuse oversized values and keys before anything is written")
    do {
        try await writer.set("catalogue", [UInt8](repeating: 0, count: 100_000))
    } catch {
        print("  \(error)")
    }
    do {
        try await writer.set(String(repeating: "k", count: 300), 1)
    } catch {
        print("  \(error)")
    }

    section("5. onError hears about failures, including those met in the background")
    _ = try? await latecomer.get("product:1", as: [String].self)  // stored as a Product
    // On the reader's event loop: its hook cannot decode this value as a Product.
    try await writer.set("product:2", "not a product")
    _ = await waitUntil { reader.stats.errors > 0 }
    for error in errorLog.all { print("  onError: \(error)") }

    for cache in [writer, reader, latecomer] { await cache.close() }
}
