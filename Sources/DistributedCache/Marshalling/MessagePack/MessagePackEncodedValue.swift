// MessagePackEncodedValue: the tree the MessagePack encoder builds before anything is written.
//
// Why a tree: MessagePack writes a container's element count before its elements, and Codable
// lets `encode(to:)` open containers in any order, fill a nested container after its parent has
// moved on, and hand out super-encoders that are filled later. The count is known only once the
// top-level `encode(to:)` has returned, so the encoder records values here and MessagePackWriter
// writes the finished tree in one pass. Foundation's JSONEncoder is built the same way [1].
//
// Containers are classes: a container handed to user code and the parent that stores it must see
// the same elements. Scalars are stored as the widest Swift type of their kind (Int64, UInt64),
// since msgpack-c picks the smallest wire form when writing anyway.
//
// Keys. A keyed container keeps its keys in encoding order (the order MessagePack carries them
// in), and encoding a key twice replaces the first value in place, as JSONEncoder does, so a map
// never holds a key twice. Finding the earlier value is a linear scan while the map is small and
// a dictionary lookup beyond `indexedFromCount` keys: comparing two short (inline) strings costs a
// few nanoseconds while hashing one costs tens [2], so the scan wins below roughly 16 keys, which
// covers every synthesized struct we know of; a Dictionary being encoded crosses the threshold and
// stays O(1) per key.
//
// References:
//  [1] swift-foundation, Sources/FoundationEssentials/JSON/JSONEncoder.swift: `enum JSONFuture`,
//      values plus reference-typed RefArray/RefObject, written once encoding completes; its
//      RefObject is a dictionary, so a repeated key replaces the earlier value there too.
//      https://github.com/swiftlang/swift-foundation
//  [2] shared/design/FINDINGS.md (the project's feasibility notes), "Local store":
//      `Dictionary<String, _>` lookups spend most of their time in SipHash.

/// A value the encoder has produced but not yet written.
enum EncodedValue {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    /// `[UInt8]` and `Data`, written as MessagePack bin.
    case bytes([UInt8])
    case array(EncodedArray)
    case map(EncodedMap)
    /// A coder handed out by `superEncoder()`: its value is read when the tree is written, so it
    /// may be filled after the parent stored it. Nothing encoded reads as an empty map.
    case encoder(MessagePackEncoder)
}

/// The elements of an unkeyed container, in encoding order.
final class EncodedArray {
    var elements: [EncodedValue] = []
}

/// The entries of a keyed container, in the order their keys were first encoded.
final class EncodedMap {
    /// From this many keys on, `set` finds earlier keys through `positions` (see the file note).
    static let indexedFromCount = 16

    private(set) var keys: [String] = []
    private(set) var values: [EncodedValue] = []
    /// Key to index in `keys`; nil until the map reaches `indexedFromCount` keys.
    private var positions: [String: Int]?

    var count: Int { keys.count }

    /// The value stored under `key`, if any.
    func value(forKey key: String) -> EncodedValue? {
        position(of: key).map { values[$0] }
    }

    /// Stores `value` under `key`, replacing the value of an earlier `set` with the same key
    /// (which keeps its position).
    func set(_ value: EncodedValue, forKey key: String) {
        if let position = position(of: key) {
            values[position] = value
            return
        }
        if positions != nil {
            positions![key] = keys.count
        } else if keys.count + 1 == Self.indexedFromCount {
            var positions = [String: Int](minimumCapacity: 2 * Self.indexedFromCount)
            for (position, existing) in keys.enumerated() { positions[existing] = position }
            positions[key] = keys.count
            self.positions = positions
        }
        keys.append(key)
        values.append(value)
    }

    private func position(of key: String) -> Int? {
        if let positions { return positions[key] }
        return keys.firstIndex(of: key)
    }
}
