import Foundation
import Primitives
import RedisTransport
import Testing
import TestSupport

@testable import DistributedCache

/// Credentials and permissions: a refused login, or a user without the permission a cache needs,
/// is a clear error that names what is missing; credentials that change under a running instance
/// are reported, and the instance recovers when they are right again.
@Suite struct AuthenticationTests {
    private func options(_ server: RedisServer, user: String? = nil, password: String?) -> SyncedCache.Options {
        testOptions(server, pod: "auth") { options in
            options.redisUsername = user
            options.redisPassword = password
            options.readerCanSetToRedis = true
        }
    }

    @Test func password_right_works_wrong_isAuthenticationFailed() async throws {
        try await withRedisServer(.init(password: "right")) { server in
            let cache = try await SyncedCache(options: options(server, password: "right"))
            try await cache.set("k", "v")
            #expect(try await cache.get("k", as: String.self) == "v")
            await cache.close()
            await #expect {
                _ = try await SyncedCache(options: options(server, password: "wrong"))
            } throws: { error in
                guard case CacheError.redis(.authenticationFailed) = error else { return false }
                return true
            }
            await #expect(throws: CacheError.self) { _ = try await SyncedCache(options: options(server, password: nil)) }
        }
    }

    /// A user that may not run scripts: the write fails with Redis's NOPERM, which names the
    /// command, and our message says which permission the cache needs.
    @Test func userWithoutScripts_writeNamesTheMissingPermission() async throws {
        try await withRedisServer(.init(password: "admin")) { server in
            let admin = try RedisClient(configuration: .init(host: server.host, port: server.port, password: "admin"))
            try await admin.connect()
            _ = try await admin.send("ACL", "SETUSER", "noscripts", "on", ">pw", "~*", "&*", "+@all", "-@scripting")
            let reports = Locked<[CacheError]>([])
            var settings = options(server, user: "noscripts", password: "pw")
            settings.pingInterval = .zero
            settings.onError = { error in reports.withLock { $0.append(error) } }
            let cache = try await SyncedCache(options: settings)
            await #expect {
                try await cache.set("k", "v")
            } throws: { error in
                let text = String(describing: error)
                return text.contains("NOPERM") && text.lowercased().contains("eval") && text.contains("@scripting")
            }
            #expect(cache.localValue(forKey: "k", as: String.self) == nil)
            await cache.close()
            await admin.close()
        }
    }

    /// A user that may not use the channel: the instance does not start, and the error names the
    /// channel permission.
    @Test func userWithoutTheChannel_startFailsNamingIt() async throws {
        try await withRedisServer(.init(password: "admin")) { server in
            let admin = try RedisClient(configuration: .init(host: server.host, port: server.port, password: "admin"))
            try await admin.connect()
            _ = try await admin.send("ACL", "SETUSER", "nochannel", "on", ">pw", "~*", "resetchannels", "+@all")
            await #expect {
                _ = try await SyncedCache(options: options(server, user: "nochannel", password: "pw"))
            } throws: { error in
                let text = String(describing: error)
                return text.contains("NOPERM") && text.contains("cache:invalidate")
            }
            await admin.close()
        }
    }

    /// The password changes under a running instance (it reconnects and is refused): reported
    /// through onError, no crash, local reads keep the staleness bound; once the password is right
    /// again the instance recovers by itself.
    @Test func credentialsChangedAfterStart_reportedThenRecovered() async throws {
        try await withRedisServer(.init(password: "first")) { server in
            let admin = try RedisClient(configuration: .init(host: server.host, port: server.port, password: "first"))
            try await admin.connect()
            let reports = Locked<[CacheError]>([])
            var settings = options(server, password: "first")
            settings.pingTimeout = .milliseconds(500)
            settings.maximumStaleness = .milliseconds(500)
            settings.reconnectBackoff = .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))
            settings.onError = { error in reports.withLock { $0.append(error) } }
            let cache = try await SyncedCache(options: settings)
            try await cache.set("k", "v")
            _ = try await admin.send("CONFIG", "SET", "requirepass", "second")
            _ = try await admin.send("CLIENT", "KILL", "USER", "default", "SKIPME", "yes")
            await eventually("an authentication failure was reported", timeout: .seconds(10)) {
                reports.withLock { $0 }.contains { "\($0)".lowercased().contains("auth") || "\($0)".contains("WRONGPASS") }
            }
            await #expect(throws: CacheError.self) { _ = try await cache.get("absent", as: String.self) }
            _ = try await admin.send("CONFIG", "SET", "requirepass", "first")
            await eventually("the instance recovered", timeout: .seconds(15)) {
                (try? await cache.set("after", "ok")) != nil && cache.health.isHealthy
            }
            #expect(try await cache.get("after", as: String.self) == "ok")
            await cache.close()
            await admin.close()
        }
    }
}
