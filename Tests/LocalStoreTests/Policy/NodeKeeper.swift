@testable import LocalStore

/// Keeps every `PolicyNode` a test makes alive for as long as the test's suite instance lives,
/// which is longer than the test's locals (its policies and deques). Policies and deques link
/// nodes unretained, as the store's table owns the entries (PolicyNode.swift), and with internal
/// checks on, a node freed while linked traps: a test that linked nodes and let them go before
/// the policy would be the very misuse that check catches.
final class NodeKeeper {
    private var nodes: [PolicyNode] = []

    /// The test's deques are gone by now: a node a test marked linked by hand (deque tests) is
    /// linked nowhere, and may go.
    deinit {
        for node in nodes { node.state = .dead }
    }

    /// Returns `node`, kept alive.
    @discardableResult
    func keep(_ node: PolicyNode) -> PolicyNode {
        nodes.append(node)
        return node
    }

    /// A new node with no deadline, kept alive.
    func node(_ keyHash: UInt64, weight: UInt32 = 1) -> PolicyNode {
        keep(PolicyNode(keyHash: keyHash, weight: weight, expiresAt: Int64.max))
    }
}
