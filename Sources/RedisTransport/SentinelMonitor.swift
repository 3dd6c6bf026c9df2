// SentinelMonitor: where the primary of a Sentinel-managed Redis is, and when it moves.
//
// Design note. Sentinels agree on which server is the primary of a named group and announce a
// failover on their `+switch-master` channel ("<name> <old host> <old port> <new host> <new
// port>"). The monitor asks the sentinels in turn (`SENTINEL get-master-addr-by-name <name>`)
// until one answers, then keeps a subscription to `+switch-master` on one sentinel (moving to
// the next when that one fails, and asking again after every reconnection, since a switch may
// have been missed meanwhile). Every change of address is handed to the observers, which move
// their connections (SyncedCache: the command connection and the subscription, then a resync).
// Connections read the current address before each attempt (RedisConnection.addressProvider).

import Primitives
import Synchronization

/// Follows the primary of a Sentinel-managed Redis. Thread-safe.
public final class SentinelMonitor: Sendable {
    /// The sentinels, as given.
    public let sentinels: [ClusterNode]
    /// The primary's name in the sentinels' configuration (`sentinel monitor <name> ...`).
    public let primaryName: String
    private let configuration: RedisConfiguration
    private let eventLoop: EventLoop
    private let current = Locked<ClusterNode?>(nil)
    private let observers = Locked<[@Sendable (ClusterNode) -> Void]>([])
    private let subscriber = Locked<RedisSubscriber?>(nil)
    private let closed = Atomic<Bool>(false)

    /// Creates a monitor; nothing happens until ``start()``.
    /// - Parameters:
    ///   - sentinels: the sentinels' addresses.
    ///   - primaryName: the monitored group's name.
    ///   - configuration: timeouts and backoff for the sentinel connections (credentials of the
    ///     data servers are not sent to sentinels).
    ///   - eventLoop: the loop the sentinel connections live on.
    public init(sentinels: [ClusterNode], primaryName: String, configuration: RedisConfiguration, eventLoop: EventLoop) {
        self.sentinels = sentinels
        self.primaryName = primaryName
        var sentinelConfiguration = configuration
        sentinelConfiguration.password = nil
        sentinelConfiguration.username = nil
        sentinelConfiguration.database = 0
        sentinelConfiguration.clusterNodes = []
        self.configuration = sentinelConfiguration
        self.eventLoop = eventLoop
    }

    /// The primary's address as last learned.
    public var primary: ClusterNode? { current.withLock { $0 } }

    /// Calls `handler` (any thread) with every new primary address.
    public func onSwitch(_ handler: @escaping @Sendable (ClusterNode) -> Void) {
        observers.withLock { $0.append(handler) }
    }

    /// Finds the primary and subscribes to `+switch-master`.
    /// - Throws: ``RedisError/connectionRefused(_:)`` when no sentinel knows the primary.
    public nonisolated(nonsending) func start() async throws {
        guard let found = await discover() else {
            throw RedisError.connectionRefused(
                "no sentinel of \(sentinels.map(\.description).joined(separator: ", ")) knows a primary named \"\(primaryName)\"")
        }
        current.withLock { $0 = found }
        try await subscribe()
    }

    /// Asks each sentinel in turn for the primary's address.
    public nonisolated(nonsending) func discover() async -> ClusterNode? {
        for sentinel in sentinels {
            guard let client = try? RedisClient(configuration: configuration.aimed(at: sentinel), eventLoop: eventLoop) else { continue }
            defer { Task { await client.close() } }
            guard (try? await client.connect()) != nil,
                let reply = try? await client.send("SENTINEL", "get-master-addr-by-name", primaryName),
                case .array(let parts) = reply, parts.count == 2, let host = parts[0].string,
                let port = parts[1].string.flatMap({ Int($0) }), (1...65_535).contains(port), !host.isEmpty
            else { continue }
            return ClusterNode(host: host, port: port)
        }
        return nil
    }

    /// Stops following. Idempotent.
    public nonisolated(nonsending) func close() async {
        closed.store(true, ordering: .relaxed)
        if let subscriber = subscriber.withLock({ $0 }) { await subscriber.close() }
    }

    private nonisolated(nonsending) func subscribe() async throws {
        // One subscription, moved to the next sentinel when its sentinel fails.
        let sentinels = self.sentinels
        let next = Atomic<Int>(0)
        let subscriber = try RedisSubscriber(configuration: configuration.aimed(at: sentinels[0]), eventLoop: eventLoop)
        subscriber.setAddressProvider { sentinels[next.wrappingAdd(1, ordering: .relaxed).oldValue % sentinels.count] }
        subscriber.addMessageHandler { [weak self] message in self?.received(message.payload) }
        subscriber.addStateObserver { [weak self] state in
            // A switch may have happened while this subscription was down: ask again.
            if case .connected = state { Task { [weak self] in await self?.rediscover() } }
        }
        self.subscriber.withLock { $0 = subscriber }
        try await subscriber.connect()
        try await subscriber.subscribe(["+switch-master"])
    }

    private nonisolated(nonsending) func rediscover() async {
        guard !closed.load(ordering: .relaxed), let found = await discover() else { return }
        learn(found)
    }

    /// A `+switch-master` message: "<name> <old host> <old port> <new host> <new port>".
    private func received(_ payload: [UInt8]) {
        let parts = String(decoding: payload.prefix(1_024), as: UTF8.self).split(separator: " ")
        guard parts.count == 5, parts[0] == primaryName, let port = Int(parts[4]), (1...65_535).contains(port) else { return }
        learn(ClusterNode(host: String(parts[3]), port: port))
    }

    private func learn(_ node: ClusterNode) {
        let changed = current.withLock { current -> Bool in
            guard current != node else { return false }
            current = node
            return true
        }
        guard changed else { return }
        for observer in observers.withLock({ $0 }) { observer(node) }
    }
}

extension RedisClient {
    /// Aims every later (re)connection of the command connections at the address `provider`
    /// gives (nil keeps the configured one): a Sentinel-managed primary's current address.
    /// Runs on the loop thread before each connection attempt; keep it short.
    public func setAddressProvider(_ provider: @escaping @Sendable () -> ClusterNode?) {
        eventLoop.execute { [connections] in
            for connection in connections { connection.addressProvider = provider }
        }
    }

    /// Drops every command connection and reconnects (with backoff, through the address
    /// provider): after a Sentinel failover, to leave the old primary.
    public func reconnect() {
        eventLoop.execute { [connections] in
            for connection in connections { connection.forceReconnect() }
        }
    }
}
