// RedisConnection: one hiredis connection's life on its loop thread, with reconnection.
//
// States and transitions:
//
//   idle --start--> connecting --TCP up--> handshaking --AUTH/SELECT/SETNAME ok--> ready
//     ^                |  ^                    |                                    |
//     |        fail    |  |  backoff timer     | refused                            | lost
//     |                v  |                    v                                    v
//     |          waitingToReconnect <---------------------------------------------+
//     |
//   close (any state) --> closing --pending replies done--> closed
//
// Before the first successful handshake a failure is final (the `connect()` call that started it
// throws); after it, failures lead to reconnection with backoff until `close`.
//
// Commands: while `ready`, a submitted command is appended to hiredis's output buffer at once
// and written at the end of the loop turn (all commands of a turn in one write); while
// connecting or handshaking it waits in `waiting` (up to its deadline); while waiting to
// reconnect it fails at once with `.notConnected` (fail fast: a cache would rather serve
// locally than queue behind an outage); after close, `.closed`. A 10 ms tick fails commands
// whose deadline passed (their late replies are discarded when they come).
//
// Ownership: the connection object outlives its dc_conn (which holds an unretained pointer to
// it): the client keeps it until `close` finished, which frees the dc_conn first.
//
// Threads: everything here runs on the loop thread. C calls in through the three callbacks.

import CSupport
import DequeModule

/// The state of a connection, as reported to observers.
public enum ConnectionState: Sendable, Equatable, CustomStringConvertible {
    /// Establishing the TCP connection or logging in.
    case connecting
    /// Ready for commands (subscriptions restored, for a subscriber).
    case connected
    /// The connection failed or broke; reconnection attempts follow (unless it never connected).
    case disconnected(RedisError)
    /// Closed by the owner; final.
    case closed

    public var description: String {
        switch self {
        case .connecting: return "connecting"
        case .connected: return "connected"
        case .disconnected(let error): return "disconnected (\(error))"
        case .closed: return "closed"
        }
    }
}

/// Receives what a connection cannot handle itself: pub/sub messages and state changes. Loop
/// thread.
protocol RedisConnectionDelegate: AnyObject {
    /// The connection changed state.
    func connection(_ connection: RedisConnection, didChange state: ConnectionState)
    /// A pub/sub message or subscription confirmation (only on subscriber connections).
    func connection(_ connection: RedisConnection, didReceivePush reply: UnsafePointer<dc_reply_t>)
    /// The handshake is done; a subscriber re-subscribes here, before the state becomes
    /// `.connected`.
    func connectionWillBecomeReady(_ connection: RedisConnection)
    /// An error reply no command was waiting for (a refused SUBSCRIBE; only on subscriber
    /// connections).
    func connection(_ connection: RedisConnection, didReceiveUnroutedError message: String)
}

extension RedisConnectionDelegate {
    func connection(_ connection: RedisConnection, didReceiveUnroutedError message: String) {}
}

/// `@unchecked Sendable`: every method runs on `loop`'s thread; other threads only hold references
/// to hand to the loop (see the design note at the top of this file).
final class RedisConnection: @unchecked Sendable {
    enum State {
        case idle, connecting, handshaking, ready, waitingToReconnect, closing, closed
    }

    let loop: EventLoop
    // Every property below is confined to the loop thread, which already guarantees exclusive
    // access; Swift's dynamic exclusivity checks are turned off for them (they cost ~20 ns per
    // access on the per-command path).
    @exclusivity(unchecked) var configuration: RedisConfiguration
    /// Subscriber connections skip SELECT (pub/sub ignores databases) and route pushes.
    let isSubscriber: Bool
    /// Consulted before each connection attempt: where to connect now (nil: the configured
    /// address). A cluster subscription follows its slot's primary this way.
    @exclusivity(unchecked) var addressProvider: (() -> ClusterNode?)?
    weak var delegate: RedisConnectionDelegate?

