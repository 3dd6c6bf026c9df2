// PodCommand: the line protocol of `dcache pod`, parsed without executing anything.
//
// One line is one command: `set KEY VALUE [ttl=MS] [tags=T1,T2]`, `setinv KEY VALUE [ttl=MS]`,
// `get KEY`, `peek KEY`, `load KEY`, `del KEY`, `invalidate-tag TAG`, `clear`, `stats`, `ping`,
// `quit`. Words are separated by single spaces; a VALUE is the rest of the line (spaces
// included), minus trailing ` ttl=MS` and ` tags=...` words (each at most once, in any order). A line
// ending in CR (a client sending CRLF) loses the CR. Lines come from whoever drives the pod, so
// the parser is total: every line is a command or a `PodCommandError` with the answer to give,
// never a crash (it is a fuzz target, Fuzz/README.md). Its own module so that the fuzzer can
// reach it without the tool's executable.

/// One parsed line of the pod protocol.
public enum PodCommand: Equatable, Sendable {
    /// `set` (`invalidateOnly` false) or `setinv` (true); tags only with `set`.
    case set(key: String, value: String, ttlMilliseconds: Int?, invalidateOnly: Bool, tags: [String] = [])
    /// `load KEY`: get-or-load with the pod's loader.
    case load(key: String)
    /// `invalidate-tag TAG`.
    case invalidateTag(tag: String)
    /// `get KEY`: the value, from the local cache or Redis.
    case get(key: String)
    /// `peek KEY`: the value from the local cache only.
    case peek(key: String)
    /// `del KEY`.
    case delete(key: String)
    /// `clear`.
    case clear
    /// `stats`: the instance's counters as JSON.
    case stats
    /// `ping`: "pong" while the instance is open.
    case ping
    /// `quit`: answer "bye" and stop.
    case quit

    /// The commands, for the unknown-command answer.
    static let names = "set, setinv, get, peek, load, del, invalidate-tag, clear, stats, ping, quit"

    /// Parses one line.
    public static func parse(_ line: Substring) -> Result<PodCommand, PodCommandError> {
        let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
        let words = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard let command = words.first, !command.isEmpty else { return .failure(.init("empty command")) }
        func key(_ form: String) -> Result<PodCommand, PodCommandError>? {
            words.count == 2 && !words[1].isEmpty ? nil : .failure(.usage(form))
        }
        switch command {
        case "set", "setinv":
            let form = command == "set" ? "set KEY VALUE [ttl=MS] [tags=T1,T2]" : "setinv KEY VALUE [ttl=MS]"
            guard words.count == 3, !words[1].isEmpty else { return .failure(.usage(form)) }
            return splitOptions(words[2], allowingTags: command == "set").map { value, ttl, tags in
                .set(key: String(words[1]), value: value, ttlMilliseconds: ttl, invalidateOnly: command == "setinv", tags: tags)
            }
        case "load": return key("load KEY") ?? .success(.load(key: String(words[1])))
        case "invalidate-tag": return key("invalidate-tag TAG") ?? .success(.invalidateTag(tag: String(words[1])))
        case "get": return key("get KEY") ?? .success(.get(key: String(words[1])))
        case "peek": return key("peek KEY") ?? .success(.peek(key: String(words[1])))
        case "del": return key("del KEY") ?? .success(.delete(key: String(words[1])))
        case "clear": return words.count == 1 ? .success(.clear) : .failure(.usage("clear"))
        case "stats": return .success(.stats)
        case "ping": return .success(.ping)
        case "quit": return .success(.quit)
        default:
            let shown = String(command.prefix(80))
            return .failure(.init("unknown command \"\(shown)\" (try \(names))"))
        }
    }

    /// "VALUE [ttl=MS] [tags=T1,T2]" -> (VALUE, MS, [T1, T2]): trailing option words, each at
    /// most once and in any order, are taken off the end; the rest is the value, whole.
    private static func splitOptions(_ text: Substring, allowingTags: Bool) -> Result<(String, Int?, [String]), PodCommandError> {
        var value = text
        var ttl: Int?
        var tags: [String]?
        while let space = value.lastIndex(of: " ") {
            let word = value[value.index(after: space)...]
            if ttl == nil, word.hasPrefix("ttl=") {
                let digits = word.dropFirst(4)
                guard let milliseconds = Int(digits), milliseconds > 0 else {
                    return .failure(.init("invalid option ttl: expected ttl=MILLISECONDS (> 0), got \"ttl=\(digits.prefix(80))\""))
                }
                ttl = milliseconds
            } else if allowingTags, tags == nil, word.hasPrefix("tags=") {
                let list = word.dropFirst(5).split(separator: ",", omittingEmptySubsequences: false)
                guard !list.contains(where: \.isEmpty) else {
                    return .failure(.init("invalid option tags: expected tags=T1[,T2...], got \"\(word.prefix(80))\""))
                }
                tags = list.map(String.init)
            } else {
                break
            }
            value = value[..<space]
        }
        return .success((String(value), ttl, tags ?? []))
    }
}

/// Why a line is not a command: `message` is the answer to give (after "error: ").
public struct PodCommandError: Error, Equatable, Sendable {
    /// The answer, without the "error: " prefix.
    public let message: String

    /// An error with this answer.
    public init(message: String) { self.message = message }

    init(_ message: String) { self.message = message }

    static func usage(_ form: String) -> PodCommandError { PodCommandError("usage: \(form)") }
}
