// dcache bench: quick measurements with a summary, for people without the benchmark suite.

import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quick measurements of the transport and the cache, with a summary table.",
        discussion: """
            Without --redis, each measurement starts a throwaway redis-server on a free loopback \
            port and stops it afterwards. perf/compare runs these next to redis-benchmark.
            """,
        subcommands: [Local.self, Remote.self, Cache.self, PubSub.self, Propagation.self, Fanout.self]
    )
}

/// Prints progress on standard error (standard output carries only results).
func progress(_ message: String) {
    var standardError = StandardError()
    print(message, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        // write(2) on descriptor 2: no shared FILE* (whose global is not concurrency-safe).
        var bytes = Array(string.utf8)
        bytes.withUnsafeMutableBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
