// RedisSubscriber: pub/sub on a connection of its own.
//
// A subscribed Redis connection accepts only (P)(UN)SUBSCRIBE (and PING, which hiredis 0.14
// mishandles), so subscriptions never share the command connections. Messages are decoded on the
// loop thread and delivered:
//   - to handlers, called right there on the loop thread: zero thread hops from the socket to the
//     handler (the cache applies invalidations this way). Handlers must be short and must not
//     block; they are never dropped from.
//   - to message streams (AsyncSequence), one hop: a bounded buffer per stream. When a consumer
//     lags by more than the buffer, the newest messages are dropped and counted, and the stream
//     yields `.overflow(dropped:)` before the next message it does deliver, so the consumer knows
//     it missed something (a cache must then resync).
//
// After a reconnection the subscriber re-sends SUBSCRIBE/PSUBSCRIBE for everything it had, and
// reports `.connected` only once Redis has confirmed all of them: an observer that resyncs on
// `.connected` cannot miss a message published between its resync and the subscription.

import CSupport
import Primitives
import Synchronization

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Equatable {
    /// The channel it was published to.
    public var channel: String
    /// The pattern that matched, for pattern subscriptions.
    public var pattern: String?
    /// The payload, byte for byte (empty when it is an array or a null).
    public var payload: [UInt8]
    /// The payload's elements when Redis sent an array instead of a string: the invalidated keys
    /// of a client-tracking message (channel ``RedisSubscriber/trackingChannel``). Nil otherwise.
    public var elements: [[UInt8]]?
    /// True when Redis sent a null payload: a client-tracking message after `FLUSHDB` or
    /// `FLUSHALL`, meaning every key.
    public var payloadIsNull: Bool

    /// Creates a message value.
    public init(
        channel: String, pattern: String? = nil, payload: [UInt8], elements: [[UInt8]]? = nil, payloadIsNull: Bool = false
    ) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
        self.elements = elements
        self.payloadIsNull = payloadIsNull
    }
}

/// A pub/sub connection to Redis.
///
/// Thread-safe. Create, ``connect()``, ``subscribe(_:)``, consume through
/// ``addMessageHandler(_:)`` or ``messages(bufferSize:)``, ``close()``.
public final class RedisSubscriber: @unchecked Sendable {
    // @unchecked Sendable: `connection` and `loopState` are confined to the loop thread; the
    // handler registry is behind a lock (`Locked`), the counters are Atomics.

    /// What a message stream yields.
    public enum Event: Sendable, Equatable {
        /// A message.
        case message(RedisPubSubMessage)
        /// This many messages were dropped before the next one because the consumer lagged.
        case overflow(dropped: Int)
    }

    /// The channel on which Redis delivers client-tracking invalidations to the client named in
    /// `CLIENT TRACKING on REDIRECT <id>` (RESP2's two-connection mode).
    public static let trackingChannel = "__redis__:invalidate"

    /// The loop thread the connection lives on.
    public let eventLoop: EventLoop
    private let ownsEventLoop: Bool
    private let currentClientID = Atomic<Int64>(0)
    /// Set by ``close()``; a subscriber released without it closes itself (see `deinit`).
    private let closeStarted = Atomic<Bool>(false)
    let connection: RedisConnection
    let observers = StateObservers()
    private let handlers = Locked<[Int: @Sendable (RedisPubSubMessage) -> Void]>([:])
    private let nextHandler = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    /// Loop thread.
    private let loopState: LoopState

    /// Loop-confined state.
    final class LoopState {
        var channels = Set<String>()
        var patterns = Set<String>()
        /// Sharded channels (SSUBSCRIBE, Redis 7 Cluster).
        var shardChannels = Set<String>()
        /// Everyone waiting for confirmations: `subscribe(_:)` and friends, and the restore after
        /// a (re)connection.
        var waiters: [ConfirmationWaiter] = []
        /// The restore in progress, if any: `.connected` is reported when it completes.
        var restore: ConfirmationWaiter?
        /// See `onShardMoved`.
        var shardMoved: (@Sendable () -> Void)?
    }

    /// Waits for Redis to confirm a set of (un)subscriptions, keyed "subscribe:name",
    /// "psubscribe:name", "unsubscribe:name" or "punsubscribe:name" (each push's kind and
    /// subject), up to a deadline. Loop thread only.
    final class ConfirmationWaiter {
        var keys: Set<String>
        private var timer: LoopTimer?
        private var finish: ((Result<Void, RedisError>) -> Void)?