    @exclusivity(unchecked) private(set) var state: State = .idle
    @exclusivity(unchecked) private var conn: OpaquePointer?
    /// Sent, in order; replies arrive in this order.
    @exclusivity(unchecked) private var pending = Deque<PendingCommand>()
    /// Submitted before the connection was ready.
    @exclusivity(unchecked) private var waiting = Deque<PendingCommand>()
    @exclusivity(unchecked) private var everReady = false
    @exclusivity(unchecked) private var attempt = 0
    @exclusivity(unchecked) private var handshakeError: RedisError?
    /// The server's id for this connection (`CLIENT ID`), learned in each handshake of a
    /// subscriber connection; nil before, or when the server does not say.
    @exclusivity(unchecked) private(set) var serverClientID: Int64?
    private lazy var tick = LoopTimer(on: loop) { [unowned self] in self.expireDeadlines() }
    @exclusivity(unchecked) private var tickRunning = false
    private lazy var reconnectTimer = LoopTimer(on: loop) { [unowned self] in self.reconnect() }
    private var startWaiters: [(Result<Void, RedisError>) -> Void] = []
    private var closeWaiters: [() -> Void] = []

    init(loop: EventLoop, configuration: RedisConfiguration, isSubscriber: Bool) {
        self.loop = loop
        self.configuration = configuration
        self.isSubscriber = isSubscriber
    }

    // MARK: - Lifecycle

    /// Connects and logs in; `done` runs (loop thread) once ready or when the attempt failed.
    func start(_ done: @escaping (Result<Void, RedisError>) -> Void) {
        switch state {
        case .ready:
            done(.success(()))
        case .connecting, .handshaking, .waitingToReconnect:
            startWaiters.append(done)
        case .closing, .closed:
            done(.failure(.closed))
        case .idle:
            startWaiters.append(done)
            if conn == nil {
                var callbacks = dc_conn_callbacks_t()
                callbacks.on_reply = { connection, command, reply in
                    RedisConnection.from(connection).received(reply, for: command)
                }
                callbacks.on_connect = { connection, status, errstr in
                    RedisConnection.from(connection).connected(status: status, errstr: errstr)
                }
                callbacks.on_disconnect = { connection, status, errstr in
                    RedisConnection.from(connection).disconnected(status: status, errstr: errstr)
                }
                callbacks.on_unrouted_error = { connection, message, length in
                    let text = String(decoding: UnsafeRawBufferPointer(start: message, count: length), as: UTF8.self)
                    RedisConnection.from(connection).receivedUnroutedError(text)
                }
                // The C context borrows an unretained pointer to self, so self must outlive it:
                // from here the loop holds a started connection (these handlers capture it)
                // until finishClose unregisters them, or the loop's shutdown closes it. An owner
                // dropped without closing leaves it alive and closing, never dangling.
                conn = dc_conn_create(loop.handle, &callbacks, Unmanaged.passUnretained(self).toOpaque())
                loop.registerTurnEndHandler(self) { self.flush() }
                loop.registerCloseHandler(self) { done in self.close(done) }
            }
            beginConnecting()
        }
    }

    private static func from(_ privdata: UnsafeMutableRawPointer?) -> RedisConnection {
        Unmanaged<RedisConnection>.fromOpaque(privdata!).takeUnretainedValue()
    }

    private func setState(_ newState: State, report: ConnectionState?) {
        state = newState
        if let report { delegate?.connection(self, didChange: report) }
    }

    private func beginConnecting() {
        guard let conn else { return }
        if let node = addressProvider?() {
            configuration.host = node.host
            configuration.port = node.port
        }
        setState(.connecting, report: .connecting)
        handshakeError = nil
        let status = dc_conn_connect(conn, configuration.host, Int32(configuration.port),
                                     UInt32(clamping: configuration.connectTimeout.roundedUpMilliseconds))
        if status != 0 {
            connectionFailed(.connectionRefused(String(cString: dc_conn_errstr(conn))))
        }
    }

