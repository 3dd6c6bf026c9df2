// MessagePackReader+Values: one node as a Swift value, with the checks and errors of Codable.
//
// Every container ends up here, so the rules are stated once:
//  - integers decode into any integer type whose range holds the value, whatever wire width
//    carried it; a value out of range is `dataCorrupted` ("does not fit"), the case JSONDecoder
//    uses for an out-of-range number [1] (on this toolchain too: "300" as Int8 is dataCorrupted);
//  - Double accepts floats and integers (an integer above 2^53 rounds); Float accepts the same
//    but refuses a finite value beyond Float's range rather than turn it into infinity;
//  - floats never decode into integer types, and bin never into String (typeMismatch);
//  - nil where a value is required is `valueNotFound`; any other wrong kind is `typeMismatch`;
//  - `[UInt8]` and `Data` read bin, and also an array of integers (what another producer's
//    default Codable form of a byte array looks like); `Date` reads a number of seconds since 1970.
//
// The coding path of an error is built only when an error is thrown: callers pass the container's
// path and the key separately (ValuePath), and joining them allocates.
//
// References:
//  [1] swift-corelibs-foundation, Sources/Foundation/JSONDecoder.swift: "Parsed JSON number <n>
//      does not fit in <T>.", https://github.com/swiftlang/swift-corelibs-foundation

import CSupport
import Foundation

/// Where a value sits: its container's coding path plus its own key, joined only on demand.
struct ValuePath {
    let base: [any CodingKey]
    let key: (any CodingKey)?

    var codingPath: [any CodingKey] {
        guard let key else { return base }
        return base + [key]
    }
}

extension MessagePackReader {
    /// The value of node `index` as `T`: the primitives and special types directly, anything else
    /// through `T(from:)` with a decoder positioned on the node.
    func decode<T: Decodable>(_ type: T.Type, at index: UInt32, path: ValuePath) throws -> T {
        // Each `as!` cannot fail: it follows the check that `T` is exactly that type.
        if T.self == String.self { return try decodeString(at: index, path: path) as! T }
        if T.self == Int.self { return try decodeInteger(Int.self, at: index, path: path) as! T }
        if T.self == Bool.self { return try decodeBool(at: index, path: path) as! T }
        if T.self == Double.self { return try decodeDouble(at: index, path: path) as! T }
        if T.self == Float.self { return try decodeFloat(at: index, path: path) as! T }
        if T.self == Int64.self { return try decodeInteger(Int64.self, at: index, path: path) as! T }
        if T.self == UInt64.self { return try decodeInteger(UInt64.self, at: index, path: path) as! T }
        if T.self == UInt.self { return try decodeInteger(UInt.self, at: index, path: path) as! T }
        if T.self == Int32.self { return try decodeInteger(Int32.self, at: index, path: path) as! T }
        if T.self == UInt32.self { return try decodeInteger(UInt32.self, at: index, path: path) as! T }
        if T.self == Int16.self { return try decodeInteger(Int16.self, at: index, path: path) as! T }
        if T.self == UInt16.self { return try decodeInteger(UInt16.self, at: index, path: path) as! T }
        if T.self == Int8.self { return try decodeInteger(Int8.self, at: index, path: path) as! T }
        if T.self == UInt8.self { return try decodeInteger(UInt8.self, at: index, path: path) as! T }
        if T.self == Int128.self { return try decodeInteger(Int128.self, at: index, path: path) as! T }
        if T.self == UInt128.self { return try decodeInteger(UInt128.self, at: index, path: path) as! T }
        if T.self == [UInt8].self || T.self == Data.self {
            let node = node(index)
            if node.type == DC_MSGPACK_BIN {
                if T.self == Data.self { return data(node) as! T }
                return bytes(node) as! T
            }
            // An array of integers falls through to the types' own Codable form below.
            if node.type != DC_MSGPACK_ARRAY { throw mismatch(T.self, node, path) }
        }
        if T.self == Date.self {
            return Date(timeIntervalSince1970: try decodeDouble(at: index, path: path)) as! T
        }
        return try T(from: NodeDecoder(reader: self, index: index, codingPath: path.codingPath))
    }

    func decodeNil(at index: UInt32) -> Bool { node(index).type == DC_MSGPACK_NIL }

    func decodeBool(at index: UInt32, path: ValuePath) throws -> Bool {
        let node = node(index)
        guard node.type == DC_MSGPACK_BOOL else { throw mismatch(Bool.self, node, path) }
        return node.value.b != 0
    }

    func decodeString(at index: UInt32, path: ValuePath) throws -> String {
        let node = node(index)
        guard node.type == DC_MSGPACK_STR else { throw mismatch(String.self, node, path) }
        guard let string = string(node) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: path.codingPath, debugDescription: "The string is not valid UTF-8."))
        }
        return string
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, at index: UInt32, path: ValuePath) throws -> T {
        let node = node(index)
        let value: T?
        switch node.type {
        case DC_MSGPACK_UINT: value = T(exactly: node.value.u)
        case DC_MSGPACK_INT: value = T(exactly: node.value.i)
        default: throw mismatch(T.self, node, path)
        }
        guard let value else {
            let number = node.type == DC_MSGPACK_UINT ? String(node.value.u) : String(node.value.i)
            throw DecodingError.dataCorrupted(
                .init(codingPath: path.codingPath, debugDescription: "Number \(number) does not fit in \(T.self)."))
        }
        return value
    }

    func decodeDouble(at index: UInt32, path: ValuePath) throws -> Double {
        let node = node(index)
        switch node.type {
        case DC_MSGPACK_FLOAT: return node.value.f
        case DC_MSGPACK_UINT: return Double(node.value.u)
        case DC_MSGPACK_INT: return Double(node.value.i)
        default: throw mismatch(Double.self, node, path)
        }
    }

    func decodeFloat(at index: UInt32, path: ValuePath) throws -> Float {
        let double: Double
        do {
            double = try decodeDouble(at: index, path: path)
        } catch {
            throw mismatch(Float.self, node(index), path)
        }
        let float = Float(double)
        guard float.isFinite || !double.isFinite else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: path.codingPath, debugDescription: "Number \(double) does not fit in Float."))
        }
        return float
    }

    /// The error for a node of the wrong kind: `valueNotFound` for nil, else `typeMismatch`.
    func mismatch(_ type: Any.Type, _ node: dc_msgpack_node_t, _ path: ValuePath) -> DecodingError {
        if node.type == DC_MSGPACK_NIL {
            return .valueNotFound(
                type,
                .init(codingPath: path.codingPath, debugDescription: "Expected \(type) value but found nil instead."))
        }
        return .typeMismatch(
            type,
            .init(
                codingPath: path.codingPath,
                debugDescription: "Expected to decode \(type) but found \(Self.describe(node)) instead."))
    }
}
