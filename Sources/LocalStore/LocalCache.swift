// LocalCache: the protocol of an in-process cache, built-in or user-supplied.

/// An in-process key-value cache with bounded size: the local level of a two-level cache.
///
/// The library ships ``ShardedCache`` (W-TinyLFU or LRU policy); applications may plug their own
/// type into `SyncedCache` through this protocol, as the reference library's `LocalCache`
/// interface allows.
///
/// Conformances must be thread-safe: every method may be called from any thread, concurrently.
/// For a single key, operations must be linearizable: a `value(forKey:)` that starts after a
/// `setValue` returned sees that value or a newer one (unless it was evicted or expired).
///
/// A conformance is correct when this test passes (shown for `String` values):
/// ```swift
/// let cache = makeCache()                       // capacity >= 2
/// #expect(cache.setValue("a", forKey: "k", cost: 1, ttl: nil))
/// #expect(cache.value(forKey: "k") == "a")
/// #expect(cache.setValue("b", forKey: "k", cost: 1, ttl: nil))   // replaces
/// #expect(cache.value(forKey: "k") == "b")
/// #expect(cache.removeValue(forKey: "k") == true)
/// #expect(cache.value(forKey: "k") == nil)
/// cache.setValue("c", forKey: "t", cost: 1, ttl: .milliseconds(20))
/// try await Task.sleep(for: .milliseconds(40))
/// #expect(cache.value(forKey: "t") == nil)         // never returned after its deadline
/// cache.setValue("d", forKey: "x", cost: 1, ttl: nil)
/// cache.removeAll()
/// #expect(cache.value(forKey: "x") == nil)
/// ```
public protocol LocalCache<Value>: AnyObject, Sendable {
    /// The type of the cached values.
    associatedtype Value: Sendable

    /// Returns the value for `key`, or nil when it is absent or expired.
    ///
    /// Must never return a value whose time to live has run out.
    func value(forKey key: String) -> Value?

    /// Stores `value` for `key`, replacing any previous value.
    /// - Parameters:
    ///   - value: the value.
    ///   - key: the key.
    ///   - cost: the entry's share of the capacity (1 when the capacity counts entries).
    ///   - ttl: how long the entry may be returned; nil uses the cache's default (often: forever).
    /// - Returns: false when the cache refused to keep the value (for example an admission policy
    ///   rejected it, or its cost exceeds the capacity); the value is then not stored.
    @discardableResult
    func setValue(_ value: Value, forKey key: String, cost: Int, ttl: Duration?) -> Bool

    /// Stores `value` only if `shouldReplace(current)` returns true, atomically with respect to
    /// other writers of the same key. `current` is the value held now (nil if none or expired).
    ///
    /// The distributed cache uses this to never replace a newer version with an older one.
    /// A default implementation (check, then set) is provided for conformances that cannot do it
    /// atomically; it is exact only without concurrent writers of the same key.
    /// - Returns: true when `value` was stored.
    @discardableResult
    func setValue(
        _ value: Value, forKey key: String, cost: Int, ttl: Duration?, when shouldReplace: (Value?) -> Bool
    ) -> Bool

    /// Removes the value for `key`.
    /// - Returns: true when a value was removed.
    @discardableResult
    func removeValue(forKey key: String) -> Bool

    /// Removes the value for `key` only if `shouldRemove(current)` returns true (atomically, like
    /// the conditional `setValue`; a check-then-remove default is provided).
    /// - Returns: true when a value was removed.
    @discardableResult
    func removeValue(forKey key: String, when shouldRemove: (Value) -> Bool) -> Bool

    /// Removes every value.
    func removeAll()

    /// Releases the cache's resources. Afterwards the cache may refuse to store values; reads
    /// return nil. Idempotent.
    func close()

    /// A snapshot of the cache's counters.
    var metrics: LocalCacheMetrics { get }
}

extension LocalCache {
    /// Check-then-set: exact only without concurrent writers of the same key.
    @discardableResult
    public func setValue(
        _ value: Value, forKey key: String, cost: Int, ttl: Duration?, when shouldReplace: (Value?) -> Bool
    ) -> Bool {
        guard shouldReplace(self.value(forKey: key)) else { return false }
        return setValue(value, forKey: key, cost: cost, ttl: ttl)
    }

    /// Check-then-remove: exact only without concurrent writers of the same key.
    @discardableResult
    public func removeValue(forKey key: String, when shouldRemove: (Value) -> Bool) -> Bool {
        guard let current = self.value(forKey: key), shouldRemove(current) else { return false }
        return removeValue(forKey: key)
    }
}

/// Counters of a local cache. All counts are since the cache was created.
public struct LocalCacheMetrics: Sendable, Equatable, Codable {
    /// Lookups that returned a value.
    public var hits: UInt64 = 0
    /// Lookups that returned nil.
    public var misses: UInt64 = 0
    /// Values stored (including replacements).
    public var sets: UInt64 = 0
    /// Entries evicted to stay within the capacity.
    public var evictionsBySize: UInt64 = 0
    /// Entries removed because their time to live ran out.
    public var evictionsByExpiry: UInt64 = 0
    /// Entries removed by `removeValue` or `removeAll`.
    public var explicitRemovals: UInt64 = 0
    /// New entries the admission policy turned away (also counted in `evictionsBySize`).
    public var admissionsRejected: UInt64 = 0
    /// Entries held now.
    public var entryCount: Int = 0
    /// Sum of the held entries' costs now.
    public var totalCost: Int = 0

    /// Creates a metrics value; every counter defaults to 0.
    public init(
        hits: UInt64 = 0, misses: UInt64 = 0, sets: UInt64 = 0, evictionsBySize: UInt64 = 0,
        evictionsByExpiry: UInt64 = 0, explicitRemovals: UInt64 = 0, admissionsRejected: UInt64 = 0,
        entryCount: Int = 0, totalCost: Int = 0
    ) {
        self.hits = hits
        self.misses = misses
        self.sets = sets
        self.evictionsBySize = evictionsBySize
        self.evictionsByExpiry = evictionsByExpiry
        self.explicitRemovals = explicitRemovals
        self.admissionsRejected = admissionsRejected
        self.entryCount = entryCount
        self.totalCost = totalCost
    }

    /// hits / (hits + misses), or 0 before the first lookup.
    public var hitRatio: Double {
        let lookups = hits + misses
        return lookups == 0 ? 0 : Double(hits) / Double(lookups)
    }
}