        init(keys: Set<String>, finish: @escaping (Result<Void, RedisError>) -> Void) {
            self.keys = keys
            self.finish = finish
        }

        /// Fails the wait with `.timeout` unless every confirmation arrived within `limit`.
        func expire(after limit: Duration, on loop: EventLoop) {
            let timer = LoopTimer(on: loop) { [weak self] in self?.complete(.failure(.timeout)) }
            timer.start(after: limit)
            self.timer = timer
        }

        /// A confirmation arrived; completes the wait when it was the last one awaited.
        func confirm(_ key: String) {
            guard keys.remove(key) != nil, keys.isEmpty else { return }
            complete(.success(()))
        }

        /// Completes once; later calls do nothing.
        func complete(_ result: Result<Void, RedisError>) {
            timer?.close()
            timer = nil
            let finish = self.finish
            self.finish = nil
            finish?(result)
        }

        /// Ends the wait without reporting anything (a newer wait took its place).
        func abandon() {
            timer?.close()
            timer = nil
            finish = nil
        }

        var isComplete: Bool { finish == nil }
    }

    /// Creates a subscriber. Nothing happens until ``connect()``.
    /// - Parameters:
    ///   - configuration: server and credentials (database and connection count are ignored:
    ///     pub/sub is global to the server, and one connection carries every subscription).
    ///   - eventLoop: a loop to share; nil starts one owned by this subscriber.
    /// - Throws: ``RedisError/invalidArgument(_:)`` or ``RedisError/eventLoopFailed(_:)``.
    public init(configuration: RedisConfiguration, eventLoop: EventLoop? = nil) throws(RedisError) {
        try configuration.validate()
        if let eventLoop {
            self.eventLoop = eventLoop
            ownsEventLoop = false
        } else {
            self.eventLoop = try EventLoop(name: "redis-sub-\(configuration.host):\(configuration.port)")
            ownsEventLoop = true
        }
        connection = RedisConnection(loop: self.eventLoop, configuration: configuration, isSubscriber: true)
        loopState = LoopState()
        self.eventLoop.execute { [self] in connection.delegate = self }
    }

    /// A subscriber released without ``close()``: its started connection stays alive on the loop
    /// until closed, so close it now, without waiting, and stop an owned loop.
    deinit {
        guard !closeStarted.load(ordering: .relaxed) else { return }
        eventLoop.closeAbandoned([connection], ownsLoop: ownsEventLoop)
    }

    /// Connects and logs in.
    /// - Throws: ``RedisError/connectionRefused(_:)``, ``RedisError/authenticationFailed(_:)``.
    public nonisolated(nonsending) func connect() async throws(RedisError) {
        let result: Result<Void, RedisError> = await withCheckedContinuation { continuation in
            eventLoop.execute(
                { [connection] in connection.start { continuation.resume(returning: $0) } },
                otherwise: { continuation.resume(returning: .failure(.closed)) })
        }
        try result.get()
    }

