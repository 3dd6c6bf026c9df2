// Decoding events: a small JSON scanner specialised for the event object.
//
// Numbers are bounded here, before anything uses them: `version` must be at most
// `SyncedCache.maximumVersion` (2^53) and `ttl` in 1...`SyncedCache.maximumTTL` in milliseconds;
// an event with a number outside its bound is malformed (`.outOfRange`), like one that is not
// JSON. A single published event with an unbounded TTL once crashed every receiver.
//
// It accepts any valid JSON object with the event's fields, in any order, with any whitespace
// and escaping, skipping unknown fields of any type (nested up to `maximumDepth`); a repeated
// field keeps its last value, as Go's decoder does. `null` counts as absent. Anything else (not
// JSON, not an object, trailing bytes, a field of the wrong type, a lone surrogate escape
// decoded as U+FFFD as Go does) is reported as a `Malformed` case, never a crash. It allocates
// only the event's strings and value.

extension EventCodec {
    /// Decodes a payload.
    static func decode(_ payload: [UInt8]) -> Result<SyncedCache.Event, Malformed> {
        payload.withUnsafeBytes { bytes in
            var scanner = EventScanner(bytes)
            guard let fields = scanner.scanEvent() else { return .failure(.notJSON) }
            if fields.versionOutOfRange { return .failure(.outOfRange("version")) }
            if fields.ttlOutOfRange { return .failure(.outOfRange("ttl")) }
            guard let key = fields.key else { return .failure(.missingField("key")) }
            guard let sender = fields.sender else { return .failure(.missingField("sender")) }
            guard let actionName = fields.action else { return .failure(.missingField("action")) }
            guard let action = SyncedCache.Action(rawValue: actionName) else {
                return .failure(.unknownAction(actionName))
            }
            var value: [UInt8] = []
            if var encoded = fields.value, !encoded.isEmpty {
                guard let decoded = encoded.withUTF8({ Base64.decode(UnsafeRawBufferPointer($0)) }) else {
                    return .failure(.badValue)
                }
                value = decoded
            }
            var tags: [String: UInt64] = [:]
            if let header = fields.tags, !header.isEmpty {
                guard let parsed = TagRegistry.parse(header.utf8) else { return .failure(.outOfRange("tags")) }
                for item in parsed { tags[item.tag] = item.generation }
            }
            return .success(SyncedCache.Event(
                key: key, sender: sender, action: action, value: value, version: fields.version,
                ttlMilliseconds: fields.ttl, tags: tags))
        }
    }
}

/// The fields of an event object, as found.
struct EventFields {
    var key: String?
    var sender: String?
    var action: String?
    var value: String?
    var version: UInt64?
    var ttl: Int64?
    var tags: String?
    /// Whether the last `version` / `ttl` seen is outside its bound (the event is then malformed).
    var versionOutOfRange = false
    var ttlOutOfRange = false
}

/// A cursor over one JSON text. Every method returns nil (or false) on invalid input.
struct EventScanner {
    static let maximumDepth = 64
    /// `SyncedCache.maximumTTL` in milliseconds: the largest `ttl` an event may carry.
    static let maximumTTLMilliseconds = UInt64(SyncedCache.maximumTTL.saturatingMilliseconds)

    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// The whole text: one object, then only whitespace.
    mutating func scanEvent() -> EventFields? {
        skipWhitespace()
        guard consume(UInt8(ascii: "{")) else { return nil }
        var fields = EventFields()
        skipWhitespace()
        if !consume(UInt8(ascii: "}")) {
            repeat {
                skipWhitespace()
                guard let name = scanString() else { return nil }
                skipWhitespace()
                guard consume(UInt8(ascii: ":")) else { return nil }
                skipWhitespace()
                guard scanField(named: name, into: &fields) else { return nil }
                skipWhitespace()
            } while consume(UInt8(ascii: ","))
            guard consume(UInt8(ascii: "}")) else { return nil }
        }
        skipWhitespace()
        return position == bytes.count ? fields : nil
    }

