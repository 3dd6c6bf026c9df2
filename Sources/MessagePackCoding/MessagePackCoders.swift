// MessagePackEncoder and MessagePackDecoder: Codable values as MessagePack [1], through msgpack-c [2].
//
// MessagePack carries the same shapes as JSON (maps, arrays, strings, numbers, booleans, nil) plus
// raw binary, in fewer bytes and without text formatting or parsing of numbers: a struct
// {"a":1,"b":"x"} is 8 bytes against JSON's 15, and `[UInt8]`/`Data` travel as bytes instead of
// base64 or arrays of numbers. DistributedCache's MessagePackMarshaller is a thin wrapper over
// this module, which knows nothing of caching.
//
// How a call runs:
//   encode     TreeEncoder builds a tree of the value (MessagePackEncodedValue.swift
//              explains why a tree), then MessagePackWriter writes it through dc_msgpack_write_*
//              into a C buffer that is copied out once.
//   decode     MessagePackReader validates and parses the whole input in C into a flat node array
//              (dc_msgpack.h explains the validation pass), then NodeDecoder walks the
//              nodes; `init(from:)` never sees malformed bytes.
// Every call creates its own writer or reader and drops it on return: there is no shared state,
// so the encoder and the decoder are stateless Sendable structs with no locks, and concurrent calls never
// contend.
//
// The mapping of Swift types to MessagePack types is in TreeEncoder.swift; the decoding
// rules (integer range checks, which kinds convert, which error each mismatch raises) are in
// MessagePackReader+Values.swift.
//
// Limits, both from the format or msgpack-c rather than from us: containers nest at most 32
// deep (msgpack-c's unpacker stack; the encoder refuses deeper values so that everything it
// writes can be read back), and one string, binary value or container holds at most 2^32 - 1
// bytes or elements; inputs of 4 GiB or more are refused.
//
// References:
//  [1] MessagePack specification, https://github.com/msgpack/msgpack/blob/master/spec.md
//  [2] msgpack-c, https://github.com/msgpack/msgpack-c/tree/c_master

import Foundation

/// Encodes `Encodable` values as MessagePack: compact, binary-safe, and readable by MessagePack
/// libraries in other languages.
///
/// Structs and classes become maps keyed by their coding keys' `stringValue`, in encoding order;
/// arrays become arrays; `[UInt8]` and `Data` become MessagePack bin; `Date` becomes a float 64 of
/// seconds since 1970; integers take their smallest wire form.
///
/// Guarantees: ``MessagePackDecoder`` returns a value equal to the one encoded, for every
/// `Codable` type whose own conformance round-trips (Doubles bit for bit, NaN payloads included;
/// Floats too, except that a signaling NaN comes back quiet, since msgpack-c widens float 32 to
/// double); and the encoder never produces bytes the decoder rejects: values nested deeper than 32
/// containers are refused here, not when read. It is stateless and safe to use from any number of
/// threads at once.
public struct MessagePackEncoder: Sendable {
    /// Creates an encoder. It has no options: the format is fixed so that every reader reads what
    /// every writer writes.
    public init() {}

    /// Encodes `value` as one MessagePack value.
    /// - Parameter value: the value to encode.
    /// - Returns: the MessagePack bytes.
    /// - Throws: `EncodingError.invalidValue` when the value nests deeper than 32 containers, an
    ///   integer is wider than 64 bits, a string, binary value or container exceeds 2^32 - 1 bytes
    ///   or elements, or memory runs out; and any error the value's `encode(to:)` throws.
    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let tree = try TreeEncoder.encode(value, at: [])
        do throws(MessagePackWriter.Failure) {
            let writer = try MessagePackWriter()
            try writer.write(tree)
            return writer.bytes()
        } catch {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: error.codingPath, debugDescription: "Cannot encode as MessagePack: \(error.reason)."))
        }
    }
}

/// Decodes `Decodable` values from MessagePack.
///
/// Integers decode into any integer type whose range holds them. The decoder never crashes or
/// reads out of bounds on malformed, truncated or hostile input, and never needs more than 48
/// bytes of working memory per input byte before building the decoded value (a 5-byte input
/// cannot ask for gigabytes); it throws `DecodingError` instead. It is stateless and safe to use
/// from any number of threads at once.
public struct MessagePackDecoder: Sendable {
    /// Creates a decoder.
    public init() {}

    /// Decodes a value of `type` from exactly one MessagePack value.
    /// - Parameters:
    ///   - type: the type to decode.
    ///   - bytes: the MessagePack bytes; all of them must belong to the one value.
    /// - Returns: the decoded value.
    /// - Throws: `DecodingError.dataCorrupted` for empty, malformed or truncated bytes, trailing
    ///   bytes, nesting deeper than 32 containers, invalid UTF-8 in a string, or an integer out of
    ///   the target type's range; `typeMismatch`, `valueNotFound` and `keyNotFound` when the bytes
    ///   do not have the shape of `type`; and any error the type's `init(from:)` throws.
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        let reader = try MessagePackReader.parse(bytes)
        return try reader.decode(type, at: 0, path: ValuePath(base: [], key: nil))
    }
}
