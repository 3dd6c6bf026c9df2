import Foundation
import Primitives
import Testing
import TestSupport

@testable import LocalStore

/// StoreConfiguration.timeToIdle: entries that are not read leave; reads keep them; the time to
/// live still bounds them; renewals are not removals.
@Suite struct TimeToIdleTests {
    final class Causes: Sendable {
        private let seen = Locked<[String: [RemovalCause]]>([:])
        func append(_ removal: Removal) { seen.withLock { $0[removal.key, default: []].append(removal.cause) } }
        func of(_ key: String) -> [RemovalCause] { seen.withLock { $0[key] ?? [] } }
    }

    // Long enough that a maintenance thread busy with the other suites' stores (they run in parallel)
    // still renews in time: a renewal must happen within 7/8 of it.
    static let idle = Duration.milliseconds(600).scaledForTests

    func makeCache(_ causes: Causes) throws -> ShardedCache<String> {
        var configuration = StoreConfiguration(capacity: .entries(1_000))
        configuration.timeToIdle = Self.idle
        configuration.removalListener = { causes.append($0) }
        return try ShardedCache(configuration: configuration)
    }

    /// Reads `key` every 5 ms for `duration`; returns whether every read found it.
    func keepReading(_ cache: ShardedCache<String>, _ key: String, for duration: Duration) async throws -> Bool {
        let end = ContinuousClock.now + duration
        var found = true
        while ContinuousClock.now < end {
            found = found && cache.value(forKey: key) != nil
            try await Task.sleep(for: .milliseconds(5))
        }
        return found
    }

    @Test func readEntry_stays_unreadEntry_leaves() async throws {
        let causes = Causes()
        let cache = try makeCache(causes)
        defer { cache.close() }
        #expect(cache.setValue("v", forKey: "read"))
        #expect(cache.setValue("v", forKey: "unread"))
        #expect(try await keepReading(cache, "read", for: Self.idle * 3), "read all along, it never left")
        #expect(cache.peekValue(forKey: "unread") == nil)
        #expect(causes.of("read").isEmpty, "renewals are no removals: \(causes.of("read"))")
        try await Task.sleep(for: Self.idle * 2)
        #expect(cache.value(forKey: "read") == nil, "idle for twice the time to idle")
        cache.runMaintenance()
        #expect(causes.of("unread") == [.expired])
    }

    @Test func timeToLive_stillBoundsAReadEntry() async throws {
        let cache = try makeCache(Causes())
        defer { cache.close() }
        let life = Self.idle * 3
        let started = ContinuousClock.now
        #expect(cache.setValue("v", forKey: "k", ttl: life))
        // Read past the time to idle, several times over: renewed...
        #expect(try await keepReading(cache, "k", for: life - Self.idle))
        // ...but never past its time to live.
        try await Task.sleep(until: started + life + .milliseconds(10), clock: .continuous)
        #expect(cache.value(forKey: "k") == nil)
    }

    @Test func badTimeToIdle_isRefused() {
        var configuration = StoreConfiguration(capacity: .entries(10))
        configuration.timeToIdle = .milliseconds(1)
        #expect(throws: LocalCacheError.self) { try ShardedCache<String>(configuration: configuration) }
    }
}
