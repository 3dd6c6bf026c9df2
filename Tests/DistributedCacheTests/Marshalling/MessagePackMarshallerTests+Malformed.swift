import CSupport
import DistributedCache
import Foundation
import LocalStore
import Testing

/// Hostile, broken and random input: MessagePackMarshaller must throw a DecodingError that says
/// what went wrong and where, and never crash, read out of bounds or allocate without bound.
extension MessagePackMarshallerTests {
    /// The case and coding path of the DecodingError that decoding `bytes` as `type` throws, as
    /// "typeMismatch at items/Index 1/title" ("at /" for the root); "no DecodingError" otherwise.
    private func failure<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> String {
        let error = #expect(throws: DecodingError.self) { try marshaller.unmarshal(type, from: bytes) }
        let (kind, context): (String, DecodingError.Context)
        switch error {
        case .typeMismatch(_, let c)?: (kind, context) = ("typeMismatch", c)
        case .valueNotFound(_, let c)?: (kind, context) = ("valueNotFound", c)
        case .keyNotFound(_, let c)?: (kind, context) = ("keyNotFound", c)
        case .dataCorrupted(let c)?: (kind, context) = ("dataCorrupted", c)
        default: return "no DecodingError"
        }
        return "\(kind) at /" + context.codingPath.map(\.stringValue).joined(separator: "/")
    }

