// SyncedCache: a two-level cache whose local copies stay in step through Redis.
//
// Design note: who does what.
//   - Reads: local cache first (no lock, no hop, no allocation: LocalStore); on a miss, one
//     Redis GET per key at a time (single flight), whose result fills the local cache unless an
//     invalidation overtook it (InvalidationLog) or something newer is already there (versions).
//   - Writes: one server-side script per change bumps the namespace's version, writes or deletes
//     the value, appends to the replay stream and publishes the event (RedisLayout); then the
//     local cache takes the value with that version. So nothing is written without being
//     announced, and a write that fails leaves the local cache untouched.
//   - Events: handled on the event-loop thread where they arrive (no hop): decoded, own events
//     ignored, older versions ignored, then applied to the local cache.
//   - Health: the channel is checked by pinging ourselves through it. While it is broken, local
//     entries are served for at most `maximumStaleness`; when it is back, a resync (clear,
//     revalidate or replay) drops whatever may have been missed before local reads resume.
//
// Threads: the public API may be called from any task. Event handling and state changes run on
// the event loop; they touch only thread-safe state (the local cache, atomics, locks).

import CSupport
import Foundation
import LocalStore
import Logging
import Primitives
import RedisTransport
import Synchronization
import Tracing

/// A two-level cache: a nanosecond-fast local cache per instance, kept in step with every other
/// instance through Redis pub/sub, with Redis as the shared store.
///
/// ```swift
/// var options = SyncedCache.Options()
/// options.redisAddress = "localhost:6379"
/// let cache = try await SyncedCache(options: options)
/// try await cache.set("user:123", User(name: "Ada"))
/// let user = try await cache.get("user:123", as: User.self)
/// await cache.close()
/// ```
///
/// Thread-safe: one instance serves every task of a process. Close it when done.
public final class SyncedCache: Sendable {
    /// The options in force (with the pod id filled in).
    public let options: Options
    /// This instance's pod id (the sender of its events).
    public var podID: String { options.podID! }

    @usableFromInline let local: LocalLayer
    @usableFromInline let health: Health
    let client: RedisClient
    let subscriber: RedisSubscriber
    let eventLoop: EventLoop
    let ownsEventLoop: Bool
    /// Follows the primary's address when Redis is managed by Sentinel; nil otherwise.
    let sentinel: SentinelMonitor?
    let marshaller: any Marshaller
    /// The tracer of Redis operations' spans; nil when none is given or bootstrapped.
    let tracer: (any Tracer)?
    let layout: RedisLayout
    /// Signs and checks events; nil when ``Options/signingSecrets`` is empty.
    let signer: EventSigner?
    let changes = InvalidationLog()
    /// Tag generations and the local keys carrying each tag.
    let tags = TagRegistry()
    /// The highest version Redis is known to have handed out, and sets waiting for it.
    let horizon = VersionHorizon()
    let counters = CounterSet()
    let logger: Logger
    /// Remote reads in flight, one per key.
    let flights = SingleFlight<RemoteRecord?>()
    /// getOrLoad loads in flight, one per key: the marshalled value, or nil for an absent one.
    let loads = SingleFlight<[UInt8]?>()
    /// Keys being refreshed ahead of their expiry (``Options/refreshAhead``).
    let refreshing = Locked<Set<String>>([])
    let background = Locked<[Task<Void, Never>]>([])
    /// Connections Redis refused since they last connected (see `noteRefusal`).
    let refusedConnections = Locked<Set<String>>([])
    let closed = Atomic<Bool>(false)
    /// Where removals wait for ``Options/onRemoval``; finished by close.
    let removalSink: AsyncStream<Removal>.Continuation?

