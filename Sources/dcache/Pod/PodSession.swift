// PodSession: one command line in, one answer line out (the parsing is PodLineProtocol's).

import DistributedCache
import Foundation
import PodLineProtocol

struct PodSession: Sendable {
    let cache: SyncedCache
    /// How long `load` keeps an absent answer (`--negative-ttl`); nil keeps none.
    var negativeTTL: Duration?

    /// The pod's loader: a value named after the key, or absent for keys starting "absent:".
    static func loaded(_ key: String) -> String? {
        key.hasPrefix("absent:") ? nil : "loaded:\(key)"
    }

    struct Answer {
        var text: String
        var quit = false
    }

    /// The answer to one line (nil: the line was too long).
    func answer(_ line: Substring?) async -> Answer {
        guard let line else {
            return Answer(text: "error: line too long (limit \(StandardInputLines.maximumLength) bytes)")
        }
        let command: PodCommand
        switch PodCommand.parse(line) {
        case .success(let parsed): command = parsed
        case .failure(let error): return Answer(text: "error: \(oneLine(error.message))")
        }
        do {
            switch command {
            case .set(let key, let value, let ttl, let invalidateOnly, let tags):
                let ttl = ttl.map { Duration.milliseconds($0) }
                if invalidateOnly {
                    try await cache.setWithInvalidate(key, value, ttl: ttl)
                } else {
                    try await cache.set(key, value, ttl: ttl, tags: tags)
                }
                return Answer(text: "ok")
            case .load(let key):
                let value = try await cache.getOrLoad(key, as: String.self, negativeTTL: negativeTTL) { Self.loaded(key) }
                return Answer(text: value.map { "hit \(oneLine($0))" } ?? "miss")
            case .invalidateTag(let tag):
                try await cache.invalidate(tag: tag)
                return Answer(text: "ok")
            case .get(let key):
                let value = try await cache.get(key, as: String.self)
                return Answer(text: value.map { "hit \(oneLine($0))" } ?? "miss")
            case .peek(let key):
                return Answer(text: cache.localValue(forKey: key, as: String.self).map { "hit \(oneLine($0))" } ?? "miss")
            case .delete(let key):
                try await cache.delete(key)
                return Answer(text: "ok")
            case .clear:
                try await cache.clear()
                return Answer(text: "ok")
            case .stats:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                return Answer(text: String(decoding: try encoder.encode(cache.stats), as: UTF8.self))
            case .ping:
                return Answer(text: cache.isClosed ? "error: closed" : "pong")
            case .quit:
                return Answer(text: "bye", quit: true)
            }
        } catch {
            return Answer(text: "error: \(oneLine("\(error)"))")
        }
    }

    /// Answers must stay on one line.
    private func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    }
}
