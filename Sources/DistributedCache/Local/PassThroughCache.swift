import LocalStore

/// The local cache of ``SyncedCache/LocalCacheKind/passThrough``: it stores nothing, so every
/// read misses and goes to Redis, and no fill costs anything.
final class PassThroughCache: LocalCache, Sendable {
    func value(forKey key: String) -> LocalValue? { nil }
    func setValue(_ value: LocalValue, forKey key: String, cost: Int, ttl: Duration?) -> Bool { false }
    func removeValue(forKey key: String) -> Bool { false }
    func removeAll() {}
    func close() {}
    var metrics: LocalCacheMetrics { LocalCacheMetrics() }
}
