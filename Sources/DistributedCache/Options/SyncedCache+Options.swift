// SyncedCache.Options: every setting, with the reference library's defaults.
//
// The reference (huykn/distributed-cache v1.0.1) names are kept where they exist (its Go field
// in parentheses below). One default differs on purpose: the pod id. The reference defaults it to
// "default-pod", so with default options every instance has the same id and silently ignores
// every other instance's events. Here an unset pod id becomes a unique one.

import Foundation
import LocalStore
import Logging
import RedisTransport
import Tracing

extension SyncedCache {
    /// The local cache's settings: the reference library's `LocalCacheConfig`.
    ///
    /// For the LFU policy (W-TinyLFU here, Ristretto in the reference) `numCounters`,
    /// `maxCost`, `bufferItems` and `ignoreInternalCost` apply; for LRU, `maxSize`. How each maps
    /// onto the local store's `StoreConfiguration` is documented there.
    public struct LocalCacheConfig: Sendable, Equatable {
        /// Upper bound of the frequency sketch's counters (`NumCounters`, 10,000,000).
        public var numCounters: Int = 10_000_000
        /// Total cost the LFU cache may hold (`MaxCost`, 1 GiB). Each entry costs 1, plus its
        /// bookkeeping bytes unless `ignoreInternalCost`.
        public var maxCost: Int = 1 << 30
        /// Hits recorded per thread before the policy applies them (`BufferItems`, 64).
        public var bufferItems: Int = 64
        /// Whether entries' bookkeeping bytes are left out of their cost (`IgnoreInternalCost`,
        /// false).
        public var ignoreInternalCost: Bool = false
        /// Maximum number of entries of the LRU cache (`MaxSize`, 10,000).
        public var maxSize: Int = 10_000

        /// Creates a configuration; every parameter defaults to the reference's value.
        public init(
            numCounters: Int = 10_000_000, maxCost: Int = 1 << 30, bufferItems: Int = 64,
            ignoreInternalCost: Bool = false, maxSize: Int = 10_000
        ) {
            self.numCounters = numCounters
            self.maxCost = maxCost
            self.bufferItems = bufferItems
            self.ignoreInternalCost = ignoreInternalCost
            self.maxSize = maxSize
        }
    }

    /// Which local cache the instance uses (`LocalCacheFactory`).
    public enum LocalCacheKind: Sendable {
        /// The built-in admission-filtered LFU (W-TinyLFU), configured by `localCacheConfig`.
        case lfu
        /// The built-in LRU, configured by `localCacheConfig.maxSize`.
        case lru
        /// Your own cache, created once per instance by the closure.
        case custom(@Sendable () throws -> any LocalCache<LocalValue>)

        /// No local copies at all: a cache that stores nothing, so that every `get` reads Redis.
        /// For measuring the remote path against a baseline, or for an instance that must never
        /// serve a local copy; events are still received (and change nothing).
        public static var passThrough: LocalCacheKind { .custom { PassThroughCache() } }
    }

    /// How values are marshalled when no custom marshaller is set (`SerializationFormat`).
    public enum SerializationFormat: String, Sendable, CaseIterable {
        /// JSON through Codable (the default, as in the reference).
        case json
        /// MessagePack through msgpack-c (the reference accepts the name but cannot use it).
        case msgpack
    }

    /// What goes over the wire and into Redis.
    public enum WireFormat: String, Sendable, CaseIterable {
        /// Versioned writes (one server-side script bumps a version, writes, records and announces
        /// the change); events carry the version and TTL as extra JSON fields, so reference
        /// instances can still read them. Values in Redis carry a version header that reference
        /// instances cannot read. The default.
        case versioned
        /// Byte-for-byte the reference library: plain values, unversioned events, no namespace by
        /// default. For fleets that mix both libraries; ordering guarantees are the reference's
        /// (see README, "Consistency").
        case reference
    }

    /// What a local cache does after its subscription was interrupted, to drop what it may have
    /// missed.
    public enum ResyncStrategy: String, Sendable, CaseIterable {
        /// Drop every local entry (the default; always correct).
        case clear
        /// Compare every local entry's version with Redis in batches; drop the ones that differ.
        case revalidate
        /// Read the namespace's replay stream from the last event seen and drop exactly the keys
        /// it names; clear everything if the stream no longer reaches back that far.
        case replay
    }

