// CacheError: every way a cache operation can fail, as a value the caller can act on.

import RedisTransport

/// Why a cache operation failed.
public enum CacheError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key is empty or longer than `Options.maximumKeySize`; the reason says which.
    case invalidKey(String)
    /// The marshalled value exceeds `Options.maximumValueSize`; nothing was written.
    case valueTooLarge(size: Int, limit: Int)
    /// A batch (`getMany`, `setMany`, `deleteMany`) names more keys than
    /// `Options.maximumBatchSize`; nothing was read or written.
    case batchTooLarge(size: Int, limit: Int)
    /// The marshaller could not encode the value.
    case encodingFailed(String)
    /// Bytes for `key` could not be decoded as the requested type (the value is not cached).
    case decodingFailed(key: String, reason: String)
    /// Redis failed: unreachable, timed out, refused credentials, or replied with an error.
    case redis(RedisError)
    /// An option (or the environment variable that set it) has an invalid value.
    case invalidOption(name: String, reason: String)
    /// The operation was cancelled (the calling task was cancelled).
    case cancelled
    /// The loader passed to `getOrLoad` threw; the message is the loader's error.
    case loaderFailed(String)
    /// A tag given to `set(_:_:ttl:tags:)` or `invalidate(tag:)` is not a valid tag name.
    case invalidTag(String)
    /// The loader passed to `getOrLoad` did not answer within ``SyncedCache/Options/loaderHardTimeout``
    /// (it goes on in the background, and its value is stored when it comes).
    case loaderTimedOut(key: String, after: Duration)
    /// The cache was closed.
    case closed

    public var description: String {
        switch self {
        case .invalidKey(let reason): return "invalid key: \(reason)"
        case .valueTooLarge(let size, let limit):
            return "value of \(size) bytes exceeds the maximum of \(limit) bytes; nothing was written"
        case .batchTooLarge(let size, let limit):
            return "a batch of \(size) keys exceeds the maximum of \(limit) (maximumBatchSize); nothing was done"
        case .encodingFailed(let reason): return "cannot encode value: \(reason)"
        case .decodingFailed(let key, let reason): return "cannot decode the value of \"\(key)\": \(reason)"
        case .redis(let error):
            guard case .server(let message) = error, let needed = Self.permissionNeeded(by: message) else {
                return error.description
            }
            return "\(error.description) (the cache's Redis user needs \(needed))"
        case .invalidOption(let name, let reason): return "invalid option \(name): \(reason)"
        case .cancelled: return "cancelled"
        case .loaderFailed(let reason): return "loader failed: \(reason)"
        case .invalidTag(let reason): return "invalid tag: \(reason)"
        case .loaderTimedOut(let key, let limit): return "the loader of \"\(key)\" did not answer within \(limit)"
        case .closed: return "cache is closed"
        }
    }

    /// The ACL permission a NOPERM reply says is missing, in `ACL SETUSER` terms, or nil for any
    /// other reply. What a cache needs in all: commands `+@read +@write +@scripting +@pubsub`
    /// (and `+scan +unlink` for a namespaced clear), keys `~<namespace>:*`, channels `&<channel>`
    /// and `&<channel>:ping:*`.
    static func permissionNeeded(by message: String) -> String? {
        guard message.hasPrefix("NOPERM") else { return nil }
        let lowered = message.lowercased()
        if lowered.contains("channel") { return "access to the invalidation channel and its ping channels (&<channel> &<channel>:ping:*)" }
        if lowered.contains("key") { return "access to the namespace's keys (~<namespace>:*)" }
        if let start = lowered.range(of: "run the '"), let end = lowered[start.upperBound...].firstIndex(of: "'") {
            let command = String(lowered[start.upperBound..<end])
            if command.hasPrefix("eval") || command.hasPrefix("script") { return "+@scripting (EVAL, EVALSHA, SCRIPT LOAD run every write)" }
            if command.hasPrefix("publish") || command.hasPrefix("subscribe") { return "+@pubsub" }
            return "+\(command)"
        }
        return "the permission Redis names"
    }

    /// True when the failed write may still have happened in Redis (see `RedisError.mayHaveRun`).
    var mayHaveRun: Bool {
        if case .redis(let error) = self { return error.mayHaveRun }
        return false
    }

    /// Maps any error thrown by the transport to a cache error.
    static func from(_ error: any Error) -> CacheError {
        switch error {
        case let error as CacheError: return error
        case let error as RedisError: return .redis(error)
        case is CancellationError: return .cancelled
        default: return .redis(.protocolError(String(describing: error)))
        }
    }
}
