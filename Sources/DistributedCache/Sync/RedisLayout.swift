// RedisLayout: where a cache's data lives in Redis, and the server-side write script.
//
// Keys of namespace `ns` (versioned wire format):
//   ns:<key>          the value, stored as "<version>@<deadline>:<marshalled bytes>" (deadline:
//                     absolute expiry in Unix ms on the server's clock, "0" for none), so one
//                     GET answers value, version and time to live
//   ns:__version      the namespace's write counter (INCR); never deleted by the library, and
//                     started at the server's clock in microseconds when it does not exist, so
//                     versions only grow, even after Redis lost its data (see the write script)
//   ns:__events       the replay stream: one entry per write, ID "<version>-0", field "e" holding
//                     the event's JSON; capped with MAXLEN ~ (approximate trimming, O(1))
//   ns:__loading:<key>  getOrLoad's short-lived loading marker
//   ns:__tags         tag -> generation (HINCRBY on invalidate(tag:)); a tagged value's header
//                     carries its tags' generations: "<version>@<deadline>#<length>#<tag>=<gen>,...:<bytes>"
//                     (Sync/TagRegistry.swift)
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

import CSupport
import RedisTransport

struct RedisLayout: Sendable {
    let namespace: String
    let channel: String
    let versioned: Bool
    /// Redis's client tracking announces changes of stored keys (SyncedCache+Tracking.swift).
    let tracked: Bool

    /// Events go over sharded pub/sub (SPUBLISH / SSUBSCRIBE, Redis Cluster).
    let sharded: Bool

    /// On Redis Cluster in the versioned wire format, the namespace is written as a hash tag
    /// (`{dcache}`): every key of the namespace, the write script's bookkeeping keys and the
    /// sharded channel then hash to one slot, so that each script call stays in that slot and
    /// events go through the primary that holds the data.
    init(options: SyncedCache.Options) {
        let cluster = !options.redisClusterNodes.isEmpty
        versioned = options.wireFormat == .versioned
        namespace = cluster && versioned ? "{\(options.effectiveNamespace)}" : options.effectiveNamespace
        sharded = cluster && options.pubsub == .sharded
        channel = sharded ? "\(namespace):\(options.invalidationChannel)" : options.invalidationChannel
        tracked = options.invalidation == .tracking
    }

    /// The publishing command the scripts use.
    var publishCommand: String { sharded ? "SPUBLISH" : "PUBLISH" }

