// A throwaway `redis-server` on a free loopback port, for demos, tests and benchmarks.
//
// Design note: the server runs with no persistence (`save ""`, `appendonly no`) in a private
// temporary folder, bound to 127.0.0.1 only. It is started as a child process and stopped by PID:
// `stop()` sends SIGTERM and waits, `kill()` sends SIGKILL, and `deinit` kills whatever is still
// running, so a test that forgets to stop its server (or fails half-way) leaves no process behind.
// A crash of the whole test process is covered one level up: `make test` and `make demo` kill any
// server still running out of this process's folders (see scripts/with-redis-cleanup).
//
// The port is found by binding port 0 and releasing it just before Redis binds it. Another
// process could take the port in between; when Redis then fails to start, `start` tries again with
// a new port (up to five times) instead of reporting a flaky failure.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A `redis-server` child process on a free loopback port.
///
/// For tests, demos, examples and benchmarks only, never for production: the server has no
/// persistence, no password and no replica, and lives exactly as long as this object.
///
/// Owns its process and its data folder: both are gone after ``stop()`` (or ``kill()``) and
/// ``deinit``. All methods are safe to call from any thread; calls are serialized by an internal
/// lock, so two tasks cannot restart and stop the same server at once.
public final class RedisServerProcess: @unchecked Sendable {
    // @unchecked Sendable: every mutable property is guarded by `lock`.

    /// How to start the server.
    public struct Options: Sendable {
        /// `requirepass`: clients must `AUTH` with this password (the `default` user).
        public var password: String?
        /// An extra ACL user with all permissions, as `(name, password)`.
        public var aclUser: (name: String, password: String)?
        /// Extra configuration directives, each as `--name value` pairs, e.g. `["--maxmemory", "10mb"]`.
        public var extraArguments: [String]
        /// The `redis-server` executable; found on `PATH` when nil.
        public var executable: String?
        /// How long to wait for the server to answer PING.
        public var startTimeout: Duration

        /// Creates options. Every parameter has the default a plain test wants.
        public init(
            password: String? = nil,
            aclUser: (name: String, password: String)? = nil,
            extraArguments: [String] = [],
            executable: String? = nil,
            startTimeout: Duration = .seconds(10)
        ) {
            self.password = password
            self.aclUser = aclUser
            self.extraArguments = extraArguments
            self.executable = executable
            self.startTimeout = startTimeout
        }
    }

    /// Why the server could not be started or controlled.
    public enum Failure: Error, CustomStringConvertible {
        /// No `redis-server` executable was found.
        case executableNotFound
        /// The server did not answer PING within the start timeout; `log` is the tail of its log.
        case notReady(port: Int, log: String)
        /// A system call failed.
        case system(String)

        public var description: String {
            switch self {
            case .executableNotFound:
                return "redis-server was not found on PATH (Debian: apt-get install -y redis-server)"
            case .notReady(let port, let log):
                return "redis-server on port \(port) did not become ready. Log tail:\n\(log)"
            case .system(let message):
                return message
            }
        }
    }

    /// The address clients connect to: always the IPv4 loopback.
    public let host = "127.0.0.1"
    /// The server's options.
    public let options: Options

    private let lock = NSLock()
    private var _port: Int = 0
    private var process: ChildProcess?
    private var paused = false
    private let directory: URL

    /// The TCP port the server listens on; unchanged by ``restart()``.
    public var port: Int { lock.withLock { _port } }

    /// `host:port`, as the cache's `redisAddress` option expects.
    public var address: String { "\(host):\(port)" }

    /// The process id of the running server, or nil when it is not running.
    public var pid: Int32? {
        lock.withLock {
            guard process?.isRunning() == true else { return nil }
            return process?.pid
        }
    }

    /// Starts a server and waits until it answers PING.
    /// - Parameter options: how to start it.
    /// - Throws: ``Failure`` when no executable is found or the server does not become ready.
    public static func start(_ options: Options = Options()) async throws -> RedisServerProcess {
        let server = try RedisServerProcess(options: options)
        var lastError: Error = Failure.system("redis-server did not start")
        for _ in 0..<5 {
            do {
                try await server.launch(port: try Self.freeLoopbackPort())
                return server
            } catch let error as Failure {
                lastError = error
                server.kill()
                if case .notReady = error { continue }
                throw error
            }
        }
        throw lastError
    }

