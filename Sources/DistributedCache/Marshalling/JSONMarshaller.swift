// JSONMarshaller: cache values as JSON, through Foundation's JSONEncoder and JSONDecoder.
//
// JSON is the default because every language reads it and a person can read a value straight out
// of Redis with redis-cli. Two output options, both chosen for other readers of the bytes:
//  - `.sortedKeys`: equal values always produce equal bytes (Swift dictionaries iterate in a
//    per-process random order), so instances, and tools that compare stored values, agree;
//  - `.withoutEscapingSlashes`: "/" needs escaping only inside an HTML <script> element, which a
//    cache never is, and URLs and paths stay readable and one byte shorter per slash.
// Everything else is Foundation's default: Data as base64, Date as seconds since 2001 (Foundation's
// reference date; other languages must add 978307200 to get Unix time), non-finite floats refused.
//
// Top-level fragments (a bare string, number, bool or null) round-trip: Foundation's JSONEncoder
// writes them and its JSONDecoder reads them on this toolchain (Swift 6.3, FoundationEssentials),
// which JSONMarshallerTests pins, so no wrapping is needed. Older Darwin Foundation (before macOS
// 10.15) refused fragments; the package requires macOS 15.
//
// Decoding a top-level string or integer skips Foundation: JSONDecoder costs microseconds per
// call (it builds a value map of the whole text first), the largest cost of a remote read of a
// small value. The fast path takes only the plainest texts, a string without escapes or an
// integer in canonical form, surrounded by nothing, whose result Foundation would produce too;
// anything else goes to JSONDecoder, which then decides (and reports errors).
//
// The encoder and decoder are created once and shared by every call: their options are set in
// `init` and never changed, and Foundation declares both Sendable (they read their options under
// an internal lock), so concurrent calls are safe.

import Foundation

/// Marshals values as UTF-8 JSON with sorted keys, the format every language can read.
///
/// Guarantees:
/// - `unmarshal` must return a value equal to the one `marshal` was given, for every `Codable`
///   type whose own conformance round-trips through JSON, top-level strings and numbers included.
/// - Equal values must marshal to equal bytes (keys are sorted).
/// - `unmarshal` never crashes on malformed input; it throws `DecodingError`.
/// - It is safe to use from any number of threads at once.
public struct JSONMarshaller: Marshaller {
    /// "json".
    public var name: String { "json" }

    /// How deep arrays and objects may nest in a value `unmarshal` accepts. A value from Redis or
    /// an event is hostile until checked, and Foundation's decoder recurses once per level; a
    /// deeper text is refused with `DecodingError.dataCorrupted` before it is parsed.
    public static let maximumDepth = 128

    private let encoder: JSONEncoder
    private let decoder: JSONDecoder

    /// Creates a JSON marshaller with sorted keys and unescaped slashes.
    public init() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.encoder = encoder
        decoder = JSONDecoder()
    }

    /// Encodes `value` as JSON.
    /// - Parameter value: the value to encode.
    /// - Returns: the UTF-8 bytes of the JSON text.
    /// - Throws: `EncodingError.invalidValue` for a non-finite float or a value nested deeper
    ///   than ``maximumDepth``, and any error the value's `encode(to:)` throws.
    public func marshal<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let bytes = [UInt8](try encoder.encode(value))
        // What this marshaller would refuse to read, it refuses to write.
        guard Self.nestsWithinLimit(bytes) else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "nested deeper than \(Self.maximumDepth) levels"))
        }
        return bytes
    }

    /// Decodes a value of `type` from JSON text.
    /// - Parameters:
    ///   - type: the type to decode.
    ///   - bytes: UTF-8 JSON text holding exactly one value.
    /// - Returns: the decoded value.
    /// - Throws: `DecodingError` when the bytes are not valid JSON or do not have the shape of
    ///   `type`, and any error the type's `init(from:)` throws.
    public func unmarshal<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        if type == String.self, let string = Self.plainString(bytes) as? Value { return string }
        if type == Int.self, let integer = Self.canonicalInteger(bytes) as? Value { return integer }
        guard Self.nestsWithinLimit(bytes) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "JSON nested deeper than \(Self.maximumDepth) levels"))
        }
        return try decoder.decode(type, from: Data(bytes))
    }

    /// True when no array or object in `bytes` nests deeper than ``maximumDepth`` (brackets inside
    /// strings do not count; the text need not be valid: the decoder judges that).
    static func nestsWithinLimit(_ bytes: [UInt8]) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maximumDepth { return false }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return true
    }

    /// `"text"` with no escape, no control character and valid UTF-8 inside: the text. Nil for
    /// anything else, including valid JSON strings with escapes.
    static func plainString(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> String? in
            let inside = UnsafeBufferPointer(rebasing: buffer[1..<(buffer.count - 1)])
            for byte in inside where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            return String(validating: inside, as: UTF8.self)
        }
    }

    /// An optional minus and 1 to 18 digits without a leading zero: the number (18 digits always
    /// fit in an Int). Nil for anything else.
    static func canonicalInteger(_ bytes: [UInt8]) -> Int? {
        let negative = bytes.first == UInt8(ascii: "-")
        let digits = bytes.count - (negative ? 1 : 0)
        guard (1...18).contains(digits) else { return nil }
        var value = 0
        for byte in bytes.dropFirst(negative ? 1 : 0) {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        if digits > 1, bytes[negative ? 1 : 0] == UInt8(ascii: "0") { return nil }
        if negative, value == 0 { return nil }  // "-0": let Foundation decide
        return negative ? -value : value
    }
}
