// RedisLayout: where a cache's data lives in Redis, and the server-side write script.
//
// Keys of namespace `ns` (versioned wire format):
//   ns:<key>          the value, stored as "<version>:<marshalled bytes>"
//   ns:__version      the namespace's write counter (INCR); never deleted by the library, and
//                     started at the server's clock in microseconds when it does not exist, so
//                     versions only grow, even after Redis lost its data (see the write script)
//   ns:__events       the replay stream: one entry per write, ID "<version>-0", field "e" holding
//                     the event's JSON; capped with MAXLEN ~ (approximate trimming, O(1))
//   ns:__loading:<key>  getOrLoad's short-lived loading marker
// Pings travel on "<channel>:ping:<pod id>", which only the instance itself subscribes to.
//
// Why one script per write: the version bump, the value, the stream entry and the PUBLISH must
// happen together or not at all, so that nothing is ever written but not announced, and events
// are published in version order (Redis runs scripts one at a time). The stream uses the version
// as its entry ID, so a reconnecting reader can ask for "everything after the last version I
// saw" without wall clocks, and tell a gap (trimmed entries) by the first ID the stream still has.
//
// In the reference wire format the value is the marshalled bytes as is, under the bare key (or
// "ns:key" if a namespace is set), and nothing else exists.

import RedisTransport

struct RedisLayout: Sendable {
    let namespace: String
    let channel: String
    let versioned: Bool

    init(options: SyncedCache.Options) {
        namespace = options.effectiveNamespace
        channel = options.invalidationChannel
        versioned = options.wireFormat == .versioned
    }

    /// The Redis key of a cache key.
    func dataKey(_ key: String) -> String { namespace.isEmpty ? key : "\(namespace):\(key)" }

    /// The cache key of a Redis data key of this namespace, or nil for internal or foreign keys.
    func cacheKey(_ dataKey: String) -> String? {
        guard !namespace.isEmpty else { return dataKey }
        guard dataKey.hasPrefix(namespace + ":") else { return nil }
        let key = String(dataKey.dropFirst(namespace.count + 1))
        return key.hasPrefix("__") ? nil : key
    }

    var versionKey: String { "\(namespace):__version" }
    var streamKey: String { "\(namespace):__events" }
    func loadingKey(_ key: String) -> String { "\(namespace):__loading:\(key)" }
    func pingChannel(podID: String) -> String { "\(channel):ping:\(podID)" }

    /// SCAN pattern matching every key of the namespace (validated to hold no glob characters).
    var scanPattern: String { "\(namespace):*" }

    /// True for the namespace's bookkeeping keys, which `clear` keeps (the version counter must
    /// never go back; the stream records the clear itself).
    func isInternal(_ dataKey: String) -> Bool {
        dataKey == versionKey || dataKey == streamKey
    }

    // MARK: - Stored values

    /// "<version>:<bytes>" as stored by the write script. A header is 1 to 16 digits (2^53, the
    /// largest version, has 16) holding at most `SyncedCache.maximumVersion`, then a colon;
    /// anything else is taken as an unversioned value, bytes and all.
    static func parseStored(_ stored: [UInt8]) -> (version: UInt64, bytes: [UInt8]) {
        var version: UInt64 = 0
        var index = 0
        while index < stored.count, index < 16, (48...57).contains(stored[index]) {
            version = version * 10 + UInt64(stored[index] - 48)
            index += 1
        }
        guard index > 0, index < stored.count, stored[index] == UInt8(ascii: ":"), version <= SyncedCache.maximumVersion
        else {
            // Not written by the script (a reference instance, or another tool): unversioned.
            return (0, stored)
        }
        return (version, Array(stored[(index + 1)...]))
    }

    /// The remaining time to live Redis reported (PTTL, in milliseconds), bounded by
    /// `SyncedCache.maximumTTL`: the reply is a number from the network like any other.
    static func remainingTTL(milliseconds: Int64) -> Duration? {
        guard milliseconds > 0 else { return nil }
        return min(.milliseconds(milliseconds), SyncedCache.maximumTTL)
    }

    // MARK: - The write script

    /// What the write script does to the data key.
    enum WriteOperation: String {
        /// SET the value (with PX when a TTL is given).
        case set
        /// UNLINK the key.
        case delete = "del"
        /// Leave the data alone: only bump the version and announce (set without writing Redis,
        /// `readerCanSetToRedis == false`; clear).
        case announce = "none"
    }

    /// KEYS: data key, version counter, stream. ARGV: operation, value, ttl ms ("0": none),
    /// channel, event prefix, event suffix, stream max length ("0": no stream). Returns the
    /// version.
    ///
    /// A missing counter (first write ever, or Redis restarted without its data) starts at the
    /// server's clock in microseconds (1.8 × 10^15 in 2026) instead of 1: versions handed out
    /// before the loss stay below the new ones as long as the namespace averaged fewer than a
    /// million writes per second, so no instance's newer-version check refuses the writes that
    /// follow a data loss. Lua numbers are doubles, exact up to 2^53 (year 2255 in microseconds),
    /// and are printed with %d: Lua's default %.14g would print 1.8e+15.
    static let writeScript = RedisScript(
        """
        local version = redis.call('INCR', KEYS[2])
        if version == 1 then
          local now = redis.call('TIME')
          version = tonumber(now[1]) * 1000000 + tonumber(now[2])
          redis.call('SET', KEYS[2], string.format('%d', version))
        end
        local digits = string.format('%d', version)
        if ARGV[1] == 'set' then
          local stored = digits .. ':' .. ARGV[2]
          if ARGV[3] ~= '0' then
            redis.call('SET', KEYS[1], stored, 'PX', ARGV[3])
          else
            redis.call('SET', KEYS[1], stored)
          end
        elseif ARGV[1] == 'del' then
          redis.call('UNLINK', KEYS[1])
        end
        local event = ARGV[5] .. digits .. ARGV[6]
        if ARGV[7] ~= '0' then
          local added = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], digits .. '-0', 'e', event)
          if type(added) == 'table' and added.err then
            -- The stream is ahead of the counter (the counter was deleted by hand): restart the
            -- stream; readers see a gap and resynchronize fully.
            redis.call('DEL', KEYS[3])
            redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], digits .. '-0', 'e', event)
          end
        end
        redis.call('PUBLISH', ARGV[4], event)
        return version
        """)

    /// A liveness ping (SyncedCache+Health.swift): publishes ARGV[2] on ARGV[1] and returns the
    /// version counter KEYS[1] ("0" when it does not exist), the verified horizon. Sent with EVAL
    /// (once a ping interval, the script text costs nothing to resend).
    static let pingScript = """
        redis.call('PUBLISH', ARGV[1], ARGV[2])
        return redis.call('GET', KEYS[1]) or '0'
        """

    /// The version counter in a ping's reply, if it is a bounded number.
    static func counter(_ reply: RESPValue) -> UInt64? {
        guard let text = reply.string, let counter = UInt64(text), counter <= SyncedCache.maximumVersion else { return nil }
        return counter
    }

    /// The arguments of one write-script call.
    func writeArguments(
        _ operation: WriteOperation, key: String, value: [UInt8], ttlMilliseconds: Int64?,
        eventPrefix: [UInt8], eventSuffix: [UInt8], streamLength: Int
    ) -> (keys: [any RESPArgument], arguments: [any RESPArgument]) {
        (
            [dataKey(key), versionKey, streamKey],
            [
                operation.rawValue, value, String(ttlMilliseconds ?? 0), channel, eventPrefix, eventSuffix,
                String(streamLength),
            ]
        )
    }
}
