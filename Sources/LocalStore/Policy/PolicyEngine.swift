// PolicyEngine: the configured eviction policy, dispatched by a switch rather than through a
// protocol existential, so the maintenance loop makes direct calls (indirect calls cost a
// retpoline on this machine kind).

/// One of the eviction policies. Guarded, like everything it points to, by the policy lock.
enum PolicyEngine {
    case windowTinyLFU(WindowTinyLFUPolicy)
    case lru(LRUPolicy)

    init(configuration: StoreConfiguration) {
        switch configuration.policy {
        case .windowTinyLFU:
            self = .windowTinyLFU(WindowTinyLFUPolicy(maximumWeight: configuration.maximumWeight))
        case .lru:
            self = .lru(LRUPolicy(maximumWeight: configuration.maximumWeight))
        }
    }

    /// A new entry is in the table: link it; evict (calling `evict` after unlinking each victim).
    func add(_ node: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        switch self {
        case .windowTinyLFU(let policy): policy.add(node, evict: evict)
        case .lru(let policy): policy.add(node, evict: evict)
        }
    }

    /// A hit on a linked entry.
    func recordAccess(_ node: PolicyNode) {
        switch self {
        case .windowTinyLFU(let policy): policy.recordAccess(node)
        case .lru(let policy): policy.recordAccess(node)
        }
    }

    /// A read that found no entry (sizes the adaptive window; LRU ignores it).
    func recordMiss(keyHash: UInt64) {
        switch self {
        case .windowTinyLFU(let policy): policy.recordMiss(keyHash: keyHash)
        case .lru: break
        }
    }

    /// `new` replaced `old` in the table.
    func replace(_ old: PolicyNode, with new: PolicyNode, evict: (PolicyNode, RemovalCause) -> Void) {
        switch self {
        case .windowTinyLFU(let policy): policy.replace(old, with: new, evict: evict)
        case .lru(let policy): policy.replace(old, with: new, evict: evict)
        }
    }

    /// The entry left the table (removed, expired or cleared).
    func remove(_ node: PolicyNode) {
        switch self {
        case .windowTinyLFU(let policy): policy.remove(node)
        case .lru(let policy): policy.remove(node)
        }
    }

    /// Unlinks every node, calling `body` on each.
    func removeAll(_ body: (PolicyNode) -> Void) {
        switch self {
        case .windowTinyLFU(let policy): policy.removeAll(body)
        case .lru(let policy): policy.removeAll(body)
        }
    }

    /// Sum of the linked entries' weights.
    var weightedSize: Int {
        switch self {
        case .windowTinyLFU(let policy): return policy.weightedSize
        case .lru(let policy): return policy.weightedSize
        }
    }
}
