import Foundation
import RedisTransport
import Testing
import EmbeddedRedis
import TestSupport

@testable import DistributedCache

/// hiredis 0.14 speaks no TLS; the documented way to reach a TLS-only Redis is a tunnel on
/// loopback (README, "Authentication"). This runs that setup for real: redis-server with a TLS
/// port and a self-signed certificate, stunnel in client mode verifying it, and two instances
/// that only know the tunnel's plaintext end.
@Suite struct TLSTunnelTests {
    static var stunnel: String? {
        ["/usr/bin/stunnel4", "/usr/bin/stunnel"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(.enabled(if: stunnel != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
    func instancesBehindAStunnelTunnel_stayInSync() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dcache-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key.pem").path
        let certificate = directory.appendingPathComponent("cert.pem").path
        let openssl = try InteractiveProcess("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
        ])
        #expect(openssl.waitForExit() == 0)
        let tlsPort = try RedisServer.freeLoopbackPort()
        let tls = ["--tls-port", String(tlsPort), "--tls-cert-file", certificate, "--tls-key-file", key,
                   "--tls-ca-cert-file", certificate, "--tls-auth-clients", "no"]
        try await withRedisServer(.init(extraArguments: tls)) { server in
            let (tunnel, tunnelPort) = try await retrying(attempts: 5) {
                try await startTunnel(to: server, tlsPort: tlsPort, certificate: certificate, in: directory)
            }
            defer { tunnel.kill() }

            var caches: [SyncedCache] = []
            for pod in ["tls-a", "tls-b"] {
                caches.append(try await SyncedCache(options: testOptions(server, pod: pod) { options in
                    options.redisAddress = "127.0.0.1:\(tunnelPort)"
                    options.readerCanSetToRedis = true
                }))
            }
            try await caches[0].set("k", "through the tunnel")
            await eventually("the event crossed the tunnel") {
                caches[1].localValue(forKey: "k", as: String.self) == "through the tunnel"
            }
            try await caches[0].setWithInvalidate("k", "again")
            await eventually("the invalidation crossed the tunnel") { caches[1].localValue(forKey: "k", as: String.self) == nil }
            #expect(try await caches[1].get("k", as: String.self) == "again")
            // Every connection of the instances arrived on the TLS port.
            let raw = try await rawClient(server)
            let clients = try await raw.send("CLIENT", "LIST").string ?? ""
            let ours = clients.split(separator: "\n").filter { $0.contains("name=dcache:tls-") }
            #expect(ours.count == 4)
            #expect(ours.allSatisfy { $0.contains("laddr=127.0.0.1:\(tlsPort)") })
            await raw.close()
            for cache in caches { await cache.close() }
        }
    }

    /// Why a tunnel did not come up on the port it was given.
    private struct TunnelNotReady: Error, CustomStringConvertible {
        let port: Int
        var description: String { "the tunnel on \(port) did not reach the test's server (port taken meanwhile?)" }
    }

    /// Starts stunnel in client mode on a free port and returns it once a marker written to
    /// `server` directly reads back through the tunnel. Ports are chosen then released, so a
    /// parallel test's redis-server can take the port first; stunnel then fails to bind while
    /// that other server answers PING, and the marker tells the two apart.
    private func startTunnel(
        to server: RedisServer, tlsPort: Int, certificate: String, in directory: URL
    ) async throws -> (InteractiveProcess, Int) {
        let port = try RedisServer.freeLoopbackPort()
        let configuration = directory.appendingPathComponent("stunnel-\(port).conf").path
        try """
            foreground = yes
            pid =
            output = \(directory.appendingPathComponent("stunnel-\(port).log").path)
            [redis]
            client = yes
            accept = 127.0.0.1:\(port)
            connect = 127.0.0.1:\(tlsPort)
            CAfile = \(certificate)
            verifyChain = yes
            checkHost = localhost
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        // InteractiveProcess, not Foundation's Process: its waitUntilExit hangs when called
        // from a task on this toolchain.
        let tunnel = try InteractiveProcess(Self.stunnel!, [configuration])
        let marker = UUID().uuidString
        let direct = try await rawClient(server)
        _ = try await direct.send("SET", "tunnel-marker", marker)
        await direct.close()
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? await RedisClient.read("tunnel-marker", port: port)) == marker { return (tunnel, port) }
            try await Task.sleep(for: .milliseconds(20))
        }
        tunnel.kill()
        throw TunnelNotReady(port: port)
    }
}

extension RedisClient {
    /// The string at `key` on whatever answers on `port` on loopback, or nil when nothing does.
    static func read(_ key: String, port: Int) async throws -> String? {
        let client = try RedisClient(configuration: .init(host: "127.0.0.1", port: port))
        defer { Task { await client.close() } }
        do {
            try await client.connect()
            return try await client.send("GET", key).string
        } catch {
            return nil
        }
    }
}
