// Marshaller: how values become bytes for Redis and for set events, and back.

/// Converts values to bytes and back. The cache stores and publishes what `marshal` returns, and
/// every instance must be able to `unmarshal` it, so all instances sharing a namespace and channel
/// must use compatible marshallers.
///
/// Built-ins: ``JSONMarshaller`` (the default, as in the reference library) and
/// ``MessagePackMarshaller``. Custom marshallers can add compression or encryption around either.
///
/// Conformances must be thread-safe (they are called concurrently) and must round-trip: a
/// conformance is correct when this test passes for the value types it supports:
/// ```swift
/// let value = Profile(name: "Ada", visits: 3)
/// let bytes = try marshaller.marshal(value)
/// #expect(try marshaller.unmarshal(Profile.self, from: bytes) == value)
/// #expect(throws: (any Error).self) { try marshaller.unmarshal(Profile.self, from: [0xFF, 0x00]) }
/// ```
public protocol Marshaller: Sendable {
    /// A short name for logs and `dcache` output ("json", "msgpack", ...).
    var name: String { get }

    /// Encodes `value`.
    /// - Throws: any error; the cache reports it as `CacheError.encodingFailed`.
    func marshal<Value: Encodable>(_ value: Value) throws -> [UInt8]

    /// Decodes a value of `type` from `bytes`.
    /// - Throws: any error when the bytes are not a valid encoding of `type`; the cache reports it
    ///   as `CacheError.decodingFailed` and never stores the value.
    func unmarshal<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value
}
