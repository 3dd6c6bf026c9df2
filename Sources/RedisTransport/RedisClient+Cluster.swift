// RedisClient with Redis Cluster: connect, route, follow redirections, split pipelines by node.
// The routing and the redirection rules are ClusterRouter's (see its design note).

import CSupport

extension RedisClient {
    /// Redirections one command follows before it fails (a slot moving twice in a row is rare; a
    /// loop of redirections is a misconfigured cluster).
    static let maximumRedirections = 5

    /// True when this client talks to a Redis Cluster.
    public var isCluster: Bool { router != nil }

    /// The primaries of the cluster as the slot map names them (empty for a single server).
    public var clusterPrimaries: [ClusterNode] { router?.primaries ?? [] }

    /// The primary that serves `key`'s slot now, if known (nil for a single server).
    public func clusterOwner(ofKey key: String) -> ClusterNode? {
        router?.owner(of: ClusterSlots.slot(of: key))
    }

    /// Reads the slot map again (after a failover or a resharding), and returns when done.
    public nonisolated(nonsending) func refreshClusterSlots() async {
        await router?.refresh()
    }

    /// Sends a command to one primary, whatever its keys (SCAN, FLUSHDB, INFO on each node).
    /// - Throws: ``RedisError/invalidArgument(_:)`` for a single server.
    public nonisolated(nonsending) func send(_ arguments: [any RESPArgument], toPrimary node: ClusterNode) async throws -> RESPValue {
        guard let router else { throw RedisError.invalidArgument("not a Redis Cluster client") }
        let command = try PendingCommand.make(arguments: arguments, limit: maximumArgumentSize, timeout: commandTimeout)
        return try await submit(command, to: router.connection(to: node))
    }

    /// Reads the slot map from the seeds and connects to every primary.
    nonisolated(nonsending) func connectCluster(_ router: ClusterRouter) async throws(RedisError) {
        await router.refresh()
        let primaries = router.primaries
        guard !primaries.isEmpty else {
            throw .connectionRefused(
                "no cluster node answered CLUSTER SLOTS (seeds: \(router.configuration.clusterNodes.map(\.description).joined(separator: ", ")))")
        }
        for primary in primaries {
            let connection = router.connection(to: primary)
            let result: Result<Void, RedisError> = await withCheckedContinuation { continuation in
                eventLoop.execute({ connection.start { continuation.resume(returning: $0) } },
                                  otherwise: { continuation.resume(returning: .failure(.closed)) })
            }
            try result.get()
        }
    }

    /// Sends a command to its slot's primary, following MOVED and ASK, waiting for a new slot
    /// map when its node is down, and trying again after a short pause when the cluster answers
    /// TRYAGAIN or CLUSTERDOWN (the command did not run).
    nonisolated(nonsending) func executeInCluster(_ command: PendingCommand, _ router: ClusterRouter) async throws -> RESPValue {
        let slot = command.routingSlot
        // The command's timeout bounds the whole call, redirections, refreshes and pauses included.
        let deadline = ContinuousClock.now + .milliseconds(Int64(command.header.timeoutMilliseconds))
        var current = command
        var asking: ClusterNode?
        for attempt in 0..<Self.maximumRedirections {
            if attempt > 0 {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { throw RedisError.timeout }
                current = command.copy(timeout: left)
            }
            let connection = asking.map { router.connection(to: $0) } ?? router.connection(forSlot: slot)
            do {
                return try await submit(current, to: connection, asking: asking != nil)
            } catch RedisError.server(let message) {
                guard let redirection = Redirection(message) else {
                    // Not run, and worth another try shortly: a multi-key command while its slot
                    // migrates (TRYAGAIN), or a cluster electing a new primary (CLUSTERDOWN).
                    guard message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN"), attempt < Self.maximumRedirections - 1
                    else { throw RedisError.server(message) }
                    if message.hasPrefix("CLUSTERDOWN") { Task { await router.refresh() } }
                    try await Self.pause(attempt, before: deadline)
                    asking = nil
                    continue
                }
                if redirection.ask {
                    asking = redirection.node
                } else {
                    router.moved(slot: redirection.slot, to: redirection.node)
                    asking = nil
                }
            } catch RedisError.notConnected where attempt < Self.maximumRedirections - 1 {
                // Never sent: safe to send again once the map says where the slot lives now
                // (the refresh runs beside; the pause lets it land).
                Task { await router.refresh() }
                try await Self.pause(attempt, before: deadline)
                asking = nil
            }
        }
        throw RedisError.server("CLUSTERDOWN too many redirections for slot \(slot.map(String.init) ?? "(none)")")
    }

    /// Waits 20, 40, 80... ms before another attempt, never past `deadline`.
    private static func pause(_ attempt: Int, before deadline: ContinuousClock.Instant) async throws {
        let left = deadline - ContinuousClock.now
        try await Task.sleep(for: min(.milliseconds(20 << attempt), max(left, .zero)))
    }

    /// A pipeline on a cluster: the commands grouped by their slot's primary, each group written
    /// back to back on its connection (one round trip per node, all nodes at once); commands
    /// redirected or refused for a down node are sent again one by one. Results in order.
    nonisolated(nonsending) func pipelineInCluster(_ commands: [PendingCommand], _ router: ClusterRouter) async
        -> [Result<RESPValue, RedisError>]
    {
        let connections = commands.map { router.connection(forSlot: $0.routingSlot) }
        var results = await submitBatch(commands, to: { connections[$0] })
        for index in results.indices {
            let retry: Bool
            switch results[index] {
            case .failure(.server(let message)): retry = Redirection(message) != nil
            case .failure(.notConnected): retry = true
            default: retry = false
            }
            guard retry else { continue }
            do {
                results[index] = .success(try await executeInCluster(commands[index].copy(), router))
            } catch let error as RedisError {
                results[index] = .failure(error)
            } catch {
                results[index] = .failure(.closed)
            }
        }
        return results
    }
}
