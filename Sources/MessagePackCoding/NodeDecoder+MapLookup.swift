// NodeDecoder+MapLookup: finding a key's value in one map node.
//
// A map's pairs sit in the node array as key, value, key, value, ... reached by `next`, so finding
// a key is a walk. Three tiers, cheapest first:
//  1. The pair found last. The default `decodeIfPresent` asks `contains`, then `decodeNil`, then
//     `decode` for the same key, so the second and third questions hit here.
//  2. The pair after it. Synthesized `init(from:)` decodes keys in declaration order, which is the
//     order synthesized `encode(to:)` wrote them in, and `Dictionary.init(from:)` decodes in
//     `allKeys` order, which is map order: both advance one pair per key, O(1) each.
//  3. Anything else: a linear scan of the pairs while the map has fewer than `indexedFromCount`
//     pairs, otherwise a table from key to pair built once on the first miss. The crossover is
//     the encoder's (MessagePackEncodedValue.swift has the measurements): below about 16 keys a
//     scan costs less than one hashed lookup, let alone building the table (a String per key).
//
// A key matches a str key with the same UTF-8 bytes as its `stringValue`, or an integer key equal
// to its `intValue` (maps written by other producers with integer keys). A map with a repeated key,
// which our encoder never writes, yields one of its values: the first for tiers 3, the next one in
// order for tier 2. Which one is unspecified; reading it never fails or crashes.
//
// Class, not struct: KeyedDecodingContainerProtocol's methods are non-mutating, and the cursor
// and table must persist between them.

import CSupport

/// Finds keys in one map node of a ``MessagePackReader``. Not Sendable: used by one decoding
/// call on its thread.
final class MapLookup {
    /// From this many pairs on, tier 3 uses a table instead of a scan (see the file note).
    static let indexedFromCount = 16

    let reader: MessagePackReader
    /// Number of key-value pairs.
    let count: Int
    /// Node index of the first key (the map node's first child); meaningful when `count > 0`.
    private let firstKey: UInt32
    /// Pair number and key node of the last hit; the first pair before any hit.
    private var cursorPair = 0
    private var cursorKey: UInt32
    /// Tier 3's tables, built on the first miss of a map with `indexedFromCount` pairs or more:
    /// key text or integer -> pair number and key node. First occurrence wins.
    private var textKeys: [String: (pair: Int, key: UInt32)]?
    private var integerKeys: [Int: (pair: Int, key: UInt32)] = [:]

    init(reader: MessagePackReader, map: UInt32, node: dc_msgpack_node_t) {
        self.reader = reader
        count = Int(node.length)
        firstKey = map + 1
        cursorKey = firstKey
    }

    /// Calls `body` with each pair's number and key node, in map order, until it returns false.
    func forEachKey(_ body: (Int, dc_msgpack_node_t, UInt32) -> Bool) {
        var keyIndex = firstKey
        for pair in 0..<count {
            let key = reader.node(keyIndex)
            if !body(pair, key, keyIndex) { return }
            keyIndex = reader.node(key.next).next
        }
    }

    /// The node index of `key`'s value, or nil when the map does not hold `key`.
    func valueIndex(of key: some CodingKey) -> UInt32? {
        guard count > 0 else { return nil }
        let current = reader.node(cursorKey)
        if reader.keyMatches(current, key) { return current.next }
        if cursorPair + 1 < count {
            let nextKey = reader.node(current.next).next
            let next = reader.node(nextKey)
            if reader.keyMatches(next, key) { return hit(pair: cursorPair + 1, key: nextKey, node: next) }
        }
        return count < Self.indexedFromCount ? scan(for: key) : tableLookup(key)
    }

    private func hit(pair: Int, key: UInt32, node: dc_msgpack_node_t) -> UInt32 {
        cursorPair = pair
        cursorKey = key
        #if DCACHE_INTERNAL_CHECKS
            // Walking to the cursor is O(pairs): check small maps always, large ones at every
            // power-of-two pair, so a 5,000-key test map stays O(1) amortized per lookup.
            if pair < 2 * Self.indexedFromCount || pair & (pair - 1) == 0 { _checkInvariants() }
        #endif
        return node.next
    }

    /// The cursor names a pair of this map, and `cursorKey` is that pair's key node.
    func _checkInvariants() {
        #if DCACHE_INTERNAL_CHECKS
            guard count > 0 else { return }
            precondition(cursorPair >= 0 && cursorPair < count, "cursor pair \(cursorPair) of \(count)")
            var walked: UInt32?
            forEachKey { pair, _, index in
                guard pair == cursorPair else { return true }
                walked = index
                return false
            }
            precondition(walked == cursorKey, "cursor key node \(cursorKey) is not pair \(cursorPair)'s key")
        #endif
    }

    private func scan(for key: some CodingKey) -> UInt32? {
        var found: UInt32?
        forEachKey { pair, node, index in
            guard reader.keyMatches(node, key) else { return true }
            found = hit(pair: pair, key: index, node: node)
            return false
        }
        return found
    }

    private func tableLookup(_ key: some CodingKey) -> UInt32? {
        if textKeys == nil { buildTables() }
        let entry = textKeys?[key.stringValue] ?? key.intValue.flatMap { integerKeys[$0] }
        guard let entry else { return nil }
        return hit(pair: entry.pair, key: entry.key, node: reader.node(entry.key))
    }

    private func buildTables() {
        var text: [String: (pair: Int, key: UInt32)] = [:]
        text.reserveCapacity(count)
        forEachKey { pair, node, index in
            switch node.type {
            case DC_MSGPACK_STR:
                if let string = reader.string(node), text[string] == nil { text[string] = (pair, index) }
            case DC_MSGPACK_UINT:
                if let int = Int(exactly: node.value.u), integerKeys[int] == nil { integerKeys[int] = (pair, index) }
            case DC_MSGPACK_INT:
                if let int = Int(exactly: node.value.i), integerKeys[int] == nil { integerKeys[int] = (pair, index) }
            default:
                break
            }
            return true
        }
        textKeys = text
    }
}
