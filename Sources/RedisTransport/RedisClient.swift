// RedisClient: the public face of the command connections.
//
// Callers on any thread or task submit commands; a command is encoded on the caller's thread,
// handed to the loop (directly when the caller already runs there, else through the loop's
// inbox and one wake-up), appended to the connection's output buffer, and written at the end of
// the loop turn together with every other command of that turn: concurrent callers share one
// pipelined connection automatically. The reply resumes the caller's continuation on the loop
// thread; a caller that prefers the loop as its executor continues right there.

import CSupport
import Primitives
import Synchronization

/// A Redis client: pipelined command connections on an event-loop thread.
///
/// Thread-safe (`Sendable`): commands may be sent from any number of tasks concurrently. Create
/// it, ``connect()``, use it, ``close()``. For the lowest latency, run Redis-heavy tasks on
/// ``eventLoop`` with `withTaskExecutorPreference(client.eventLoop) { ... }`: replies then
/// resume them without a thread hop.
public final class RedisClient: @unchecked Sendable {
    // @unchecked Sendable: `connections` are loop-confined objects that this class only hands to
    // the loop; the mutable client state is behind locks (`Locked`) and in Atomics.

    /// The settings in force (credentials and database may change through ``auth(username:password:)``
    /// and ``select(database:)``).
    public var configuration: RedisConfiguration { settings.withLock { $0 } }
    /// The loop thread the connections live on.
    public let eventLoop: EventLoop

    private let settings: Locked<RedisConfiguration>
    /// Immutable copies of the per-command limits, read on every command without the lock.
    @usableFromInline let maximumArgumentSize: Int
    @usableFromInline let commandTimeout: Duration
    private let ownsEventLoop: Bool
    /// The command connections (standalone); empty with Redis Cluster, where `router` has one
    /// per primary.
    let connections: [RedisConnection]
    /// Redis Cluster routing (ClusterRouter.swift); nil for a single server.
    let router: ClusterRouter?
    private let nextConnection = Atomic<Int>(0)
    /// Set by ``close()``; a client released without it closes itself (see `deinit`).
    private let closeStarted = Atomic<Bool>(false)
    let observers = StateObservers()
    /// Script source -> SHA1 from SCRIPT LOAD.
    let scriptHashes = Locked<[String: String]>([:])

    /// Creates a client. No connection is made until ``connect()``.
    /// - Parameters:
    ///   - configuration: server, credentials, limits.
    ///   - eventLoop: a loop to share with other clients; nil starts one owned by this client
    ///     (and stopped by ``close()``).
    /// - Throws: ``RedisError/invalidArgument(_:)`` for a bad setting, or
    ///   ``RedisError/eventLoopFailed(_:)``.
    public init(configuration: RedisConfiguration, eventLoop: EventLoop? = nil) throws(RedisError) {
        try configuration.validate()
        self.settings = Locked(configuration)
        self.maximumArgumentSize = configuration.maximumArgumentSize
        self.commandTimeout = configuration.commandTimeout
        if let eventLoop {
            self.eventLoop = eventLoop
            self.ownsEventLoop = false
        } else {
            self.eventLoop = try EventLoop(name: "redis-\(configuration.host):\(configuration.port)")
            self.ownsEventLoop = true
        }
        if configuration.clusterNodes.isEmpty {
            self.connections = (0..<configuration.connectionCount).map { [eventLoop = self.eventLoop] _ in
                RedisConnection(loop: eventLoop, configuration: configuration, isSubscriber: false)
            }
            self.router = nil
        } else {
            self.connections = []
            self.router = ClusterRouter(configuration: configuration, eventLoop: self.eventLoop, observers: observers)
        }
        let observers = self.observers
        self.eventLoop.execute { [connections] in
            for connection in connections { connection.delegate = observers }
        }
    }

    /// A client released without ``close()`` (a forgotten close, an error thrown in between):
    /// the loop keeps its started connections alive until they are closed, so close them now,
    /// without waiting, and stop an owned loop; pending commands fail with ``RedisError/closed``.
    deinit {
        guard !closeStarted.load(ordering: .relaxed) else { return }
        eventLoop.closeAbandoned(router?.close() ?? connections, ownsLoop: ownsEventLoop)
    }

    /// Connects every connection and logs in (AUTH, SELECT, CLIENT SETNAME as configured).
    ///
    /// After the first success, lost connections are re-established automatically (with
    /// backoff), and observers see each change.
    /// - Throws: ``RedisError/connectionRefused(_:)`` when the server cannot be reached,
    ///   ``RedisError/authenticationFailed(_:)`` when the credentials are refused,
    ///   ``RedisError/closed`` after ``close()``.
    public nonisolated(nonsending) func connect() async throws(RedisError) {
        if let router { return try await connectCluster(router) }
        let result: Result<Void, RedisError> = await withCheckedContinuation { continuation in
            eventLoop.execute(
                { [connections] in
                var remaining = connections.count
                var firstError: RedisError?
                for connection in connections {
                    connection.start { result in
                        if case .failure(let error) = result, firstError == nil { firstError = error }
                        remaining -= 1
                        if remaining == 0 { continuation.resume(returning: firstError.map { .failure($0) } ?? .success(())) }
                    }
                }
                }, otherwise: { continuation.resume(returning: .failure(.closed)) })
        }
        try result.get()
    }