    @Test(
        arguments: [
            ("empty input", []),
            ("0xc1, a byte the spec never uses", [0xC1]),
            ("0xc1 inside an array", [0x92, 0x01, 0xC1]),
            ("uint 32 cut short", [0xCE, 0x00, 0x01]),
            ("str 8 payload cut short", [0xD9, 0x05, 0x61]),
            ("map missing its last value", [0x82, 0xA1, 0x61, 0x01, 0xA1, 0x62]),
            ("array 16 declaring more elements than bytes remain", [0xDC, 0x00, 0x03, 0x01, 0x02]),
            ("trailing byte after a complete value", [0x01, 0x00]),
            ("two complete values", [0x90, 0x90]),
            ("array 32 declaring 2^32 - 1 elements", [0xDD, 0xFF, 0xFF, 0xFF, 0xFF]),
            ("map 32 declaring 2^32 - 1 pairs", [0xDF, 0xFF, 0xFF, 0xFF, 0xFF]),
            ("str 32 declaring 4 GiB", [0xDB, 0xFF, 0xFF, 0xFF, 0xFF, 0x61]),
            ("bin 32 declaring 4 GiB", [0xC6, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]),
            ("ext 32 declaring 4 GiB", [0xC9, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            ("33 nested arrays, one beyond msgpack-c's stack", [UInt8](repeating: 0x91, count: 32) + [0x90]),
        ] as [(String, [UInt8])])
    func unmarshal_malformedBytes_throwsDataCorruptedAtTheRoot(name: String, bytes: [UInt8]) {
        // DynamicValue accepts every well-formed shape, so only the bytes themselves can fail.
        let error = #expect(throws: DecodingError.self, "\(name)") {
            try marshaller.unmarshal(DynamicValue.self, from: bytes)
        }
        guard case .dataCorrupted(let context)? = error else {
            Issue.record("\(name): expected dataCorrupted, got \(String(describing: error))")
            return
        }
        #expect(context.codingPath.isEmpty)
        #expect(context.debugDescription.hasPrefix("Invalid MessagePack: "), "\(context.debugDescription)")
    }

    @Test func unmarshal_everyTruncation_throwsDataCorrupted() throws {
        let bytes = try marshaller.marshal(Catalog.sample)
        for length in 0..<bytes.count {
            #expect(failure(Catalog.self, Array(bytes.prefix(length))) == "dataCorrupted at /", "prefix \(length)")
        }
    }

    @Test func unmarshal_wrongShapes_throwTheMatchingErrorWithItsPath() throws {
        struct Shelf: Decodable {
            struct Item: Decodable { var title: String }
            var items: [Item]
        }
        func shelf(_ items: [DynamicValue]) throws -> [UInt8] {
            try marshaller.marshal(DynamicValue.map(["items": .array(items)]))
        }
        let good = DynamicValue.map(["title": .string("tea")])
        let wrongTitle = try shelf([good, .map(["title": .int(5)])])
        #expect(failure(Shelf.self, wrongTitle) == "typeMismatch at /items/Index 1/title")
        #expect(failure(Shelf.self, try shelf([.map([:])])) == "keyNotFound at /items/Index 0")
        let nilTitle = try shelf([good, good, .map(["title": .null])])
        #expect(failure(Shelf.self, nilTitle) == "valueNotFound at /items/Index 2/title")
        #expect(failure(Shelf.self, try shelf([.string("tea")])) == "typeMismatch at /items/Index 0")
        #expect(failure(Shelf.self, try shelf([.null])) == "valueNotFound at /items/Index 0")
        let mapForArray = try marshaller.marshal(DynamicValue.map(["items": .map([:])]))
        #expect(failure(Shelf.self, mapForArray) == "typeMismatch at /items")
        #expect(failure(Profile.self, try marshaller.marshal([1, 2])) == "typeMismatch at /")
        #expect(failure(String.self, try marshaller.marshal([UInt8]([0x61]))) == "typeMismatch at /")
        #expect(failure(Int.self, try marshaller.marshal(1.5)) == "typeMismatch at /")
        #expect(failure(Bool.self, try marshaller.marshal(1)) == "typeMismatch at /")
        // Reading a third element from a two-element array.
        #expect(failure(ThreeInts.self, try marshaller.marshal([1, 2])) == "valueNotFound at /Index 2")
    }

    @Test func unmarshal_integerOrFloatOutOfRange_throwsDataCorrupted() throws {
        #expect(failure(Int8.self, try marshaller.marshal(300)) == "dataCorrupted at /")
        #expect(failure(UInt.self, try marshaller.marshal(-1)) == "dataCorrupted at /")
        #expect(failure(Int64.self, try marshaller.marshal(UInt64.max)) == "dataCorrupted at /")
        #expect(failure([String: UInt8].self, try marshaller.marshal(["k": 256])) == "dataCorrupted at /k")
        #expect(failure(Float.self, try marshaller.marshal(1e300)) == "dataCorrupted at /")
        // Infinity is in range for Float: only finite values that would overflow are refused.
        #expect(try marshaller.unmarshal(Float.self, from: marshaller.marshal(Double.infinity)) == .infinity)
    }

    @Test func unmarshal_invalidUTF8String_throwsDataCorrupted() {
        // fixstr of 2 bytes, ff fe: never valid in UTF-8.
        #expect(failure(String.self, [0xA2, 0xFF, 0xFE]) == "dataCorrupted at /")
        #expect(failure([String].self, [0x91, 0xA2, 0xFF, 0xFE]) == "dataCorrupted at /Index 0")
    }

    @Test func unmarshal_unkeyedElementOfWrongType_canBeRetriedAsAnotherType() throws {
        let decoded = try marshaller.unmarshal(StringOrInt.self, from: marshaller.marshal([5]))
        #expect(decoded.value == 5)
    }

    @Test func unmarshal_superDecoderOfMissingKey_readsNil() throws {
        let decoded = try marshaller.unmarshal(OptionalSuper.self, from: marshaller.marshal([String: Int]()))
        #expect(decoded.isNil)
    }

    @Test func marshal_randomValues_roundTrip() throws {
        var rng = SplitMix64(seed: 0x5EED_0001)
        for iteration in 0..<2_000 {
            let value = DynamicValue.random(depth: 4, using: &rng)
            let bytes = try marshaller.marshal(value)
            let decoded = try marshaller.unmarshal(DynamicValue.self, from: bytes)
            #expect(decoded == value, "iteration \(iteration)")
            if decoded != value { return }
        }
    }

    @Test func unmarshal_randomAndMutatedBytes_throwOnlyDecodingErrors() throws {
        var rng = SplitMix64(seed: 0x5EED_0002)
        // Headers are drawn often so that random inputs reach deep into the parser, not just
        // fail on the first byte.
        let alphabet: [UInt8] = [
            0x00, 0x7F, 0x80, 0x81, 0x8F, 0x90, 0x91, 0x9F, 0xA1, 0xBF, 0xC0, 0xC1, 0xC2, 0xC3,
            0xC4, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCC, 0xCF, 0xD0, 0xD3, 0xD4, 0xD8, 0xD9, 0xDB, 0xDC, 0xDD, 0xDE,
            0xDF, 0xE0, 0xFF,
        ]
        var inputs: [[UInt8]] = []
        for _ in 0..<10_000 {
            inputs.append(
                (0..<Int.random(in: 0...48, using: &rng)).map { _ in
                    Bool.random(using: &rng)
                        ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
                })
        }
        for _ in 0..<10_000 {
            var bytes = try marshaller.marshal(DynamicValue.random(depth: 3, using: &rng))
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            inputs.append(bytes)
        }
        var decoded = 0
        for input in inputs {
            do {
                _ = try marshaller.unmarshal(DynamicValue.self, from: input)
                decoded += 1
            } catch is DecodingError {
            } catch {
                Issue.record("non-DecodingError \(error) for \(input)")
            }
        }
        // Both outcomes must occur, or the inputs did not exercise the parser.
        #expect(decoded > 0 && decoded < inputs.count)
    }

    /// dc_msgpack_fail_allocation_after makes the n-th allocation of the C shim on this thread
    /// fail; a marshal makes 2 (writer, buffer) and an unmarshal 3 (reader, nodes, zone).
    @Test func marshalAndUnmarshal_failingAllocations_throwAndLaterCallsSucceed() throws {
        let bytes = try marshaller.marshal(Catalog.sample)
        for countdown in 1...2 {
            dc_msgpack_fail_allocation_after(Int32(countdown))
            #expect(throws: EncodingError.self, "allocation \(countdown)") { try marshaller.marshal(Catalog.sample) }
        }
        for countdown in 1...3 {
            dc_msgpack_fail_allocation_after(Int32(countdown))
            #expect(failure(Catalog.self, bytes) == "dataCorrupted at /", "allocation \(countdown)")
        }
        dc_msgpack_fail_allocation_after(0)
        // A large value grows the writer's buffer: failing the growth is reported too.
        dc_msgpack_fail_allocation_after(3)
        #expect(throws: EncodingError.self) { try marshaller.marshal([UInt8](repeating: 1, count: 10_000)) }
        dc_msgpack_fail_allocation_after(0)
        #expect(try marshaller.unmarshal(Catalog.self, from: marshaller.marshal(Catalog.sample)) == .sample)
    }
}

/// Decodes exactly three Ints from an unkeyed container.
private struct ThreeInts: Decodable {
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        for _ in 0..<3 { _ = try container.decode(Int.self) }
    }
}

/// Tries the first element as a String, then, after that fails, as an Int.
private struct StringOrInt: Decodable {
    var value: Int
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        #expect((try? container.decode(String.self)) == nil)
        #expect(container.currentIndex == 0)
        value = try container.decode(Int.self)
        #expect(container.isAtEnd)
    }
}

/// Reads its value through `superDecoder()` of an empty map.
private struct OptionalSuper: Decodable {
    var isNil: Bool
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: MissingKey.self)
        isNil = try container.superDecoder().singleValueContainer().decodeNil()
    }
    private struct MissingKey: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}
