// dcache watch: print every event on the channel, decoded.

import ArgumentParser
import DistributedCache
import Foundation
import RedisTransport

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each event on the invalidation channel, one per line.",
        usage: "dcache watch [<options>]",
        discussion: """
            Columns: time, sender, action, key, value size, version (versioned events), ttl. A \
            payload that is not a valid event is printed as `malformed` with the reason and the \
            first bytes. Runs until interrupted, or until --count events were printed.
            """)

    @Option(help: "Redis address HOST:PORT.") var redis = "localhost:6379"
    @Option(help: "Redis password.") var password: String?
    @Option(help: "The channel.") var channel = "cache:invalidate"
    @Option(help: "Namespace (with --cluster and sharded pub/sub, the channel is {NAMESPACE}:CHANNEL).")
    var namespace = "dcache"
    @Option(help: "Stop after this many messages.") var count: Int?
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        var configuration = try RedisConfiguration(address: redis)
        configuration.password = password
        var watched = channel
        var helper: RedisClient?
        let loop = try EventLoop(name: "dcache-watch")
        let (resolved, monitor) = try await engine.resolve(configuration, on: loop)
        if engine.cluster != nil {
            // The subscription goes where the cache's events are: the namespace's primary
            // (sharded), or any node (classic).
            let client = try RedisClient(configuration: resolved, eventLoop: loop)
            try await client.connect()
            helper = client
            if engine.pubsub == .sharded { watched = "{\(namespace)}:\(channel)" }
            guard let node = engine.pubsub == .sharded ? client.clusterOwner(ofKey: watched) : client.clusterPrimaries.first else {
                throw ValidationError("the cluster's slot map names no primary")
            }
            configuration = configuration.aimed(at: node)
        } else {
            configuration = resolved
        }
        let subscriber = try RedisSubscriber(configuration: configuration, eventLoop: loop)
        if let helper {
            let key = watched
            let sharded = engine.pubsub == .sharded
            subscriber.setAddressProvider { sharded ? helper.clusterOwner(ofKey: key) : helper.clusterPrimaries.first }
            subscriber.onShardMoved { Task { await helper.refreshClusterSlots() } }
        }
        if let monitor { subscriber.setAddressProvider { monitor.primary } }
        try await subscriber.connect()
        let stream = subscriber.messages(bufferSize: 65_536)
        if engine.cluster != nil && engine.pubsub == .sharded {
            try await subscriber.ssubscribe([watched])
        } else {
            try await subscriber.subscribe([watched])
        }
        writeLine("watching \(watched) on \(configuration.host):\(configuration.port)")
        var printed = 0
        for await event in stream {
            switch event {
            case .overflow(let dropped):
                writeLine("\(Self.timestamp())  (\(dropped) events dropped: this watcher fell behind)")
            case .message(let message):
                writeLine(Self.describe(message.payload))
                printed += 1
            }
            if let count, printed >= count { break }
        }
        await subscriber.close()
        await monitor?.close()
        await helper?.close()
        await loop.shutdown()
    }

    static func describe(_ payload: [UInt8]) -> String {
        do {
            let event = try SyncedCache.Event(json: payload)
            var line = "\(timestamp())  \(event.sender)  \(event.action.rawValue)  \(event.key)  \(event.value.count) bytes"
            if let version = event.version { line += "  v\(version)" }
            if let ttl = event.ttlMilliseconds { line += "  ttl=\(ttl)ms" }
            return line
        } catch {
            let preview = String(decoding: payload.prefix(60), as: UTF8.self).replacingOccurrences(of: "\n", with: "\\n")
            return "\(timestamp())  malformed (\(error)): \(preview)"
        }
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss.SSS"
        return formatter.string(from: Date())
    }
}
