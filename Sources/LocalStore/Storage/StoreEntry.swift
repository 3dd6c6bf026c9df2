// StoreEntry: one key-value pair as the table holds it.
//
// Entries are immutable apart from the policy's bookkeeping in PolicyNode: a set of an existing
// key installs a new entry instead of changing the old one in place. So a lock-free reader that
// found an entry sees a consistent key, value and deadline, and a writer never races a reader on
// the value. The table holds one strong reference per entry (an `Unmanaged` retain in its slot);
// removing an entry retires that reference to the epoch reclaimer (Reclaimer.swift), which
// releases it once no reader can still be looking at it.

/// A cache entry: key, value, and the policy's bookkeeping (inherited from ``PolicyNode``).
///
/// `@unchecked Sendable`: `key` and `value` are immutable (`let`) and `Value: Sendable`; the
/// inherited `var`s are guarded by the cache's policy lock.
@usableFromInline
final class StoreEntry<Value: Sendable>: PolicyNode, @unchecked Sendable {
    @usableFromInline let key: String
    @usableFromInline let value: Value

    @usableFromInline
    init(key: String, value: Value, keyHash: UInt64, weight: UInt32, expiresAt: Int64) {
        self.key = key
        self.value = value
        super.init(keyHash: keyHash, weight: weight, expiresAt: expiresAt)
    }
}
