import Foundation
import Testing

@testable import LocalStore

/// Where the shared traces are: $DCACHE_TRACES, else `../shared/traces` beside the package.
/// CI clones may not have them; the trace tests then skip instead of failing.
enum SharedTraces {
    static let directory: String = {
        if let fromEnvironment = ProcessInfo.processInfo.environment["DCACHE_TRACES"] { return fromEnvironment }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/traces").path
    }()

    /// True when the trace is there and the build is optimized: a replay of a few million
    /// requests takes minutes unoptimized and would crowd the timing-sensitive integration tests,
    /// so `make test-optimized` runs these (`--filter meetsTheBars`).
    static func available(_ file: String) -> Bool {
        isOptimizedBuild && FileManager.default.isReadableFile(atPath: directory + "/" + file)
    }
}

/// Hit ratios of both policies on the small traces, held to the bars of `HitRatioBaselines`.
@Suite struct PolicySimulatorTests {
    @Test func run_handmadeStream_countsHitsLikeADemandFilledCache() {
        // Size 2, LRU: a b a c b -> M M H M(evicts b) M: 1 hit of 5.
        let result = PolicySimulator(policy: .lru, size: 2).run([1, 2, 1, 3, 2])
        #expect(result == PolicySimulator.Result(requests: 5, hits: 1))
        #expect(result.hitRatio == 20)
    }

    @Test func parse_digitsWithCRLFAndBlankLines_readsEveryKey() throws {
        let keys = try TraceFile.parse(Data("12\r\n\r\n18446744073709551615\n7".utf8), path: "inline")
        #expect(keys == [12, UInt64.max, 7])
        #expect(throws: TraceFile.LoadError.self) { try TraceFile.parse(Data("18446744073709551616\n".utf8), path: "x") }
    }

    /// The rows of one trace, replayed with both policies and judged against the bars.
    private func check(_ trace: String) throws {
        let rows = HitRatioBaselines.rows.filter { $0.trace == trace }
        let keys = try TraceFile.load(path: SharedTraces.directory + "/" + rows[0].file!)
        for row in rows {
            let lru = PolicySimulator(policy: .lru, size: row.size).run(keys).hitRatio
            #expect(abs(lru - row.lru) <= HitRatioBaselines.lruReproductionTolerance + 1e-9,
                    "\(trace)@\(row.size): LRU \(lru) vs \(row.lru)")
            let ours = PolicySimulator(policy: .windowTinyLFU, size: row.size).run(keys).hitRatio
            #expect(ours >= row.defaultPolicyFloor, "\(trace)@\(row.size): \(ours) below the floor \(row.defaultPolicyFloor)")
        }
    }

    @Test(.enabled(if: SharedTraces.available("glimpse.txt.gz"), "needs ../shared/traces and -O"))
    func run_glimpse_meetsTheBars() throws { try check("glimpse") }

    @Test(.enabled(if: SharedTraces.available("sprite.txt.gz"), "needs ../shared/traces and -O"))
    func run_sprite_meetsTheBars() throws { try check("sprite") }

    @Test(.enabled(if: SharedTraces.available("loop.txt.gz"), "needs ../shared/traces and -O"))
    func run_loop_meetsTheBars() throws { try check("loop") }

    @Test(.enabled(if: SharedTraces.available("corda-vaultservice.txt.gz"), "needs ../shared/traces and -O"))
    func run_corda_meetsTheBars() throws { try check("corda") }
}