    /// Closes the connections: commands not yet sent fail with ``RedisError/closed``, sent ones
    /// still get their replies (within their timeout). Stops the event loop if this client owns
    /// it. Idempotent. Must not be awaited from a task running on ``eventLoop``.
    public nonisolated(nonsending) func close() async {
        closeStarted.store(true, ordering: .relaxed)
        let connections = router?.close() ?? self.connections
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            eventLoop.execute(
                {
                    guard !connections.isEmpty else { return continuation.resume() }
                    var remaining = connections.count
                    for connection in connections {
                        connection.close {
                            remaining -= 1
                            if remaining == 0 { continuation.resume() }
                        }
                    }
                }, otherwise: { continuation.resume() })
        }
        if ownsEventLoop { await eventLoop.shutdown() }
    }

    // MARK: - Sending

    /// Sends any command, binary-safe.
    /// - Parameters:
    ///   - arguments: the command name, then its arguments.
    ///   - timeout: limit for this command; nil uses ``RedisConfiguration/commandTimeout``.
    /// - Returns: the reply. Error replies throw ``RedisError/server(_:)``.
    /// - Throws: ``RedisError``, or `CancellationError` when the task is cancelled first.
    public nonisolated(nonsending) func send(_ arguments: [any RESPArgument], timeout: Duration? = nil) async throws -> RESPValue {
        let command = try PendingCommand.make(
            arguments: arguments, limit: maximumArgumentSize, timeout: timeout ?? commandTimeout)
        return try await execute(command)
    }

    /// Sends any command: `try await client.send("HSET", "user:1", "name", "Ada")`.
    public nonisolated(nonsending) func send(_ command: String, _ arguments: any RESPArgument...) async throws -> RESPValue {
        try await send([command] + arguments)
    }

    /// Encodes and sends a command with statically known argument types (no boxing). Inlinable so
    /// that the caller's module specializes the parameter pack: unspecialized, every call would
    /// build the pack's tuple metadata at run time.
    @inlinable
    nonisolated(nonsending) func sendCommand<each Argument: RESPArgument>(_ arguments: repeat each Argument) async throws -> RESPValue {
        let command = try PendingCommand.make(repeat each arguments, limit: maximumArgumentSize, timeout: commandTimeout)
        return try await execute(command)
    }

    /// Submits an encoded command and waits for its completion.
    @usableFromInline
    nonisolated(nonsending) func execute(_ command: PendingCommand) async throws -> RESPValue {
        if let router { return try await executeInCluster(command, router) }
        let index = connections.count == 1 ? 0 : nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue % connections.count
        return try await submit(command, to: connections[index])
    }

    /// Submits an encoded command to one connection and waits for its completion; with `asking`,
    /// right after an `ASKING` on the same connection (a cluster redirection).
    nonisolated(nonsending) func submit(_ command: PendingCommand, to connection: RedisConnection, asking: Bool = false)
        async throws -> RESPValue
    {
        command.header.connection = Unmanaged.passUnretained(connection)
        let loop = eventLoop
        // PendingCommand is handed between threads by the loop's protocol (see its contract); the
        // cancellation job runs on the loop, where all its later accesses happen.
        let handle = UncheckedCommand(command)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                command.header.completion = .continuation(continuation)
                if asking, let prefix = try? PendingCommand.make(arguments: ["ASKING"], limit: 16, timeout: commandTimeout) {
                    // Both in one loop job: nothing comes between them on the connection.
                    let pair = UncheckedBatch([prefix, command])
                    loop.execute({ for command in pair.commands { connection.submit(command) } },
                                 otherwise: { for command in pair.commands { command.complete(.failure(.closed)) } })
                } else if loop.inEventLoop {
                    connection.submit(command)
                } else {
                    loop.submit(.command(command))
                }
            }
        } onCancel: {
            loop.execute { handle.command.cancel() }
        }
    }

    /// Carries a command into a `@Sendable` closure (ManagedBuffer subclasses cannot be Sendable;
    /// see PendingCommand's hand-over contract for why this is safe).
    struct UncheckedCommand: @unchecked Sendable {
        let command: PendingCommand
        init(_ command: PendingCommand) { self.command = command }
    }

    /// Sends the same command on every connection (for connection state such as SELECT).
    nonisolated(nonsending) func broadcast(_ arguments: [String]) async throws {
        for connection in router?.allConnections ?? connections { _ = try await send(arguments, on: connection) }
    }

    /// Sends a command on one given connection (for connection state).
    @discardableResult
    nonisolated(nonsending) func send(_ arguments: [String], on connection: RedisConnection) async throws -> RESPValue {
        let command = try PendingCommand.make(arguments: arguments, limit: maximumArgumentSize, timeout: commandTimeout)
        command.header.connection = Unmanaged.passUnretained(connection)
        return try await withUnsafeThrowingContinuation { continuation in
            command.header.completion = .continuation(continuation)
            eventLoop.submit(.command(command))
        }
    }

    /// Updates what connections use when they (re)connect. Loop thread hops inside.
    nonisolated(nonsending) func updateSettings(_ change: @escaping @Sendable (inout RedisConfiguration) -> Void) async {
        let updated = settings.withLock { settings -> RedisConfiguration in
            change(&settings)
            return settings
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            eventLoop.execute(
                { [connections] in
                    for connection in connections { connection.configuration = updated }
                    continuation.resume()
                }, otherwise: { continuation.resume() })
        }
    }

    // MARK: - State

    /// The most recent state reported by any connection.
    public var connectionState: ConnectionState { observers.current }

    /// Calls `handler` on the loop thread at every state change of any connection, until the
    /// returned token is passed to ``removeStateObserver(_:)``. Keep the handler short: it runs on
    /// the loop.
    @discardableResult
    public func addStateObserver(_ handler: @escaping @Sendable (ConnectionState) -> Void) -> StateObservers.Token {
        observers.add(handler)
    }

    /// Stops calling an observer.
    public func removeStateObserver(_ token: StateObservers.Token) {
        observers.remove(token)
    }

    /// State changes as an async sequence (buffering the 64 newest when the consumer lags).
    public func stateChanges() -> AsyncStream<ConnectionState> {
        observers.stream()
    }
}