    /// The channel a write's event goes to, or "" when it is not published: under client
    /// tracking, Redis itself announces a write that changes a stored key (a second announcement
    /// would only arrive before Redis's and be undone by it).
    func eventChannel(for operation: WriteOperation) -> String {
        tracked && operation != .announce ? "" : channel
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
    var tagsKey: String { "\(namespace):__tags" }
    func loadingKey(_ key: String) -> String { "\(namespace):__loading:\(key)" }
    func pingChannel(podID: String) -> String { "\(channel):ping:\(podID)" }

    /// SCAN pattern matching every key of the namespace (validated to hold no glob characters).
    var scanPattern: String { "\(namespace):*" }

    /// True for the namespace's bookkeeping keys, which `clear` keeps (the version counter must
    /// never go back; the stream records the clear itself).
    func isInternal(_ dataKey: String) -> Bool {
        dataKey == versionKey || dataKey == streamKey || dataKey == tagsKey
    }

    // MARK: - Stored values

    /// When a stored value expires, as its header says.
    enum StoredExpiry: Equatable {
        /// The value has no time to live.
        case never
        /// Redis drops the value at this wall-clock time (milliseconds since the Unix epoch, on
        /// the Redis server's clock).
        case at(unixMilliseconds: Int64)
        /// The header does not say (a value the reference library, another tool or an earlier
        /// version of this library wrote): ask Redis with PTTL.
        case unknown
    }

    /// A value as the write script stores it: `"<version>@<deadline>:<bytes>"`, where the deadline
    /// is the absolute expiry in Unix milliseconds on the server's clock ("0": none), so that one
    /// GET answers value, version and time to live. Values written before the deadline existed
    /// read `"<version>:<bytes>"` (expiry unknown).
    struct StoredValue {
        var version: UInt64
        var expiry: StoredExpiry
        var bytes: [UInt8]
        /// The value's tags with their generations at the write (TagRegistry.swift).
        var tags: [TagGeneration] = []
    }

    /// Parses a stored value's header. Each number is 1 to 16 digits (2^53, the largest version,
    /// has 16; so do deadlines until the year 318857), the version in 1...
    /// `SyncedCache.maximumVersion` (the script never hands out 0, which means "unversioned"). Anything else is taken as an unversioned value, bytes and all
    /// (not written by the script: a reference instance, or another tool).
    ///
    /// The header is removed in place: when `stored` is the only reference to its buffer (a reply
    /// just taken from the connection), the value keeps the reply's storage and nothing is copied
    /// but the value's bytes moving forward by the header's length.
    static func parseStored(_ stored: consuming [UInt8]) -> StoredValue {
        var index = 0
        guard let version = number(in: stored, at: &index), (1...SyncedCache.maximumVersion).contains(version),
            index < stored.count
        else { return StoredValue(version: 0, expiry: .unknown, bytes: stored) }
        var expiry = StoredExpiry.unknown
        if stored[index] == UInt8(ascii: "@") {
            index += 1
            guard let deadline = number(in: stored, at: &index), index < stored.count else {
                return StoredValue(version: 0, expiry: .unknown, bytes: stored)
            }
            expiry = deadline == 0 ? .never : .at(unixMilliseconds: Int64(deadline))
        }
        var tags: [TagGeneration] = []
        if expiry != .unknown, stored[index] == UInt8(ascii: "#") {
            // The tag list: its length, '#', the list (tag names may hold ':' and '#').
            index += 1
            guard let length = number(in: stored, at: &index), (1...UInt64(TagRegistry.maximumHeaderSize)).contains(length),
                index < stored.count, stored[index] == UInt8(ascii: "#"), stored.count - index - 1 > Int(length),
                let parsed = TagRegistry.parse(stored[(index + 1)...(index + Int(length))])
            else { return StoredValue(version: 0, expiry: .unknown, bytes: stored) }
            tags = parsed
            index += 1 + Int(length)
        }
        guard stored[index] == UInt8(ascii: ":") else { return StoredValue(version: 0, expiry: .unknown, bytes: stored) }
        var bytes = consume stored
        bytes.removeSubrange(0...index)
        return StoredValue(version: version, expiry: expiry, bytes: bytes, tags: tags)
    }

    /// The decimal number of 1 to 16 digits at `index` (moved past it), or nil if none is there.
    private static func number(in bytes: borrowing [UInt8], at index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        let start = index
        while index < bytes.count, index - start < 16, (48...57).contains(bytes[index]) {
            value = value * 10 + UInt64(bytes[index] - 48)
            index += 1
        }
        return index > start ? value : nil
    }

    /// The remaining time to live of a value that expires at `deadline` (Unix milliseconds),
    /// measured on this machine's wall clock: zero when it is due (the local cache then does not
    /// keep it), at most `SyncedCache.maximumTTL`. Clocks of the instances and of Redis are
    /// assumed in step (NTP): a skew of S shortens or lengthens local copies' lives by S.
    static func remainingTTL(untilUnixMilliseconds deadline: Int64) -> Duration {
        let now = dc_clock_wall_ns() / 1_000_000
        guard deadline > now else { return .zero }
        return min(.milliseconds(deadline - now), SyncedCache.maximumTTL)
    }

    /// The remaining time to live Redis reported (PTTL, in milliseconds): nil for no expiry
    /// (-1), zero when the key is already gone (-2: it expired after it was read), at most
    /// `SyncedCache.maximumTTL`. The reply is a number from the network like any other.
    static func remainingTTL(milliseconds: Int64) -> Duration? {
        if milliseconds == -1 { return nil }
        guard milliseconds > 0 else { return .zero }
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

    /// KEYS: data key, version counter, stream, tag hash. ARGV: operation, value, ttl ms ("0":
    /// none), channel ("": do not publish), event prefix, event suffix, stream max length ("0": no
    /// stream), stale retention ms, tags (see `tagCheck`), the publishing command (PUBLISH or
    /// SPUBLISH). Returns the version.
    ///
    /// A missing counter (first write ever, or Redis restarted without its data) starts at the
    /// server's clock in microseconds (1.8 × 10^15 in 2026) instead of 1: versions handed out
    /// before the loss stay below the new ones as long as the namespace averaged fewer than a
    /// million writes per second, so no instance's newer-version check refuses the writes that
    /// follow a data loss. Lua numbers are doubles, exact up to 2^53 (year 2255 in microseconds),
    /// and are printed with %d: Lua's default %.14g would print 1.8e+15.
    static let writeScript = RedisScript(
        tagCheck + """
        local version = redis.call('INCR', KEYS[2])
        if version == 1 then
          local now = redis.call('TIME')
          version = tonumber(now[1]) * 1000000 + tonumber(now[2])
          redis.call('SET', KEYS[2], string.format('%d', version))
        end
        local digits = string.format('%d', version)
        local event = ARGV[5] .. digits .. ARGV[6]
        """ + "\n" + writeScriptEffects)

    /// The write script of signed mode (``SyncedCache/Options/signingSecrets``): the writer has
    /// chosen the version and signed the complete event, so the script takes both as they are.
    /// KEYS as ``writeScript``; ARGV: operation, value, ttl ms ("0": none), channel, the signed
    /// event, the version, stream max length ("0": no stream), stale retention ms, tags, the
    /// publishing command. The version must be above the
    /// namespace's counter, which it then becomes; otherwise nothing is written and the reply is
    /// the error `DCACHE_VERSION_TAKEN <counter>`, and the writer tries again above it. So
    /// versions still only grow, and events are still published in version order.
    static let signedWriteScript = RedisScript(
        tagCheck + """
        local current = tonumber(redis.call('GET', KEYS[2]) or '0')
        local version = tonumber(ARGV[6])
        if version == nil or version <= current then
          return redis.error_reply('DCACHE_VERSION_TAKEN ' .. string.format('%d', current))
        end
        local digits = ARGV[6]
        redis.call('SET', KEYS[2], digits)
        local event = ARGV[5]
        """ + "\n" + writeScriptEffects)

    /// What both write scripts check first: ARGV[9], the value's tags with the generations the
    /// writer believes current (`tag=generation,...`, "" for none), against the namespace's tag
    /// hash KEYS[4]. When one moved, nothing is written and the reply is the error
    /// `DCACHE_TAGS_MOVED tag=generation,...` with the current ones, and the writer tries again.
    private static let tagCheck = """
        if ARGV[9] ~= '' then
          local moved = false
          local current = {}
          for name, generation in string.gmatch(ARGV[9], '([^,=]+)=(%d+)') do
            local now = redis.call('HGET', KEYS[4], name) or '0'
            if now ~= generation then moved = true end
            current[#current + 1] = name .. '=' .. now
          end
          if moved then return redis.error_reply('DCACHE_TAGS_MOVED ' .. table.concat(current, ',')) end
        end

        """

    /// What both write scripts do once `version`, `digits` and `event` are set: write the value
    /// (with its header) or delete it, append to the stream, publish, return the version. ARGV[8]
    /// is how long Redis keeps a value past the deadline in its header (stale retention, for
    /// getOrLoad's fail-safe: SyncedCache+Load.swift).
    private static let writeScriptEffects = """
        if ARGV[1] == 'set' then
          local deadline = '0'
          if ARGV[3] ~= '0' then
            local now = redis.call('TIME')
            deadline = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[3]))
          end
          local tagged = ''
          if ARGV[9] ~= '' then tagged = '#' .. string.len(ARGV[9]) .. '#' .. ARGV[9] end
          local stored = digits .. '@' .. deadline .. tagged .. ':' .. ARGV[2]
          if ARGV[3] ~= '0' then
            redis.call('SET', KEYS[1], stored, 'PX', string.format('%d', tonumber(ARGV[3]) + tonumber(ARGV[8])))
          else
            redis.call('SET', KEYS[1], stored)
          end
        elseif ARGV[1] == 'del' then
          redis.call('UNLINK', KEYS[1])
        end
        if ARGV[7] ~= '0' then
          local added = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], digits .. '-0', 'e', event)
          if type(added) == 'table' and added.err then
            -- The stream is ahead of the counter (the counter was deleted by hand): restart the
            -- stream; readers see a gap and resynchronize fully.
            redis.call('DEL', KEYS[3])
            redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], digits .. '-0', 'e', event)
          end
        end
        if ARGV[4] ~= '' then redis.call(ARGV[10], ARGV[4], event) end
        return version
        """

    /// A liveness ping (SyncedCache+Health.swift): publishes ARGV[2] on ARGV[1] (with ARGV[3],
    /// PUBLISH or SPUBLISH) and returns the
    /// version counter KEYS[1] ("0" when it does not exist), the verified horizon. Sent with EVAL
    /// (once a ping interval, the script text costs nothing to resend).
    static let pingScript = """
        redis.call(ARGV[3], ARGV[1], ARGV[2])
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
        eventPrefix: [UInt8], eventSuffix: [UInt8], streamLength: Int, staleRetentionMilliseconds: Int64,
        tags: [TagGeneration] = []
    ) -> (keys: [any RESPArgument], arguments: [any RESPArgument]) {
        (
            [dataKey(key), versionKey, streamKey, tagsKey],
            [
                operation.rawValue, value, String(ttlMilliseconds ?? 0), eventChannel(for: operation), eventPrefix, eventSuffix,
                String(streamLength), String(staleRetentionMilliseconds), TagRegistry.format(tags), publishCommand,
            ]
        )
    }
}
