import DistributedCache
import Foundation
import Testing

/// Properties of JSONMarshaller: round trips (top-level fragments included), deterministic bytes
/// with sorted keys and unescaped slashes, and DecodingError on bad input.
@Suite struct JSONMarshallerTests {
    let marshaller = JSONMarshaller()

    private func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try marshaller.marshal(value), as: UTF8.self)
    }

    @Test func name_always_isJSON() {
        #expect(marshaller.name == "json")
    }

    /// The conformance test written in the Marshaller protocol's documentation.
    @Test func marshal_protocolExample_roundTripsAndRejectsGarbage() throws {
        let value = Profile(name: "Ada", visits: 3)
        let bytes = try marshaller.marshal(value)
        #expect(try marshaller.unmarshal(Profile.self, from: bytes) == value)
        #expect(throws: (any Error).self) { try marshaller.unmarshal(Profile.self, from: [0xFF, 0x00]) }
    }

    @Test func marshal_structOfEveryShape_roundTrips() throws {
        let bytes = try marshaller.marshal(Catalog.sample)
        #expect(try marshaller.unmarshal(Catalog.self, from: bytes) == Catalog.sample)
    }

    @Test func marshal_topLevelFragments_roundTrip() throws {
        // Bare strings, numbers, booleans and null are valid JSON texts (RFC 8259, section 2).
        #expect(try text("a/b") == #""a/b""#)
        #expect(try marshaller.unmarshal(String.self, from: marshaller.marshal("a/b \u{1F600}")) == "a/b \u{1F600}")
        #expect(try text(42) == "42")
        #expect(try marshaller.unmarshal(Int.self, from: marshaller.marshal(42)) == 42)
        #expect(try marshaller.unmarshal(UInt64.self, from: marshaller.marshal(UInt64.max)) == .max)
        #expect(try marshaller.unmarshal(Int64.self, from: marshaller.marshal(Int64.min)) == .min)
        #expect(try marshaller.unmarshal(Bool.self, from: marshaller.marshal(true)) == true)
        #expect(try marshaller.unmarshal(Double.self, from: marshaller.marshal(0.1)) == 0.1)
        #expect(try text(Int?.none) == "null")
        #expect(try marshaller.unmarshal(Int?.self, from: marshaller.marshal(Int?.none)) == nil)
    }

    /// The string and integer fast paths decide exactly as Foundation's JSONDecoder: same value,
    /// or an error where it throws.
    @Test func unmarshal_stringAndIntegerFastPaths_agreeWithFoundation() throws {
        let texts = [
            #""""#, #""plain""#, #""a/b \u{1F600}""#, #""with \"escape\"""#, #""tab\there""#, "\"unterminated",
            #""""""#, "\"ctl\u{01}\"", " \"spaced\"", "\"spaced\" ", "0", "-0", "7", "-7", "42", "007", "-01", "1.5", "1e3",
            "999999999999999999", "-999999999999999999", "9223372036854775807", "-9223372036854775808",
            "9223372036854775808", "+1", "-", "", " 1", "1 ", "null", "true", "\"1\"",
        ]
        let foundation = JSONDecoder()
        var inputs = texts.map { Array($0.utf8) }
        inputs.append([UInt8(ascii: "\""), 0xFF, 0xFE, UInt8(ascii: "\"")])  // invalid UTF-8
        inputs.append([UInt8(ascii: "\""), 0xC3, 0xA9, UInt8(ascii: "\"")])  // "é"
        for input in inputs {
            let expectedString = try? foundation.decode(String.self, from: Data(input))
            let expectedInteger = try? foundation.decode(Int.self, from: Data(input))
            #expect((try? marshaller.unmarshal(String.self, from: input)) == expectedString, "\(input)")
            #expect((try? marshaller.unmarshal(Int.self, from: input)) == expectedInteger, "\(input)")
        }
    }

    @Test func marshal_struct_sortsKeysAndLeavesSlashesUnescaped() throws {
        struct ZA: Codable { var z = "http://x/y", a = 1 }
        #expect(try text(ZA()) == #"{"a":1,"z":"http://x/y"}"#)
    }

    @Test func marshal_equalDictionaries_produceEqualBytes() throws {
        // Built in opposite insertion orders; Swift's iteration order differs, the bytes must not.
        var forward: [String: Int] = [:]
        var backward: [String: Int] = [:]
        for index in 0..<100 { forward["k\(index)"] = index }
        for index in (0..<100).reversed() { backward["k\(index)"] = index }
        #expect(try marshaller.marshal(forward) == marshaller.marshal(backward))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"name\":\"Ada\"}", "{\"name\":\"Ada\",\"visits\":\"3\"}", "1 2"])
    func unmarshal_malformedOrMismatchedJSON_throwsDecodingError(json: String) {
        #expect(throws: DecodingError.self) { try marshaller.unmarshal(Profile.self, from: Array(json.utf8)) }
    }

    @Test func marshal_nonFiniteDouble_throwsEncodingError() {
        #expect(throws: EncodingError.self) { try marshaller.marshal(Double.nan) }
        #expect(throws: EncodingError.self) { try marshaller.marshal(["x": Double.infinity]) }
    }
}