extension RedisClient {
    /// Sends several commands back to back on one connection and waits for all replies: one
    /// round trip for the batch. Each command succeeds or fails on its own.
    ///
    /// All commands are encoded before any is sent, so an oversized argument fails the whole
    /// batch with nothing sent. Cancelling the calling task does not cancel a batch in flight
    /// (its commands complete or time out).
    /// - Parameter commands: each command's name and arguments.
    /// - Returns: one result per command, in order.
    /// - Throws: ``RedisError/valueTooLarge(size:limit:)`` or ``RedisError/invalidArgument(_:)``
    ///   before sending.
    public nonisolated(nonsending) func pipeline(
        _ commands: [[any RESPArgument]], timeout: Duration? = nil
    ) async throws -> [Result<RESPValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        let encoded = try commands.map {
            try PendingCommand.make(arguments: $0, limit: maximumArgumentSize, timeout: timeout ?? commandTimeout)
        }
        if let router { return await pipelineInCluster(encoded, router) }
        let connection =
            connections.count == 1 ? connections[0]
            : connections[nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue % connections.count]
        return await submitBatch(encoded, to: { _ in connection })
    }

    /// Submits every command in one loop job, command `i` on `connection(i)`, and waits for all
    /// replies. Commands bound for one connection are written back to back, in order: one round
    /// trip per connection, all connections at once.
    nonisolated(nonsending) func submitBatch(
        _ commands: [PendingCommand], to connection: (Int) -> RedisConnection
    ) async -> [Result<RESPValue, RedisError>] {
        let batch = UncheckedBatch(commands)
        let loop = eventLoop
        return await withCheckedContinuation { continuation in
            // Collected on the loop thread only (every completion runs there).
            final class Collector: @unchecked Sendable {
                var results: [Result<RESPValue, RedisError>?]
                var remaining: Int
                init(_ count: Int) {
                    results = Array(repeating: nil, count: count)
                    remaining = count
                }
            }
            let collector = Collector(commands.count)
            for (index, command) in batch.commands.enumerated() {
                command.header.connection = Unmanaged.passUnretained(connection(index))
                command.header.completion = .callback { result in
                    collector.results[index] = result
                    collector.remaining -= 1
                    if collector.remaining == 0 { continuation.resume(returning: collector.results.map { $0! }) }
                }
            }
            // Each command carries its connection (set above, before the hand-over).
            let submitAll: @Sendable () -> Void = {
                for command in batch.commands { command.header.connection!.takeUnretainedValue().submit(command) }
            }
            if loop.inEventLoop {
                submitAll()
            } else {
                loop.execute(submitAll, otherwise: {
                    for command in batch.commands { command.complete(.failure(.closed)) }
                })
            }
        }
    }

    /// Carries a batch of commands to the loop (see PendingCommand's hand-over contract).
    struct UncheckedBatch: @unchecked Sendable {
        let commands: [PendingCommand]
        init(_ commands: [PendingCommand]) { self.commands = commands }
    }
}
