// StateObservers: fan-out of connection state changes to callbacks and async streams.

import CSupport
import Primitives

/// The observers of a client's or subscriber's connection state. Thread-safe.
public final class StateObservers: Sendable {
    /// Identifies a registered observer.
    public struct Token: Hashable, Sendable {
        let id: Int
    }

    private struct Registry {
        var next = 0
        var handlers: [Int: @Sendable (ConnectionState) -> Void] = [:]
        var current: ConnectionState = .connecting
    }

    private let registry = Locked(Registry())

    init() {}

    var current: ConnectionState { registry.withLock { $0.current } }

    func add(_ handler: @escaping @Sendable (ConnectionState) -> Void) -> Token {
        registry.withLock { registry in
            registry.next += 1
            registry.handlers[registry.next] = handler
            return Token(id: registry.next)
        }
    }

    func remove(_ token: Token) {
        _ = registry.withLock { $0.handlers.removeValue(forKey: token.id) }
    }

    func stream() -> AsyncStream<ConnectionState> {
        let (stream, continuation) = AsyncStream<ConnectionState>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let token = add { continuation.yield($0) }
        continuation.onTermination = { [weak self] _ in self?.remove(token) }
        return stream
    }

    /// Reports a change to every observer (loop thread).
    func publish(_ state: ConnectionState) {
        let handlers = registry.withLock { registry in
            registry.current = state
            return Array(registry.handlers.values)
        }
        for handler in handlers { handler(state) }
    }
}

extension StateObservers: RedisConnectionDelegate {
    func connection(_ connection: RedisConnection, didChange state: ConnectionState) { publish(state) }
    func connection(_ connection: RedisConnection, didReceivePush reply: UnsafePointer<dc_reply_t>) {}
    func connectionWillBecomeReady(_ connection: RedisConnection) {}
}
