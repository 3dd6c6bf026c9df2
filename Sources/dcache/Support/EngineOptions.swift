// The Redis engine flags every command that talks to Redis shares: a cluster's seed nodes, or
// sentinels and the primary's name, and the cluster's pub/sub mode.

import ArgumentParser
import DistributedCache
import RedisTransport

struct EngineOptions: ParsableArguments {
    @Option(help: "Redis Cluster seed nodes HOST:PORT[,HOST:PORT...] (instead of --redis).")
    var cluster: String?
    @Option(help: "Redis Cluster pub/sub: sharded (SSUBSCRIBE/SPUBLISH, default) or classic.")
    var pubsub: SyncedCache.PubSubMode = .sharded
    @Option(help: "Redis Sentinel: the sentinels HOST:PORT[,HOST:PORT...] (with --sentinel-master).")
    var sentinels: String?
    @Option(help: "Redis Sentinel: the primary's name.")
    var sentinelMaster: String?

    /// True when neither a cluster nor sentinels were named (the command talks to --redis).
    var isStandalone: Bool { cluster == nil && sentinels == nil }

    /// `base` for the engine named: with --cluster, the seed nodes set (a client then routes by
    /// slot); with --sentinels, aimed at the primary the sentinels name, with the monitor that
    /// follows it (close it when done).
    func resolve(_ base: RedisConfiguration, on loop: EventLoop) async throws -> (RedisConfiguration, SentinelMonitor?) {
        var configuration = base
        if let cluster {
            configuration.clusterNodes = try RedisConfiguration.clusterNodes(cluster)
            return (configuration, nil)
        }
        guard let sentinels, let sentinelMaster else { return (configuration, nil) }
        let monitor = SentinelMonitor(
            sentinels: try RedisConfiguration.clusterNodes(sentinels), primaryName: sentinelMaster,
            configuration: configuration, eventLoop: loop)
        try await monitor.start()
        if let primary = monitor.primary { configuration = configuration.aimed(at: primary) }
        return (configuration, monitor)
    }

    /// Puts the flags into cache options.
    func apply(to options: inout SyncedCache.Options) {
        if let cluster { options.redisClusterNodes = cluster.split(separator: ",").map(String.init) }
        options.pubsub = pubsub
        if let sentinels { options.redisSentinels = sentinels.split(separator: ",").map(String.init) }
        options.sentinelMasterName = sentinelMaster
    }
}

extension SyncedCache.PubSubMode: ExpressibleByArgument {}
