import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// Options.onRemoval: every cause, off the cache's paths.
@Suite struct RemovalListenerTests {
    final class Removals: Sendable {
        private let seen = Locked<[(String, RemovalCause)]>([])
        func append(_ removal: Removal) { seen.withLock { $0.append((removal.key, removal.cause)) } }
        func causes(of key: String) -> [RemovalCause] { seen.withLock { $0.filter { $0.0 == key }.map(\.1) } }
        var all: [(String, RemovalCause)] { seen.withLock { $0 } }
    }

    @Test func everyCause_isReported() async throws {
        let removals = Removals()
        try await withCaches(2, configure: {
            $0.readerCanSetToRedis = true
            $0.localCache = .lru
            $0.localCacheConfig.maxSize = 3
            $0.onRemoval = { removal in removals.append(removal) }
        }) { caches, _ async throws in
            let (a, b) = (caches[0], caches[1])
            try await a.set("deleted", "x")
            try await a.delete("deleted")
            await eventually("explicit") { removals.causes(of: "deleted").contains(.explicit) }

            try await a.set("replaced", "1")
            try await a.set("replaced", "2")
            await eventually("replaced") { removals.causes(of: "replaced").contains(.replaced) }

            try await a.set("short", "s", ttl: .milliseconds(50))
            await eventually("expired") {
                _ = a.localValue(forKey: "short", as: String.self)
                return removals.causes(of: "short").contains(.expired)
            }

            for index in 0..<6 { try await a.set("fill\(index)", index) }
            await eventually("size") { removals.all.contains { $0.1 == .size } }

            // Another instance's change: invalidated, on the instance that held the copy.
            try await b.set("shared", "v")
            await eventually("a holds shared") { a.localValue(forKey: "shared", as: String.self) == "v" }
            try await b.delete("shared")
            await eventually("invalidated") { removals.causes(of: "shared").contains(.invalidated) }

            // getOrLoad's absent answers are internal: never reported.
            _ = try await a.getOrLoad("nobody", as: String.self, negativeTTL: .milliseconds(20)) { nil }
            try await a.delete("nobody")
            try await Task.sleep(for: .milliseconds(100))
            #expect(removals.causes(of: "nobody").isEmpty)
            // A value read as another form first (bytes, then decoded) is no replacement.
            try await b.set("decoded-once", "d")
            await eventually("a decodes it") { a.localValue(forKey: "decoded-once", as: String.self) == "d" }
            try await Task.sleep(for: .milliseconds(50))
            #expect(removals.causes(of: "decoded-once").isEmpty)
        }
    }
}
