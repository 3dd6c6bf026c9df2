// dcache stats: what Redis knows about a cache.

import ArgumentParser
import DistributedCache
import Foundation
import RedisTransport

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what Redis holds for a cache: keys in the namespace, version, replay stream, live pods.",
        usage: "dcache stats [<options>]",
        discussion: "Instance counters (hits, misses, events) live in each instance: ask a pod with `stats`.")

    @Option(help: "Redis address HOST:PORT.") var redis = "localhost:6379"
    @Option(help: "Redis password.") var password: String?
    @Option(help: "Redis database number.") var db = 0
    @Option(help: "Namespace (key prefix).") var namespace = "dcache"
    @Option(help: "The channel.") var channel = "cache:invalidate"
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var engine: EngineOptions

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
        let loop = try EventLoop(name: "dcache-stats")
        let (resolved, monitor) = try await engine.resolve(configuration, on: loop)
        configuration = resolved
        let client = try RedisClient(configuration: configuration, eventLoop: loop)
        try await client.connect()
        // On a cluster the namespace is the keys' hash tag, and every primary is scanned.
        let prefix = client.isCluster ? "{\(namespace)}" : namespace
        let bookkeeping = Set(["\(prefix):__version", "\(prefix):__events", "\(prefix):__tags"])
        let pattern = prefix.isEmpty ? "*" : "\(prefix):*"
        var found: [[UInt8]] = []
        if client.isCluster {
            for primary in client.clusterPrimaries {
                var cursor = "0"
                repeat {
                    guard case .array(let parts) = try await client.send(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"], toPrimary: primary),
                        parts.count == 2, let next = parts[0].string, case .array(let keys) = parts[1]
                    else { break }
                    cursor = next
                    found += keys.compactMap(\.bytes)
                } while cursor != "0"
            }
        } else {
            found = try await client.scanAll(match: pattern)
        }
        let keys = found.filter { !bookkeeping.contains(String(decoding: $0, as: UTF8.self)) }
        let version = try await client.get("\(prefix):__version").flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } ?? 0
        let streamLength = try await client.send("XLEN", "\(prefix):__events").int ?? 0
        var subscribers = 0
        let sharded = client.isCluster && engine.pubsub == .sharded
        let watched = sharded ? "\(prefix):\(channel)" : channel
        let question: [any RESPArgument] = ["PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", watched]
        let answer: RESPValue?
        if sharded, let owner = client.clusterOwner(ofKey: watched) {
            answer = try await client.send(question, toPrimary: owner)
        } else {
            answer = try await client.send(question)
        }
        if case .array(let parts) = answer ?? .null, parts.count == 2 {
            subscribers = Int(parts[1].int ?? 0)
        }
        let clients = try await client.send("CLIENT", "LIST").string ?? ""
        let pods = Set(clients.split(separator: "\n").compactMap { line -> String? in
            guard let name = line.split(separator: " ").first(where: { $0.hasPrefix("name=dcache:") }) else { return nil }
            return String(name.dropFirst("name=dcache:".count))
        }).sorted()
        await client.close()
        await monitor?.close()
        await loop.shutdown()
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