    /// Closes the connection and, if owned, the event loop. Idempotent. Not from a task running
    /// on ``eventLoop``.
    public nonisolated(nonsending) func close() async {
        closeStarted.store(true, ordering: .relaxed)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            eventLoop.execute(
                { [connection] in connection.close { continuation.resume() } }, otherwise: { continuation.resume() })
        }
        if ownsEventLoop { await eventLoop.shutdown() }
    }

    /// Drops the connection and reconnects with backoff (re-subscribing everything), for a
    /// connection that looks alive but does not deliver. Observers see `.disconnected`, then
    /// `.connected` once the subscriptions are confirmed again.
    public func reconnect() {
        eventLoop.execute { [connection] in connection.forceReconnect() }
    }

    // MARK: - Subscriptions

    /// Subscribes to channels and returns once Redis confirmed them. Kept across reconnections.
    public nonisolated(nonsending) func subscribe(_ channels: [String]) async throws {
        try await change("SUBSCRIBE", channels, pattern: false, adding: true)
    }

    /// Subscribes to glob-style patterns (`cache:*`). Kept across reconnections.
    public nonisolated(nonsending) func psubscribe(_ patterns: [String]) async throws {
        try await change("PSUBSCRIBE", patterns, pattern: true, adding: true)
    }

    /// Unsubscribes from channels.
    public nonisolated(nonsending) func unsubscribe(_ channels: [String]) async throws {
        try await change("UNSUBSCRIBE", channels, pattern: false, adding: false)
    }

    /// Unsubscribes from patterns.
    public nonisolated(nonsending) func punsubscribe(_ patterns: [String]) async throws {
        try await change("PUNSUBSCRIBE", patterns, pattern: true, adding: false)
    }

    /// Subscribes to sharded channels (SSUBSCRIBE, Redis 7 Cluster; messages come from SPUBLISH).
    /// All must hash to one slot, served by the node this subscriber is connected to (see
    /// ``setAddressProvider(_:)``). Kept across reconnections.
    ///
    /// hiredis 0.14 knows nothing of sharded pub/sub: in subscribed mode it hands a push to a
    /// callback by looking its channel up among the classic subscriptions, and drops it when
    /// none matches (or, not yet subscribed, aborts). So every sharded channel is also
    /// subscribed classically under the same name, where nothing is
    /// published; its `smessage`s then reach the handlers like any message.
    public nonisolated(nonsending) func ssubscribe(_ channels: [String]) async throws {
        try await change("SSUBSCRIBE", channels, pattern: false, adding: true)
    }

    /// Aims every later (re)connection at the address `provider` gives (nil keeps the current
    /// one): with Redis Cluster, the primary serving the subscription's slot now. `provider`
    /// runs on the loop thread before each connection attempt; keep it short.
    public func setAddressProvider(_ provider: @escaping @Sendable () -> ClusterNode?) {
        eventLoop.execute { [connection] in connection.addressProvider = provider }
    }

    /// Calls `handler` (loop thread) when Redis ends a sharded subscription on its own: the slot
    /// moved to another node (resharding, failover). The subscriber then reconnects (to the
    /// address provider's answer) and subscribes again; refresh what the provider reads first.
    public func onShardMoved(_ handler: @escaping @Sendable () -> Void) {
        eventLoop.execute { [self] in loopState.shardMoved = handler }
    }

    private nonisolated(nonsending) func change(_ verb: String, _ names: [String], pattern: Bool, adding: Bool) async throws {
        let shard = verb.hasPrefix("SS") || verb.hasPrefix("SUN")
        guard !names.isEmpty else { return }
        let command = try PendingCommand.make(
            arguments: [verb] + names, limit: connection.configuration.maximumArgumentSize,
            timeout: connection.configuration.commandTimeout)
        let handle = RedisClient.UncheckedCommand(command)
        // See ssubscribe(_:): the classic twin of each sharded subscription.
        let registrationForHiredis = try shard && adding ? RedisClient.UncheckedCommand(PendingCommand.make(
            arguments: ["SUBSCRIBE"] + names, limit: connection.configuration.maximumArgumentSize,
            timeout: connection.configuration.commandTimeout)) : nil
        let result: Result<Void, RedisError> = await withCheckedContinuation { continuation in
            eventLoop.execute({ [self] in
                let state = loopState
                for name in names {
                    if shard {
                        if adding { state.shardChannels.insert(name) } else { state.shardChannels.remove(name) }
                    } else if pattern {
                        if adding { state.patterns.insert(name) } else { state.patterns.remove(name) }
                    } else {
                        if adding { state.channels.insert(name) } else { state.channels.remove(name) }
                    }
                }
                guard connection.state == .ready else {
                    // Recorded; sent when the connection is (re)established.
                    return continuation.resume(returning: connection.state == .closed ? .failure(.closed) : .success(()))
                }
                var keys = Set(names.map { verb.lowercased() + ":" + $0 })
                if registrationForHiredis != nil { keys.formUnion(names.map { "subscribe:" + $0 }) }
                let waiter = ConfirmationWaiter(keys: keys) { [weak self] result in
                    self?.loopState.waiters.removeAll { $0.isComplete }
                    // Refused by the server (not merely slow): not restored after a reconnect either.
                    if adding, case .failure(.server) = result {
                        for name in names {
                            if shard {
                                state.shardChannels.remove(name)
                            } else if pattern {
                                state.patterns.remove(name)
                            } else {
                                state.channels.remove(name)
                            }
                        }
                    }
                    continuation.resume(returning: result)
                }
                state.waiters.append(waiter)
                waiter.expire(after: connection.configuration.commandTimeout, on: eventLoop)
                if let registrationForHiredis { connection.writePush(registrationForHiredis.command) }
                connection.writePush(handle.command)
            }, otherwise: { continuation.resume(returning: .failure(.closed)) })
        }
        try result.get()
    }

    // MARK: - Delivery

    /// Calls `handler` on the loop thread for every message, until removed. The handler must be
    /// short and must not block: it delays every other message and reply on this loop.
    @discardableResult
    public func addMessageHandler(_ handler: @escaping @Sendable (RedisPubSubMessage) -> Void) -> StateObservers.Token {
        let id = nextHandler.wrappingAdd(1, ordering: .relaxed).newValue
        handlers.withLock { $0[id] = handler }
        return StateObservers.Token(id: id)
    }

    /// Stops calling a message handler.
    public func removeMessageHandler(_ token: StateObservers.Token) {
        _ = handlers.withLock { $0.removeValue(forKey: token.id) }
    }

    /// Messages as an async sequence, buffering at most `bufferSize` for a slow consumer (see the
    /// design note on overflow).
    public func messages(bufferSize: Int = 4_096) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingOldest(bufferSize))
        let missed = Locked(0)
        let token = addMessageHandler { [weak self] message in
            let lost = missed.withLock { $0 }
            if lost > 0 {
                guard case .enqueued = continuation.yield(.overflow(dropped: lost)) else {
                    missed.withLock { $0 += 1 }
                    self?.dropped.wrappingAdd(1, ordering: .relaxed)
                    return
                }
                missed.withLock { $0 = 0 }
            }
            if case .dropped = continuation.yield(.message(message)) {
                missed.withLock { $0 += 1 }
                self?.dropped.wrappingAdd(1, ordering: .relaxed)
            }
        }
        continuation.onTermination = { [weak self] _ in self?.removeMessageHandler(token) }
        return stream
    }

    /// Messages dropped by lagging streams since creation.
    public var droppedMessageCount: Int { dropped.load(ordering: .relaxed) }

    // MARK: - State

    /// The server's id of the current connection (`CLIENT ID`), for `CLIENT TRACKING ... REDIRECT`;
    /// nil before the first connection or when the server does not tell. A reconnection gets a
    /// new id, set before observers see `.connected`.
    public var clientID: Int64? {
        let id = currentClientID.load(ordering: .acquiring)
        return id > 0 ? id : nil
    }

    /// The subscriber's state: `.connected` means connected and every subscription confirmed.
    public var connectionState: ConnectionState { observers.current }

    /// Calls `handler` on the loop thread at every state change.
    @discardableResult
    public func addStateObserver(_ handler: @escaping @Sendable (ConnectionState) -> Void) -> StateObservers.Token {
        observers.add(handler)
    }

    /// Stops calling a state observer.
    public func removeStateObserver(_ token: StateObservers.Token) { observers.remove(token) }

    /// State changes as an async sequence.
    public func stateChanges() -> AsyncStream<ConnectionState> { observers.stream() }
}