    private func reconnect() {
        guard state == .waitingToReconnect else { return }
        beginConnecting()
    }

    /// Closes gracefully: waiting commands fail with `.closed`, sent ones get their replies (or
    /// fail if the server does not answer within the command timeout), then the connection is
    /// freed and `done` runs. Loop thread.
    func close(_ done: @escaping () -> Void) {
        switch state {
        case .closed:
            done()
            return
        case .closing:
            closeWaiters.append(done)
            return
        default:
            break
        }
        closeWaiters.append(done)
        setState(.closing, report: nil)
        reconnectTimer.stop()
        failAll(in: &waiting, with: .closed)
        let failures = startWaiters
        startWaiters = []
        for waiter in failures { waiter(.failure(.closed)) }
        guard let conn, dc_conn_is_connected(conn) != 0 || !pending.isEmpty else {
            // Nothing on the wire: tear down now (aborting a connect in progress, if any).
            if let conn { dc_conn_abort(conn, "closed") }
            finishClose()
            return
        }
        dc_conn_disconnect(conn)
        // A server that never answers must not hold the close forever.
        let limit = LoopTimer(on: loop) { [unowned self] in
            if self.state == .closing, let conn = self.conn { dc_conn_abort(conn, "close timed out") }
        }
        limit.start(after: configuration.commandTimeout)
        closeLimit = limit
    }

    private var closeLimit: LoopTimer?

    private func finishClose() {
        guard state != .closed else { return }
        closeLimit?.close()
        closeLimit = nil
        tick.close()
        reconnectTimer.close()
        failAll(in: &pending, with: .closed)
        if let conn {
            // Never from inside a hiredis callback: finishClose may be reached from one, so the
            // free runs in a fresh job.
            self.conn = nil
            // The free can still call back into self (hiredis reports what it drops): keep it.
            loop.executeOnLoop { withExtendedLifetime(self) { dc_conn_free(conn) } }
        }
        loop.unregister(self)
        setState(.closed, report: .closed)
        let waiters = closeWaiters
        closeWaiters = []
        for waiter in waiters { waiter() }
    }

    /// Drops the connection and reconnects (with backoff), for a connection that looks alive
    /// but does not deliver (the subscriber's liveness check). Loop thread.
    func forceReconnect() {
        guard state == .ready || state == .handshaking, let conn else { return }
        dc_conn_abort(conn, "reconnect requested")
    }

    /// Drops the connection and reconnects with backoff, reporting `error` as the reason (the
    /// server refused something the connection needs). Loop thread, outside hiredis callbacks.
    func reconnect(after error: RedisError) {
        guard state == .ready || state == .handshaking, let conn, handshakeError == nil else { return }
        handshakeError = error
        dc_conn_abort(conn, "refused by the server")
    }

    /// From inside hiredis's reader (see dc_conn_callbacks_t): hands the message on later.
    private func receivedUnroutedError(_ message: String) {
        // Jobs on the loop hold the connection strongly (here and below): they are short-lived (run
        // within the turn, or dropped at shutdown), so there is no cycle. A weak capture gives
        // the connection a weak-reference side table, which `make asan` reported as leaked at
        // the exit of cluster pods (Swift keeps the pointer to it encoded, out of LSan's sight).
        loop.executeOnLoop { [self] in
            self.delegate?.connection(self, didReceiveUnroutedError: message)
        }
    }

    // MARK: - Commands

    /// Takes a command in. Loop thread.
    func submit(_ command: PendingCommand) {
        command.header.submitted = true
        if command.header.cancelRequested {
            command.cancel()
            return
        }
        command.header.deadline = dc_loop_now_ms(loop.handle) &+ command.header.timeoutMilliseconds
        switch state {
        case .ready:
            write(command)
        case .idle, .connecting, .handshaking:
            waiting.append(command)
            ensureTick()
        case .waitingToReconnect:
            command.complete(.failure(.notConnected))
        case .closing, .closed:
            command.complete(.failure(.closed))
        }
    }

