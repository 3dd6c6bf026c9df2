// LocalLayer: the instance's local cache, built-in or custom, behind one switch.
//
// The built-in case is the storage core itself (EntryStore), holding flat typed entries
// (LocalEntries.swift); its read path is inlinable and specialized into the caller for the value
// type, so a typed hit is the probe, one class comparison and a copy of the value. Custom caches
// store `LocalValue`s through the `LocalCache` protocol and pay a protocol call and a dynamic
// cast. A switch rather than an existential keeps the common case free of dynamic dispatch.

import CSupport
import LocalStore

@usableFromInline
enum LocalLayer: Sendable {
    case builtIn(EntryStore)
    case custom(any LocalCache<LocalValue>)

    // MARK: - Reads

    /// The value for `key` when the entry holds exactly a `Value`. Records a read. nil: no
    /// entry; `.some(nil)`: an entry in another form (bytes, or another type), which the slow
    /// path reads again with `peekAny` (so that the fast path returns no enum and builds nothing).
    @inlinable @inline(__always)
    func read<Value: Codable & Sendable>(_ key: String, as type: Value.Type) -> Value?? {
        switch self {
        case .builtIn(let store):
            return store.withEntry(forKey: key, hash: store.hash(key)) { entry -> Value? in
                guard Swift.type(of: entry) == VersionedStoreEntry<Value>.self else { return nil }
                return unsafeDowncast(entry, to: VersionedStoreEntry<Value>.self).value
            }
        case .custom(let cache):
            guard let stored = cache.value(forKey: key) else { return nil }
            return .some(stored.decoded(as: type))
        }
    }

    /// The entry for `key` in whatever form it is held, without recording a read.
    @usableFromInline
    func peekAny(_ key: String) -> LocalValue? {
        switch self {
        case .builtIn(let store): return store.peekEntry(forKey: key, hash: store.hash(key)) { LocalValue.of($0) }
        case .custom(let cache): return cache.value(forKey: key)
        }
    }

    /// The entry for `key` in whatever form it is held, as a `LocalValue`. Records a read. For the
    /// paths that take any type (getBytes); typed reads use `read(_:as:)`.
    func readAny(_ key: String) -> LocalValue? {
        switch self {
        case .builtIn(let store): return store.withEntry(forKey: key, hash: store.hash(key)) { LocalValue.of($0) }
        case .custom(let cache): return cache.value(forKey: key)
        }
    }

    /// Calls `body` with the value for `key` when it is held decoded as exactly `Value`, without
    /// copying it out of the built-in cache (see `SyncedCache.withLocalValue`). Records a read.
    /// Returns nil when the key is absent, and `.some(nil)` when it holds something else.
    @inlinable
    func withValue<Value: Codable & Sendable, Result>(
        _ key: String, as type: Value.Type, _ body: (borrowing Value) -> Result
    ) -> Result?? {
        switch self {
        case .builtIn(let store):
            return store.withEntry(forKey: key, hash: store.hash(key)) { entry -> Result? in
                guard Swift.type(of: entry) == VersionedStoreEntry<Value>.self else { return nil }
                return body(unsafeDowncast(entry, to: VersionedStoreEntry<Value>.self).value)
            }
        case .custom(let cache):
            guard let stored = cache.value(forKey: key) else { return nil }
            guard let value = stored.decoded(as: type) else { return .some(nil) }
            return body(value)
        }
    }

    /// The monotonic deadline (ns; `Int64.max`: none) the time to live of the entry for `key`
    /// sets (not the idle one), without recording a read and without allocating; nil when absent.
    @usableFromInline
    func expiry(ofKey key: String) -> Int64? {
        switch self {
        case .builtIn(let store):
            return store.peekEntry(forKey: key, hash: store.hash(key)) { store.timeToLiveDeadline(of: $0) }
        case .custom(let cache):
            return cache.value(forKey: key)?.expiresAt
        }
    }

    /// The version of the entry for `key`, without recording a read; nil when absent.
    func version(ofKey key: String) -> UInt64? {
        switch self {
        case .builtIn(let store):
            return store.peekEntry(forKey: key, hash: store.hash(key)) { unsafeDowncast($0, to: VersionedEntry.self).version }
        case .custom(let cache):
            return cache.value(forKey: key)?.version
        }
    }

    // MARK: - Writes

    /// Stores a decoded value unless `shouldReplace` refuses the current entry's version (nil:
    /// none). Atomic for the built-in cache; check-then-set for custom ones (see LocalCache).
    /// - Parameter expiresAt: monotonic deadline (ns), `Int64.max` for none.
    @discardableResult
    func store<Value: Codable & Sendable>(
        _ key: String, _ value: Value, version: UInt64, expiresAt: Int64, when shouldReplace: (UInt64?) -> Bool
    ) -> Bool {
        switch self {
        case .builtIn(let store):
            let entry = VersionedStoreEntry(
                key: key, value: value, keyHash: store.hash(key), weight: store.weight(forCost: 1), expiresAt: expiresAt,
                version: version)
            return store.insert(entry) { shouldReplace($0.map { unsafeDowncast($0, to: VersionedEntry.self).version }) }
        case .custom(let cache):
            let stored = LocalValue(version: version, payload: .decoded(DecodedBox(value)), expiresAt: expiresAt)
            return Self.store(stored, key, in: cache, when: shouldReplace)
        }
    }

