// ExampleSupport: what every example needs and none of them is about.
//
// Every example must run with no set-up, so each one asks `runExample` for a Redis: the one named
// by REDIS_ADDRESS when it is set, otherwise a throwaway `redis-server` that EmbeddedRedis starts
// on a free loopback port (no persistence, private temporary folder) and stops when the example
// ends. The rest are small printing and polling helpers, kept here so that the examples show only
// the library's API.

import DistributedCache
import EmbeddedRedis
import Foundation

/// Prints `title`, runs `body` with a Redis address, and exits with status 1 (after printing the
/// error) when anything throws. A throwaway server is stopped however `body` ends.
///
/// The `isolation` parameter lets `body` stay on the caller's actor (the main actor for top-level
/// code), so an example's closure needs no `Sendable` captures.
public func runExample(
    _ title: String,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (_ redisAddress: String) async throws -> Void
) async {
    print(title)
    print(String(repeating: "=", count: title.count))
    do {
        try await withExampleRedis(body)
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        exit(1)
    }
}

/// Runs `body` with the address of a Redis server: REDIS_ADDRESS when set (or the library's own
/// CACHE_REDIS_ADDR, as the Kubernetes example sets it), otherwise a throwaway `redis-server` on
/// loopback that is stopped when `body` returns or throws.
/// - Returns: what `body` returns.
/// - Throws: what `body` throws, or `RedisServerProcess.Failure` when no server can be started
///   (for example `redis-server` is not installed).
public func withExampleRedis<Outcome>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (_ redisAddress: String) async throws -> Outcome
) async throws -> Outcome {
    let environment = ProcessInfo.processInfo.environment
    for name in ["REDIS_ADDRESS", "CACHE_REDIS_ADDR"] {
        if let address = environment[name], !address.isEmpty {
            print("Using the Redis at \(address) (\(name)).")
            return try await body(address)
        }
    }
    let server = try await RedisServerProcess.start()
    print("Started a throwaway redis-server on \(server.address).")
    // Stopped explicitly rather than left to deinit, so that the message below is true when
    // printed and the port is free before the process exits.
    do {
        let outcome = try await body(server.address)
        server.stop()
        print("\nStopped the throwaway redis-server.")
        return outcome
    } catch {
        server.stop()
        throw error
    }
}

/// Prints a blank line and a numbered step's title.
public func section(_ title: String) {
    print("\n\(title)")
}

/// Polls `condition` every `interval` (100 µs unless given) until it holds or `timeout` passes.
///
/// Events travel between instances asynchronously (tens of microseconds on loopback), so an
/// example that shows "instance B received what A set" waits for it instead of sleeping a guess.
/// A condition that asks Redis should poll less often (`every: .milliseconds(5)`).
/// - Returns: how long it took, or nil when `timeout` passed first.
public func waitUntil(
    timeout: Duration = .seconds(2),
    every interval: Duration = .microseconds(100),
    isolation: isolated (any Actor)? = #isolation,
    _ condition: () async throws -> Bool
) async rethrows -> Duration? {
    let clock = ContinuousClock()
    let start = clock.now
    while try await !condition() {
        if clock.now - start > timeout { return nil }
        try? await Task.sleep(for: interval)
    }
    return clock.now - start
}

extension Duration {
    /// The duration in milliseconds, with two decimals: "0.42 ms".
    public var millisecondsText: String {
        let (seconds, attoseconds) = components
        let milliseconds = Double(seconds) * 1_000 + Double(attoseconds) / 1e15
        return String(format: "%.2f ms", milliseconds)
    }
}

/// Prints the counters of an instance that the examples talk about, on one line.
public func printStats(_ name: String, _ cache: SyncedCache) {
    let stats = cache.stats
    print(
        "  \(name): local hits \(stats.localHits), local misses \(stats.localMisses), "
            + "remote hits \(stats.remoteHits), remote misses \(stats.remoteMisses), "
            + "entries \(stats.localSize), sets \(stats.sets), events applied \(stats.eventsApplied), "
            + "invalidations \(stats.invalidations), errors \(stats.errors)")
}
