// NodeDecoder+Containers: the keyed and unkeyed decoding containers.
//
// Keyed: a view of one map node; every method finds the key's value node through MapLookup and
// hands it to MessagePackReader+Values.swift. A missing key is `keyNotFound`, except for
// `superDecoder(forKey:)`, which, as in JSONDecoder, returns a decoder that reads nil.
//
// Unkeyed: a cursor over one array node. The cursor moves only after an element decoded
// successfully, so a caller may retry a failed element as another type (the Codable contract that
// JSONDecoder follows too), and moving it is O(1) whatever the element was: its `next` skips the
// subtree.

import CSupport

extension NodeDecoder {
    /// Reads one map node by key.
    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let reader: MessagePackReader
        let lookup: MapLookup
        let codingPath: [any CodingKey]

        /// The keys of the map's str and integer keys, in map order; keys `Key` cannot represent,
        /// and keys of other types, are left out.
        var allKeys: [Key] {
            var keys: [Key] = []
            keys.reserveCapacity(lookup.count)
            lookup.forEachKey { _, node, _ in
                switch node.type {
                case DC_MSGPACK_STR:
                    if let text = reader.string(node), let key = Key(stringValue: text) { keys.append(key) }
                case DC_MSGPACK_UINT, DC_MSGPACK_INT:
                    let text = node.type == DC_MSGPACK_UINT ? String(node.value.u) : String(node.value.i)
                    let int = node.type == DC_MSGPACK_UINT ? Int(exactly: node.value.u) : Int(exactly: node.value.i)
                    if let key = int.flatMap(Key.init(intValue:)) ?? Key(stringValue: text) { keys.append(key) }
                default:
                    break
                }
                return true
            }
            return keys
        }

        func contains(_ key: Key) -> Bool { lookup.valueIndex(of: key) != nil }

        private func valueIndex(_ key: Key) throws -> UInt32 {
            guard let index = lookup.valueIndex(of: key) else {
                throw DecodingError.keyNotFound(
                    key,
                    .init(codingPath: codingPath, debugDescription: "No value for key \(key) (\"\(key.stringValue)\").")
                )
            }
            return index
        }

        private func path(_ key: Key) -> ValuePath { ValuePath(base: codingPath, key: key) }

        private func integer<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
            try reader.decodeInteger(type, at: valueIndex(key), path: path(key))
        }

        func decodeNil(forKey key: Key) throws -> Bool { reader.decodeNil(at: try valueIndex(key)) }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
            try reader.decodeBool(at: valueIndex(key), path: path(key))
        }
        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            try reader.decodeString(at: valueIndex(key), path: path(key))
        }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
            try reader.decodeDouble(at: valueIndex(key), path: path(key))
        }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
            try reader.decodeFloat(at: valueIndex(key), path: path(key))
        }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(type, key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(type, key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(type, key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(type, key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(type, key) }
        func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try integer(type, key) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(type, key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(type, key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(type, key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(type, key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(type, key) }
        func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try integer(type, key) }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try reader.decode(type, at: valueIndex(key), path: path(key))
        }

        private func decoder(forKey key: Key) throws -> NodeDecoder {
            NodeDecoder(reader: reader, index: try valueIndex(key), codingPath: codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try decoder(forKey: key).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try decoder(forKey: key).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            let key = MessagePackCodingKey.superKey
            let index = lookup.valueIndex(of: key) ?? MessagePackReader.absent
            return NodeDecoder(reader: reader, index: index, codingPath: codingPath + [key])
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            let index = lookup.valueIndex(of: key) ?? MessagePackReader.absent
            return NodeDecoder(reader: reader, index: index, codingPath: codingPath + [key])
        }
    }

    /// Reads one array node in order.
    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let reader: MessagePackReader
        let codingPath: [any CodingKey]
        private let elementCount: Int
        private(set) var currentIndex = 0
        /// Node index of the element at `currentIndex`; equals `end` once at the end.
        private var cursor: UInt32
        /// The node after the array's subtree.
        private let end: UInt32

        init(reader: MessagePackReader, array: UInt32, node: dc_msgpack_node_t, codingPath: [any CodingKey]) {
            self.reader = reader
            self.codingPath = codingPath
            elementCount = Int(node.length)
            cursor = array + 1
            end = node.next
        }

        /// The cursor stays inside the array and reaches its end exactly with the last element.
        func _checkInvariants() {
            #if DCACHE_INTERNAL_CHECKS
                precondition(currentIndex <= elementCount, "index \(currentIndex) beyond \(elementCount) elements")
                precondition(cursor <= end, "cursor \(cursor) beyond the array's end \(end)")
                precondition((cursor == end) == isAtEnd, "cursor \(cursor) and index \(currentIndex) disagree")
            #endif
        }

        var count: Int? { elementCount }
        var isAtEnd: Bool { currentIndex >= elementCount }

        private var path: ValuePath { ValuePath(base: codingPath, key: MessagePackCodingKey(intValue: currentIndex)) }

        /// Decodes the current element with `read` and moves past it once `read` succeeded.
        /// `read` gets the reader as an argument: capturing `self` in it would overlap with this
        /// mutating access.
        private mutating func next<T>(
            _ type: T.Type, _ read: (MessagePackReader, UInt32, ValuePath) throws -> T
        ) throws -> T {
            try checkNotAtEnd(type)
            let value = try read(reader, cursor, path)
            advance()
            return value
        }

        private func checkNotAtEnd(_ type: Any.Type) throws {
            guard isAtEnd else { return }
            throw DecodingError.valueNotFound(
                type, .init(codingPath: path.codingPath, debugDescription: "Unkeyed container is at end."))
        }

        private mutating func advance() {
            cursor = reader.node(cursor).next
            currentIndex += 1
            _checkInvariants()
        }

        private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
            try next(type) { try $0.decodeInteger(type, at: $1, path: $2) }
        }

        /// True, moving past the element, when the current element is nil; false, staying on it,
        /// otherwise.
        mutating func decodeNil() throws -> Bool {
            try checkNotAtEnd(Any?.self)
            guard reader.decodeNil(at: cursor) else { return false }
            advance()
            return true
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool {
            try next(type) { try $0.decodeBool(at: $1, path: $2) }
        }
        mutating func decode(_ type: String.Type) throws -> String {
            try next(type) { try $0.decodeString(at: $1, path: $2) }
        }
        mutating func decode(_ type: Double.Type) throws -> Double {
            try next(type) { try $0.decodeDouble(at: $1, path: $2) }
        }
        mutating func decode(_ type: Float.Type) throws -> Float {
            try next(type) { try $0.decodeFloat(at: $1, path: $2) }
        }
        mutating func decode(_ type: Int.Type) throws -> Int { try integer(type) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
        mutating func decode(_ type: Int128.Type) throws -> Int128 { try integer(type) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
        mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(type) }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try next(type) { try $0.decode(type, at: $1, path: $2) }
        }

        /// A decoder for the current element and the container `open` gets from it; moves past
        /// the element only once `open` succeeded.
        private mutating func nested<C>(_ type: C.Type, _ open: (NodeDecoder) throws -> C) throws -> C {
            try next(type) { reader, index, path in
                try open(NodeDecoder(reader: reader, index: index, codingPath: path.codingPath))
            }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try nested(KeyedDecodingContainer<NestedKey>.self) { try $0.container(keyedBy: type) }
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try nested((any UnkeyedDecodingContainer).self) { try $0.unkeyedContainer() }
        }

        mutating func superDecoder() throws -> any Decoder {
            try nested((any Decoder).self) { $0 }
        }
    }
}
