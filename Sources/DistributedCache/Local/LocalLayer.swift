// LocalLayer: the instance's local cache, built-in or custom, behind one switch.
//
// The built-in case is a concrete generic class, so its inlinable read path is specialized into
// the caller; only custom caches pay a protocol call. A switch rather than an existential keeps
// the common case free of dynamic dispatch (an indirect call costs a retpoline here).

import LocalStore

@usableFromInline
enum LocalLayer: Sendable {
    case builtIn(ShardedCache<LocalValue>)
    case custom(any LocalCache<LocalValue>)

    @inlinable
    func value(forKey key: String) -> LocalValue? {
        switch self {
        case .builtIn(let cache): return cache.value(forKey: key)
        case .custom(let cache): return cache.value(forKey: key)
        }
    }

    /// Stores `value` unless `shouldReplace` refuses the current one (atomically for the
    /// built-in cache; check-then-set for custom ones, see LocalCache).
    @discardableResult
    func setValue(
        _ value: LocalValue, forKey key: String, ttl: Duration?, when shouldReplace: (LocalValue?) -> Bool
    ) -> Bool {
        switch self {
        case .builtIn(let cache): return cache.setValue(value, forKey: key, cost: 1, ttl: ttl, when: shouldReplace)
        case .custom(let cache): return cache.setValue(value, forKey: key, cost: 1, ttl: ttl, when: shouldReplace)
        }
    }

    @discardableResult
    func removeValue(forKey key: String, when shouldRemove: (LocalValue) -> Bool) -> Bool {
        switch self {
        case .builtIn(let cache): return cache.removeValue(forKey: key, when: shouldRemove)
        case .custom(let cache): return cache.removeValue(forKey: key, when: shouldRemove)
        }
    }

    func removeAll() {
        switch self {
        case .builtIn(let cache): cache.removeAll()
        case .custom(let cache): cache.removeAll()
        }
    }

    func close() {
        switch self {
        case .builtIn(let cache): cache.close()
        case .custom(let cache): cache.close()
        }
    }

    var metrics: LocalCacheMetrics {
        switch self {
        case .builtIn(let cache): return cache.metrics
        case .custom(let cache): return cache.metrics
        }
    }

    /// Every key with its value's version, for revalidation; nil when the cache cannot list
    /// its keys (custom caches), in which case a resync clears instead.
    func snapshot() -> [(key: String, version: UInt64)]? {
        switch self {
        case .builtIn(let cache): return cache.snapshot().map { ($0.key, $0.value.version) }
        case .custom: return nil
        }
    }
}
