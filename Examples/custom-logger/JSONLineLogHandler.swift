// A swift-log handler that writes one JSON object per line, and counts messages per level.
//
// JSON lines are what log collectors (Loki, Elasticsearch, CloudWatch, ...) ingest without a
// parsing rule. The handler is a value type, as swift-log expects: each Logger copy carries its
// own level and metadata, while the output and the counters live in one shared, locked sink.

import Foundation
import Logging
import Synchronization

/// Where every handler's records go: standard output, one JSON object per line. A real sink
/// would write to a file, a socket or a collector's agent.
final class JSONLineSink: Sendable {
    private struct State {
        var countsByLevel: [Logger.Level: Int] = [:]
    }

    private let state = Mutex(State())
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// One log record, as written.
    struct Record: Encodable {
        var time: String
        var level: String
        var logger: String
        var message: String
        var metadata: [String: String]
    }

    func write(_ record: Record, level: Logger.Level) {
        guard let json = try? encoder.encode(record) else { return }
        // Under the lock, so that concurrent records never interleave within a line; through
        // print, so that records and the program's other output share one buffer and keep order.
        state.withLock { state in
            state.countsByLevel[level, default: 0] += 1
            print(String(decoding: json, as: UTF8.self))
        }
    }

    /// How many records were written at each level.
    var countsByLevel: [Logger.Level: Int] { state.withLock { $0.countsByLevel } }
}

/// Formats each message as a JSON line and hands it to a ``JSONLineSink``.
struct JSONLineLogHandler: LogHandler {
    let label: String
    let sink: JSONLineSink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // The logger's own metadata (the cache adds "pod"), overridden by the message's.
        let merged = metadata.merging(event.metadata ?? [:]) { _, message in message }
        let record = JSONLineSink.Record(
            time: Date.now.formatted(.iso8601),
            level: event.level.rawValue,
            logger: label,
            message: event.message.description,
            metadata: merged.mapValues(\.description))
        sink.write(record, level: event.level)
    }
}
