// A child process started with posix_spawn and reaped with waitpid.
//
// Why not Foundation.Process: on Linux it spawns from a libdispatch worker thread, whose signal
// mask blocks most signals, and the child inherits that mask. A redis-server started that way
// ignores SIGTERM (it stays pending forever) and `stop()` hangs. Here the child gets an empty
// signal mask and default dispositions, so SIGTERM, SIGINT (Ctrl-C in the same process group) and
// SIGSTOP/SIGCONT behave as they do from a shell. If Foundation ever spawns with a clean mask this
// file can go.

#if canImport(Glibc)
import Glibc
#endif

/// A spawned child process, identified by its PID. Not thread-safe: the owner serializes calls.
struct ChildProcess {
    let pid: pid_t
    private(set) var exitStatus: Int32?

    /// Spawns `executable` with `arguments`; standard input, output and error go to /dev/null.
    /// - Throws: ``RedisServerProcess/Failure/system(_:)`` when posix_spawn fails.
    static func spawn(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
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
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw RedisServerProcess.Failure.system("posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid, exitStatus: nil)
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