    /// How this instance learns that a key changed in Redis.
    public enum InvalidationMode: String, Sendable, CaseIterable {
        /// The library's own events on ``Options/invalidationChannel`` (the reference's way, and
        /// the default): writes made through the library reach every instance, set events with
        /// their values; writes made to Redis by anything else do not.
        case pubsub
        /// Redis client-side caching in broadcasting mode (`CLIENT TRACKING ... BCAST PREFIX
        /// <namespace>:`, Redis 6 or later): Redis itself reports every change of a key under the
        /// namespace, by any client (a script, another service, `redis-cli`), and the local copy
        /// is dropped; `FLUSHDB` and `FLUSHALL` clear the local cache. A write stored in Redis is
        /// announced by Redis only (other instances re-read it when they need it); what Redis
        /// cannot see (a set that is not stored in Redis, `invalidate`, tags, `clear`) still goes
        /// out as an event. Every instance of a namespace must use the same mode.
        case tracking
    }

    /// How events travel on Redis Cluster (``Options/redisClusterNodes``).
    public enum PubSubMode: String, Sendable, CaseIterable {
        /// Sharded pub/sub (SSUBSCRIBE / SPUBLISH, Redis 7): the channel lives in the namespace's
        /// slot, so events go through the one primary that also holds the namespace's data, and
        /// each namespace's traffic stays on its own shard. The default.
        case sharded
        /// Classic pub/sub (SUBSCRIBE / PUBLISH): every primary relays every event to the whole
        /// cluster; needed to share events with the reference library or other classic
        /// subscribers.
        case classic
    }

    /// What `clear()` removes from Redis.
    public enum ClearScope: String, Sendable, CaseIterable {
        /// The keys of this cache's namespace only (SCAN + UNLINK in batches). The default.
        case namespace
        /// The whole selected database (FLUSHDB), as the reference library does. Only when you
        /// own the database.
        case database
    }

    /// The settings of a ``SyncedCache``.
    public struct Options: Sendable {
        /// This instance's id (`PodID`): the sender of its events, which it ignores when they
        /// come back. nil (the default) makes a unique one from the host name, the process id
        /// and a random suffix. Two live instances with the same id are reported with a warning.
        public var podID: String?
        /// The local cache (`LocalCacheFactory`): `.lfu` (the default), `.lru` or your own.
        public var localCache: LocalCacheKind = .lfu
        /// Settings of the built-in local caches (`LocalCacheConfig`).
        public var localCacheConfig = LocalCacheConfig()
        /// Redis address "host:port" (`RedisAddr`, "localhost:6379").
        public var redisAddress = "localhost:6379"
        /// Redis Cluster: seed nodes ("HOST:PORT"), from which the slot map is read; empty (the
        /// default) for one server at ``redisAddress``. In the versioned wire format every key
        /// of the namespace carries the namespace as its hash tag (`{dcache}:user:1`), so that
        /// the write script's keys share one slot: one namespace lives on one primary (see the
        /// README, "Redis Cluster").
        public var redisClusterNodes: [String] = []
        /// Redis Cluster: sharded (default) or classic pub/sub for events.
        public var pubsub: PubSubMode = .sharded
        /// Redis Sentinel: the sentinels ("HOST:PORT"), asked for the primary's address at start
        /// and followed on failover (`+switch-master`: the connections move and the local cache
        /// resynchronizes); with ``sentinelMasterName``. Empty (the default): ``redisAddress``.
        public var redisSentinels: [String] = []
        /// Redis Sentinel: the primary's name in the sentinels' configuration.
        public var sentinelMasterName: String?
        /// Redis password (`RedisPassword`).
        public var redisPassword: String?
        /// Redis ACL user name, for `AUTH user password`.
        public var redisUsername: String?
        /// Redis database number (`RedisDB`, 0).
        public var redisDatabase = 0
        /// The pub/sub channel of set and invalidation events (`InvalidationChannel`,
        /// "cache:invalidate").
        public var invalidationChannel = "cache:invalidate"
        /// The value format when `marshaller` is nil (`SerializationFormat`, json).
        public var serializationFormat: SerializationFormat = .json
        /// A custom marshaller, used instead of `serializationFormat` (`Marshaller`).
        public var marshaller: (any Marshaller)?
        /// The logger (`Logger`); its level is raised to debug when `debugMode` is on.
        public var logger = Logger(label: "dcache")
        /// Logs every operation and event at debug level (`DebugMode`, false).
        public var debugMode = false
        /// Time limit of each Redis operation (`ContextTimeout`, 5 s).
        public var operationTimeout: Duration = .seconds(5)
        /// Exports the statistics through swift-metrics (`EnableMetrics`, true).
        public var enableMetrics = true
        /// Called for every error, of operations and of background work such as event handling
        /// (`OnError`). Runs on the thread that met the error; keep it short.
        public var onError: (@Sendable (CacheError) -> Void)?
        /// Whether `set` writes the value to Redis (`ReaderCanSetToRedis`, **false**).
        ///
        /// As in the reference library, by default `set` updates the local cache and publishes
        /// the value to the other instances but does **not** write Redis: an instance that later
        /// misses the key locally finds nothing in Redis. Turn it on for the flow the
        /// reference's diagrams show (local + Redis SET + publish). `delete` and `clear` always
        /// write Redis.
        public var readerCanSetToRedis = false
        /// Turns a received set event into the value to store locally (`OnSetLocalCache`), for
        /// example to decode it once into your type. Return nil to store nothing (the key is then
        /// dropped locally). Without it, the bytes are stored and decoded on first read.
        public var onSetLocalCache: (@Sendable (Event) throws -> (any Codable & Sendable)?)?

