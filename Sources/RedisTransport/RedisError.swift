// RedisError: every way a Redis operation can fail, as a value the caller can act on.

/// Why a Redis operation failed.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No TCP connection could be made (refused, unreachable, name not resolved); the message is
    /// the system's.
    case connectionRefused(String)
    /// An established connection broke (server gone, reset, closed); the command may or may not
    /// have run on the server.
    case connectionLost(String)
    /// The client is between connections (reconnecting after a failure); the command was not sent.
    case notConnected
    /// The command's deadline passed without a reply; the command may still run on the server.
    case timeout
    /// The client was closed; the command was not sent, or its reply will never be delivered.
    case closed
    /// Redis replied with an error (Redis's message, e.g. "WRONGTYPE Operation against a key ...").
    case server(String)
    /// AUTH was refused: wrong password, or wrong or disabled ACL user (Redis's message).
    case authenticationFailed(String)
    /// Redis sent something that is not a valid reply to the command.
    case protocolError(String)
    /// An argument exceeds the configured maximum; nothing was sent.
    case valueTooLarge(size: Int, limit: Int)
    /// An argument is not acceptable before anything is sent (for example an empty command).
    case invalidArgument(String)
    /// The event loop could not be created or has stopped.
    case eventLoopFailed(String)

    public var description: String {
        switch self {
        case .connectionRefused(let message): return "cannot connect to Redis: \(message)"
        case .connectionLost(let message): return "connection to Redis lost: \(message)"
        case .notConnected: return "not connected to Redis (reconnecting)"
        case .timeout: return "Redis command timed out"
        case .closed: return "Redis client is closed"
        case .server(let message): return "Redis error: \(message)"
        case .authenticationFailed(let message): return "Redis authentication failed: \(message)"
        case .protocolError(let message): return "Redis protocol error: \(message)"
        case .valueTooLarge(let size, let limit):
            return "value of \(size) bytes exceeds the maximum of \(limit) bytes; nothing was sent"
        case .invalidArgument(let message): return "invalid Redis argument: \(message)"
        case .eventLoopFailed(let message): return "event loop failure: \(message)"
        }
    }

    /// True when the command may have run on the server although it failed here: it was sent,
    /// and then its reply did not come (timeout, or the connection broke).
    public var mayHaveRun: Bool {
        switch self {
        case .connectionLost, .timeout: return true
        default: return false
        }
    }

    /// True for failures of the connection rather than of the command: retrying on a new
    /// connection may succeed.
    public var isConnectionFailure: Bool {
        switch self {
        case .connectionRefused, .connectionLost, .notConnected, .timeout: return true
        default: return false
        }
    }
}
