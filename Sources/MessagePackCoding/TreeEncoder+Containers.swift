// TreeEncoder+Containers: the keyed and unkeyed encoding containers.
//
// Each container is a small struct over one reference-typed node of the tree (EncodedMap or
// EncodedArray), so copies of a container, and the parent that stored the node, all see the same
// entries. Nested containers are new nodes stored in this one before they are returned; a
// super-encoder is a whole TreeEncoder stored as `.encoder` and read when the tree is
// written, so it may be filled after this container has moved on.
//
// Coding paths are built (`codingPath + [key]`, an array allocation) only when a nested coder or an
// error needs them; primitives stored directly never build one.

extension TreeEncoder {
    /// Encodes into a map, one str key per entry, in the order keys are first encoded.
    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let map: EncodedMap
        let codingPath: [any CodingKey]

        private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }
        private func set(_ value: EncodedValue, _ key: Key) { map.set(value, forKey: key.stringValue) }

        mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { set(.double(value), key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { set(.float(value), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(.int(value), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { set(.uint(value), key) }

        mutating func encode(_ value: Int128, forKey key: Key) throws {
            set(try wide(value, at: path(key)), key)
        }

        mutating func encode(_ value: UInt128, forKey key: Key) throws {
            set(try wide(value, at: path(key)), key)
        }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            set(try TreeEncoder.encode(value, at: path(key)), key)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            let nested: EncodedMap
            if case .map(let existing)? = map.value(forKey: key.stringValue) {
                nested = existing
            } else {
                nested = EncodedMap()
                map.set(.map(nested), forKey: key.stringValue)
            }
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(map: nested, codingPath: path(key)))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let nested: EncodedArray
            if case .array(let existing)? = map.value(forKey: key.stringValue) {
                nested = existing
            } else {
                nested = EncodedArray()
                map.set(.array(nested), forKey: key.stringValue)
            }
            return UnkeyedContainer(array: nested, codingPath: path(key))
        }

        mutating func superEncoder() -> any Encoder {
            let encoder = TreeEncoder(codingPath: codingPath + [MessagePackCodingKey.superKey])
            map.set(.encoder(encoder), forKey: MessagePackCodingKey.superKey.stringValue)
            return encoder
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            let encoder = TreeEncoder(codingPath: path(key))
            map.set(.encoder(encoder), forKey: key.stringValue)
            return encoder
        }
    }

    /// Encodes into an array, in encoding order.
    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let array: EncodedArray
        let codingPath: [any CodingKey]

        var count: Int { array.elements.count }

        /// The path of the element about to be appended.
        private var nextPath: [any CodingKey] { codingPath + [MessagePackCodingKey(intValue: count)] }

        private func append(_ value: EncodedValue) { array.elements.append(value) }

        mutating func encodeNil() throws { append(.null) }
        mutating func encode(_ value: Bool) throws { append(.bool(value)) }
        mutating func encode(_ value: String) throws { append(.string(value)) }
        mutating func encode(_ value: Double) throws { append(.double(value)) }
        mutating func encode(_ value: Float) throws { append(.float(value)) }
        mutating func encode(_ value: Int) throws { append(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { append(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { append(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { append(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { append(.int(value)) }
        mutating func encode(_ value: Int128) throws { append(try wide(value, at: nextPath)) }
        mutating func encode(_ value: UInt) throws { append(.uint(UInt64(value))) }
        mutating func encode(_ value: UInt8) throws { append(.uint(UInt64(value))) }
        mutating func encode(_ value: UInt16) throws { append(.uint(UInt64(value))) }
        mutating func encode(_ value: UInt32) throws { append(.uint(UInt64(value))) }
        mutating func encode(_ value: UInt64) throws { append(.uint(value)) }
        mutating func encode(_ value: UInt128) throws { append(try wide(value, at: nextPath)) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            append(try TreeEncoder.encode(value, at: nextPath))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey>
        {
            let nested = EncodedMap()
            let path = nextPath
            append(.map(nested))
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(map: nested, codingPath: path))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let nested = EncodedArray()
            let path = nextPath
            append(.array(nested))
            return UnkeyedContainer(array: nested, codingPath: path)
        }

        mutating func superEncoder() -> any Encoder {
            let encoder = TreeEncoder(codingPath: nextPath)
            append(.encoder(encoder))
            return encoder
        }
    }
}