    private mutating func scanField(named name: String, into fields: inout EventFields) -> Bool {
        if consumeLiteral("null") {
            switch name {
            case "key": fields.key = nil
            case "sender": fields.sender = nil
            case "action": fields.action = nil
            case "value": fields.value = nil
            case "tags": fields.tags = nil
            case "version":
                fields.version = nil
                fields.versionOutOfRange = false
            case "ttl":
                fields.ttl = nil
                fields.ttlOutOfRange = false
            default: break
            }
            return true
        }
        switch name {
        case "key": fields.key = scanString()
        case "sender": fields.sender = scanString()
        case "action": fields.action = scanString()
        case "value": fields.value = scanString()
        case "tags": fields.tags = scanString()
        case "version":
            // A UInt64 in JSON (a negative one is not), then at most maximumVersion.
            guard let (negative, magnitude) = scanInteger(), !negative || magnitude == 0 else { return false }
            fields.version = magnitude
            fields.versionOutOfRange = magnitude > SyncedCache.maximumVersion
            return true
        case "ttl":
            // An Int64 in JSON, then in 1...maximumTTL.
            guard let (negative, magnitude) = scanInteger(), magnitude <= (negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max))
            else { return false }
            fields.ttl = negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude)
            fields.ttlOutOfRange = negative || magnitude == 0 || magnitude > EventScanner.maximumTTLMilliseconds
            return true
        default: return skipValue(depth: 0)
        }
        switch name {
        case "key": return fields.key != nil
        case "sender": return fields.sender != nil
        case "action": return fields.action != nil
        case "tags": return fields.tags != nil
        default: return fields.value != nil
        }
    }

    // MARK: - Tokens

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func consumeLiteral(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard position + length <= bytes.count else { return false }
        let matches = literal.withUTF8Buffer { expected in
            (0..<length).allSatisfy { bytes[position + $0] == expected[$0] }
        }
        if matches { position += length }
        return matches
    }

    /// A string token, unescaped. Invalid UTF-8 and lone surrogates become U+FFFD.
    private mutating func scanString() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = position
        // Fast path: no escapes, so the string is the bytes between the quotes.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let string = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            position += 1
        }
        guard position < bytes.count else { return nil }
        var unescaped = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: unescaped, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { return nil }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = scanUnicodeEscape() else { return nil }
                    unescaped.append(contentsOf: String(Character(scalar)).utf8)
                default: return nil
                }
            case 0x00..<0x20:
                return nil
            default:
                unescaped.append(byte)
            }
        }
        return nil
    }

    /// After `\u`: four hex digits, combined with a following `\uDC00`-`\uDFFF` escape into one
    /// scalar when they are a high surrogate.
    private mutating func scanUnicodeEscape() -> Unicode.Scalar? {
        guard let unit = scanHex4() else { return nil }
        if (0xD800..<0xDC00).contains(unit) {
            let saved = position
            if consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")), let low = scanHex4(), (0xDC00..<0xE000).contains(low) {
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
            }
            position = saved
            return Unicode.Scalar(0xFFFD)
        }
        return Unicode.Scalar(unit) ?? Unicode.Scalar(0xFFFD)
    }

    private mutating func scanHex4() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A")) + 10
            default: return nil
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    /// An integer number token (no fraction or exponent) whose magnitude fits in UInt64.
    private mutating func scanInteger() -> (negative: Bool, magnitude: UInt64)? {
        let negative = consume(UInt8(ascii: "-"))
        let start = position
        var magnitude: UInt64 = 0
        while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[position] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            position += 1
        }
        let digits = position - start
        // JSON forbids leading zeros ("01") and empty numbers.
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            return nil
        }
        return (negative, magnitude)
    }

    /// Any JSON value, validated and skipped.
    private mutating func skipValue(depth: Int) -> Bool {
        guard depth < Self.maximumDepth, position < bytes.count else { return false }
        switch bytes[position] {
        case UInt8(ascii: "\""):
            return scanString() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = bytes[position] == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            position += 1
            skipWhitespace()
            if consume(close) { return true }
            repeat {
                skipWhitespace()
                if isObject {
                    guard scanString() != nil else { return false }
                    skipWhitespace()
                    guard consume(UInt8(ascii: ":")) else { return false }
                    skipWhitespace()
                }
                guard skipValue(depth: depth + 1) else { return false }
                skipWhitespace()
            } while consume(UInt8(ascii: ","))
            return consume(close)
        case UInt8(ascii: "t"): return consumeLiteral("true")
        case UInt8(ascii: "f"): return consumeLiteral("false")
        case UInt8(ascii: "n"): return consumeLiteral("null")
        default: return skipNumber()
        }
    }

    /// A JSON number of any form: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func skipNumber() -> Bool {
        _ = consume(UInt8(ascii: "-"))
        func digits() -> Int {
            let start = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            return position - start
        }
        let integerStart = position
        let integerDigits = digits()
        guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { return false }
        if consume(UInt8(ascii: ".")) { guard digits() > 0 else { return false } }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard digits() > 0 else { return false }
        }
        return true
    }
}
