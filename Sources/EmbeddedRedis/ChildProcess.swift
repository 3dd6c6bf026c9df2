// A child process started with posix_spawn and reaped with waitpid.
//
// Why not Foundation.Process: on Linux it spawns from a libdispatch worker thread, whose signal
// mask blocks most signals, and the child inherits that mask. A redis-server started that way
// ignores SIGTERM (it stays pending forever) and `stop()` hangs. Here the child gets an empty
// signal mask and default dispositions, so SIGTERM, SIGINT (Ctrl-C in the same process group) and
// SIGSTOP/SIGCONT behave as they do from a shell. If Foundation ever spawns with a clean mask this
// part could go.
//
// The child also keeps no descriptor beyond 0, 1 and 2. A descriptor inherited by accident keeps
// the other end of a pipe open for as long as the server lives: the benchmark runner, for one,
// talks to each benchmark process over pipes and waits for them to close, so a redis-server that
// inherited them made `make benchmarks` hang after the last benchmark.

#if canImport(Glibc)
import Glibc
#endif

/// A spawned child process, identified by its PID. Not thread-safe: the owner serializes calls.
struct ChildProcess {
    let pid: pid_t
    private(set) var exitStatus: Int32?

    /// Spawns `executable` with `arguments`. Standard input and output go to the given
    /// descriptors (the child's copies; /dev/null when nil). Standard error is ours for an
    /// interactive child (one with `stdin`), /dev/null otherwise. Every other descriptor is closed
    /// in the child.
    /// - Throws: ``RedisServerProcess/Failure/system(_:)`` when posix_spawn fails.
    static func spawn(
        _ executable: String, _ arguments: [String], stdin: Int32? = nil, stdout: Int32? = nil
    ) throws -> ChildProcess {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        // An interactive child keeps our standard error (its logs); a server gets /dev/null.
        if stdin == nil { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        // After the dup2s, so the pipe ends given as stdin/stdout are closed too. A descriptor
        // closed by another thread before the spawn is harmless: glibc ignores EBADF there.
        for fd in Self.openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw RedisServerProcess.Failure.system("posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid, exitStatus: nil)
    }

    /// The descriptors open in this process, from /proc/self/fd (empty where there is none).
    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { descriptors.append(fd) }
        }
        return descriptors
    }

    /// True until the child has exited and been reaped.
    mutating func isRunning() -> Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid || (rc < 0 && errno == ECHILD) {
            exitStatus = status
            return false
        }
        return true
    }

    /// Sends `signal` to the child if it is still running.
    mutating func send(_ signal: Int32) {
        if isRunning() { kill(pid, signal) }
    }

    /// Blocks until the child exits (it must be about to: call after SIGTERM or SIGKILL).
    mutating func waitForExit() {
        guard exitStatus == nil else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = status
    }
}
