// The built-in local cache's entries: flat, typed, versioned.
//
// Design note. A local hit must cost the store's probe and a copy of the value, nothing more. So
// the built-in cache stores each value in the table's entry itself, as a
// `VersionedStoreEntry<Value>` (LocalStore): the key, the deadline, the version of the write
// and the decoded value, inline. A typed read is then one exact class comparison (the entry's
// class against `VersionedStoreEntry<Value>.self`, one load and one compare) and a field read,
// where the previous design went from the entry to a `LocalValue` object to a box object to the
// value: three dependent loads, two of them to cold lines.
//
// Values that arrive as bytes (a set event, decoded on their first typed read) are stored as
// `VersionedStoreEntry<Encoded>`; `Encoded` is internal, so no caller's type can be mistaken for
// it. A read of another type than the stored one finds the class different and takes the slow
// path, which sees the entry as a `LocalValue` (the form custom caches store) through
// `localValue(of:)`.

import LocalStore

/// Marshalled bytes held undecoded in the built-in cache.
@usableFromInline
struct Encoded: Sendable {
    @usableFromInline let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// A decoded entry of the built-in cache can encode its value again, like a custom cache's box.
extension VersionedStoreEntry: DecodedValue where Value: Codable {
    @usableFromInline func marshal(with marshaller: any Marshaller) throws -> [UInt8] { try marshaller.marshal(value) }
    @usableFromInline var anyValue: any Sendable { value }
}

extension LocalValue {
    /// The built-in cache's entry, in the form the slow paths share with custom caches. Every
    /// entry the local layer stores is a `VersionedEntry` holding `Encoded` bytes or a Codable
    /// value.
    @usableFromInline
    static func of(_ entry: KeyedEntry) -> LocalValue {
        let entry = unsafeDowncast(entry, to: VersionedEntry.self)
        let payload: Payload
        if let encoded = entry as? VersionedStoreEntry<Encoded> {
            payload = .encoded(encoded.value.bytes)
        } else if let decoded = entry as? any DecodedValue {
            payload = .decoded(decoded)
        } else {
            preconditionFailure("the local layer stored a \(type(of: entry)), which is neither bytes nor Codable")
        }
        return LocalValue(version: entry.version, payload: payload, expiresAt: entry.expiresAt, origin: entry)
    }
}
