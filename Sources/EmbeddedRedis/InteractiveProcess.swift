// InteractiveProcess: a child process driven line by line through pipes.
//
// `dcache pod` answers every line on its standard input with exactly one line on its standard
// output; the demo and the tool's tests drive several of them this way. Output is read by a
// dedicated thread (a blocking read must not hold a cooperative thread) and handed over as lines.
// The child is killed by PID when the object goes away, however the driver ends.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A child process with pipes to its standard input and output.
///
/// `@unchecked Sendable`: the write end is used under `writeLock`; received lines go through a
/// lock-protected buffer; the process handle is guarded by `processLock`.
public final class InteractiveProcess: @unchecked Sendable {
    /// Why talking to the process failed.
    public enum Failure: Error, CustomStringConvertible {
        /// No line arrived within the timeout.
        case timedOut(waitingFor: String)
        /// The process closed its output (exited).
        case ended
        /// Writing to the process failed (it exited).
        case writeFailed

        public var description: String {
            switch self {
            case .timedOut(let what): return "timed out waiting for \(what)"
            case .ended: return "the process ended"
            case .writeFailed: return "cannot write to the process"
            }
        }
    }

    private var process: ChildProcess
    private let processLock = NSLock()
    private let input: Int32
    private let writeLock = NSLock()
    private let lines = NSCondition()
    private var received: [String] = []
    private var outputEnded = false

    /// The process id.
    public let pid: pid_t

    /// Starts `executable` with `arguments`; its standard error goes to ours.
    public init(_ executable: String, _ arguments: [String]) throws {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else {
            throw RedisServerProcess.Failure.system("pipe: \(String(cString: strerror(errno)))")
        }
        process = try ChildProcess.spawn(executable, arguments, stdin: toChild[0], stdout: fromChild[1])
        close(toChild[0])
        close(fromChild[1])
        input = toChild[1]
        pid = process.pid
        let output = fromChild[0]
        let reader = Thread { [weak self] in self?.readLines(from: output) }
        reader.name = "interactive-process-\(process.pid)"
        reader.start()
    }

    deinit {
        close(input)
        if process.isRunning() {
            process.send(SIGKILL)
            process.waitForExit()
        }
    }

    private func readLines(from fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var pending: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending += buffer[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                lines.lock()
                received.append(line)
                lines.signal()
                lines.unlock()
            }
        }
        close(fd)
        lines.lock()
        outputEnded = true
        lines.broadcast()
        lines.unlock()
    }

    /// Writes `line` and a newline to the process's standard input.
    public func send(_ line: String) throws {
        try writeLock.withLock {
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw Failure.writeFailed }
                offset += written
            }
        }
    }

    /// The next line of output, waiting up to `timeout`.
    /// - Throws: ``Failure/timedOut(waitingFor:)`` or ``Failure/ended``.
    public func readLine(timeout: Duration = .seconds(10)) throws -> String {
        let (seconds, attoseconds) = timeout.components
        let deadline = Date().addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
        lines.lock()
        defer { lines.unlock() }
        while received.isEmpty {
            if outputEnded { throw Failure.ended }
            guard lines.wait(until: deadline) else { throw Failure.timedOut(waitingFor: "a line") }
        }
        return received.removeFirst()
    }

    /// Sends `line` and returns the one-line answer.
    public func request(_ line: String, timeout: Duration = .seconds(10)) throws -> String {
        try send(line)
        return try readLine(timeout: timeout)
    }

    /// Closes the process's standard input (end of input).
    public func closeInput() {
        writeLock.withLock { _ = close(input) }
    }

    /// Waits for the process to exit and returns its exit code (or 128 + signal).
    public func waitForExit() -> Int32 {
        processLock.withLock {
            process.waitForExit()
            let status = process.exitStatus ?? 0
            return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        }
    }

    /// Kills the process at once.
    public func kill() {
        processLock.withLock {
            process.send(SIGKILL)
            process.waitForExit()
        }
    }
}
