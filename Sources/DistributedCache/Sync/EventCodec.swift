// EventCodec: events to and from their JSON wire form.
//
// Written by hand rather than with JSONEncoder/JSONDecoder for two reasons:
// - the reference library's events must come out byte for byte as Go's encoding/json writes
//   them: fields in declaration order (key, sender, action, value), `value` omitted when empty,
//   []byte as standard base64 with padding, and strings escaped as json.Marshal does, HTML-safe:
//   `<`, `>` and `&` become \u003c, \u003e and \u0026, U+2028 and U+2029 are escaped, control
//   characters use \b \f \n \r \t or \u00xx (lowercase hex), and invalid UTF-8 becomes \ufffd [1].
//   Versioned events append `version`, `ttl` and `tags`, which Go's decoder ignores as unknown
//   fields.
// - every instance decodes every event on its event-loop thread: Foundation's JSONDecoder cost
//   tens of microseconds per event there (measured with perf on `dcache bench propagation`),
//   the scanner in EventCodec+Decoding.swift about one.
//
// The versioned writer needs the event with its version still unknown (the server assigns it
// inside the write script), so encoding also comes split: `prefix` ends just before the version
// digits and `suffix` starts right after them.
//
// [1] The Go standard library, encoding/json, func appendString (behaviour, not code).

enum EventCodec {
    /// The complete JSON of `event`.
    static func encode(_ event: SyncedCache.Event) -> [UInt8] {
        var bytes = prefix(key: event.key, sender: event.sender, action: event.action, value: event.value,
                           versioned: event.version != nil)
        if let version = event.version {
            bytes.append(contentsOf: String(version).utf8)
            bytes.append(contentsOf: suffix(ttlMilliseconds: event.ttlMilliseconds, tags: event.tagGenerations))
        } else {
            bytes.append(UInt8(ascii: "}"))
        }
        return bytes
    }

    /// The event up to where its version goes (`..."version":`), or, unversioned, up to the end
    /// without the closing brace.
    static func prefix(key: String, sender: String, action: SyncedCache.Action, value: [UInt8], versioned: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + key.utf8.count + sender.utf8.count + (value.count + 2) / 3 * 4)
        out.append(contentsOf: #"{"key":"#.utf8)
        appendString(key, to: &out)
        out.append(contentsOf: #","sender":"#.utf8)
        appendString(sender, to: &out)
        out.append(contentsOf: #","action":"#.utf8)
        appendString(action.rawValue, to: &out)
        if !value.isEmpty {
            out.append(contentsOf: #","value":""#.utf8)
            Base64.encode(value, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        if versioned { out.append(contentsOf: #","version":"#.utf8) }
        return out
    }

    /// What follows the version digits: `ttl` and `tags` (`"tag=generation,..."`) when present.
    static func suffix(ttlMilliseconds: Int64?, tags: [TagGeneration] = []) -> [UInt8] {
        var out: [UInt8] = []
        if let ttlMilliseconds { out.append(contentsOf: #","ttl":\#(ttlMilliseconds)"#.utf8) }
        if !tags.isEmpty {
            out.append(contentsOf: #","tags":"#.utf8)
            appendString(TagRegistry.format(tags), to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Appends `string` as a JSON string literal, escaped as Go's json.Marshal does.
    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            // Runs of bytes that need no escaping are copied at once; Swift strings are valid
            // UTF-8, so multi-byte sequences other than U+2028/U+2029 pass through unchanged.
            var runStart = 0
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                let escapedLength: Int
                switch byte {
                case 0x22, 0x5C, 0x00..<0x20, 0x3C, 0x3E, 0x26: escapedLength = 1
                case 0xE2 where index + 2 < bytes.count && bytes[index + 1] == 0x80
                    && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9):
                    escapedLength = 3
                default:
                    index += 1
                    continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                if escapedLength == 3 {
                    out.append(contentsOf: (bytes[index + 2] == 0xA8 ? #"\u2028"# : #"\u2029"#).utf8)
                } else {
                    appendEscaped(byte, to: &out)
                }
                index += escapedLength
                runStart = index
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ byte: UInt8, to out: inout [UInt8]) {
        let hexDigits: StaticString = "0123456789abcdef"
        out.append(UInt8(ascii: "\\"))
        switch byte {
        case 0x22: out.append(UInt8(ascii: "\""))
        case 0x5C: out.append(UInt8(ascii: "\\"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        default:
            // Other control characters, and <, > and & (Go's HTML-safe escaping).
            hexDigits.withUTF8Buffer { hex in
                out.append(contentsOf: [
                    UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                ])
            }
        }
    }

    /// Why a payload was not an event.
    enum Malformed: Error, Equatable {
        case notJSON
        case missingField(String)
        case unknownAction(String)
        case badValue
        /// A numeric field outside its bound (see SyncedCache+Limits.swift).
        case outOfRange(String)
    }
}

/// Standard base64 with padding (RFC 4648 section 4), as Go's encoding/json writes []byte.
enum Base64 {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Appends the encoding of `bytes` to `out`.
    static func encode(_ bytes: [UInt8], to out: inout [UInt8]) {
        alphabet.withUTF8Buffer { symbols in
            bytes.withUnsafeBufferPointer { input in
                var index = 0
                while index + 3 <= input.count {
                    let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                    out.append(symbols[Int(group >> 18 & 63)])
                    out.append(symbols[Int(group >> 12 & 63)])
                    out.append(symbols[Int(group >> 6 & 63)])
                    out.append(symbols[Int(group & 63)])
                    index += 3
                }
                let remaining = input.count - index
                guard remaining > 0 else { return }
                let group = UInt32(input[index]) << 16 | (remaining == 2 ? UInt32(input[index + 1]) << 8 : 0)
                out.append(symbols[Int(group >> 18 & 63)])
                out.append(symbols[Int(group >> 12 & 63)])
                out.append(remaining == 2 ? symbols[Int(group >> 6 & 63)] : UInt8(ascii: "="))
                out.append(UInt8(ascii: "="))
            }
        }
    }

    /// Decodes `text`; nil unless it is padded standard base64 (what Foundation's
    /// `Data(base64Encoded:)` accepted before this replaced it on the event path).
    static func decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var index = 0
        while index < text.count {
            var group: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let symbol = text[index + offset]
                let value: UInt32
                switch symbol {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(symbol - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(symbol - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(symbol - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): value = 62
                case UInt8(ascii: "/"): value = 63
                case UInt8(ascii: "=") where index + 4 == text.count && offset >= 2:
                    padding += 1
                    value = 0
                default: return nil
                }
                // A symbol after padding ("A=B=") is invalid.
                if padding > 0 && symbol != UInt8(ascii: "=") { return nil }
                group = group << 6 | value
            }
            out.append(UInt8(truncatingIfNeeded: group >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: group >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: group)) }
            index += 4
        }
        return out
    }
}