    private func write(_ command: PendingCommand) {
        guard let conn else { return command.complete(.failure(.closed)) }
        let privdata = Unmanaged.passRetained(command).toOpaque()
        let status = command.withEncodedBytes { bytes, length in dc_conn_send(conn, bytes, length, privdata) }
        guard status == 0 else {
            Unmanaged<PendingCommand>.fromOpaque(privdata).release()
            return command.complete(.failure(.notConnected))
        }
        pending.append(command)
        ensureTick()
    }

    /// Sends a command whose replies arrive as pushes (SUBSCRIBE and friends): no pending entry.
    func writePush(_ command: PendingCommand) {
        guard let conn else { return }
        _ = command.withEncodedBytes { bytes, length in dc_conn_send(conn, bytes, length, nil) }
    }

    /// Writes what this turn queued. Turn-end hook.
    private func flush() {
        guard let conn, dc_conn_pending_output(conn) > 0 else { return }
        dc_conn_flush(conn)
    }

    private func received(_ reply: UnsafePointer<dc_reply_t>?, for privdata: UnsafeMutableRawPointer?) {
        guard let privdata else {
            // A push on a subscribed connection (NULL again when the context ends: ignored).
            if let reply { delegate?.connection(self, didReceivePush: reply) }
            return
        }
        let command = Unmanaged<PendingCommand>.fromOpaque(privdata).takeRetainedValue()
        if let first = pending.first, first === command {
            pending.removeFirst()
        } else if let index = pending.firstIndex(where: { $0 === command }) {
            pending.remove(at: index)
        }
        guard let reply else {
            let message = conn.map { String(cString: dc_conn_errstr($0)) } ?? "connection closed"
            command.complete(.failure(state == .closing ? .closed : .connectionLost(message)))
            return
        }
        let value = RESPValue(reply)
        if case .error(let message) = value, !command.header.returnsErrorReplies {
            command.complete(.failure(.server(message)))
        } else {
            command.complete(.success(value))
        }
    }

    // MARK: - Connection events

    private func connected(status: Int32, errstr: UnsafePointer<CChar>?) {
        guard state == .connecting else { return }
        guard status == 0 else {
            let message = errstr.map { String(cString: $0) } ?? "connect failed"
            connectionFailed(status == DC_ERR_TIMEOUT.rawValue ? .connectionRefused("connect timed out (\(message))")
                                                               : .connectionRefused(message))
            return
        }
        setState(.handshaking, report: nil)
        // Each step: its arguments, and what to do with a success reply (nil: nothing).
        var steps: [(arguments: [String], onReply: ((RESPValue) -> Void)?)] = []
        if let password = configuration.password {
            steps.append((["AUTH"] + (configuration.username.map { [$0] } ?? []) + [password], nil))
        } else if let username = configuration.username {
            // An ACL user without a password (`nopass` users).
            steps.append((["AUTH", username, ""], nil))
        }
        if configuration.database != 0 && !isSubscriber { steps.append((["SELECT", String(configuration.database)], nil)) }
        if let name = configuration.clientName { steps.append((["CLIENT", "SETNAME", name], nil)) }
        serverClientID = nil
        if isSubscriber {
            // Before SUBSCRIBE, which admits no other command: client tracking redirects
            // invalidations to this id (RedisSubscriber.clientID).
            steps.append((["CLIENT", "ID"], { [unowned self] reply in
                if case .integer(let id) = reply, id > 0 { self.serverClientID = id }
            }))
        }
        guard !steps.isEmpty else { return handshakeFinished() }
        var remaining = steps.count
        for (index, step) in steps.enumerated() {
            let command: PendingCommand
            do {
                command = try PendingCommand.make(
                    arguments: step.arguments, limit: configuration.maximumArgumentSize, timeout: configuration.commandTimeout)
            } catch {
                return abortHandshake(error)
            }
            let isAuth = index == 0 && step.arguments[0] == "AUTH"
            let onReply = step.onReply
            command.header.completion = .callback { [unowned self] result in
                remaining -= 1
                switch result {
                case .success(let reply):
                    onReply?(reply)
                    if remaining == 0 && self.state == .handshaking && self.handshakeError == nil { self.handshakeFinished() }
                case .failure(let error):
                    if self.handshakeError == nil {
                        if isAuth, case .server(let message) = error {
                            self.abortHandshake(.authenticationFailed(message))
                        } else {
                            self.abortHandshake(error)
                        }
                    }
                }
            }
            command.header.submitted = true
            command.header.deadline = dc_loop_now_ms(loop.handle) &+ command.header.timeoutMilliseconds
            write(command)
        }
    }

