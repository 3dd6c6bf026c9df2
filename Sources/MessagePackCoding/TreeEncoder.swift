// TreeEncoder: the Codable `Encoder` that turns a value into a tree of EncodedValue.
//
// One encoder stands for one value at one coding path; the value it ends up holding is what its
// containers recorded (see MessagePackEncodedValue.swift for why the tree exists).
// MessagePackEncoder encodes the top-level value through `TreeEncoder.encode(_:at:)` and writes the result.
//
// Swift values become MessagePack as follows: Bool -> bool; signed integers -> int, unsigned ->
// uint, each in its smallest wire form (msgpack-c chooses; non-negative signed values take the
// uint forms, as the spec asks); Float -> float 32; Double -> float 64; String -> str; nil -> nil;
// `[UInt8]` and `Data` -> bin (recognised by type, since their own Codable conformances would
// make an array of small integers, up to twice the bytes); `Date` -> float 64 seconds since 1970
// (sub-microsecond precision for present-day dates, readable by any MessagePack reader, unlike the
// timestamp extension); Int128 and UInt128 -> int or uint when the value fits in 64 bits, an
// EncodingError otherwise; keyed containers -> maps with str keys in encoding order; unkeyed
// containers -> arrays.
//
// Primitive fast path. Generic code (`[Int]`, `[String: Double]`, any generic struct) reaches
// primitives through `encode<T: Encodable>(_:)`, which would otherwise create a nested encoder,
// and so an allocation, per element. `encode(_:at:)` compares `T.self` with each primitive type
// first (a pointer comparison each) and stores the value directly.
//
// Deliberate differences from Foundation's JSONEncoder, which stops the process with
// preconditionFailure in these cases [1]: asking an encoder again for a container of the kind it
// already holds returns that same container (as JSONEncoder does), but asking for another kind,
// or encoding a single value twice, replaces what was there. A cache must not crash its process
// over an unusual `encode(to:)`; the last write wins, which the round-trip tests pin down. An
// encoder that is given nothing at all (an `encode(to:)` that returns without encoding) produces
// an empty map, as JSONEncoder's super-encoders do.
//
// References:
//  [1] swift-foundation, Sources/FoundationEssentials/JSON/JSONEncoder.swift, `container(keyedBy:)`
//      and `unkeyedContainer()` of `__JSONEncoder`, https://github.com/swiftlang/swift-foundation

import Foundation

/// Encodes one value at one coding path into an ``EncodedValue`` tree. Not thread-safe and not
/// Sendable: a marshal call creates its encoders, uses them on its own thread and drops them.
final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// What this encoder has recorded; nil until something is encoded. Containers of this encoder
    /// are the classes inside it, so filling them updates this value.
    var value: EncodedValue?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    /// The tree for `value`, encoded at `codingPath`.
    /// - Throws: `EncodingError.invalidValue` for an Int128 or UInt128 outside the 64-bit range,
    ///   and whatever `value.encode(to:)` throws.
    static func encode<T: Encodable>(_ value: T, at codingPath: @autoclosure () -> [any CodingKey]) throws
        -> EncodedValue
    {
        if let primitive = try primitive(value, at: codingPath) { return primitive }
        let encoder = TreeEncoder(codingPath: codingPath())
        try value.encode(to: encoder)
        return encoder.value ?? .map(EncodedMap())
    }

    /// `value` as a leaf of the tree when `T` is a type with its own MessagePack form, else nil.
    /// Each `as!` below cannot fail: it follows the check that `T` is exactly that type.
    private static func primitive<T: Encodable>(_ value: T, at codingPath: () -> [any CodingKey]) throws
        -> EncodedValue?
    {
        if T.self == String.self { return .string(value as! String) }
        if T.self == Int.self { return .int(Int64(value as! Int)) }
        if T.self == Bool.self { return .bool(value as! Bool) }
        if T.self == Double.self { return .double(value as! Double) }
        if T.self == [UInt8].self { return .bytes(value as! [UInt8]) }
        if T.self == Data.self { return .bytes([UInt8](value as! Data)) }
        if T.self == Date.self { return .double((value as! Date).timeIntervalSince1970) }
        if T.self == Float.self { return .float(value as! Float) }
        if T.self == Int64.self { return .int(value as! Int64) }
        if T.self == UInt64.self { return .uint(value as! UInt64) }
        if T.self == UInt.self { return .uint(UInt64(value as! UInt)) }
        if T.self == Int32.self { return .int(Int64(value as! Int32)) }
        if T.self == UInt32.self { return .uint(UInt64(value as! UInt32)) }
        if T.self == Int16.self { return .int(Int64(value as! Int16)) }
        if T.self == UInt16.self { return .uint(UInt64(value as! UInt16)) }
        if T.self == Int8.self { return .int(Int64(value as! Int8)) }
        if T.self == UInt8.self { return .uint(UInt64(value as! UInt8)) }
        if T.self == Int128.self { return try wide(value as! Int128, at: codingPath()) }
        if T.self == UInt128.self { return try wide(value as! UInt128, at: codingPath()) }
        return nil
    }

    /// An Int128 or UInt128 in the int or uint form that holds it.
    /// - Throws: `EncodingError.invalidValue` when it needs more than 64 bits.
    static func wide<T: FixedWidthInteger>(_ value: T, at codingPath: [any CodingKey]) throws -> EncodedValue {
        if let small = Int64(exactly: value) { return .int(small) }
        if let large = UInt64(exactly: value) { return .uint(large) }
        throw EncodingError.invalidValue(
            value,
            .init(
                codingPath: codingPath,
                debugDescription: "\(T.self) \(value) does not fit in MessagePack's 64-bit integers."))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let map: EncodedMap
        if case .map(let existing)? = value {
            map = existing
        } else {
            map = EncodedMap()
            value = .map(map)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(map: map, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: EncodedArray
        if case .array(let existing)? = value {
            array = existing
        } else {
            array = EncodedArray()
            value = .array(array)
        }
        return UnkeyedContainer(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(encoder: self)
    }
}

extension TreeEncoder {
    /// Records one value as the encoder's whole value; a second encode replaces the first.
    struct SingleValueContainer: SingleValueEncodingContainer {
        let encoder: TreeEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil() throws { encoder.value = .null }
        mutating func encode(_ value: Bool) throws { encoder.value = .bool(value) }
        mutating func encode(_ value: String) throws { encoder.value = .string(value) }
        mutating func encode(_ value: Double) throws { encoder.value = .double(value) }
        mutating func encode(_ value: Float) throws { encoder.value = .float(value) }
        mutating func encode(_ value: Int) throws { encoder.value = .int(Int64(value)) }
        mutating func encode(_ value: Int8) throws { encoder.value = .int(Int64(value)) }
        mutating func encode(_ value: Int16) throws { encoder.value = .int(Int64(value)) }
        mutating func encode(_ value: Int32) throws { encoder.value = .int(Int64(value)) }
        mutating func encode(_ value: Int64) throws { encoder.value = .int(value) }
        mutating func encode(_ value: Int128) throws { encoder.value = try wide(value, at: codingPath) }
        mutating func encode(_ value: UInt) throws { encoder.value = .uint(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { encoder.value = .uint(UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { encoder.value = .uint(UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { encoder.value = .uint(UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { encoder.value = .uint(value) }
        mutating func encode(_ value: UInt128) throws { encoder.value = try wide(value, at: codingPath) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            encoder.value = try TreeEncoder.encode(value, at: codingPath)
        }
    }
}