        // Beyond the reference.

        /// Prefix of every Redis key of this cache ("<namespace>:<key>"); nil uses "dcache", or
        /// no prefix at all with the reference wire format (its keys are bare).
        public var namespace: String?
        /// Versioned (default) or reference-compatible wire format and storage.
        public var wireFormat: WireFormat = .versioned
        /// Time to live of values set without one, in Redis and locally; nil: no expiry.
        public var defaultTTL: Duration?
        /// How changes made by others reach the local cache: the library's events (default) or
        /// Redis's client tracking, which also sees writes made without the library.
        public var invalidation: InvalidationMode = .pubsub
        /// What to do after the subscription was interrupted (default: clear the local cache).
        public var resyncStrategy: ResyncStrategy = .clear
        /// Approximate number of events kept in the replay stream (versioned format only).
        public var replayStreamLength = 100_000
        /// While the channel is broken (disconnected, or its pings do not come back), local
        /// entries are served for at most this long; then reads go to Redis.
        public var maximumStaleness: Duration = .seconds(5)
        /// How often the instance pings itself through the channel; zero turns pings off.
        public var pingInterval: Duration = .seconds(1)
        /// A ping not back within this long marks the channel broken.
        public var pingTimeout: Duration = .seconds(3)
        /// What `clear()` removes from Redis (default: this namespace only; never FLUSHDB unless
        /// you choose `.database`).
        public var clearScope: ClearScope = .namespace
        /// Largest accepted marshalled value, in bytes.
        public var maximumValueSize = 16 * 1024 * 1024
        /// Largest accepted key, in UTF-8 bytes. A received event with a longer key is skipped
        /// and counted in `eventsMalformed`.
        public var maximumKeySize = 8 * 1024
        /// Shared secrets for signed events (`CACHE_SIGNING_SECRETS`, comma-separated); empty,
        /// the default, for none. When set, every event this instance publishes carries an
        /// HMAC-SHA256 signature made with the first secret, and an event is applied only when
        /// it carries a valid signature by one of them (others are counted in `eventsRejected`).
        /// List a new secret second on every instance, then first, then drop the old one, to
        /// rotate without a gap. In the versioned format, signing makes the writer choose each
        /// version (so that it can sign it); a write that loses the race for a version is
        /// retried, and batches are written one key at a time. Each secret needs at least 16
        /// bytes.
        public var signingSecrets: [String] = []
        /// Most keys one `getMany`, `setMany` or `deleteMany` may name; a larger batch fails with
        /// ``CacheError/batchTooLarge(size:limit:)`` before anything is sent, so that one call
        /// cannot build an unbounded pipeline (or reply) in memory.
        public var maximumBatchSize = 10_000
        /// How long a `getOrLoad` loading marker in Redis protects a key from concurrent loads
        /// by other instances.
        public var loadLockTTL: Duration = .seconds(10)
        /// Eager refresh: a `getOrLoad` that finds its value in the local cache after this
        /// fraction of its time to live has passed (0.8: in the last 20 %) refreshes it in the
        /// background through its loader, once per instance and, through the loading marker,
        /// usually once across instances; readers keep getting the current value meanwhile, so a
        /// hot key never expires under load. In 0 < f < 1; nil (the default) turns it off.
        public var refreshAhead: Double?
        /// Spreads expirations: every written time to live is shortened by a random fraction of
        /// up to this much (0.1: by 0 to 10 %), so that keys written together do not expire
        /// together. In 0 ..< 1; 0, the default, for exact TTLs.
        public var ttlJitter: Double = 0
        /// Expire after access (time to idle): a local entry not read for this long leaves the
        /// local cache (cause `.expired`), whatever its time to live, which still bounds it. Local
        /// only: Redis keeps the value for its TTL. An entry leaves between 7/8 and 1 times this
        /// after its last read (see `StoreConfiguration.timeToIdle`). Built-in local caches
        /// only. Nil (the default): entries live until their TTL or eviction.
        public var timeToIdle: Duration?
        /// Fail-safe: how long Redis keeps a value after its time to live ended. Such a value is
        /// never returned by `get`, but `getOrLoad` serves it when its loader throws, or when the
        /// loader takes longer than ``loaderSoftTimeout`` (the load then finishes in the
        /// background and stores its value). Zero, the default, drops values at their TTL.
        public var staleRetention: Duration = .zero
        /// A `getOrLoad` whose loader has not answered within this long serves the stale value
        /// Redis still holds (see ``staleRetention``), if any, and lets the loader finish in the
        /// background. Nil (the default): no soft limit.
        public var loaderSoftTimeout: Duration?
        /// A `getOrLoad` whose loader has not answered within this long fails with
        /// ``CacheError/loaderTimedOut(key:after:)``; the loader finishes in the background and
        /// its value is still stored. Nil (the default): no limit.
        public var loaderHardTimeout: Duration?
        /// Called for every entry that leaves the local cache, with the cause: `.size` (evicted),
        /// `.expired`, `.explicit` (this instance's delete, clear or tag invalidation),
        /// `.replaced` (a newer value), `.invalidated` (another instance's change, Redis's
        /// report in tracking mode, or a resync). Called on a task of its own, in order, off every
        /// cache path; removals that pile up beyond 65,536 unreported are dropped (counted in
        /// `Stats.removalsDropped`). Built-in local caches only (a custom one reports nothing).
        public var onRemoval: (@Sendable (Removal) -> Void)?
        /// A loop to share with other clients; nil starts one for this cache.
        public var eventLoop: EventLoop?
        /// Where the spans of Redis operations go (swift-distributed-tracing): nil uses the tracer
        /// bootstrapped with `InstrumentationSystem` when the cache is created, if any. With
        /// neither, no span is made and tracing costs nothing. Local hits are never traced.
        public var tracer: (any Tracer)?
        /// Spacing of reconnection attempts after Redis connections fail.
        public var reconnectBackoff = RedisConfiguration.Backoff()
        /// Test-only interception points (see TestHooks); empty in production.
        var testHooks = TestHooks()

