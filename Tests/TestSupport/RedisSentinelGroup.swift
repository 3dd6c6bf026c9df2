// A real Sentinel setup for tests: a primary, one replica, and three sentinels (redis-server in
// sentinel mode) monitoring them, all on free loopback ports, torn down afterwards.

import Foundation
import RedisTransport

/// A primary, its replica and three sentinels.
public final class RedisSentinelGroup: @unchecked Sendable {
    // @unchecked Sendable: `sentinels` are Foundation Processes, only started here and killed by
    // stop(); the servers are Sendable themselves.

    /// The primary's name in the sentinels' configuration.
    public let name = "mymaster"
    /// The data servers: the primary at start, then its replica.
    public let servers: [RedisServer]
    /// The sentinels' addresses.
    public let sentinelNodes: [ClusterNode]
    private let sentinels: [Process]
    private let directory: URL

    init(servers: [RedisServer], sentinelNodes: [ClusterNode], sentinels: [Process], directory: URL) {
        self.servers = servers
        self.sentinelNodes = sentinelNodes
        self.sentinels = sentinels
        self.directory = directory
    }

    /// "HOST:PORT,HOST:PORT,..." of the sentinels.
    public var sentinelList: String { sentinelNodes.map(\.description).joined(separator: ",") }

    /// Starts everything; returns once every sentinel knows the primary and its replica.
    ///
    /// A sentinel's port is picked free, and another process may take it before the sentinel
    /// binds it (tests start servers concurrently): a group whose sentinel exits at start is
    /// started again on new ports, up to three times.
    public static func start() async throws -> RedisSentinelGroup {
        try await retrying(attempts: 3) { try await startOnce() }
    }

    private static func startOnce() async throws -> RedisSentinelGroup {
        let primary = try await RedisServer.start()
        let replica = try await RedisServer.start(.init(extraArguments: ["--replicaof", primary.host, String(primary.port)]))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dcache-sentinel-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var processes: [Process] = []
        var nodes: [ClusterNode] = []
        do {
            for index in 0..<3 {
                let port = try RedisServer.freeLoopbackPort()
                let file = directory.appendingPathComponent("sentinel-\(index).conf")
                try """
                port \(port)
                bind 127.0.0.1
                daemonize no
                dir \(directory.path)
                logfile \(directory.appendingPathComponent("sentinel-\(index).log").path)
                sentinel monitor mymaster \(primary.host) \(primary.port) 2
                sentinel down-after-milliseconds mymaster 1000
                sentinel failover-timeout mymaster 3000
                sentinel parallel-syncs mymaster 1

                """.write(to: file, atomically: true, encoding: .utf8)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: try redisServerPath())
                process.arguments = [file.path, "--sentinel"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                processes.append(process)
                nodes.append(ClusterNode(host: "127.0.0.1", port: port))
            }
            let group = RedisSentinelGroup(servers: [primary, replica], sentinelNodes: nodes, sentinels: processes, directory: directory)
            try await group.waitUntilReady()
            return group
        } catch {
            for process in processes { process.terminate() }
            primary.kill()
            replica.kill()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Kills everything.
    public func stop() {
        for process in sentinels where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        for server in servers { server.kill() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The primary's address as the first sentinel that answers says.
    public func primary() async throws -> ClusterNode? {
        for node in sentinelNodes {
            let client = try RedisClient(configuration: .init(host: node.host, port: node.port))
            defer { Task { await client.close() } }
            guard (try? await client.connect()) != nil,
                case .array(let parts) = try await client.send("SENTINEL", "get-master-addr-by-name", name), parts.count == 2,
                let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) })
            else { continue }
            return ClusterNode(host: host, port: port)
        }
        return nil
    }

    /// Asks a sentinel to fail over now (SENTINEL FAILOVER: no agreement needed).
    public func failover() async throws {
        let node = sentinelNodes[0]
        let client = try RedisClient(configuration: .init(host: node.host, port: node.port))
        try await client.connect()
        _ = try await client.send("SENTINEL", "FAILOVER", name)
        await client.close()
    }

    private func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let exited = sentinels.firstIndex(where: { !$0.isRunning }) {
                throw RedisServer.Failure.system("sentinel \(exited) exited at start (its port was taken?)")
            }
            var ready = true
            for node in sentinelNodes {
                let client = try RedisClient(configuration: .init(host: node.host, port: node.port))
                defer { Task { await client.close() } }
                guard (try? await client.connect()) != nil,
                    case .array(let replicas)? = try? await client.send("SENTINEL", "replicas", name), !replicas.isEmpty,
                    case .array(let others)? = try? await client.send("SENTINEL", "sentinels", name), others.count >= 2
                else {
                    ready = false
                    break
                }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw RedisServer.Failure.system("the sentinels did not discover the replica and each other within \(timeout)")
    }

    private static func redisServerPath() throws -> String {
        for candidate in ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw RedisServer.Failure.executableNotFound
    }
}

/// Starts a Sentinel group, runs `body` with it, and kills everything afterwards.
public func withRedisSentinels<Result>(_ body: (RedisSentinelGroup) async throws -> Result) async throws -> Result {
    let group = try await RedisSentinelGroup.start()
    defer { group.stop() }
    return try await body(group)
}
