// EventCodec: events to and from their JSON wire form.
//
// Encoding is written by hand rather than with JSONEncoder because the reference library's
// events must come out byte for byte as Go's encoding/json writes them: fields in declaration
// order (key, sender, action, value), `value` omitted when empty, []byte as standard base64
// with padding, and strings escaped as json.Marshal does, HTML-safe: `<`, `>` and `&` become
// \u003c, \u003e and \u0026, U+2028 and U+2029 are escaped, control characters use \b \f \n \r
// \t or \u00xx (lowercase hex), and invalid UTF-8 becomes \ufffd [1]. Versioned events append
// `version` and `ttl`, which Go's decoder ignores as unknown fields.
//
// The versioned writer needs the event with its version still unknown (the server assigns it
// inside the write script), so encoding also comes split: `prefix` ends just before the version
// digits and `suffix` starts right after them.
//
// Decoding accepts any valid JSON object with those fields (whatever the field order or
// escaping), through JSONDecoder; anything else is malformed and reported as nil.
//
// [1] The Go standard library, encoding/json, func appendString (behaviour, not code).

import Foundation

enum EventCodec {
    /// The complete JSON of `event`.
    static func encode(_ event: SyncedCache.Event) -> [UInt8] {
        var bytes = prefix(key: event.key, sender: event.sender, action: event.action, value: event.value,
                           versioned: event.version != nil)
        if let version = event.version {
            bytes += Array(String(version).utf8)
            bytes += suffix(ttlMilliseconds: event.ttlMilliseconds)
        } else {
            bytes.append(UInt8(ascii: "}"))
        }
        return bytes
    }

    /// The event up to where its version goes (`..."version":`), or, unversioned, up to the end
    /// without the closing brace.
    static func prefix(key: String, sender: String, action: SyncedCache.Action, value: [UInt8], versioned: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + key.utf8.count + value.count * 4 / 3)
        out += Array(#"{"key":"#.utf8)
        appendString(key, to: &out)
        out += Array(#","sender":"#.utf8)
        appendString(sender, to: &out)
        out += Array(#","action":"#.utf8)
        appendString(action.rawValue, to: &out)
        if !value.isEmpty {
            out += Array(#","value":""#.utf8)
            out += Array(Data(value).base64EncodedString().utf8)
            out.append(UInt8(ascii: "\""))
        }
        if versioned { out += Array(#","version":"#.utf8) }
        return out
    }

    /// What follows the version digits.
    static func suffix(ttlMilliseconds: Int64?) -> [UInt8] {
        guard let ttlMilliseconds else { return [UInt8(ascii: "}")] }
        return Array(#","ttl":\#(ttlMilliseconds)}"#.utf8)
    }

    /// Appends `string` as a JSON string literal, escaped as Go's json.Marshal does.
    static func appendString(_ string: String, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for scalar in string.unicodeScalars {
            switch scalar.value {
            case 0x22: out += [0x5C, 0x22]  // \"
            case 0x5C: out += [0x5C, 0x5C]  // \\
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x3C, 0x3E, 0x26:
                // Control characters, and <, > and & (Go's HTML-safe escaping).
                out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hex[Int(scalar.value >> 4)], hex[Int(scalar.value & 0xF)]]
            case 0x2028, 0x2029:
                out += Array("\\u202\(scalar.value == 0x2028 ? "8" : "9")".utf8)
            default:
                out += Array(String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The wire form, for decoding.
    private struct Wire: Decodable {
        var key: String?
        var sender: String?
        var action: String?
        var value: String?
        var version: UInt64?
        var ttl: Int64?
    }

    /// Why a payload was not an event.
    enum Malformed: Error, Equatable {
        case notJSON
        case missingField(String)
        case unknownAction(String)
        case badValue
    }

    /// Decodes a payload.
    static func decode(_ payload: [UInt8]) -> Result<SyncedCache.Event, Malformed> {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(payload)) else { return .failure(.notJSON) }
        guard let key = wire.key else { return .failure(.missingField("key")) }
        guard let sender = wire.sender else { return .failure(.missingField("sender")) }
        guard let actionName = wire.action else { return .failure(.missingField("action")) }
        guard let action = SyncedCache.Action(rawValue: actionName) else { return .failure(.unknownAction(actionName)) }
        var value: [UInt8] = []
        if let encoded = wire.value, !encoded.isEmpty {
            guard let data = Data(base64Encoded: encoded) else { return .failure(.badValue) }
            value = Array(data)
        }
        return .success(SyncedCache.Event(
            key: key, sender: sender, action: action, value: value, version: wire.version, ttlMilliseconds: wire.ttl))
    }
}
