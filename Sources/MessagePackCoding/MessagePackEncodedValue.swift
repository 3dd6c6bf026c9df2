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
// a dictionary lookup from `indexedFromCount` keys on. Measured on this machine kind (swiftc -O,
// 10-byte keys like synthesized CodingKeys): a scan that finds its key costs 20 ns at 4 keys,
// 70 ns at 16 and 100-135 ns at 24-32; a Dictionary<String, Int> lookup costs 60-110 ns at any
// size (SipHash dominates [2]). A new key, the common case here, costs a full scan (~140 ns at 16
// keys) against a table lookup plus insert (~200 ns); the two meet between 16 and 24 keys, and we
// switch at the lower end, since a map filled that far is usually a Dictionary that keeps growing.
// Synthesized structs stay below it; a Dictionary being encoded stays O(1) per key.
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
    case encoder(TreeEncoder)
}

/// The elements of an unkeyed container, in encoding order.
final class EncodedArray {
    var elements: [EncodedValue] = []
}

/// The entries of a keyed container, in the order their keys were first encoded.
final class EncodedMap {
    /// From this many keys on, `set` finds earlier keys through `positions` (see the file note).
    static let indexedFromCount = 16

    /// Room reserved before the first entry: a struct of up to this many stored properties fills
    /// its map with one allocation instead of growing through capacities 1, 2, 4, ...
    /// (MarshallingBenchmarks, marshal of a 4-field struct: 13 allocations per call with separate,
    /// unreserved key and value arrays, 8 with this one reserved array). Eight entries of 40 bytes
    /// are 320 bytes held only for the duration of one marshal call.
    static let reservedCount = 8

    private(set) var entries: [(key: String, value: EncodedValue)] = []
    /// Key to index in `entries`; nil until the map reaches `indexedFromCount` keys.
    private var positions: [String: Int]?

    init() { entries.reserveCapacity(Self.reservedCount) }

    var count: Int { entries.count }

    /// The value stored under `key`, if any.
    func value(forKey key: String) -> EncodedValue? {
        position(of: key).map { entries[$0].value }
    }

    /// Stores `value` under `key`, replacing the value of an earlier `set` with the same key
    /// (which keeps its position).
    func set(_ value: EncodedValue, forKey key: String) {
        defer { checkInvariantsSometimes() }
        if let position = position(of: key) {
            entries[position].value = value
            return
        }
        if positions != nil {
            positions![key] = entries.count
        } else if entries.count + 1 == Self.indexedFromCount {
            var positions = [String: Int](minimumCapacity: 2 * Self.indexedFromCount)
            for (position, existing) in entries.enumerated() { positions[existing.key] = position }
            positions[key] = entries.count
            self.positions = positions
        }
        entries.append((key, value))
    }

    private func position(of key: String) -> Int? {
        if let positions { return positions[key] }
        return entries.firstIndex { $0.key == key }
    }

    /// Runs `_checkInvariants` after every change of a small map and at each power-of-two size
    /// of a large one, which keeps the checks O(1) amortized per `set` for a 5,000-key test map.
    private func checkInvariantsSometimes() {
        #if DCACHE_INTERNAL_CHECKS
            if entries.count <= 2 * Self.indexedFromCount || entries.count & (entries.count - 1) == 0 {
                _checkInvariants()
            }
        #endif
    }

    /// Keys are unique, and `positions`, once built, maps every key to its entry and nothing else.
    func _checkInvariants() {
        #if DCACHE_INTERNAL_CHECKS
            precondition(Set(entries.map(\.key)).count == entries.count, "a key is stored twice")
            if let positions {
                precondition(positions.count == entries.count, "positions and entries differ in size")
                for (position, entry) in entries.enumerated() {
                    precondition(positions[entry.key] == position, "positions points \(entry.key) elsewhere")
                }
            } else {
                precondition(entries.count < Self.indexedFromCount, "a large map has no positions table")
            }
        #endif
    }
}
