// NodeDecoder: the Codable `Decoder` over one node of a parsed MessagePack input.
//
// The input is parsed and validated as a whole before decoding starts (MessagePackReader), so a
// decoder is only a position: the reader, a node index and the coding path. It is a struct of
// three words, which fits an existential's inline buffer: handing it to `init(from:)` as
// `any Decoder` allocates nothing. Containers are cheap views over the same reader.
//
// How each node kind becomes a Swift value, and which error a mismatch raises, is decided in one
// place, MessagePackReader+Values.swift; keyed lookups are in NodeDecoder+MapLookup.swift.

import CSupport

/// Decodes the value at one node of a parsed MessagePack input. Not Sendable: it is used on
/// the thread of the unmarshal call that created its reader.
struct NodeDecoder: Decoder {
    let reader: MessagePackReader
    /// The node this decoder reads; ``MessagePackReader/absent`` reads as nil.
    let index: UInt32
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let node = reader.node(index)
        guard node.type == DC_MSGPACK_MAP else {
            throw containerMismatch(KeyedDecodingContainer<Key>.self, [String: Any].self, "keyed", node)
        }
        return KeyedDecodingContainer(
            KeyedContainer<Key>(
                reader: reader, lookup: MapLookup(reader: reader, map: index, node: node), codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let node = reader.node(index)
        guard node.type == DC_MSGPACK_ARRAY else {
            throw containerMismatch((any UnkeyedDecodingContainer).self, [Any].self, "unkeyed", node)
        }
        return UnkeyedContainer(reader: reader, array: index, node: node, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(decoder: self)
    }

    /// The error for asking a node of the wrong kind for a container, in JSONDecoder's wording:
    /// `valueNotFound` for nil, else `typeMismatch` naming what a container of that kind reads.
    private func containerMismatch(
        _ container: Any.Type, _ expected: Any.Type, _ kind: String, _ node: dc_msgpack_node_t
    ) -> DecodingError {
        if node.type == DC_MSGPACK_NIL {
            return .valueNotFound(
                container,
                .init(
                    codingPath: codingPath,
                    debugDescription: "Cannot get \(kind) decoding container -- found nil instead."))
        }
        return reader.mismatch(expected, node, ValuePath(base: codingPath, key: nil))
    }
}

extension NodeDecoder {
    /// Reads the decoder's own node as one value.
    struct SingleValueContainer: SingleValueDecodingContainer {
        let decoder: NodeDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }

        private var reader: MessagePackReader { decoder.reader }
        private var index: UInt32 { decoder.index }
        private var path: ValuePath { ValuePath(base: decoder.codingPath, key: nil) }

        func decodeNil() -> Bool { reader.decodeNil(at: index) }
        func decode(_ type: Bool.Type) throws -> Bool { try reader.decodeBool(at: index, path: path) }
        func decode(_ type: String.Type) throws -> String { try reader.decodeString(at: index, path: path) }
        func decode(_ type: Double.Type) throws -> Double { try reader.decodeDouble(at: index, path: path) }
        func decode(_ type: Float.Type) throws -> Float { try reader.decodeFloat(at: index, path: path) }
        func decode(_ type: Int.Type) throws -> Int { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: Int8.Type) throws -> Int8 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: Int16.Type) throws -> Int16 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: Int32.Type) throws -> Int32 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: Int64.Type) throws -> Int64 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: Int128.Type) throws -> Int128 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: UInt.Type) throws -> UInt { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.decodeInteger(type, at: index, path: path) }
        func decode(_ type: UInt128.Type) throws -> UInt128 { try reader.decodeInteger(type, at: index, path: path) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T { try reader.decode(type, at: index, path: path) }
    }
}
