// LocalValue: what a custom local cache holds for a key.
//
// Design note. The built-in local cache stores each value flat, in the table's entry itself: the
// version, the deadline and the decoded value of its type (or the undecoded bytes), with no box
// in between (LocalEntries.swift). A custom cache (`Options.localCache = .custom`) only knows the
// `LocalCache` protocol, so it stores these objects opaquely instead; they carry the same three
// things. The built-in cache also hands one of them to the slow paths (a read of another type
// than the stored one, bytes not decoded yet), so that both kinds of cache share those paths.
//
// Values are decoded once, not on every hit: an entry that arrives as bytes (a set event from
// another instance, with no `onSetLocalCache` hook) is decoded on its first typed read, and the
// decoded form then replaces it (same version and deadline, only if nothing newer arrived). A
// read with a different type than the stored one re-encodes the value and decodes it as that
// type.
//
// Every value carries the version Redis assigned to the write that produced it (0 when unknown:
// reference wire format), so that nothing older ever replaces something newer.

import CSupport
import LocalStore
import Primitives

/// The value of one key in an instance's local cache, as a custom local cache holds it: the
/// write's version, the deadline, and the decoded value or the marshalled bytes.
///
/// A custom local cache (``SyncedCache/LocalCacheKind/custom(_:)``) stores these opaquely.
/// Immutable, hence `Sendable`.
public final class LocalValue: Sendable {
    /// The version of the write this value came from (0: unknown, reference wire format).
    public let version: UInt64
    /// The marshalled value, when it is held undecoded (received as bytes, until decoded).
    public var bytes: [UInt8]? {
        if case .encoded(let bytes) = payload { return bytes }
        return nil
    }
    /// The decoded value or the bytes.
    @usableFromInline let payload: Payload
    /// Monotonic deadline in nanoseconds (`Int64.max`: none), so that a value re-stored in
    /// another form (decoded on first read) keeps its expiry.
    let expiresAt: Int64
    /// The built-in cache's entry this value describes, if any: a replacement of it is made
    /// only while that entry is still the current one.
    let origin: VersionedEntry?

    /// A value in one of its two forms.
    @usableFromInline
    enum Payload: Sendable {
        /// Decoded; `any DecodedValue` knows how to encode itself again.
        case decoded(any DecodedValue)
        /// Marshalled bytes, as they came over the network.
        case encoded([UInt8])
    }

    init(version: UInt64, payload: Payload, expiresAt: Int64, origin: VersionedEntry? = nil) {
        self.version = version
        self.payload = payload
        self.expiresAt = expiresAt
        self.origin = origin
    }

    /// The value as `Value`, if it is decoded as exactly that type.
    @inlinable
    func decoded<Value: Codable & Sendable>(as type: Value.Type) -> Value? {
        guard case .decoded(let box) = payload else { return nil }
        return (box as? DecodedBox<Value>)?.value
    }

    /// True for getOrLoad's record of an absent value (negative caching), which no read returns.
    var isAbsent: Bool {
        guard case .decoded(let decoded) = payload else { return false }
        return decoded.anyValue is AbsentValue
    }

    /// Time left before the deadline (nil: none; zero or less: already due).
    var remainingTTL: Duration? {
        expiresAt == Int64.max ? nil : .nanoseconds(expiresAt.subtractingReportingOverflow(dc_clock_now_ns()).partialValue)
    }
}

/// A decoded value of some Codable type, which can encode itself again (for a read that asks for
/// another type, and for `getBytes`).
@usableFromInline
protocol DecodedValue: Sendable {
    /// The value marshalled with `marshaller`.
    func marshal(with marshaller: any Marshaller) throws -> [UInt8]
    /// The value, as `any Sendable`.
    var anyValue: any Sendable { get }
}

/// A decoded value of type `Value`, for custom local caches.
@usableFromInline
final class DecodedBox<Value: Codable & Sendable>: DecodedValue {
    @usableFromInline let value: Value

    init(_ value: Value) { self.value = value }

    @usableFromInline func marshal(with marshaller: any Marshaller) throws -> [UInt8] { try marshaller.marshal(value) }
    @usableFromInline var anyValue: any Sendable { value }
}
