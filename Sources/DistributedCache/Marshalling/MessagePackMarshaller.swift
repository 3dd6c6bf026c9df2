// MessagePackMarshaller: cache values as MessagePack, through the MessagePackCoding module.
//
// MessagePack carries the same shapes as JSON (maps, arrays, strings, numbers, booleans, nil) plus
// raw binary, in fewer bytes and without text formatting or parsing of numbers: a struct
// {"a":1,"b":"x"} is 8 bytes against JSON's 15, and `[UInt8]`/`Data` travel as bytes instead of
// base64 or arrays of numbers. It is the marshaller to choose when every instance is Swift or
// another MessagePack-speaking client and values are many or large. The format, its limits and
// the coder's guarantees are described in MessagePackCoding (MessagePackCoders.swift).

import MessagePackCoding

/// Marshals values as MessagePack: compact, binary-safe, and readable by MessagePack libraries in
/// other languages.
///
/// Structs and classes become maps keyed by their coding keys' `stringValue`, in encoding order;
/// arrays become arrays; `[UInt8]` and `Data` become MessagePack bin; `Date` becomes a float 64 of
/// seconds since 1970; integers take their smallest wire form and decode into any integer type
/// whose range holds them.
///
/// Guarantees:
/// - `unmarshal` must return a value equal to the one `marshal` was given, for every `Codable`
///   type whose own conformance round-trips. Doubles come back bit for bit, NaN payloads included;
///   Floats too, except that a signaling NaN comes back quiet (msgpack-c widens float 32 to double).
/// - `marshal` never produces bytes that `unmarshal` rejects: values nested deeper than 32
///   containers are refused when marshalled, not when read.
/// - `unmarshal` never crashes or reads out of bounds on malformed, truncated or hostile input, and
///   never needs more than 48 bytes of working memory per input byte before building the decoded
///   value (a 5-byte input cannot ask for gigabytes); it throws `DecodingError` instead.
/// - It is stateless and safe to use from any number of threads at once.
public struct MessagePackMarshaller: Marshaller {
    /// "msgpack".
    public var name: String { "msgpack" }

    /// Creates a MessagePack marshaller. It has no options: the format is fixed so that every
    /// instance reads what every other writes.
    public init() {}

    /// Encodes `value` as one MessagePack value (MessagePackCoding's `MessagePackEncoder`).
    /// - Parameter value: the value to encode.
    /// - Returns: the MessagePack bytes.
    /// - Throws: `EncodingError.invalidValue` when the value nests deeper than 32 containers, an
    ///   integer is wider than 64 bits, a string, binary value or container exceeds 2^32 - 1 bytes
    ///   or elements, or memory runs out; and any error the value's `encode(to:)` throws.
    public func marshal<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        try MessagePackEncoder().encode(value)
    }

    /// Decodes a value of `type` from exactly one MessagePack value
    /// (MessagePackCoding's `MessagePackDecoder`).
    /// - Parameters:
    ///   - type: the type to decode.
    ///   - bytes: the MessagePack bytes; all of them must belong to the one value.
    /// - Returns: the decoded value.
    /// - Throws: `DecodingError.dataCorrupted` for empty, malformed or truncated bytes, trailing
    ///   bytes, nesting deeper than 32 containers, invalid UTF-8 in a string, or an integer out of
    ///   the target type's range; `typeMismatch`, `valueNotFound` and `keyNotFound` when the bytes
    ///   do not have the shape of `type`; and any error the type's `init(from:)` throws.
    public func unmarshal<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try MessagePackDecoder().decode(type, from: bytes)
    }
}
