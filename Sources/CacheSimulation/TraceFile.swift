// TraceFile: reads a cache trace in the shared traces' format into memory.
//
// Design note. A trace (see the traces' README, "Format") is one decimal unsigned key per line,
// gzip-compressed or plain. Linux Foundation has no gzip decoder, so a `.gz` file is piped through
// `gzip -dc`, the same approach the README shows; the shim can go when Foundation gains a
// decompressor on Linux. The parser is hand-rolled (a run of digits is a key, anything else
// separates keys) because it reads 5 million lines in well under a second that way, and it
// accepts CRLF and stray blank lines for free.
//
// Concurrency: stateless; `load` may run on any thread.

import Foundation

/// Loads trace files. See the design note at the top of this file.
public enum TraceFile {
    /// Why a trace could not be read.
    public enum LoadError: Error, CustomStringConvertible {
        /// The file does not exist or cannot be opened.
        case unreadable(path: String)
        /// `gzip -dc` failed with this exit status.
        case gzipFailed(path: String, status: Int32)
        /// A key has more digits than fit in a `UInt64`.
        case keyOverflow(path: String, line: Int)

        /// A one-line explanation naming the file.
        public var description: String {
            switch self {
            case .unreadable(let path): return "cannot read \(path)"
            case .gzipFailed(let path, let status): return "gzip -dc \(path) exited with status \(status)"
            case .keyOverflow(let path, let line): return "\(path): key on line \(line) does not fit in UInt64"
            }
        }
    }

    /// Reads every key of a trace, in order.
    ///
    /// - Parameter path: a trace file; names ending in `.gz` are decompressed with `gzip -dc`.
    /// - Returns: the keys.
    /// - Throws: `LoadError` when the file cannot be read, decompressed or parsed.
    public static func load(path: String) throws -> [UInt64] {
        guard FileManager.default.isReadableFile(atPath: path) else { throw LoadError.unreadable(path: path) }
        let data: Data
        if path.hasSuffix(".gz") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["gzip", "-dc", path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw LoadError.gzipFailed(path: path, status: process.terminationStatus)
            }
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw LoadError.unreadable(path: path)
            }
            data = contents
        }
        return try parse(data, path: path)
    }

    /// Parses runs of ASCII digits as keys.
    static func parse(_ data: Data, path: String) throws -> [UInt64] {
        var keys: [UInt64] = []
        keys.reserveCapacity(data.count / 6)
        var value: UInt64 = 0
        var inNumber = false
        var overflow = false
        for byte in data {
            if byte >= 48 && byte <= 57 {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - 48))
                overflow = overflow || o1 || o2
                value = sum
                inNumber = true
            } else if inNumber {
                if overflow { throw LoadError.keyOverflow(path: path, line: keys.count + 1) }
                keys.append(value)
                value = 0
                inNumber = false
            }
        }
        if inNumber {
            if overflow { throw LoadError.keyOverflow(path: path, line: keys.count + 1) }
            keys.append(value)
        }
        return keys
    }
}
