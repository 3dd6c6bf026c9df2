// dcache pod: one cache instance driven through standard input, one answer line per command.

import ArgumentParser
import DistributedCache
import Foundation
import Logging

struct Pod: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one cache instance that reads commands from standard input, one per line.",
        discussion: """
            Each command gets exactly one line on standard output, written at once (so \
            another program can drive the instance through a pipe); logs go to standard \
            error.

              set KEY VALUE [ttl=MS] [tags=T1,T2]
                  store VALUE (the rest of the line), propagate it    -> ok
              setinv KEY VALUE [ttl=MS]
                  store VALUE; the others only invalidate              -> ok
              get KEY      local cache, else Redis          -> hit VALUE | miss
              peek KEY     local cache only                 -> hit VALUE | miss
              load KEY     get, else the loader: "loaded:KEY", or absent
                           for keys starting "absent:"      -> hit VALUE | miss
              del KEY      delete everywhere                -> ok
              invalidate-tag TAG
                           drop every value tagged TAG      -> ok
              clear        clear everywhere (--clear-scope) -> ok
              stats        every counter (loads: loader calls) -> JSON line
              ping         the instance is running          -> pong
              quit         close and exit 0                 -> bye

            Any failure answers `error: MESSAGE` and the instance keeps running. End of \
            input is quit.

            Where keys live: in the versioned wire format (the default) every key is \
            stored in Redis under NAMESPACE:KEY, with NAMESPACE "dcache" unless \
            --namespace says otherwise; a value that the reference library, a script or \
            redis-cli wrote under the bare key is not seen. The reference wire format \
            stores bare keys (no namespace), as the Go library does.
            """)

    @Option(help: "Redis address HOST:PORT.") var redis = "localhost:6379"
    @OptionGroup var engine: EngineOptions
    @Option(help: "Pod id (default: host-pid-random).") var pod: String?
    @Option(help: "Redis password.") var password: String?
    @Option(help: "Redis database number.") var db = 0
    @Option(help: "Invalidation channel.") var channel = "cache:invalidate"
    @Option(help: "Local cache policy: lfu or lru.") var policy = "lfu"
    @Option(help: "Maximum entries of the LRU local cache.") var maxSize = 10_000
    @Option(help: "Serialization format: json or msgpack.") var format = "json"
    @Option(help: "Namespace: keys live in Redis as NAMESPACE:KEY (default \"dcache\"; none in the reference wire format).")
    var namespace: String?
    @Option(help: "Wire format: versioned or reference.") var wireFormat = "versioned"
    @Option(help: "Resync strategy after an interruption: clear, revalidate or replay.") var resync = "clear"
    @Option(help: "What clear removes from Redis: namespace (its keys only) or database (FLUSHDB, as the reference does).")
    var clearScope = "namespace"
    @Option(help: ArgumentHelp(
        "Shared secrets S1[,S2...] for signed events (HMAC-SHA256; the first signs, all verify).",
        discussion: "Default: the CACHE_SIGNING_SECRETS environment variable; none turns signing off."))
    var signingSecrets: String?
    @Option(help: "How changes reach the local cache: pubsub (the library's events) or tracking (Redis client tracking; also sees writes made without the library).")
    var invalidation = "pubsub"
    @Option(help: "How long `load` keeps an absent answer, in milliseconds (default: none).") var negativeTTL: Int?
    @Option(help: "Refresh a `load`ed value in the background once this fraction of its TTL has passed (0 < f < 1).")
    var refreshAhead: Double?
    @Option(help: "Time to live of values without ttl=, in milliseconds (default: none).") var defaultTTL: Int?
    @Flag(help: "Write sets to Redis too (the reference's ReaderCanSetToRedis).") var readerCanSetToRedis = false
    @Flag(help: "Log every operation and event (standard error).") var debug = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let options: SyncedCache.Options
        do {
            options = try makeOptions()
        } catch {
            fail("\(error)")
        }
        let cache: SyncedCache
        do {
            cache = try await SyncedCache(options: options)
        } catch {
            fail("cannot start: \(error)")
        }
        let session = PodSession(cache: cache, negativeTTL: negativeTTL.map { .milliseconds($0) })
        for await line in StandardInputLines.stream() {
            let answer = await session.answer(line)
            writeLine(answer.text)
            if answer.quit { break }
        }
        await cache.close()
    }

    func makeOptions() throws -> SyncedCache.Options {
        var environment = ["CACHE_REDIS_ADDR": redis, "CACHE_REDIS_DB": String(db), "CACHE_INVALIDATION_CHANNEL": channel,
                           "CACHE_LOCAL_CACHE": policy, "CACHE_LOCAL_MAX_SIZE": String(maxSize),
                           "CACHE_SERIALIZATION_FORMAT": format, "CACHE_WIRE_FORMAT": wireFormat,
                           "CACHE_RESYNC_STRATEGY": resync, "CACHE_CLEAR_SCOPE": clearScope, "CACHE_ENABLE_METRICS": "false"]
        if let pod { environment["CACHE_POD_ID"] = pod }
        if let password { environment["CACHE_REDIS_PASSWORD"] = password }
        if let namespace { environment["CACHE_NAMESPACE"] = namespace }
        environment["CACHE_INVALIDATION"] = invalidation

        if let refreshAhead { environment["CACHE_REFRESH_AHEAD"] = String(refreshAhead) }
        if let defaultTTL { environment["CACHE_DEFAULT_TTL"] = "\(defaultTTL)ms" }
        if let negativeTTL, negativeTTL <= 0 { throw ValidationError("--negative-ttl must be positive, got \(negativeTTL)") }
        if let secrets = signingSecrets ?? ProcessInfo.processInfo.environment["CACHE_SIGNING_SECRETS"] {
            environment["CACHE_SIGNING_SECRETS"] = secrets
        }
        var options = try SyncedCache.Options.fromEnvironment(environment)
        engine.apply(to: &options)
        try options.validate()
        options.readerCanSetToRedis = readerCanSetToRedis
        options.debugMode = debug
        return options
    }

    private func fail(_ message: String) -> Never {
        var standardError = StandardError()
        print("dcache pod: \(message)", to: &standardError)
        Foundation.exit(1)
    }
}

/// Writes one line to standard output at once (write(2): no buffering to flush).
func writeLine(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(UInt8(ascii: "\n"))
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}

/// Standard input as lines, read by a dedicated thread (a blocking read must not hold a
/// cooperative thread).
enum StandardInputLines {
    /// Lines longer than this are answered with an error rather than held in memory whole.
    static let maximumLength = 1 << 20

    static func stream() -> AsyncStream<Substring?> {
        let (stream, continuation) = AsyncStream<Substring?>.makeStream(bufferingPolicy: .unbounded)
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var line: [UInt8] = []
            var oversized = false
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                var start = 0
                for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                    if !oversized { line += buffer[start..<index] }
                    continuation.yield(oversized || line.count > maximumLength ? nil : Substring(String(decoding: line, as: UTF8.self)))
                    line.removeAll(keepingCapacity: true)
                    oversized = false
                    start = index + 1
                }
                if !oversized {
                    line += buffer[start..<count]
                    if line.count > maximumLength {
                        oversized = true
                        line.removeAll()
                    }
                }
            }
            if !line.isEmpty || oversized { continuation.yield(oversized ? nil : Substring(String(decoding: line, as: UTF8.self))) }
            continuation.finish()
        }
        thread.name = "dcache-stdin"
        thread.start()
        return stream
    }
}