        /// Creates options with the defaults above.
        public init() {}

        /// The namespace in force.
        public var effectiveNamespace: String {
            namespace ?? (wireFormat == .reference ? "" : "dcache")
        }

        /// Checks every setting.
        /// - Throws: ``CacheError/invalidOption(name:reason:)`` naming the first bad one.
        public func validate() throws(CacheError) {
            func fail(_ name: String, _ reason: String) throws(CacheError) {
                throw .invalidOption(name: name, reason: reason)
            }
            if let podID, podID.isEmpty { try fail("podID", "must not be empty") }
            if invalidationChannel.isEmpty { try fail("invalidationChannel", "must not be empty") }
            if redisDatabase < 0 { try fail("redisDatabase", "must be >= 0, got \(redisDatabase)") }
            if operationTimeout <= .zero { try fail("operationTimeout", "must be positive") }
            if localCacheConfig.numCounters <= 0 { try fail("localCacheConfig.numCounters", "must be positive") }
            if localCacheConfig.maxCost <= 0 { try fail("localCacheConfig.maxCost", "must be positive") }
            if localCacheConfig.bufferItems <= 0 { try fail("localCacheConfig.bufferItems", "must be positive") }
            if localCacheConfig.maxSize <= 0 { try fail("localCacheConfig.maxSize", "must be positive") }
            if let defaultTTL, defaultTTL <= .zero { try fail("defaultTTL", "must be positive") }
            // Every duration is bounded, so that no conversion to milliseconds or nanoseconds
            // has to saturate (100 years; see SyncedCache.maximumTTL).
            let durations: [(String, Duration?)] = [
                ("defaultTTL", defaultTTL), ("operationTimeout", operationTimeout), ("maximumStaleness", maximumStaleness),
                ("pingInterval", pingInterval), ("pingTimeout", pingTimeout), ("loadLockTTL", loadLockTTL),
                ("staleRetention", staleRetention), ("loaderSoftTimeout", loaderSoftTimeout),
                ("loaderHardTimeout", loaderHardTimeout), ("timeToIdle", timeToIdle),
            ]
            for case let (name, duration?) in durations where duration > SyncedCache.maximumTTL {
                try fail(name, "must be at most \(SyncedCache.maximumTTL) (100 years), got \(duration)")
            }
            if replayStreamLength < 0 { try fail("replayStreamLength", "must be >= 0") }
            if maximumStaleness < .zero { try fail("maximumStaleness", "must be >= 0") }
            if pingInterval < .zero { try fail("pingInterval", "must be >= 0") }
            if pingInterval > .zero && pingTimeout <= pingInterval {
                try fail("pingTimeout", "must be longer than pingInterval")
            }
            if maximumValueSize <= 0 { try fail("maximumValueSize", "must be positive") }
            if maximumKeySize <= 0 { try fail("maximumKeySize", "must be positive") }
            if maximumBatchSize <= 0 { try fail("maximumBatchSize", "must be positive") }
            for secret in signingSecrets where secret.utf8.count < EventSigner.minimumSecretLength {
                try fail("signingSecrets", "each secret needs at least \(EventSigner.minimumSecretLength) bytes, one has \(secret.utf8.count)")
            }
            if loadLockTTL <= .zero { try fail("loadLockTTL", "must be positive") }
            if let refreshAhead, !(refreshAhead > 0 && refreshAhead < 1) {
                try fail("refreshAhead", "must be a fraction of the TTL in 0 < f < 1, got \(refreshAhead)")
            }
            if !(ttlJitter >= 0 && ttlJitter < 1) { try fail("ttlJitter", "must be in 0 ..< 1, got \(ttlJitter)") }
            if staleRetention < .zero { try fail("staleRetention", "must be >= 0") }
            if let timeToIdle, timeToIdle < .milliseconds(8) { try fail("timeToIdle", "must be at least 8 ms, got \(timeToIdle)") }
            if timeToIdle != nil, case .custom = localCache {
                try fail("timeToIdle", "needs a built-in local cache (lfu or lru); a custom one expires entries its own way")
            }
            if let loaderSoftTimeout, loaderSoftTimeout <= .zero { try fail("loaderSoftTimeout", "must be positive") }
            if let loaderHardTimeout, loaderHardTimeout <= .zero { try fail("loaderHardTimeout", "must be positive") }
            if let loaderSoftTimeout, let loaderHardTimeout, loaderHardTimeout <= loaderSoftTimeout {
                try fail("loaderHardTimeout", "must be longer than loaderSoftTimeout")
            }
            if effectiveNamespace.contains(where: { "*?[]\\".contains($0) }) {
                try fail("namespace", "must not contain glob characters * ? [ ] \\")
            }
            if redisSentinels.isEmpty != (sentinelMasterName == nil) {
                try fail(redisSentinels.isEmpty ? "redisSentinels" : "sentinelMasterName",
                         "Sentinel needs both the sentinels and the primary's name")
            }
            if !redisSentinels.isEmpty {
                if !redisClusterNodes.isEmpty { try fail("redisSentinels", "choose Redis Cluster or Sentinel, not both") }
                do {
                    _ = try RedisConfiguration.clusterNodes(redisSentinels.joined(separator: ","))
                } catch {
                    try fail("redisSentinels", error.description)
                }
                if let sentinelMasterName, sentinelMasterName.isEmpty { try fail("sentinelMasterName", "must not be empty") }
            }
            if !redisClusterNodes.isEmpty {
                do {
                    _ = try RedisConfiguration.clusterNodes(redisClusterNodes.joined(separator: ","))
                } catch {
                    try fail("redisClusterNodes", error.description)
                }
                if redisDatabase != 0 { try fail("redisDatabase", "Redis Cluster has only database 0") }
                if wireFormat == .versioned && effectiveNamespace.isEmpty {
                    try fail("namespace", "must not be empty with Redis Cluster in the versioned wire format: it is the keys' hash tag")
                }
                if effectiveNamespace.contains(where: { "{}".contains($0) }) {
                    try fail("namespace", "must not contain { or }: with Redis Cluster the namespace becomes the keys' hash tag")
                }
                if wireFormat == .reference && pubsub == .sharded {
                    try fail("pubsub", "the reference wire format publishes classically (its keys carry no hash tag); set pubsub = .classic")
                }
                if invalidation == .tracking && pubsub == .classic {
                    try fail("invalidation", "tracking on Redis Cluster needs sharded pub/sub (the subscription must be on the namespace's primary)")
                }
                if invalidation == .tracking && wireFormat == .reference {
                    try fail("invalidation", "tracking on Redis Cluster needs the versioned wire format (the namespace's keys in one slot)")
                }
            }
            do {
                _ = try RedisConfiguration(address: redisAddress)
            } catch {
                try fail("redisAddress", "\"\(redisAddress)\" is not host:port")
            }
        }

        /// A unique pod id: host name, process id and a random suffix.
        static func uniquePodID() -> String {
            let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(suffix)"
        }
    }
}
