// TagRegistry: tags on values, and dropping every value of a tag at once.
//
// Design note. A value may carry tags (`set(_:_:ttl:tags:)`); `invalidate(tag:)` drops every value
// carrying the tag, on every instance, without scanning Redis. Each tag has a generation, kept in
// Redis in the namespace's hash `ns:__tags` (HINCRBY on invalidation). A value records the
// generation of each of its tags as of its write: in its stored header
// (`<version>@<deadline>#<length>#<tag>=<generation>,...:<bytes>`, the length being the tag list's
// in bytes) and in its set event (`"tags"`). The
// write script refuses a write whose generations are not the current ones (the writer learns
// them from the refusal and tries again), so a value never claims a generation older than the
// one in force when it was written.
//
// A value is current while every one of its tags' generations is the newest known. So:
//   - Redis's copies of invalidated values are not deleted; a read finds their generation
//     behind and treats them as absent (the check is lazy, on read; the values leave with their
//     TTL);
//   - locally, the registry knows which keys carry which tag and drops them when a tag's
//     invalidation arrives (its event carries the new generation), so local hits pay nothing for
//     tags; set events and reads that arrive late with an older generation are refused.
// Generations learned are kept until a resync, which forgets them (events may have been missed)
// and drops every tagged local entry.
//
// The key index is pruned lazily: a tag's set of keys is checked against the local cache when it
// doubles, so keys evicted or replaced meanwhile do not accumulate.

import Primitives

/// One tag of a value and the tag's generation when the value was written.
struct TagGeneration: Sendable, Equatable, Hashable {
    var tag: String
    var generation: UInt64
}

/// Known tag generations and the local keys carrying each tag. Thread-safe.
final class TagRegistry: Sendable {
    /// Most tags on one value.
    static let maximumTagsPerValue = 32
    /// Longest tag, in UTF-8 bytes.
    static let maximumTagSize = 256
    /// Longest tag header (`tag=generation,...`) accepted from the network.
    static let maximumHeaderSize = maximumTagsPerValue * (maximumTagSize + 18)

    private struct State {
        var generations: [String: UInt64] = [:]
        /// Tag -> local key -> the generation its entry carries.
        var keys: [String: [String: UInt64]] = [:]
        var pruneAt: [String: Int] = [:]
    }

    private let state = Locked(State())

    // MARK: - Names and the header format

    /// Checks a tag's name: 1 to 256 bytes of printable ASCII other than space and `, = " \`
    /// (`,` and `=` separate the tag list; the list travels unescaped in the stored header).
    static func validate(_ tag: String) throws(CacheError) {
        guard !tag.isEmpty, tag.utf8.count <= maximumTagSize else {
            throw .invalidTag("a tag must have 1 to \(maximumTagSize) bytes, got \(tag.utf8.count)")
        }
        guard tag.utf8.allSatisfy(isAllowed) else {
            throw .invalidTag("tag \"\(tag)\" has a character outside printable ASCII, or one of space , = \" \\")
        }
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) && !",=\"\\".utf8.contains(byte)
    }

    /// `tag=generation,...` in the order given.
    static func format(_ tags: [TagGeneration]) -> String {
        tags.map { "\($0.tag)=\($0.generation)" }.joined(separator: ",")
    }

    /// Parses a tag header from the network; nil when it is not one (bad names, numbers above
    /// 2^53, too many tags, too long).
    static func parse<Bytes: Collection<UInt8>>(_ header: Bytes) -> [TagGeneration]? {
        guard !header.isEmpty, header.count <= maximumHeaderSize else { return nil }
        var result: [TagGeneration] = []
        for item in header.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let parts = item.split(separator: UInt8(ascii: "="), omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= maximumTagSize, parts[0].allSatisfy(isAllowed),
                (1...16).contains(parts[1].count), parts[1].allSatisfy({ (48...57).contains($0) }),
                let generation = UInt64(String(decoding: parts[1], as: UTF8.self)), generation <= SyncedCache.maximumVersion,
                result.count < maximumTagsPerValue
            else { return nil }
            result.append(TagGeneration(tag: String(decoding: parts[0], as: UTF8.self), generation: generation))
        }
        return result
    }

    // MARK: - Generations

    /// Learns generations (each only moves up).
    func learn(_ tags: [TagGeneration]) {
        guard !tags.isEmpty else { return }
        state.withLock { state in
            for item in tags where item.generation > state.generations[item.tag, default: 0] {
                state.generations[item.tag] = item.generation
            }
        }
    }

    /// The newest known generation of each tag (0 when none is known).
    func generations(of tags: [String]) -> [TagGeneration] {
        state.withLock { state in tags.map { TagGeneration(tag: $0, generation: state.generations[$0] ?? 0) } }
    }

    /// Tags whose generation is not known yet.
    func unknown(_ tags: [TagGeneration]) -> [String] {
        state.withLock { state in tags.filter { state.generations[$0.tag] == nil }.map(\.tag) }
    }

    /// Whether a value written at these generations is still current (a generation not known
    /// yet counts as current).
    func isCurrent(_ tags: [TagGeneration]) -> Bool {
        guard !tags.isEmpty else { return true }
        return state.withLock { state in tags.allSatisfy { $0.generation >= state.generations[$0.tag] ?? 0 } }
    }

    // MARK: - Local keys

    /// Records that the local entry of `key` carries `tags`. `isPresent` tells whether a key is
    /// still in the local cache, for the lazy pruning.
    func note(_ key: String, carries tags: [TagGeneration], isPresent: (String) -> Bool) {
        guard !tags.isEmpty else { return }
        state.withLock { state in
            for item in tags {
                state.keys[item.tag, default: [:]][key] = item.generation
                let count = state.keys[item.tag]!.count
                if count >= state.pruneAt[item.tag, default: 1_024] {
                    let kept = state.keys[item.tag]!.filter { isPresent($0.key) }
                    state.keys[item.tag] = kept
                    state.pruneAt[item.tag] = max(1_024, kept.count * 2)
                }
            }
        }
    }

    /// A tag was invalidated up to `generation`: learns it and returns the local keys to drop
    /// (those written at an older generation; one written at this generation or later came after
    /// the invalidation and stays).
    func invalidate(_ tag: String, generation: UInt64) -> [String] {
        state.withLock { state in
            if generation > state.generations[tag, default: 0] { state.generations[tag] = generation }
            guard let carried = state.keys[tag] else { return [] }
            let doomed = carried.filter { $0.value < generation }.map(\.key)
            for key in doomed { state.keys[tag]![key] = nil }
            return doomed
        }
    }

    /// Forgets every generation (a resync: invalidations may have been missed) and returns every
    /// tagged local key, to drop.
    func forgetAll() -> Set<String> {
        state.withLock { state in
            let keys = state.keys.values.reduce(into: Set<String>()) { $0.formUnion($1.keys) }
            state = State()
            return keys
        }
    }
}