    private func abortHandshake(_ error: RedisError) {
        guard handshakeError == nil else { return }
        handshakeError = error
        // We may be inside a reply callback, where hiredis forbids freeing: abort in a new job.
        loop.executeOnLoop { [self] in
            guard let conn = self.conn, self.state == .handshaking else { return }
            dc_conn_abort(conn, "handshake failed")
        }
    }

    private func handshakeFinished() {
        attempt = 0
        everReady = true
        delegate?.connectionWillBecomeReady(self)
        setState(.ready, report: .connected)
        let queued = waiting
        waiting.removeAll()
        for command in queued where !command.header.completed { write(command) }
        let waiters = startWaiters
        startWaiters = []
        for waiter in waiters { waiter(.success(())) }
    }

    private func disconnected(status: Int32, errstr: UnsafePointer<CChar>?) {
        let message = errstr.map { String(cString: $0) } ?? "disconnected"
        if state == .closing {
            // finishClose frees the dc_conn: not from inside this callback.
            loop.executeOnLoop { [self] in self.finishClose() }
            return
        }
        let error = handshakeError ?? .connectionLost(message)
        connectionFailed(error)
    }

    /// A connect attempt failed, the handshake was refused, or a ready connection broke.
    private func connectionFailed(_ error: RedisError) {
        guard state != .closing && state != .closed else { return }
        failAll(in: &waiting, with: everReady ? .notConnected : error)
        if !everReady {
            // The first connection never came up: report to whoever called start, stop here.
            setState(.idle, report: .disconnected(error))
            let waiters = startWaiters
            startWaiters = []
            for waiter in waiters { waiter(.failure(error)) }
            return
        }
        setState(.waitingToReconnect, report: .disconnected(error))
        reconnectTimer.start(after: configuration.backoff.delay(forAttempt: attempt))
        attempt += 1
    }

    // MARK: - Deadlines

    private func ensureTick() {
        guard !tickRunning else { return }
        tickRunning = true
        tick.start(after: .milliseconds(10), repeating: .milliseconds(10))
    }

    /// Fails every command whose deadline passed. Runs every 10 ms while commands are out.
    private func expireDeadlines() {
        let now = dc_loop_now_ms(loop.handle)
        for command in pending where !command.header.completed && command.header.deadline <= now {
            command.complete(.failure(.timeout))
        }
        if waiting.contains(where: { $0.header.deadline <= now }) {
            var kept = Deque<PendingCommand>()
            for command in waiting {
                if command.header.deadline <= now { command.complete(.failure(.timeout)) } else { kept.append(command) }
            }
            waiting = kept
        }
        if pending.isEmpty && waiting.isEmpty {
            tick.stop()
            tickRunning = false
        }
    }

    private func failAll(in queue: inout Deque<PendingCommand>, with error: RedisError) {
        let commands = queue
        queue.removeAll()
        for command in commands { command.complete(.failure(error)) }
    }
}
