// PodSession: one command line in, one answer line out.

import DistributedCache
import Foundation

struct PodSession: Sendable {
    let cache: SyncedCache

    struct Answer {
        var text: String
        var quit = false
    }

    /// The answer to one line (nil: the line was too long).
    func answer(_ line: Substring?) async -> Answer {
        guard let line else {
            return Answer(text: "error: line too long (limit \(StandardInputLines.maximumLength) bytes)")
        }
        let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
        let words = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard let command = words.first, !command.isEmpty else { return Answer(text: "error: empty command") }
        do {
            switch command {
            case "set", "setinv":
                guard words.count == 3, !words[1].isEmpty else { return usage("\(command) KEY VALUE [ttl=MS]") }
                let (value, ttl) = try splitTTL(words[2])
                if command == "set" {
                    try await cache.set(String(words[1]), value, ttl: ttl)
                } else {
                    try await cache.setWithInvalidate(String(words[1]), value, ttl: ttl)
                }
                return Answer(text: "ok")
            case "get", "peek":
                guard words.count == 2, !words[1].isEmpty else { return usage("\(command) KEY") }
                let key = String(words[1])
                let value = command == "get"
                    ? try await cache.get(key, as: String.self) : cache.localValue(forKey: key, as: String.self)
                return Answer(text: value.map { "hit \(oneLine($0))" } ?? "miss")
            case "del":
                guard words.count == 2, !words[1].isEmpty else { return usage("del KEY") }
                try await cache.delete(String(words[1]))
                return Answer(text: "ok")
            case "clear":
                guard words.count == 1 else { return usage("clear") }
                try await cache.clear()
                return Answer(text: "ok")
            case "stats":
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                return Answer(text: String(decoding: try encoder.encode(cache.stats), as: UTF8.self))
            case "ping":
                return Answer(text: cache.isClosed ? "error: closed" : "pong")
            case "quit":
                return Answer(text: "bye", quit: true)
            default:
                return Answer(text: "error: unknown command \"\(oneLine(String(command.prefix(80))))\" (try set, setinv, get, peek, del, clear, stats, ping, quit)")
            }
        } catch {
            return Answer(text: "error: \(oneLine("\(error)"))")
        }
    }

    /// "VALUE ttl=MS" -> (VALUE, MS); a value without a trailing ttl= word is taken whole.
    private func splitTTL(_ text: Substring) throws -> (String, Duration?) {
        guard let space = text.lastIndex(of: " "), text[text.index(after: space)...].hasPrefix("ttl=") else {
            return (String(text), nil)
        }
        let digits = text[text.index(after: space)...].dropFirst(4)
        guard let milliseconds = Int(digits), milliseconds > 0 else {
            throw CacheError.invalidOption(name: "ttl", reason: "expected ttl=MILLISECONDS (> 0), got \"ttl=\(digits)\"")
        }
        return (String(text[..<space]), .milliseconds(milliseconds))
    }

    private func usage(_ form: String) -> Answer { Answer(text: "error: usage: \(form)") }

    /// Answers must stay on one line.
    private func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    }
}
