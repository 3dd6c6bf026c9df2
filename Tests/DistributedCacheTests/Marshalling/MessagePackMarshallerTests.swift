import DistributedCache
import Foundation
import MessagePackCoding
import Testing

/// Properties of MessagePackMarshaller: every Codable shape round-trips, the bytes are the
/// spec's canonical encodings, and bad input throws a DecodingError that says what and where.
/// Malformed-input and randomized tests are in MessagePackMarshallerTests+Robustness.swift.
@Suite struct MessagePackMarshallerTests {
    let marshaller = MessagePackMarshaller()

    private func roundTrip<T: Codable>(_ value: T) throws -> T {
        try marshaller.unmarshal(T.self, from: marshaller.marshal(value))
    }

    private func expectRoundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        #expect(try roundTrip(value) == value, sourceLocation: sourceLocation)
    }

    @Test func coders_onTheirOwn_writeAndReadWhatTheMarshallerDoes() throws {
        let profile = Profile(name: "ada", visits: 3)
        let bytes = try MessagePackEncoder().encode(profile)
        #expect(bytes == (try marshaller.marshal(profile)))
        #expect(try MessagePackDecoder().decode(Profile.self, from: bytes) == profile)
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(Profile.self, from: [0xC1]) }
    }

    @Test func name_always_isMsgpack() {
        #expect(marshaller.name == "msgpack")
    }

    /// The conformance test written in the Marshaller protocol's documentation.
    @Test func marshal_protocolExample_roundTripsAndRejectsGarbage() throws {
        let value = Profile(name: "Ada", visits: 3)
        let bytes = try marshaller.marshal(value)
        #expect(try marshaller.unmarshal(Profile.self, from: bytes) == value)
        #expect(throws: (any Error).self) { try marshaller.unmarshal(Profile.self, from: [0xFF, 0x00]) }
    }

    @Test func marshal_structOfEveryShape_roundTrips() throws {
        try expectRoundTrip(Catalog.sample)
    }

    @Test func marshal_integerBoundaries_roundTripInEveryWidth() throws {
        func boundaries<T: FixedWidthInteger & Codable>(_: T.Type) throws {
            for value in [T.min, T.min + 1, 0, 1, T.max - 1, T.max] { try expectRoundTrip(value) }
            // Also inside containers, where the keyed and unkeyed containers' typed overloads run.
            try expectRoundTrip([T.min, T.max])
            try expectRoundTrip(["min": T.min, "max": T.max])
        }
        try boundaries(Int8.self)
        try boundaries(Int16.self)
        try boundaries(Int32.self)
        try boundaries(Int64.self)
        try boundaries(Int.self)
        try boundaries(UInt8.self)
        try boundaries(UInt16.self)
        try boundaries(UInt32.self)
        try boundaries(UInt64.self)
        try boundaries(UInt.self)
        // Every wire-width boundary of the spec: fixint 127/128, -32/-33, 8/16/32-bit edges.
        for value: Int64 in [
            127, 128, 255, 256, 65_535, 65_536, 4_294_967_295, 4_294_967_296, -32, -33, -128, -129,
            -32_768, -32_769, -2_147_483_648, -2_147_483_649,
        ] {
            try expectRoundTrip(value)
        }
    }

    @Test func marshal_floats_roundTripBitForBit() throws {
        let doubles: [Double] = [
            0, -0.0, .pi, -1e-300, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity,
            -.infinity, .nan, .signalingNaN,
        ]
        for value in doubles { #expect(try roundTrip(value).bitPattern == value.bitPattern, "\(value)") }
        let floats: [Float] = [0, -0.0, .pi, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity, .nan]
        for value in floats { #expect(try roundTrip(value).bitPattern == value.bitPattern, "\(value)") }
        // float 32 reaches Swift as a double inside msgpack-c, and widening quiets a signaling NaN:
        // still a NaN, no longer the same bits (the documented exception).
        #expect(try roundTrip(Float.signalingNaN).isNaN)
    }

    @Test func marshal_stringsWithNULAndNonASCII_roundTrip() throws {
        for value in [
            "", "\0", "a\0b\0", "héllo wörld", "中文字符", "\u{1F600}\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
            String(repeating: "x", count: 70_000),
        ] {
            try expectRoundTrip(value)
        }
    }

    @Test func marshal_bytes_encodeAsBinAndRoundTrip() throws {
        // bin 8 header c4, length, then the bytes themselves (spec, "bin format family").
        #expect(try marshaller.marshal([UInt8]([1, 2])) == [0xC4, 0x02, 0x01, 0x02])
        #expect(try marshaller.marshal(Data([1, 2])) == [0xC4, 0x02, 0x01, 0x02])
        #expect(try marshaller.marshal([UInt8]()) == [0xC4, 0x00])
        let large = [UInt8]((0..<70_000).map { UInt8(truncatingIfNeeded: $0) })
        #expect(try marshaller.marshal(large).prefix(5) == [0xC6, 0x00, 0x01, 0x11, 0x70])  // bin 32, 70 000 bytes
        try expectRoundTrip(large)
        try expectRoundTrip(Data(large))
        try expectRoundTrip([[UInt8]([0xC1]), [], [0, 0]])
    }

    @Test func marshal_emptyContainers_roundTrip() throws {
        struct Empty: Codable, Equatable {}
        try expectRoundTrip([Int]())
        try expectRoundTrip([String: Int]())
        try expectRoundTrip(Empty())
        try expectRoundTrip([[Int]]([[], []]))
        try expectRoundTrip([String: [String: Int]](dictionaryLiteral: ("a", [:])))
        #expect(try marshaller.marshal(Empty()) == [0x80])  // fixmap of 0 pairs
        #expect(try marshaller.marshal([Int]()) == [0x90])  // fixarray of 0 elements
    }

    @Test func marshal_topLevelScalarsAndOptionals_roundTrip() throws {
        try expectRoundTrip("text")
        try expectRoundTrip(true)
        try expectRoundTrip(Int?.none)
        try expectRoundTrip(Int?.some(5))
        try expectRoundTrip([Int?]([1, nil, 3]))
        try expectRoundTrip([String: String?](dictionaryLiteral: ("a", nil), ("b", "x")))
        try expectRoundTrip(Date(timeIntervalSince1970: -1_000.5))
    }

    @Test func marshal_classHierarchyThroughSuperEncoder_roundTrips() throws {
        let value = Derived(base: 1, extra: "two")
        let decoded = try roundTrip(value)
        #expect(decoded.base == 1 && decoded.extra == "two")
        // The superclass's fields sit in a map under "super", after the subclass's own key.
        #expect(
            try marshaller.marshal(value) == [0x82, 0xA5] + Array("extra".utf8) + [0xA3] + Array("two".utf8)
                + [0xA5] + Array("super".utf8) + [0x81, 0xA4] + Array("base".utf8) + [0x01])
    }

    @Test func unmarshal_keysInAnyOrder_decodeByName() throws {
        // {"visits": 3, "name": "Ada"}: the reverse of Profile's declaration order.
        let bytes: [UInt8] =
            [0x82, 0xA6] + Array("visits".utf8) + [0x03, 0xA4] + Array("name".utf8) + [0xA3]
            + Array("Ada".utf8)
        #expect(try marshaller.unmarshal(Profile.self, from: bytes) == Profile(name: "Ada", visits: 3))
    }

    @Test func unmarshal_largeMapReadInReverseOrder_findsEveryKey() throws {
        // 40 keys, above the decoder's 16-pair scan limit, read last to first: every lookup misses
        // the cursor and goes through the key table.
        let map = Dictionary(uniqueKeysWithValues: (0..<40).map { ("key\($0)", $0) })
        let decoded = try marshaller.unmarshal(ReversedReader.self, from: marshaller.marshal(map))
        #expect(decoded.values == (0..<40).reversed().map { $0 })
        let large = Dictionary(uniqueKeysWithValues: (0..<5_000).map { (String($0), $0 * 3) })
        try expectRoundTrip(large)
        try expectRoundTrip(Dictionary(uniqueKeysWithValues: (0..<100).map { ($0 - 50, String($0)) }))
    }

    @Test func marshal_keyEncodedTwice_keepsOneEntryWithTheLastValue() throws {
        // Encodes a=1, b=2, a=3: one map of two pairs, "a" first (where it was first written).
        #expect(try marshaller.marshal(RepeatedKey()) == [0x82, 0xA1, 0x61, 0x03, 0xA1, 0x62, 0x02])
    }

    @Test func marshal_keyedContainerRequestedTwice_mergesIntoOneMap() throws {
        #expect(try marshaller.marshal(TwoContainers()) == [0x82, 0xA1, 0x61, 0x01, 0xA1, 0x62, 0x02])
    }

    @Test func unmarshal_foreignIntegerWidths_decodeIntoAnyTypeThatHoldsThem() throws {
        // 5 as int 8 (d0), uint 64 (cf) and int 64 (d3): wider than needed, still valid.
        #expect(try marshaller.unmarshal(UInt8.self, from: [0xD0, 0x05]) == 5)
        #expect(try marshaller.unmarshal(Int8.self, from: [0xCF, 0, 0, 0, 0, 0, 0, 0, 5]) == 5)
        #expect(try marshaller.unmarshal(UInt16.self, from: [0xD3, 0, 0, 0, 0, 0, 0, 0, 5]) == 5)
        #expect(try marshaller.unmarshal(Double.self, from: [0xD0, 0xFB]) == -5)
        #expect(try marshaller.unmarshal(Float.self, from: [0xCC, 0xC8]) == 200)
        #expect(try marshaller.unmarshal(Double.self, from: [0xCA, 0x3F, 0x80, 0x00, 0x00]) == 1)  // float 32
    }

    @Test func unmarshal_integerKeyedMap_decodesIntoIntKeyedDictionary() throws {
        // {1: "x", -2: "y"} with integer keys, as other languages' MessagePack libraries write them.
        let bytes: [UInt8] = [0x82, 0x01, 0xA1, 0x78, 0xFE, 0xA1, 0x79]
        #expect(try marshaller.unmarshal([Int: String].self, from: bytes) == [1: "x", -2: "y"])
        #expect(try marshaller.unmarshal([String: String].self, from: bytes) == ["1": "x", "-2": "y"])
    }

    @Test func unmarshal_arrayOfIntegers_decodesIntoBytes() throws {
        #expect(try marshaller.unmarshal([UInt8].self, from: [0x92, 0x01, 0x02]) == [1, 2])
        #expect(try marshaller.unmarshal(Data.self, from: [0x92, 0x01, 0x02]) == Data([1, 2]))
    }

    @Test func marshal_int128_encodesWithin64BitsAndThrowsBeyond() throws {
        try expectRoundTrip(Int128(Int64.min))
        try expectRoundTrip(UInt128(UInt64.max))
        try expectRoundTrip([Int128(-5), 7])
        #expect(throws: EncodingError.self) { try marshaller.marshal(Int128(Int64.min) - 1) }
        #expect(throws: EncodingError.self) { try marshaller.marshal(["k": UInt128(UInt64.max) + 1]) }
    }

    @Test func marshal_nestingAtTheReaderLimit_roundTripsAndOneDeeperThrows() throws {
        // 32 arrays, the innermost holding an Int, is the deepest msgpack-c reads back.
        try expectRoundTrip(Nested(depth: 32))
        let error = #expect(throws: EncodingError.self) { try marshaller.marshal(Nested(depth: 33)) }
        guard case .invalidValue(_, let context)? = error else { return }
        #expect(context.codingPath.count == 32)
        #expect(context.debugDescription.contains("deeper than 32"))
    }

    @Test func marshal_knownValues_matchSpecBytes() throws {
        // Each expected encoding is from the MessagePack spec's format tables.
        struct AB: Codable { var a = 1, b = "x" }
        #expect(try marshaller.marshal(AB()) == [0x82, 0xA1, 0x61, 0x01, 0xA1, 0x62, 0xA1, 0x78])
        #expect(try marshaller.marshal(UInt64.max) == [0xCF] + [UInt8](repeating: 0xFF, count: 8))
        #expect(try marshaller.marshal(Int64.min) == [0xD3, 0x80] + [UInt8](repeating: 0, count: 7))
        #expect(try marshaller.marshal(127) == [0x7F])  // positive fixint
        #expect(try marshaller.marshal(128) == [0xCC, 0x80])  // uint 8, not int 16
        #expect(try marshaller.marshal(Int8(-1)) == [0xFF])  // negative fixint
        #expect(try marshaller.marshal(-33) == [0xD0, 0xDF])  // int 8
        #expect(try marshaller.marshal(65_536) == [0xCE, 0x00, 0x01, 0x00, 0x00])  // uint 32
        #expect(try marshaller.marshal(Int?.none) == [0xC0])
        #expect(try marshaller.marshal(true) == [0xC3])
        #expect(try marshaller.marshal(Float(1)) == [0xCA, 0x3F, 0x80, 0x00, 0x00])
        #expect(try marshaller.marshal(1.0) == [0xCB, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(try marshaller.marshal(String(repeating: "a", count: 32)).prefix(2) == [0xD9, 0x20])  // str 8
        #expect(try marshaller.marshal([Int](repeating: 0, count: 16)).prefix(3) == [0xDC, 0x00, 0x10])  // array 16
        // Keys in encoding order, not sorted: ZA declares z before a.
        struct ZA: Codable { var z = 0, a = 0 }
        #expect(try marshaller.marshal(ZA()) == [0x82, 0xA1, 0x7A, 0x00, 0xA1, 0x61, 0x00])
    }

    @Test func marshal_concurrentCalls_produceIdenticalBytes() async throws {
        let expected = try marshaller.marshal(Catalog.sample)
        let marshaller = self.marshaller
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<200 {
                        let bytes = try marshaller.marshal(Catalog.sample)
                        guard bytes == expected, try marshaller.unmarshal(Catalog.self, from: bytes) == .sample else {
                            return false
                        }
                    }
                    return true
                }
            }
            for try await agreed in group { #expect(agreed) }
        }
    }
}

