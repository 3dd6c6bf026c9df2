// MessagePackCodingKey: the coding keys the MessagePack coder makes up for `codingPath`.
//
// An element's index in an unkeyed container, the "super" key of `superEncoder()` and
// `superDecoder()`, and map keys found while decoding `allKeys`. Index keys are created for every
// element an unkeyed container decodes or encodes through a nested coder, so their text is built
// only when something reads `stringValue` (an error message, usually), never on creation; the
// payload then fits an existential's inline buffer and creating a key allocates nothing.

/// A coding key synthesized by the MessagePack encoder or decoder.
struct MessagePackCodingKey: CodingKey, Sendable {
    private enum Storage: Sendable {
        case string(String)
        case index(Int)
    }

    private let storage: Storage

    /// The key `superEncoder()` and `superDecoder()` use, as Foundation's coders do.
    static let superKey = MessagePackCodingKey(stringValue: "super")

    init(stringValue: String) { storage = .string(stringValue) }

    /// An unkeyed container's element index; reads as "Index 3" in messages, like JSONDecoder's.
    init(intValue: Int) { storage = .index(intValue) }

    var stringValue: String {
        switch storage {
        case .string(let string): return string
        case .index(let index): return "Index \(index)"
        }
    }

    var intValue: Int? {
        if case .index(let index) = storage { return index }
        return nil
    }
}
