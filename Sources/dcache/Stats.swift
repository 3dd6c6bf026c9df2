// dcache stats: what Redis knows about a cache.

import ArgumentParser
import DistributedCache
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what Redis holds for a cache: keys in the namespace, version, replay stream, live pods.",
        discussion: "Instance counters (hits, misses, events) live in each instance: ask a pod with `stats`.")

    @Option(help: "Redis address HOST:PORT.") var redis = "localhost:6379"
    @Option(help: "Redis password.") var password: String?
    @Option(help: "Redis database number.") var db = 0
    @Option(help: "Namespace (key prefix).") var namespace = "dcache"
    @Option(help: "The channel.") var channel = "cache:invalidate"
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Codable {
        var keys: Int
        var version: UInt64
        var replayStreamLength: Int
        var channelSubscribers: Int
        var pods: [String]
    }

    func run() async throws {
        var configuration = try RedisConfiguration(address: redis)
        configuration.password = password
        configuration.database = db
        let client = try RedisClient(configuration: configuration)
        try await client.connect()
        let bookkeeping = Set(["\(namespace):__version", "\(namespace):__events"])
        let keys = try await client.scanAll(match: namespace.isEmpty ? "*" : "\(namespace):*")
            .filter { !bookkeeping.contains(String(decoding: $0, as: UTF8.self)) }
        let version = try await client.get("\(namespace):__version").flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } ?? 0
        let streamLength = try await client.send("XLEN", "\(namespace):__events").int ?? 0
        var subscribers = 0
        if case .array(let parts) = try await client.send("PUBSUB", "NUMSUB", channel), parts.count == 2 {
            subscribers = Int(parts[1].int ?? 0)
        }
        let clients = try await client.send("CLIENT", "LIST").string ?? ""
        let pods = Set(clients.split(separator: "\n").compactMap { line -> String? in
            guard let name = line.split(separator: " ").first(where: { $0.hasPrefix("name=dcache:") }) else { return nil }
            return String(name.dropFirst("name=dcache:".count))
        }).sorted()
        await client.close()
        let report = Report(keys: keys.count, version: version, replayStreamLength: Int(streamLength),
                            channelSubscribers: subscribers, pods: pods)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            writeLine(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            writeLine("namespace \"\(namespace)\" on \(redis) db \(db)")
            writeLine("  keys                \(report.keys)")
            writeLine("  version             \(report.version) (writes so far)")
            writeLine("  replay stream       \(report.replayStreamLength) events")
            writeLine("  \(channel) subscribers  \(report.channelSubscribers)")
            writeLine("  live pods           \(pods.isEmpty ? "none" : pods.joined(separator: ", "))")
        }
    }
}