// MARK: - Types with hand-written Codable conformances

class Base: Codable {
    let base: Int
    init(base: Int) { self.base = base }
}

final class Derived: Base {
    let extra: String
    private enum CodingKeys: String, CodingKey { case extra }

    init(base: Int, extra: String) {
        self.extra = extra
        super.init(base: base)
    }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        extra = try container.decode(String.self, forKey: .extra)
        try super.init(from: container.superDecoder())
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(extra, forKey: .extra)
        try super.encode(to: container.superEncoder())
    }
}

/// Reads "key0"..."key39" last to first.
struct ReversedReader: Decodable {
    var values: [Int] = []
    struct Key: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for index in (0..<40).reversed() {
            values.append(try container.decode(Int.self, forKey: Key(stringValue: "key\(index)")))
        }
    }
}

struct RepeatedKey: Encodable {
    enum CodingKeys: CodingKey { case a, b }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(1, forKey: .a)
        try container.encode(2, forKey: .b)
        try container.encode(3, forKey: .a)
    }
}

struct TwoContainers: Encodable {
    enum CodingKeys: CodingKey { case a, b }
    func encode(to encoder: any Encoder) throws {
        var first = encoder.container(keyedBy: CodingKeys.self)
        try first.encode(1, forKey: .a)
        var second = encoder.container(keyedBy: CodingKeys.self)
        try second.encode(2, forKey: .b)
    }
}

/// `depth` arrays nested in one another around an Int.
struct Nested: Codable, Equatable {
    var depth: Int
    init(depth: Int) { self.depth = depth }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for _ in 1..<depth { container = container.nestedUnkeyedContainer() }
        try container.encode(depth)
    }
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var levels = 1
        while (try? container.decode(Int.self)) == nil {
            container = try container.nestedUnkeyedContainer()
            levels += 1
        }
        depth = levels
    }
}