    private init(options: Options) throws {
        self.options = options
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("dcache-redis-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        self.directory = base
    }

    deinit {
        if var process, process.isRunning() {
            process.send(SIGKILL)
            process.waitForExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit. Idempotent.
    public func stop() {
        terminate(with: SIGTERM)
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to exit. Idempotent.
    public func kill() {
        terminate(with: SIGKILL)
    }

    private func terminate(with signal: Int32) {
        lock.withLock {
            guard var running = process, running.isRunning() else { return }
            if paused { running.send(SIGCONT) }
            running.send(signal)
            running.waitForExit()
            process = running
            paused = false
        }
    }

    /// Starts the server again on the same port (after ``stop()`` or ``kill()``), with an empty
    /// dataset, and waits until it answers PING.
    /// - Throws: ``Failure/notReady(port:log:)`` when the port was taken meanwhile or the server fails.
    public func restart() async throws {
        kill()
        try await launch(port: port)
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered, as with a
    /// hung server or a network partition that drops no packets.
    public func pause() {
        lock.withLock {
            guard var running = process, running.isRunning(), !paused else { return }
            running.send(SIGSTOP)
            paused = true
        }
    }

    /// Resumes a paused server (SIGCONT).
    public func resume() {
        lock.withLock {
            guard var running = process, running.isRunning(), paused else { return }
            running.send(SIGCONT)
            paused = false
        }
    }

    /// The last lines of the server's log, for failure messages.
    public func logTail(lines: Int = 20) -> String {
        let url = directory.appendingPathComponent("redis.log")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    // MARK: - Launching

    private func launch(port: Int) async throws {
        let executable = try options.executable ?? Self.findExecutable()
        var arguments = [
            "--port", String(port),
            "--bind", host,
            "--save", "",
            "--appendonly", "no",
            "--dir", directory.path,
            "--logfile", directory.appendingPathComponent("redis.log").path,
            "--daemonize", "no",
            // DEBUG SLEEP and friends, for fault-injection tests; reachable from loopback only.
            "--enable-debug-command", "local",
        ]
        if let password = options.password { arguments += ["--requirepass", password] }
        if let user = options.aclUser {
            // Each ACL rule is its own argument: redis-server joins them into one `user` directive.
            arguments += ["--user", user.name, "on", ">\(user.password)", "~*", "&*", "+@all"]
        }
        arguments += options.extraArguments

        let child = try ChildProcess.spawn(executable, arguments)
        lock.withLock {
            self.process = child
            self._port = port
            self.paused = false
        }
        let deadline = ContinuousClock.now + options.startTimeout
        while ContinuousClock.now < deadline {
            guard let pid else { break }
            if Self.answersAsProcess(pid, host: host, port: port, password: options.password) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw Failure.notReady(port: port, log: logTail())
    }

    private static func findExecutable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin"]
        for directory in directories {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw Failure.executableNotFound
    }

    /// Binds port 0 on the loopback address and returns the port the kernel chose.
    ///
    /// The port is released again before this returns, so another process can take it before
    /// the caller binds it; a caller that must be sure wraps its start in a retry.
    public static func freeLoopbackPort() throws -> Int {
        let (fd, port) = try bindLoopbackSocket()
        close(fd)
        return port
    }

    /// Runs `body` with a loopback port that refuses every connection for the whole call: a
    /// socket is bound to it but never listens. Use it for "Redis is unreachable": a port from
    /// ``freeLoopbackPort()`` can be taken by a parallel test's server before the test connects.
    /// - Parameter body: runs while connecting to the port fails with ECONNREFUSED.
    /// - Returns: what `body` returns.
    public static func withRefusingLoopbackPort<Result>(_ body: (Int) async throws -> Result) async throws -> Result {
        let (fd, port) = try bindLoopbackSocket()
        defer { close(fd) }
        return try await body(port)
    }

    /// A TCP socket bound to port 0 on 127.0.0.1, not listening, and the port the kernel chose.
    /// The caller owns the descriptor.
    private static func bindLoopbackSocket() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.system("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw Failure.system("bind: \(message)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// One blocking round trip on a fresh socket: AUTH when needed, then INFO server, true when
    /// the server that answers is process `pid`. Used only while waiting for start-up, on the
    /// caller's task, with a short receive timeout. Checking the process id, not only PING, keeps
    /// a start from returning another test's server that took the port first (ours then fails
    /// to bind and exits, and the loop starts it again on a new port).
    static func answersAsProcess(_ pid: Int32, host: String, port: Int, password: String?) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        var request = ""
        if let password { request += "AUTH \(password)\r\n" }
        request += "INFO server\r\n"
        let sent = request.withCString { send(fd, $0, strlen($0), 0) }
        guard sent > 0 else { return false }
        // INFO server is about 1.5 KB; the process id line comes after a few hundred bytes.
        let expected = "\r\nprocess_id:\(pid)\r\n"
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < 16_384 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
            let text = String(decoding: received, as: UTF8.self)
            if text.contains(expected) { return true }
            if text.contains("\r\nprocess_id:") && text.contains("\r\nrun_id:") { return false }
            if text.hasPrefix("-") || text.contains("\r\n-") { return false }
        }
        return false
    }
}
