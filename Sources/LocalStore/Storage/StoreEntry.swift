// The entries the table holds: a key and its policy node, plus what the owner stores.
//
// Entries are immutable apart from the policy's bookkeeping in PolicyNode: a set of an existing
// key installs a new entry instead of changing the old one in place. So a lock-free reader that
// found an entry sees a consistent key, value and deadline, and a writer never races a reader on
// the value. The table holds one strong reference per entry (an `Unmanaged` retain in its slot);
// removing an entry retires that reference to the epoch reclaimer (Reclaimer.swift), which
// releases it once no reader can still be looking at it.
//
// The table is not generic: it probes `KeyedEntry`s, whatever their subclass. `ShardedCache<Value>`
// stores `StoreEntry<Value>`s only. The distributed cache's local layer stores entries of many
// value types in one table (a decoded value of any Codable type, or the undecoded bytes) and reads
// them by an exact class check: `VersionedStoreEntry<Value>`, whose version lives in the common
// base `VersionedEntry` so that a write can compare versions without knowing the value's type.
//
// `@unchecked Sendable` on every class: `key`, `value` and `version` are immutable (`let`) and
// values are `Sendable`; the inherited `var`s of PolicyNode are guarded by the cache's policy lock.

/// An entry of the table: a key, and the policy's bookkeeping (inherited from ``PolicyNode``).
@usableFromInline
package class KeyedEntry: PolicyNode, @unchecked Sendable {
    @usableFromInline package let key: String

    @usableFromInline
    package init(key: String, keyHash: UInt64, weight: UInt32, expiresAt: Int64) {
        self.key = key
        super.init(keyHash: keyHash, weight: weight, expiresAt: expiresAt)
    }

    /// The same entry (key, value, weight, version) with another deadline: time to idle renews
    /// an entry this way, entries being immutable. Every concrete entry class overrides it.
    package func renewed(expiresAt: Int64) -> KeyedEntry {
        preconditionFailure("\(type(of: self)) does not override renewed(expiresAt:)")
    }
}

/// An entry of a ``ShardedCache``: a key and its value (80 bytes with a class value).
@usableFromInline
package final class StoreEntry<Value: Sendable>: KeyedEntry, @unchecked Sendable {
    @usableFromInline package let value: Value

    @usableFromInline
    package init(key: String, value: Value, keyHash: UInt64, weight: UInt32, expiresAt: Int64) {
        self.value = value
        super.init(key: key, keyHash: keyHash, weight: weight, expiresAt: expiresAt)
    }

    package override func renewed(expiresAt: Int64) -> KeyedEntry {
        StoreEntry(key: key, value: value, keyHash: keyHash, weight: weight, expiresAt: expiresAt)
    }
}

/// The base of entries that carry a version assigned by their owner (the store never reads it).
@usableFromInline
package class VersionedEntry: KeyedEntry, @unchecked Sendable {
    @usableFromInline package let version: UInt64

    @usableFromInline
    package init(key: String, keyHash: UInt64, weight: UInt32, expiresAt: Int64, version: UInt64) {
        self.version = version
        super.init(key: key, keyHash: keyHash, weight: weight, expiresAt: expiresAt)
    }
}

/// A versioned entry holding a value of type `Value` inline.
@usableFromInline
package final class VersionedStoreEntry<Value: Sendable>: VersionedEntry, @unchecked Sendable {
    @usableFromInline package let value: Value

    @usableFromInline
    package init(key: String, value: Value, keyHash: UInt64, weight: UInt32, expiresAt: Int64, version: UInt64) {
        self.value = value
        super.init(key: key, keyHash: keyHash, weight: weight, expiresAt: expiresAt, version: version)
    }

    package override func renewed(expiresAt: Int64) -> KeyedEntry {
        VersionedStoreEntry(key: key, value: value, keyHash: keyHash, weight: weight, expiresAt: expiresAt, version: version)
    }
}
