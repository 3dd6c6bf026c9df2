// MessagePackReader: one parsed input, as the flat node array of dc_msgpack.h plus the input bytes.
//
// The C reader validates and parses the whole input up front (dc_msgpack_reader_parse), so a
// malformed, truncated or trailing-garbage input fails here, before any `init(from:)` runs, with
// the offset and reason msgpack-c's own errors lack. Decoding then walks nodes by index:
// node 0 is the root, a container's first child follows it, `next` skips a subtree.
//
// Payloads (str, bin) are offsets into `input`, which this object keeps: Swift slices it with its
// own bounds checks, so no pointer into C memory outlives a call, and a decoder that user code
// keeps after `init(from:)` returns still reads valid memory (it keeps this object alive).
//
// Strings must be valid UTF-8; an invalid one is a `DecodingError.dataCorrupted` rather than
// being repaired, because a value that does not round-trip is better reported than silently
// altered.

import CSupport
import Foundation

/// The parsed nodes of one MessagePack input. Immutable after creation. Not Sendable: one
/// unmarshal call creates it and its decoders use it on that call's thread.
final class MessagePackReader {
    /// The index decoders use for a value that is absent (a missing key's `superDecoder`); it
    /// reads as nil. Real indices are below the node count, which is below 2^32 - 1.
    static let absent = UInt32.max

    /// The input that was parsed; node payload offsets point into it.
    let input: [UInt8]

    // Owned by this object: created and parsed in `parse`, freed in deinit, never handed out. An
    // OpaquePointer because dc_msgpack_reader_t is an incomplete C type. Only read after the
    // parse, by the thread running the unmarshal call.
    private let reader: OpaquePointer

    private init(reader: OpaquePointer, input: [UInt8]) {
        self.reader = reader
        self.input = input
    }

    deinit { dc_msgpack_reader_free(reader) }

    /// Parses `input`, which must hold exactly one MessagePack value.
    /// - Throws: `DecodingError.dataCorrupted` (empty coding path) when the bytes are malformed,
    ///   truncated, followed by trailing bytes, nested deeper than 32 containers, or too large.
    static func parse(_ input: [UInt8]) throws(DecodingError) -> MessagePackReader {
        guard let reader = dc_msgpack_reader_create() else { throw corrupted("out of memory") }
        // Borrowed for the call: the C reader keeps offsets into the input, never the pointer.
        let status = input.withUnsafeBytes { dc_msgpack_reader_parse(reader, $0.baseAddress, $0.count) }
        guard status == DC_OK.rawValue else {
            let reason = String(cString: dc_msgpack_reader_errstr(reader))
            dc_msgpack_reader_free(reader)
            throw corrupted("Invalid MessagePack: \(reason).")
        }
        return MessagePackReader(reader: reader, input: input)
    }

    private static func corrupted(_ description: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [], debugDescription: description))
    }

    /// The node at `index`; a nil node for ``absent``.
    func node(_ index: UInt32) -> dc_msgpack_node_t {
        var node = dc_msgpack_node_t()
        if index == Self.absent { return node }
        let status = dc_msgpack_reader_node(reader, index, &node)
        // Every index a decoder holds came from this reader's own nodes (a root, a child after its
        // parent, or a sibling's `next` while the parent's count says more follow).
        precondition(status == DC_OK.rawValue, "MessagePack node \(index) is out of range")
        return node
    }

    /// The payload range of a str, bin or ext node; the C reader checked it lies inside `input`.
    private func payload(_ node: dc_msgpack_node_t) -> Range<Int> {
        let start = Int(node.value.offset)
        return start..<(start + Int(node.length))
    }

    /// The text of a str node, or nil when it is not valid UTF-8.
    func string(_ node: dc_msgpack_node_t) -> String? {
        String(validating: input[payload(node)], as: UTF8.self)
    }

    /// The bytes of a str, bin or ext node.
    func bytes(_ node: dc_msgpack_node_t) -> [UInt8] { Array(input[payload(node)]) }

    /// The bytes of a str, bin or ext node as Data.
    func data(_ node: dc_msgpack_node_t) -> Data { Data(input[payload(node)]) }

    /// Whether `node` is a map key that names `key`: a str with the same UTF-8 bytes as its
    /// `stringValue`, or an integer equal to its `intValue` (as other MessagePack producers write
    /// integer-keyed maps).
    func keyMatches(_ node: dc_msgpack_node_t, _ key: some CodingKey) -> Bool {
        switch node.type {
        case DC_MSGPACK_STR:
            var name = key.stringValue
            let range = payload(node)
            return name.withUTF8 { utf8 in
                guard utf8.count == range.count else { return false }
                if utf8.isEmpty { return true }
                // Borrowed for the call: both buffers are only compared inside the closures.
                return input.withUnsafeBytes { all in
                    memcmp(all.baseAddress! + range.lowerBound, utf8.baseAddress!, utf8.count) == 0
                }
            }
        case DC_MSGPACK_UINT: return key.intValue.map { $0 >= 0 && UInt64($0) == node.value.u } ?? false
        case DC_MSGPACK_INT: return key.intValue.map { Int64($0) == node.value.i } ?? false
        default: return false
        }
    }

    /// A short description of a node's kind, for error messages ("a map", "nil", ...).
    static func describe(_ node: dc_msgpack_node_t) -> String {
        switch node.type {
        case DC_MSGPACK_NIL: return "nil"
        case DC_MSGPACK_BOOL: return "a boolean"
        case DC_MSGPACK_UINT, DC_MSGPACK_INT: return "an integer"
        case DC_MSGPACK_FLOAT: return "a float"
        case DC_MSGPACK_STR: return "a string"
        case DC_MSGPACK_BIN: return "binary data"
        case DC_MSGPACK_EXT: return "an extension value"
        case DC_MSGPACK_ARRAY: return "an array"
        default: return "a map"
        }
    }
}