    /// Stores a value whose type is known only at run time (`onSetLocalCache`'s result); as
    /// `store(_:_:version:...)`.
    @discardableResult
    func storeDecoded(
        _ key: String, _ value: any Codable & Sendable, version: UInt64, expiresAt: Int64, when shouldReplace: (UInt64?) -> Bool
    ) -> Bool {
        func open<Value: Codable & Sendable>(_ value: Value) -> Bool {
            store(key, value, version: version, expiresAt: expiresAt, when: shouldReplace)
        }
        return open(value)
    }

    /// Stores marshalled bytes (decoded on their first typed read); as `store(_:_:version:...)`.
    @discardableResult
    func storeEncoded(
        _ key: String, _ bytes: [UInt8], version: UInt64, expiresAt: Int64, when shouldReplace: (UInt64?) -> Bool
    ) -> Bool {
        switch self {
        case .builtIn(let store):
            let entry = VersionedStoreEntry(
                key: key, value: Encoded(bytes), keyHash: store.hash(key), weight: store.weight(forCost: 1),
                expiresAt: expiresAt, version: version)
            return store.insert(entry) { shouldReplace($0.map { unsafeDowncast($0, to: VersionedEntry.self).version }) }
        case .custom(let cache):
            let stored = LocalValue(version: version, payload: .encoded(bytes), expiresAt: expiresAt)
            return Self.store(stored, key, in: cache, when: shouldReplace)
        }
    }

    /// Replaces `previous` by the same value decoded (same version, same deadline), only if
    /// `previous` is still what the cache holds (nothing newer arrived meanwhile).
    func replace<Value: Codable & Sendable>(_ previous: LocalValue, forKey key: String, withDecoded value: Value) {
        switch self {
        case .builtIn(let store):
            guard let origin = previous.origin else { return }
            let entry = VersionedStoreEntry(
                key: key, value: value, keyHash: origin.keyHash, weight: store.weight(forCost: 1),
                expiresAt: previous.expiresAt, version: previous.version)
            // The same value in another form: no removal to report.
            entry.replacesSilently = true
            store.insert(entry) { $0 === origin }
        case .custom(let cache):
            let decoded = LocalValue(version: previous.version, payload: .decoded(DecodedBox(value)), expiresAt: previous.expiresAt)
            cache.setValue(decoded, forKey: key, cost: 1, ttl: previous.remainingTTL) { $0 === previous }
        }
    }

    /// A custom cache's store, with the deadline turned back into a time to live.
    private static func store(
        _ value: LocalValue, _ key: String, in cache: any LocalCache<LocalValue>, when shouldReplace: (UInt64?) -> Bool
    ) -> Bool {
        if let remaining = value.remainingTTL, remaining <= .zero { return false }
        return cache.setValue(value, forKey: key, cost: 1, ttl: value.remainingTTL) { shouldReplace($0?.version) }
    }

    /// Removes the entry for `key` if `shouldRemove` approves its version.
    @discardableResult
    /// - Parameter cause: what ``SyncedCache/Options/onRemoval`` is told: `.explicit` for this
    ///   instance's own deletes, `.invalidated` for changes made elsewhere.
    func remove(_ key: String, cause: RemovalCause = .explicit, when shouldRemove: (UInt64) -> Bool) -> Bool {
        switch self {
        case .builtIn(let store):
            return store.remove(key: key, hash: store.hash(key), cause: cause) {
                shouldRemove(unsafeDowncast($0, to: VersionedEntry.self).version)
            }
        case .custom(let cache):
            return cache.removeValue(forKey: key) { shouldRemove($0.version) }
        }
    }

    func removeAll(cause: RemovalCause = .explicit) {
        switch self {
        case .builtIn(let store): store.removeAll(cause: cause)
        case .custom(let cache): cache.removeAll()
        }
    }

    func close() {
        switch self {
        case .builtIn(let store): store.close()
        case .custom(let cache): cache.close()
        }
    }

    var metrics: LocalCacheMetrics {
        switch self {
        case .builtIn(let store): return store.metrics
        case .custom(let cache): return cache.metrics
        }
    }

    /// Every key with its value's version, for revalidation; nil when the cache cannot list
    /// its keys (custom caches), in which case a resync clears instead.
    func snapshot() -> [(key: String, version: UInt64)]? {
        switch self {
        case .builtIn(let store):
            var entries: [(key: String, version: UInt64)] = []
            store.forEachEntry { entries.append(($0.key, unsafeDowncast($0, to: VersionedEntry.self).version)) }
            return entries
        case .custom:
            return nil
        }
    }
}