extension RedisSubscriber: RedisConnectionDelegate {
    /// Re-subscribes everything after a (re)connection. Pending unsubscriptions are complete (the
    /// new connection holds none); pending subscriptions are confirmed by the re-subscription.
    /// If Redis does not confirm everything within the command timeout, the connection is
    /// dropped and re-established, so a connection that accepts commands but never answers
    /// cannot leave the subscriber waiting forever.
    func connectionWillBecomeReady(_ connection: RedisConnection) {
        currentClientID.store(connection.serverClientID ?? 0, ordering: .releasing)
        let state = loopState
        for waiter in state.waiters {
            for key in waiter.keys where key.hasPrefix("unsubscribe:") || key.hasPrefix("punsubscribe:") || key.hasPrefix("sunsubscribe:") {
                waiter.confirm(key)
            }
        }
        state.restore?.abandon()
        state.restore = nil
        let groups: [(verb: String, names: [String])] = [
            ("SUBSCRIBE", state.channels.union(state.shardChannels).sorted()), ("PSUBSCRIBE", state.patterns.sorted()),
            ("SSUBSCRIBE", state.shardChannels.sorted()),
        ]
        var keys = Set<String>()
        for group in groups where !group.names.isEmpty {
            guard let command = try? PendingCommand.make(
                arguments: [group.verb] + group.names, limit: connection.configuration.maximumArgumentSize,
                timeout: connection.configuration.commandTimeout)
            else { continue }
            keys.formUnion(group.names.map { group.verb.lowercased() + ":" + $0 })
            connection.writePush(command)
        }
        guard !keys.isEmpty else { return }
        let restore = ConfirmationWaiter(keys: keys) { [weak self, unowned connection] result in
            guard let self else { return }
            self.loopState.restore = nil
            switch result {
            case .success: self.observers.publish(.connected)
            case .failure: connection.forceReconnect()
            }
        }
        state.restore = restore
        restore.expire(after: connection.configuration.commandTimeout, on: eventLoop)
    }