    /// Creates an instance: builds the local cache, connects to Redis, subscribes to the channel
    /// and starts the liveness pings.
    /// - Parameter options: the settings; ``Options/validate()`` runs first.
    /// - Throws: ``CacheError/invalidOption(name:reason:)`` for a bad option;
    ///   ``CacheError/redis(_:)`` when Redis cannot be reached or refuses the credentials.
    public init(options: Options = .init()) async throws(CacheError) {
        try options.validate()
        var options = options
        options.podID = options.podID ?? Options.uniquePodID()
        var logger = options.logger
        if options.debugMode { logger.logLevel = .debug }
        logger[metadataKey: "pod"] = .string(options.podID!)
        self.logger = logger
        self.marshaller = try Self.makeMarshaller(options)
        self.tracer = options.tracer ?? (InstrumentationSystem.tracer is NoOpTracer ? nil : InstrumentationSystem.tracer)
        let removals = options.onRemoval.map { _ in
            AsyncStream<Removal>.makeStream(bufferingPolicy: .bufferingOldest(Self.removalBacklog))
        }
        self.removalSink = removals?.continuation
        self.local = try Self.makeLocalLayer(options, removals: removals?.continuation, dropped: counters)
        self.layout = RedisLayout(options: options)
        self.signer = EventSigner(secrets: options.signingSecrets)
        self.health = Health(maximumStaleness: options.maximumStaleness, pingTimeout: options.pingTimeout)

        var redis = try Self.redisConfiguration(options)
        redis.clientName = "dcache:\(options.podID!)"
        do {
            if let shared = options.eventLoop {
                eventLoop = shared
                ownsEventLoop = false
            } else {
                eventLoop = try EventLoop(name: "dcache")
                ownsEventLoop = true
            }
        } catch {
            local.close()
            throw .redis(error)
        }
        if let name = options.sentinelMasterName, !options.redisSentinels.isEmpty {
            // Sentinel: the primary's address comes from the sentinels, now and after failovers.
            let monitor: SentinelMonitor
            do {
                let nodes = try RedisConfiguration.clusterNodes(options.redisSentinels.joined(separator: ","))
                monitor = SentinelMonitor(sentinels: nodes, primaryName: name, configuration: redis, eventLoop: eventLoop)
                try await monitor.start()
            } catch {
                if ownsEventLoop { await eventLoop.shutdown() }
                local.close()
                throw CacheError.from(error)
            }
            if let primary = monitor.primary { redis = redis.aimed(at: primary) }
            sentinel = monitor
        } else {
            sentinel = nil
        }
        do {
            client = try RedisClient(configuration: redis, eventLoop: eventLoop)
            subscriber = try RedisSubscriber(configuration: redis, eventLoop: eventLoop)
        } catch {
            throw .redis(error)
        }
        self.options = options

        // The transport objects refer to each other only weakly: this instance owns them all, and
        // a strong cycle (the sentinel's callback holding the client, whose address provider
        // holds the sentinel) would keep their connections alive after close.
        if let sentinel {
            let client = self.client
            let subscriber = self.subscriber
            client.setAddressProvider { [weak sentinel] in sentinel?.primary }
            subscriber.setAddressProvider { [weak sentinel] in sentinel?.primary }
            let logger = self.logger
            sentinel.onSwitch { [weak client, weak subscriber] primary in
                // Writes during the failover window may be lost on the old primary: the
                // subscription's reconnection leads to a resync, as after any interruption.
                logger.warning("Sentinel failover: the primary is now \(primary); moving the connections and resynchronizing")
                client?.reconnect()
                subscriber?.reconnect()
            }
        }
        do {
            try await client.connect()
            if client.isCluster {
                // The subscription follows its slot's primary (sharded), or any primary (classic).
                let client = self.client
                let channel = layout.channel
                let sharded = layout.sharded
                subscriber.setAddressProvider { [weak client] in
                    sharded ? client?.clusterOwner(ofKey: channel) : client?.clusterPrimaries.first
                }
                subscriber.onShardMoved { [weak client] in Task { await client?.refreshClusterSlots() } }
            }
            try await subscriber.connect()
        } catch {
            await shutDownTransport()
            local.close()
            throw .redis(error)
        }
        subscriber.addMessageHandler { [weak self] message in self?.receive(message) }
        subscriber.addStateObserver { [weak self] state in
            self?.subscriptionChanged(state)
            self?.noteRefusal(state, of: "subscription")
        }
        client.addStateObserver { [weak self] state in
            self?.noteRefusal(state, of: "command connection")
            self?.commandConnectionChanged(state)
        }
        let channels = [layout.channel, layout.pingChannel(podID: podID)] + (tracks ? [RedisSubscriber.trackingChannel] : [])
        do {
            if layout.sharded {
                try await subscriber.ssubscribe([layout.channel, layout.pingChannel(podID: podID)])
                if tracks { try await subscriber.subscribe([RedisSubscriber.trackingChannel]) }
            } else {
                try await subscriber.subscribe(channels)
            }
            if tracks { try await enableTracking() }
            if layout.versioned, options.resyncStrategy == .replay { try await startReplayCursor() }
        } catch {
            await shutDownTransport()
            local.close()
            if case RedisError.server(let message) = error, message.hasPrefix("NOPERM") {
                // Name the channels: the server's message does not.
                throw CacheError.redis(.server("\(message) (subscribing to \(channels.joined(separator: ", ")))"))
            }
            throw CacheError.from(error)
        }
        await warnIfPodIDIsShared()
        startBackgroundWork()
        if let removals, let listener = options.onRemoval {
            let task = Task.detached {
                for await removal in removals.stream { listener(removal) }
            }
            background.withLock { $0.append(task) }
        }
        logger.info(
            "cache started: keys live in Redis under \(layout.namespace.isEmpty ? "their bare names" : "\"\(layout.namespace):<key>\"")",
            metadata: [
                "redis": "\(options.redisAddress)", "namespace": "\(layout.namespace)", "wireFormat": "\(options.wireFormat.rawValue)",
                "channel": "\(layout.channel)", "clearScope": "\(options.clearScope.rawValue)",
                "invalidation": "\(options.invalidation.rawValue)",
            ])
    }

    /// An instance released without ``close()`` (a forgotten close, an error thrown between
    /// creating and closing it) stops what it started, without waiting: its background tasks,
    /// the local cache's upkeep, and an owned event loop with every connection on it. A forgotten
    /// close then leaks no thread and crashes nothing; close explicitly to let in-flight
    /// commands finish.
    deinit {
        guard !closed.load(ordering: .acquiring) else { return }
        removalSink?.finish()
        for task in background.withLock({ $0 }) { task.cancel() }
        local.close()
        if ownsEventLoop {
            let loop = eventLoop
            Task.detached { await loop.shutdown() }
        }
    }

    /// Closes the instance: stops the pings and metrics, unsubscribes, closes the Redis
    /// connections (letting in-flight commands finish within their timeout) and releases the
    /// local cache and the event loop. Idempotent. Afterwards every operation throws
    /// ``CacheError/closed`` (reads return nil).
    public func close() async {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        removalSink?.finish()
        for task in background.withLock({ $0 }) { task.cancel() }
        for task in background.withLock({ $0 }) { await task.value }
        await shutDownTransport()
        local.close()
        logger.debug("cache closed")
    }

    private func shutDownTransport() async {
        await sentinel?.close()
        await subscriber.close()
        await client.close()
        if ownsEventLoop { await eventLoop.shutdown() }
    }

    /// True after ``close()``.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// True while the instance trusts its local cache: open, and its channel proven to deliver
    /// (not degraded, no resync pending). What a readiness probe should report; a liveness probe
    /// should only check that the process answers (a Redis outage is not a reason to restart).
    public var isHealthy: Bool { !isClosed && health.isHealthy }

    // MARK: - Construction helpers

    static func makeMarshaller(_ options: Options) throws(CacheError) -> any Marshaller {
        if let marshaller = options.marshaller { return marshaller }
        switch options.serializationFormat {
        case .json: return JSONMarshaller()
        case .msgpack: return MessagePackMarshaller()
        }
    }

    /// Removals waiting for ``Options/onRemoval`` beyond which new ones are dropped.
    static let removalBacklog = 65_536

    /// The local cache; with a removal sink, its removals (but getOrLoad's absent answers) go
    /// there, and those the sink refuses are counted.
    static func makeLocalLayer(
        _ options: Options, removals: AsyncStream<Removal>.Continuation? = nil, dropped counters: CounterSet? = nil
    ) throws(CacheError) -> LocalLayer {
        let config = options.localCacheConfig
        do {
            var configuration: StoreConfiguration
            switch options.localCache {
            case .lfu:
                configuration = .lfu(
                    numCounters: config.numCounters, maxCost: config.maxCost, bufferItems: config.bufferItems,
                    ignoreInternalCost: config.ignoreInternalCost)
            case .lru:
                configuration = .lru(maxSize: config.maxSize)
            case .custom(let factory):
                return .custom(try factory())
            }
            configuration.timeToIdle = options.timeToIdle
            if let removals {
                // Runs under the store's policy lock: hand over and return.
                configuration.removalListener = { removal in
                    if removal.entry is VersionedStoreEntry<AbsentValue> { return }
                    if case .dropped = removals.yield(removal) { counters?.increment(.removalsDropped) }
                }
            }
            return .builtIn(try EntryStore(configuration: configuration))
        } catch let error as LocalCacheError {
            throw .invalidOption(name: "localCacheConfig", reason: error.description)
        } catch {
            throw .invalidOption(name: "localCache", reason: "the custom factory failed: \(error)")
        }
    }

    static func redisConfiguration(_ options: Options) throws(CacheError) -> RedisConfiguration {
        do {
            var configuration = try RedisConfiguration(address: options.redisAddress)
            if !options.redisClusterNodes.isEmpty {
                configuration.clusterNodes = try RedisConfiguration.clusterNodes(options.redisClusterNodes.joined(separator: ","))
            }
            configuration.password = options.redisPassword
            configuration.username = options.redisUsername
            configuration.database = options.redisDatabase
            configuration.commandTimeout = options.operationTimeout
            configuration.connectTimeout = options.operationTimeout
            configuration.backoff = options.reconnectBackoff
            // Values, plus the event's base64 copy and the script's other arguments.
            configuration.maximumArgumentSize = max(options.maximumValueSize * 2 + 4096, 1 << 20)
            return configuration
        } catch {
            throw .invalidOption(name: "redisAddress", reason: error.description)
        }
    }

    // MARK: - Errors

    /// Reports, once until the connection is back, that Redis refuses to let a connection in
    /// (wrong credentials, a missing permission): the transport retries on its own with backoff,
    /// and without this the reason would show only in failed calls as "not connected".
    func noteRefusal(_ state: ConnectionState, of connection: String) {
        switch state {
        case .disconnected(let error):
            switch error {
            case .authenticationFailed, .server:
                guard refusedConnections.withLock({ $0.insert(connection).inserted }) else { return }
                report(.redis(error), "\(connection): Redis refuses the connection, retrying with backoff")
            default:
                return
            }
        case .connected:
            refusedConnections.withLock { _ = $0.remove(connection) }
        case .connecting, .closed:
            return
        }
    }

    /// Counts, logs and reports an error through `onError`.
    func report(_ error: CacheError, _ context: @autoclosure () -> String) {
        counters.increment(.errors)
        logger.error("\(context()): \(error)")
        options.onError?(error)
    }

    /// Reports `error` (``report(_:_:)``) and returns it, so that an operation fails in one
    /// statement: `throw reported(failure, "set \(key)")`.
    func reported(_ error: CacheError, _ context: @autoclosure () -> String) -> CacheError {
        report(error, context())
        return error
    }

    /// Throws `.closed` after close.
    @inline(__always)
    func ensureOpen() throws(CacheError) {
        if closed.load(ordering: .relaxed) { throw .closed }
    }

    /// Throws `.invalidKey` for an empty or oversized key.
    func validate(_ key: String) throws(CacheError) {
        if key.isEmpty { throw .invalidKey("the key is empty") }
        let size = key.utf8.count
        if size > options.maximumKeySize {
            throw .invalidKey("the key is \(size) bytes; the maximum is \(options.maximumKeySize)")
        }
    }
}

/// Interception points for deterministic race tests. Each defaults to nil and costs one
/// optional check where it sits; none is on the local-hit path.
struct TestHooks: Sendable {
    /// Awaited after a remote read's reply arrived and before it fills the local cache.
    var beforeFill: (@Sendable (String) async -> Void)?
}

/// A value read from Redis.
@usableFromInline
struct RemoteRecord: Sendable {
    /// Version from the stored header (0: unversioned).
    var version: UInt64
    var bytes: [UInt8]
    /// Remaining time to live, if the key has one; zero when the value is due or its expiry could
    /// not be learned (it is returned to the caller but not cached).
    var ttl: Duration?
    /// The InvalidationLog ticket taken before the read.
    var ticket: UInt64
    /// The deadline in the stored header has passed (by this machine's clock): a stale value
    /// that Redis keeps for ``SyncedCache/Options/staleRetention``, or clock skew.
    var isDue = false
    /// The value's tags with their generations at the write.
    var tags: [TagGeneration] = []
}
