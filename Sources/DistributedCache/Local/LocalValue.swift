// LocalValue: what the local cache holds for a key.
//
// Design note. Values are decoded once, not on every hit: an entry holds the decoded value in a
// typed box, and a read checks the box's exact class (one metadata comparison) before handing
// out the value, so a local hit costs the store's lookup plus a copy of the value. Entries that
// arrive as bytes (a set event from another instance, with no `onSetLocalCache` hook) keep the
// bytes and are decoded on their first typed read; the decoded form then replaces them (same
// version, conditional on nothing newer having arrived meanwhile). A read with a different type
// than the stored one re-encodes the boxed value and decodes it as the requested type.
//
// Every entry carries the version Redis assigned to the write that produced it (0 when unknown:
// reference wire format), so that nothing older ever replaces something newer.

import CSupport
import Primitives

/// The value of one key in an instance's local cache: version, and decoded value or bytes.
///
/// A custom local cache (``SyncedCache/LocalCacheKind/custom(_:)``) stores these opaquely.
/// Immutable, hence `Sendable`.
public final class LocalValue: Sendable {
    /// The version of the write this value came from (0: unknown, reference wire format).
    public let version: UInt64
    /// The marshalled value, when it is kept (values received as bytes, until decoded).
    public let bytes: [UInt8]?
    /// The decoded value, if any.
    @usableFromInline let box: ValueBox?
    /// Monotonic deadline in nanoseconds (`Int64.max`: none), so that a value re-stored in
    /// another form (decoded on first read) keeps its expiry.
    let expiresAt: Int64

    init(version: UInt64, box: ValueBox?, bytes: [UInt8]?, ttl: Duration?) {
        self.version = version
        self.box = box
        self.bytes = bytes
        expiresAt = ttl?.deadline(fromNanoseconds: dc_clock_now_ns()) ?? Int64.max
    }

    private init(version: UInt64, box: ValueBox?, expiresAt: Int64) {
        self.version = version
        self.box = box
        self.bytes = nil
        self.expiresAt = expiresAt
    }

    /// The same value and version, decoded, with the same deadline.
    func decoded(_ box: ValueBox) -> LocalValue {
        LocalValue(version: version, box: box, expiresAt: expiresAt)
    }

    /// Time left before the deadline (nil: none; zero or less: already due).
    var remainingTTL: Duration? {
        expiresAt == Int64.max ? nil : .nanoseconds(expiresAt.subtractingReportingOverflow(dc_clock_now_ns()).partialValue)
    }
}

/// A decoded value of some Codable type. Subclassed once per type by ``TypedValueBox``.
@usableFromInline
class ValueBox: @unchecked Sendable {
    // @unchecked Sendable: immutable; the only subclass holds a `let` Sendable value.

    @usableFromInline init() {}

    /// The value marshalled again (for a read that asks for another type).
    func marshal(with marshaller: any Marshaller) throws -> [UInt8] {
        fatalError("ValueBox.marshal is overridden by TypedValueBox")
    }

    /// The value as `any Sendable`, for events and hooks.
    var anyValue: any Sendable { fatalError("overridden") }
}

/// A decoded value of type `Value`.
@usableFromInline
final class TypedValueBox<Value: Codable & Sendable>: ValueBox, @unchecked Sendable {
    @usableFromInline let value: Value

    @usableFromInline init(_ value: Value) {
        self.value = value
    }

    override func marshal(with marshaller: any Marshaller) throws -> [UInt8] {
        try marshaller.marshal(value)
    }

    override var anyValue: any Sendable { value }
}

/// Boxes a value of a type known only at run time (for `onSetLocalCache`'s result).
func box(_ value: some Codable & Sendable) -> ValueBox {
    TypedValueBox(value)
}