    /// The server refused a (P)SUBSCRIBE: whoever waits for a confirmation fails with the
    /// server's message at once (instead of a timeout), and a refused restore after a reconnect
    /// drops the connection, to retry with backoff, reporting the message as the reason.
    func connection(_ connection: RedisConnection, didReceiveUnroutedError message: String) {
        let error = RedisError.server(message)
        for waiter in loopState.waiters { waiter.complete(.failure(error)) }
        loopState.waiters.removeAll { $0.isComplete }
        if let restore = loopState.restore {
            restore.abandon()
            loopState.restore = nil
            connection.reconnect(after: error)
        }
    }

    func connection(_ connection: RedisConnection, didChange state: ConnectionState) {
        // `.connected` waits for the subscriptions' confirmations (the restore).
        if case .connected = state, loopState.restore != nil { return }
        if case .disconnected = state {
            loopState.restore?.abandon()
            loopState.restore = nil
        }
        observers.publish(state)
    }

    func connection(_ connection: RedisConnection, didReceivePush reply: UnsafePointer<dc_reply_t>) {
        let r = reply.pointee
        guard r.type == DC_REPLY_ARRAY, r.elements >= 3, let kindReply = r.element[0] else { return }
        let kind = String(decoding: UnsafeRawBufferPointer(start: kindReply.pointee.str, count: kindReply.pointee.len), as: UTF8.self)
        func text(_ index: Int) -> String {
            guard let element = r.element[index], element.pointee.type == DC_REPLY_STRING else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: element.pointee.str, count: element.pointee.len), as: UTF8.self)
        }
        func bytes(_ index: Int) -> [UInt8] {
            guard let element = r.element[index], element.pointee.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: element.pointee.str, count: element.pointee.len))
        }
        switch kind {
        case "message":
            guard let payload = r.element[2] else { return }
            switch Int(payload.pointee.type) {
            case Int(DC_REPLY_ARRAY):
                let array = payload.pointee
                var elements: [[UInt8]] = []
                elements.reserveCapacity(array.elements)
                for index in 0..<array.elements {
                    guard let element = array.element[index], element.pointee.type == DC_REPLY_STRING else { continue }
                    elements.append(Array(UnsafeRawBufferPointer(start: element.pointee.str, count: element.pointee.len)))
                }
                deliver(RedisPubSubMessage(channel: text(1), payload: [], elements: elements))
            case Int(DC_REPLY_NIL):
                deliver(RedisPubSubMessage(channel: text(1), payload: [], payloadIsNull: true))
            default:
                deliver(RedisPubSubMessage(channel: text(1), payload: bytes(2)))
            }
        case "pmessage" where r.elements >= 4:
            deliver(RedisPubSubMessage(channel: text(2), pattern: text(1), payload: bytes(3)))
        case "smessage":
            deliver(RedisPubSubMessage(channel: text(1), payload: bytes(2)))
        case "sunsubscribe" where loopState.shardChannels.contains(text(1))
            && !loopState.waiters.contains(where: { $0.keys.contains("sunsubscribe:" + text(1)) }):
            // Not asked for: Redis ended it because the channel's slot moved to another node.
            // (Inside hiredis's reply callback, where the connection cannot be dropped: next job.)
            loopState.shardMoved?()
            eventLoop.executeOnLoop { [connection] in connection.forceReconnect() }
        case "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ssubscribe", "sunsubscribe":
            let key = kind + ":" + text(1)
            loopState.restore?.confirm(key)
            for waiter in loopState.waiters { waiter.confirm(key) }
        default:
            break
        }
    }

    private func deliver(_ message: RedisPubSubMessage) {
        let current = handlers.withLock { Array($0.values) }
        for handler in current { handler(message) }
    }
}
