// Value types and generators shared by the marshaller tests.

import Foundation
import LocalStore

// `Profile`, the example of the Marshaller protocol's doc comment, lives in CacheTestSupport.swift.

/// A struct of every shape Codable has: nesting, enums with payloads, arrays, dictionaries,
/// optionals both present and absent, bytes, dates and every integer width.
struct Catalog: Codable, Equatable, Sendable {
    enum Status: String, Codable, Sendable { case draft, published }
    enum Price: Codable, Equatable, Sendable {
        case free
        case fixed(cents: Int64)
        case range(low: UInt32, high: UInt32)
    }
    struct Item: Codable, Equatable, Sendable {
        var id: UInt64
        var title: String
        var tags: [String]
        var price: Price
        var rating: Double?
        var thumbnail: [UInt8]?
    }

    var name: String
    var status: Status
    var items: [Item]
    var index: [String: [Int]]
    var byNumber: [Int: String]
    var note: String?
    var payload: Data
    var updated: Date
    var matrix: [[Float]]
    var flags: Set<Bool>
    var i8: Int8, i16: Int16, i32: Int32, i64: Int64
    var u8: UInt8, u16: UInt16, u32: UInt32, u64: UInt64, u: UInt

    static let sample = Catalog(
        name: "spring \u{1F338} catalog",
        status: .published,
        items: [
            Item(
                id: 1, title: "tea", tags: ["green", "loose"], price: .fixed(cents: 450), rating: 4.5,
                thumbnail: [0, 1, 255]),
            Item(id: .max, title: "", tags: [], price: .free, rating: nil, thumbnail: nil),
            Item(id: 7, title: "cup", tags: ["a/b"], price: .range(low: 100, high: 9_000), rating: -0.0, thumbnail: []),
        ],
        index: ["tea": [0], "cups": [2, 1], "": []],
        byNumber: [-3: "minus three", 0: "zero", 1_000_000: "million"],
        note: nil,
        payload: Data([0xC1, 0x00, 0xFF]),
        updated: Date(timeIntervalSince1970: 1_718_000_000.25),
        matrix: [[1.5, -2], [], [.greatestFiniteMagnitude]],
        flags: [true],
        i8: .min, i16: .min, i32: .min, i64: .min,
        u8: .max, u16: .max, u32: .max, u64: .max, u: 42)
}

/// A dynamically shaped value, for randomized round trips: its `init(from:)` tries each kind in
/// turn, which also exercises the decoders' rule that a failed decode leaves the data untouched.
indirect enum DynamicValue: Codable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)  // only values above Int64.max, so that decoding is unambiguous
    case double(Double)
    case string(String)
    case array([DynamicValue])
    case map([String: DynamicValue])
    case bytes([UInt8])

    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
            return
        }
        if let value = try? single.decode(Bool.self) {
            self = .bool(value)
            return
        }
        if let value = try? single.decode(Int64.self) {
            self = .int(value)
            return
        }
        if let value = try? single.decode(UInt64.self) {
            self = .uint(value)
            return
        }
        if let value = try? single.decode(Double.self) {
            self = .double(value)
            return
        }
        if let value = try? single.decode(String.self) {
            self = .string(value)
            return
        }
        if let value = try? single.decode([DynamicValue].self) {
            self = .array(value)
            return
        }
        if let value = try? single.decode([String: DynamicValue].self) {
            self = .map(value)
            return
        }
        self = .bytes(try single.decode([UInt8].self))
    }

    func encode(to encoder: any Encoder) throws {
        var single = encoder.singleValueContainer()
        switch self {
        case .null: try single.encodeNil()
        case .bool(let value): try single.encode(value)
        case .int(let value): try single.encode(value)
        case .uint(let value): try single.encode(value)
        case .double(let value): try single.encode(value)
        case .string(let value): try single.encode(value)
        case .array(let value): try single.encode(value)
        case .map(let value): try single.encode(value)
        case .bytes(let value): try single.encode(value)
        }
    }

    /// A random value at most `depth` containers deep. Doubles are never NaN (NaN != NaN would
    /// make equality fail for a correct round trip; NaN has its own test).
    static func random(depth: Int, using rng: inout SplitMix64) -> DynamicValue {
        let kinds = depth > 0 ? 9 : 7
        switch Int.random(in: 0..<kinds, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(randomInteger(using: &rng))
        case 3: return .uint(UInt64.random(in: UInt64(Int64.max) + 1 ... .max, using: &rng))
        case 4:
            let double = Double(bitPattern: rng.next())
            return .double(double.isNaN ? 0.5 : double)
        case 5: return .string(randomString(using: &rng))
        case 6:
            return .bytes((0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        case 7:
            let count = Int.random(in: 0...6, using: &rng)
            return .array((0..<count).map { _ in random(depth: depth - 1, using: &rng) })
        default:
            var map: [String: DynamicValue] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                map[randomString(using: &rng)] = random(depth: depth - 1, using: &rng)
            }
            return .map(map)
        }
    }

    /// Integers spread over every wire width, including the boundaries between them.
    static func randomInteger(using rng: inout SplitMix64) -> Int64 {
        let boundaries: [Int64] = [
            0, 127, 128, 255, 256, 65_535, 65_536, 1 << 32, -1, -32, -33, -128, -129, .min, .max,
        ]
        if Bool.random(using: &rng) { return boundaries.randomElement(using: &rng)! }
        let bits = Int64.random(in: 0...62, using: &rng)  // 1 << 63 would overflow when negated
        return Int64.random(in: -(1 << bits)...(1 << bits), using: &rng)
    }

    /// Strings of ASCII, NUL, multi-byte and astral characters, 0 to 40 scalars.
    static func randomString(using rng: inout SplitMix64) -> String {
        let alphabet: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "/", "\"", "\0", "é", "ß", "中", "\u{1F600}", "\u{FFFF}",
        ]
        var string = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...40, using: &rng) { string.append(alphabet.randomElement(using: &rng)!) }
        return String(string)
    }
}
