// RESPValue: a Redis reply, every RESP2 type.

import CSupport

/// A reply from Redis (RESP2). Bulk strings are bytes: Redis strings are binary-safe.
public enum RESPValue: Sendable, Hashable {
    /// A status reply, such as `+OK`.
    case simpleString(String)
    /// An error reply, such as `-ERR unknown command`. ``RedisClient`` turns these into
    /// ``RedisError/server(_:)`` unless a command asks for the raw reply.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string reply.
    case bulkString([UInt8])
    /// A null bulk string or null array.
    case null
    /// An array reply.
    case array([RESPValue])

    /// The bytes of a bulk or simple string, nil otherwise.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let string): return Array(string.utf8)
        default: return nil
        }
    }

    /// The text of a bulk or simple string decoded as UTF-8 (invalid sequences repaired), nil
    /// otherwise.
    public var string: String? {
        switch self {
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .simpleString(let string): return string
        default: return nil
        }
    }

    /// The integer of an integer reply, or of a bulk string holding a decimal integer.
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulkString(let bytes): return Int64(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    /// The elements of an array reply, nil otherwise.
    public var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// True for `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Copies a reply out of hiredis's reply memory (valid only during the reply callback).
    init(_ reply: UnsafePointer<dc_reply_t>) {
        let r = reply.pointee
        switch Int(r.type) {
        case DC_REPLY_STRING:
            self = .bulkString(r.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: r.len)))
        case DC_REPLY_STATUS:
            // "OK" is most status replies; a literal avoids decoding it.
            self = r.len == 2 && r.str[0] == 0x4F && r.str[1] == 0x4B
                ? .simpleString("OK")
                : .simpleString(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case DC_REPLY_ERROR:
            self = .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case DC_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case DC_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] { elements.append(RESPValue(element)) } else { elements.append(.null) }
            }
            self = .array(elements)
        default:
            self = .null
        }
    }
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let string): return "+\(string)"
        case .error(let message): return "-\(message)"
        case .integer(let value): return ":\(value)"
        case .bulkString(let bytes): return "$\(String(decoding: bytes, as: UTF8.self).debugDescription)"
        case .null: return "(nil)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

extension RESPValue {
    /// Parses `bytes` as a stream of RESP2 replies, through the exact path a connection's replies
    /// take (hiredis's reader, the pooled reply objects, ``init(_:)``). For the fuzzer and tests.
    /// - Returns: the complete replies, in order; trailing bytes of an incomplete reply are
    ///   ignored.
    /// - Throws: ``RedisError/protocolError(_:)`` for bytes that are not RESP2 (or a reply past
    ///   the parser's limits, such as more than 2^20 elements in one array).
    package static func parseReplies(_ bytes: [UInt8]) throws(RedisError) -> [RESPValue] {
        guard let parser = dc_reply_parser_create() else { throw .protocolError("out of memory") }
        defer { dc_reply_parser_free(parser) }
        let fed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { dc_reply_parser_feed(parser, $0.baseAddress, $0.count) }
        }
        guard fed == DC_OK.rawValue else { throw .protocolError("out of memory") }
        var replies: [RESPValue] = []
        while true {
            var reply: UnsafePointer<dc_reply_t>?
            guard dc_reply_parser_next(parser, &reply) == DC_OK.rawValue else {
                throw .protocolError("not a RESP2 reply")
            }
            guard let reply else { return replies }
            replies.append(RESPValue(reply))
            dc_reply_parser_release(parser, reply)
        }
    }
}
