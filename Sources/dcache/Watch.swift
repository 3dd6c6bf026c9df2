// dcache watch: print every event on the channel, decoded.

import ArgumentParser
import DistributedCache
import Foundation

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each event on the invalidation channel, one per line.",
        discussion: """
            Columns: time, sender, action, key, value size, version (versioned events), ttl. A \
            payload that is not a valid event is printed as `malformed` with the reason and the \
            first bytes. Runs until interrupted, or until --count events were printed.
            """)

    @Option(help: "Redis address HOST:PORT.") var redis = "localhost:6379"
    @Option(help: "Redis password.") var password: String?
    @Option(help: "The channel.") var channel = "cache:invalidate"
    @Option(help: "Stop after this many messages.") var count: Int?

    func run() async throws {
        var configuration = try RedisConfiguration(address: redis)
        configuration.password = password
        let subscriber = try RedisSubscriber(configuration: configuration)
        try await subscriber.connect()
        let stream = subscriber.messages(bufferSize: 65_536)
        try await subscriber.subscribe([channel])
        writeLine("watching \(channel) on \(redis)")
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
