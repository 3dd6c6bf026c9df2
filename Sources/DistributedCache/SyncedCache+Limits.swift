// The bounds of every number the sync protocol carries.
//
// Events and stored values arrive from the network, and anyone who can PUBLISH on the channel can
// send any bytes. So every number in them is checked against a bound before it is used, and a
// value outside it makes the event malformed (counted in `eventsMalformed`, skipped) rather than
// reaching an arithmetic operation that could trap. Writers are held to the same bounds, so that
// nothing this library publishes is refused by another instance of it.

extension SyncedCache {
    /// The longest time to live a write may ask for, and an event may carry: 100 years (of
    /// 365.25 days).
    ///
    /// Longer TTLs are refused with ``CacheError/invalidOption(name:reason:)`` when writing, and a
    /// received event with a longer (or a non-positive) `ttl` is malformed. 100 years is far past
    /// any useful expiry, while its millisecond count (3.2 × 10^12) leaves room for Redis's
    /// absolute expiry time (now plus TTL, in milliseconds) and for nanosecond deadlines, which
    /// reach 2^63 only after 292 years.
    public static let maximumTTL: Duration = .seconds(100 * 36_525 * 864)

    /// The largest version a write can have: 2^53.
    ///
    /// Versions are counted by a Lua script in Redis, where numbers are IEEE doubles that hold
    /// every integer exactly only up to 2^53. A received event with a larger version is
    /// malformed; a stored value whose header holds one is treated as unversioned.
    public static let maximumVersion: UInt64 = 1 << 53
}
