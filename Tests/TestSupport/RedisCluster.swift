// A real Redis Cluster for tests: N primaries and R replicas each, every one a `redis-server` on
// a free loopback port (its cluster bus on another free port), joined by
// `redis-cli --cluster create ... --cluster-yes`, and torn down afterwards.

import Foundation
import RedisTransport

/// A running Redis Cluster of loopback servers.
public final class RedisCluster: Sendable {
    /// Every server, in creation order: `redis-cli --cluster create` makes the first
    /// `primaries` of them primaries and the rest their replicas.
    public let servers: [RedisServer]
    /// Number of primaries at creation.
    public let primaryCount: Int

    init(servers: [RedisServer], primaryCount: Int) {
        self.servers = servers
        self.primaryCount = primaryCount
    }

    /// The seed addresses to give a client: every server.
    public var seeds: [ClusterNode] { servers.map { ClusterNode(host: $0.host, port: $0.port) } }

    /// The seeds as "HOST:PORT,HOST:PORT,..." (the CLI's `--cluster` form).
    public var seedList: String { seeds.map(\.description).joined(separator: ",") }

    /// The server listening at `node`.
    public func server(at node: ClusterNode) -> RedisServer? { servers.first { $0.port == node.port } }

    /// Starts the servers and creates the cluster; returns once every node reports
    /// `cluster_state:ok` and agrees on the slot map.
    public static func start(primaries: Int = 3, replicasPerPrimary: Int = 1) async throws -> RedisCluster {
        var servers: [RedisServer] = []
        do {
            for _ in 0..<(primaries * (1 + replicasPerPrimary)) { servers.append(try await startNode()) }
            let cluster = RedisCluster(servers: servers, primaryCount: primaries)
            try await cluster.redisCLI(["--cluster", "create"] + servers.map(\.address)
                + ["--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"])
            try await cluster.waitUntilStable()
            return cluster
        } catch {
            for server in servers { server.kill() }
            throw error
        }
    }

    /// Kills every server.
    public func stop() {
        for server in servers { server.kill() }
    }

    /// One cluster-enabled server. Its bus port is picked free like its data port, and another
    /// process may take it before Redis binds it (tests start servers concurrently): a node that
    /// fails to start is started again with a new bus port, up to five times.
    private static func startNode() async throws -> RedisServer {
        try await retrying(attempts: 5) {
            let bus = try RedisServer.freeLoopbackPort()
            return try await RedisServer.start(.init(extraArguments: [
                "--cluster-enabled", "yes", "--cluster-port", String(bus), "--cluster-node-timeout", "2000",
                "--cluster-require-full-coverage", "no",
            ]))
        }
    }

    /// Runs `redis-cli` with these arguments; throws with its output when it fails.
    ///
    /// The process is waited for on a thread of its own, never on the task's: `--cluster create`
    /// takes seconds, and a cooperative thread blocked that long stalls every other test of the
    /// process on a 2-core machine (their calls then look slow for reasons of the fixture's).
    @discardableResult
    public func redisCLI(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try Self.runRedisCLI(arguments) }) }
        }
    }

    private static func runRedisCLI(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw RedisServer.Failure.system("redis-cli \(arguments.joined(separator: " ")) failed: \(text.suffix(2_000))")
        }
        return text
    }

    /// Moves one slot from `source` to `target` with the steps `redis-cli --cluster reshard`
    /// takes (CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE of its keys, SETSLOT NODE on both),
    /// for one chosen slot.
    public func migrate(slot: Int, from source: ClusterNode, to target: ClusterNode) async throws {
        func cli(_ node: ClusterNode, _ arguments: [String]) async throws -> String {
            try await redisCLI(["-h", node.host, "-p", String(node.port)] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let sourceID = try await cli(source, ["CLUSTER", "MYID"])
        let targetID = try await cli(target, ["CLUSTER", "MYID"])
        _ = try await cli(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID])
        _ = try await cli(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])
        while true {
            let keys = try await cli(source, ["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]).split(separator: "\n").map(String.init)
            if keys.isEmpty { break }
            _ = try await cli(source, ["MIGRATE", target.host, String(target.port), "", "0", "5000", "KEYS"] + keys)
        }
        for node in [target, source] { _ = try await cli(node, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetID]) }
    }

    /// The replica of `primary`, from CLUSTER NODES on the primary.
    public func replica(of primary: ClusterNode) async throws -> ClusterNode? {
        let id = try await redisCLI(["-p", String(primary.port), "CLUSTER", "MYID"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let nodes = try await redisCLI(["-p", String(primary.port), "CLUSTER", "NODES"])
        for line in nodes.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[2].contains("slave"), fields[3] == id else { continue }
            let address = fields[1].split(separator: "@")[0]
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { continue }
            return ClusterNode(host: String(address[..<colon]), port: port)
        }
        return nil
    }

    /// Waits until every live node says `cluster_state:ok`, the same primaries serve all 16,384
    /// slots, and every replica is in sync with its primary.
    public func waitUntilStable(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await isStable()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisServer.Failure.system("the cluster did not become stable within \(timeout)")
    }

    private func isStable() async throws -> Bool {
        var views: Set<String> = []
        for server in servers where server.pid != nil {
            let client = try RedisClient(configuration: .init(host: server.host, port: server.port))
            try await client.connect()
            defer { Task { await client.close() } }
            guard let info = try await client.send("CLUSTER", "INFO").string, info.contains("cluster_state:ok") else {
                return false
            }
            let slots = try await client.send("CLUSTER", "SLOTS")
            guard case .array(let ranges) = slots else { return false }
            var covered = 0
            var owners: [String] = []
            for range in ranges {
                guard case .array(let fields) = range, fields.count >= 3, case .integer(let start) = fields[0],
                    case .integer(let end) = fields[1], case .array(let primary) = fields[2], primary.count >= 2,
                    case .integer(let port) = primary[1]
                else { return false }
                covered += Int(end - start + 1)
                owners.append("\(start)-\(end)@\(port)")
            }
            guard covered == 16_384 else { return false }
            // A replica that has not synchronized would refuse to take over its primary.
            let replication = try await client.send("INFO", "replication").string ?? ""
            if replication.contains("role:slave") && !replication.contains("master_link_status:up") { return false }
            views.insert(owners.sorted().joined(separator: ","))
        }
        return views.count == 1
    }
}

/// Starts a cluster, runs `body` with it, and kills every server afterwards.
public func withRedisCluster<Result>(
    primaries: Int = 3, replicasPerPrimary: Int = 1, _ body: (RedisCluster) async throws -> Result
) async throws -> Result {
    let cluster = try await RedisCluster.start(primaries: primaries, replicasPerPrimary: replicasPerPrimary)
    defer { cluster.stop() }
    return try await body(cluster)
}
