// ClusterRouter: a RedisClient's connections to a Redis Cluster, one per primary.
//
// Design note. Routing happens on the caller's thread: a command's slot comes from its key
// (ClusterSlots), the slot's primary from the slot map (behind a lock: one lookup per command),
// and the primary's connection from the node table (created and started on first use). The
// connections are ordinary RedisConnections, pipelining as in standalone mode. Redirections:
//   - `MOVED <slot> <host:port>`: the slot has a new owner. The map learns it at once and a full
//     `CLUSTER SLOTS` refresh follows (one at a time); the command is sent again to the new owner.
//   - `ASK <slot> <host:port>`: the slot is migrating and this key is already on the target: the
//     command is sent there once, right after `ASKING`, on the same connection and in the same
//     loop turn; the map does not change.
//   - a command that could not be sent (its node is down: `.notConnected`) waits for a refresh of
//     the map, then goes to the slot's owner in the new map (after a failover, the promoted
//     replica). A command that was sent and lost its connection is not resent: it may have run.
// A refresh asks the known primaries, then the seeds, until one answers. The map is also refreshed
// when a node connection breaks.
//
// Threads: the map and the node table are behind locks; the connections are loop-confined as
// always. Connections are never dropped before `close` (commands hold unretained references).

import CSupport
import Primitives
import Synchronization

final class ClusterRouter: Sendable {
    let eventLoop: EventLoop
    /// The configuration every node connection starts from (seeds, credentials, limits).
    let configuration: RedisConfiguration
    let observers: StateObservers
    private let slots = Locked(SlotMap())
    private let nodes = Locked<[ClusterNode: RedisConnection]>([:])
    /// The node connections' delegates (connections hold them weakly).
    private let delegates = Locked<[ClusterNodeDelegate]>([])
    /// True while a refresh runs (at most one at a time), and the waiters for it.
    private let refreshing = Locked<(running: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let closed = Atomic<Bool>(false)

    init(configuration: RedisConfiguration, eventLoop: EventLoop, observers: StateObservers) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.observers = observers
    }

    /// The primaries the map names.
    var primaries: [ClusterNode] { slots.withLock { $0.primaries } }

    /// The primary of a slot, if the map knows it.
    func owner(of slot: Int) -> ClusterNode? { slots.withLock { $0.owner(of: slot) } }

    /// The connection for `node`, created and started on first use.
    func connection(to node: ClusterNode) -> RedisConnection {
        if let existing = nodes.withLock({ $0[node] }) { return existing }
        let (connection, created) = nodes.withLock { table -> (RedisConnection, Bool) in
            if let existing = table[node] { return (existing, false) }
            let connection = RedisConnection(loop: eventLoop, configuration: configuration.aimed(at: node), isSubscriber: false)
            table[node] = connection
            return (connection, true)
        }
        if created {
            // The connection holds its delegate weakly: the router keeps it alive.
            let delegate = ClusterNodeDelegate(observers: observers) { [weak self] state in
                if case .disconnected = state { Task { await self?.refresh() } }
            }
            delegates.withLock { $0.append(delegate) }
            eventLoop.execute {
                connection.delegate = delegate
                connection.start { _ in }
            }
        }
        return connection
    }

    /// The connection a command with this slot goes to (nil slot: any primary).
    func connection(forSlot slot: Int?) -> RedisConnection {
        if let slot, let owner = owner(of: slot) { return connection(to: owner) }
        let node = primaries.first ?? configuration.clusterNodes[0]
        return connection(to: node)
    }

    /// Every node connection made so far.
    var allConnections: [RedisConnection] { nodes.withLock { Array($0.values) } }

    /// A `MOVED` reply: learn the new owner now, refresh the whole map in the background.
    func moved(slot: Int, to node: ClusterNode) {
        slots.withLock { $0.assign(slot, to: node) }
        Task { await refresh() }
    }

    /// Reads the slot map from the first node that answers: the known primaries, then the
    /// seeds. Concurrent callers share one refresh. Returns when it is done (or failed).
    func refresh() async {
        guard !closed.load(ordering: .relaxed) else { return }
        let leads = refreshing.withLock { state -> Bool in
            if state.running { return false }
            state.running = true
            return true
        }
        guard leads else {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let queued = refreshing.withLock { state -> Bool in
                    guard state.running else { return false }
                    state.waiters.append(continuation)
                    return true
                }
                if !queued { continuation.resume() }
            }
            return
        }
        defer {
            let waiters = refreshing.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.running = false
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        var candidates = primaries
        for seed in configuration.clusterNodes where !candidates.contains(seed) { candidates.append(seed) }
        for node in candidates {
            guard let reply = try? await send(["CLUSTER", "SLOTS"], on: connection(to: node), timeout: Self.refreshTimeout),
                let map = SlotMap.parse(reply, fallbackHost: node.host), !map.primaries.isEmpty
            else { continue }
            slots.withLock { $0 = map }
            for primary in map.primaries { _ = connection(to: primary) }
            return
        }
    }

    /// How long one node may take to answer CLUSTER SLOTS before the next is asked: a node that
    /// just died would otherwise hold every refresh for a whole command timeout.
    static let refreshTimeout = Duration.seconds(1)

    /// Sends one command on one connection and waits (no routing, no redirection).
    func send(_ arguments: [String], on connection: RedisConnection, timeout: Duration? = nil) async throws -> RESPValue {
        let command = try PendingCommand.make(
            arguments: arguments, limit: configuration.maximumArgumentSize,
            timeout: min(timeout ?? configuration.commandTimeout, configuration.commandTimeout))
        command.header.connection = Unmanaged.passUnretained(connection)
        return try await withUnsafeThrowingContinuation { continuation in
            command.header.completion = .continuation(continuation)
            eventLoop.submit(.command(command))
        }
    }

    /// Marks the router closed (no more refreshes) and returns every connection, to close.
    func close() -> [RedisConnection] {
        closed.store(true, ordering: .relaxed)
        return allConnections
    }
}

/// Forwards a node connection's state changes to the client's observers and to the router.
/// `@unchecked Sendable`: immutable; its callbacks run on the loop thread.
final class ClusterNodeDelegate: RedisConnectionDelegate, @unchecked Sendable {
    let observers: StateObservers
    let changed: @Sendable (ConnectionState) -> Void

    init(observers: StateObservers, changed: @escaping @Sendable (ConnectionState) -> Void) {
        self.observers = observers
        self.changed = changed
    }

    func connection(_ connection: RedisConnection, didChange state: ConnectionState) {
        observers.connection(connection, didChange: state)
        changed(state)
    }

    func connection(_ connection: RedisConnection, didReceivePush reply: UnsafePointer<dc_reply_t>) {}
    func connectionWillBecomeReady(_ connection: RedisConnection) {}
}

/// A redirection reply: `MOVED <slot> <host:port>` or `ASK <slot> <host:port>`.
struct Redirection: Equatable {
    var ask: Bool
    var slot: Int
    var node: ClusterNode

    /// Parses an error reply's message; nil when it is not a redirection.
    init?(_ message: String) {
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]),
            (0..<ClusterSlots.count).contains(slot), let colon = parts[2].lastIndex(of: ":"),
            let port = Int(parts[2][parts[2].index(after: colon)...]), (1...65_535).contains(port)
        else { return nil }
        var host = String(parts[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.ask = parts[0] == "ASK"
        self.slot = slot
        self.node = ClusterNode(host: host, port: port)
    }
}
