@testable import CacheSimulation
import Foundation
import LocalStore
import Testing
import TestSupport

/// Where the bar tests' traces are: $DCACHE_TRACES, else the copies in `Tests/Traces` (every
/// clone has them, so these tests never skip for want of a file: a missing trace fails the test).
enum BarTraces {
    static let directory: String = {
        if let fromEnvironment = ProcessInfo.processInfo.environment["DCACHE_TRACES"] { return fromEnvironment }
        let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return testsFolder.appendingPathComponent("Traces").path
    }()
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
        let path = BarTraces.directory + "/" + rows[0].file!
        #expect(FileManager.default.isReadableFile(atPath: path), "the trace \(path) is missing")
        let keys = try TraceFile.load(path: path)
        for row in rows {
            let lru = PolicySimulator(policy: .lru, size: row.size).run(keys).hitRatio
            #expect(abs(lru - row.lru) <= HitRatioBaselines.lruReproductionTolerance + 1e-9,
                    "\(trace)@\(row.size): LRU \(lru) vs \(row.lru)")
            let ours = PolicySimulator(policy: .windowTinyLFU, size: row.size).run(keys).hitRatio
            #expect(ours >= row.defaultPolicyFloor, "\(trace)@\(row.size): \(ours) below the floor \(row.defaultPolicyFloor)")
        }
    }

    // A replay of a few million requests takes minutes unoptimized and would crowd the
    // timing-sensitive integration tests, so `make test-optimized` runs these (`meetsTheBars`).
    @Test(.enabled(if: isOptimizedBuild, "replays need -O: make test-optimized"))
    func run_glimpse_meetsTheBars() throws { try check("glimpse") }

    @Test(.enabled(if: isOptimizedBuild, "replays need -O: make test-optimized"))
    func run_sprite_meetsTheBars() throws { try check("sprite") }

    @Test(.enabled(if: isOptimizedBuild, "replays need -O: make test-optimized"))
    func run_loop_meetsTheBars() throws { try check("loop") }

    @Test(.enabled(if: isOptimizedBuild, "replays need -O: make test-optimized"))
    func run_corda_meetsTheBars() throws { try check("corda") }
}
