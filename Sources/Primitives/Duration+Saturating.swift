// Duration+Saturating: the one way this library turns a Duration into integers and back.
//
// Why it exists: `Duration` holds 128 bits (seconds plus attoseconds), while deadlines, Redis
// TTLs and libuv timers are 64-bit nanosecond or millisecond counts. A hand-written conversion
// such as `seconds * 1_000_000_000 + attoseconds / 1_000_000_000` traps on overflow in Swift,
// and one of them crashed every instance of a fleet when a published event carried a TTL of 2^53
// milliseconds. Every conversion in the library goes through these helpers instead, which
// saturate: a value too large for the target type becomes the type's largest value (and a
// negative one its smallest), never a trap. Callers that must reject out-of-range input do so
// with an explicit bound before converting (see `SyncedCache.maximumTTL`); saturation is the
// second line of defence, not the validation.

extension Duration {
    /// The duration in whole nanoseconds, truncated toward zero and clamped to `Int64`'s range.
    @inlinable
    public var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        let (total, sumOverflow) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if sumOverflow { return seconds < 0 ? Int64.min : Int64.max }
        return total
    }

    /// The duration in whole milliseconds, truncated toward zero and clamped to `Int64`'s range.
    @inlinable
    public var saturatingMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        let (total, sumOverflow) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if sumOverflow { return seconds < 0 ? Int64.min : Int64.max }
        return total
    }

    /// Whole milliseconds rounded up (so a positive duration is at least 1), clamped to
    /// `0...Int64.max`: for timers and Redis expiries, where 0 would mean "no time" or be refused.
    @inlinable
    public var saturatingMillisecondsRoundedUp: Int64 {
        guard self > .zero else { return 0 }
        let whole = saturatingMilliseconds
        guard whole < Int64.max else { return Int64.max }
        return self > .milliseconds(whole) ? whole + 1 : whole
    }

    /// The duration in seconds as a floating-point number (for arithmetic such as backoff growth).
    @inlinable
    public var secondsAsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A duration of `seconds`, clamped to ±`Int64.max` nanoseconds (about 292 years); NaN is zero.
    @inlinable
    public init(saturatingSeconds seconds: Double) {
        let nanoseconds = seconds * 1e9
        if nanoseconds.isNaN {
            self = .zero
        } else if nanoseconds >= 9.223_372_036_854_775e18 {
            self = .nanoseconds(Int64.max)
        } else if nanoseconds <= -9.223_372_036_854_775e18 {
            self = .nanoseconds(Int64.min)
        } else {
            self = .nanoseconds(Int64(nanoseconds.rounded()))
        }
    }

    /// The monotonic instant (nanoseconds, same clock as `now`) this long after `now`, for
    /// deadlines stored as integers. Saturates at `Int64.max - 1`: `Int64.max` is reserved by
    /// the stores as "no deadline", so a huge duration still means "expires", only very late.
    /// A negative duration gives `now` plus it, at least `Int64.min`.
    @inlinable
    public func deadline(fromNanoseconds now: Int64) -> Int64 {
        let (sum, overflow) = now.addingReportingOverflow(saturatingNanoseconds)
        if overflow { return self > .zero ? Int64.max - 1 : Int64.min }
        return min(sum, Int64.max - 1)
    }
}
