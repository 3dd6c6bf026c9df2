// hitratio: replays cache traces through the eviction policies and reports hit ratios.
//
//   swift run -c release hitratio --trace FILE --size N[,N...] [--policy lfu|lru|all]
//   swift run -c release hitratio --baselines [--traces-dir DIR] [--markdown]
//
// The first form replays any trace in the shared format (gzip or plain; `zipf-0.8` / `zipf-1.0`
// name the generated Zipf streams). The second replays every row of the baselines table of the
// traces' README and judges the default policy and the LRU option against the bars in
// `HitRatioBaselines`; it exits with status 1 when any row fails. Progress goes to stderr, results
// to stdout.

import ArgumentParser
import Foundation
import CacheSimulation

HitRatio.main()

/// The replay engines. `policy` drives a policy directly with a dictionary as storage
/// (`PolicySimulator`); an engine that replays through the concurrent store will join it.
enum Engine: String, ExpressibleByArgument, CaseIterable {
    case policy
}

/// The doorkeeper modes of the default policy.
enum DoorkeeperChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, on, off

    var mode: PolicySimulator.Doorkeeper {
        switch self {
        case .auto: return .automatic
        case .on: return .always
        case .off: return .never
        }
    }
}

/// Which policies to replay in the single-trace form.
enum PolicyChoice: String, ExpressibleByArgument, CaseIterable {
    case lfu, lru, all

    var policies: [PolicySimulator.Policy] {
        switch self {
        case .lfu: return [.windowTinyLFU]
        case .lru: return [.lru]
        case .all: return [.windowTinyLFU, .lru]
        }
    }
}

struct HitRatio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hitratio",
        abstract: "Replays cache traces through the eviction policies and reports hit ratios.")

    @Option(help: "A trace file (gzip or plain), or zipf-0.8 / zipf-1.0 for the generated streams.")
    var trace: String?

    @Option(help: "Cache sizes in entries, comma-separated.")
    var size: String?

    @Option(help: "The policy to replay: lfu (the default adaptive W-TinyLFU), lru, or all.")
    var policy: PolicyChoice = .all

    @Flag(help: "Replay every row of the baselines table and judge it against the bars.")
    var baselines = false

    @Option(help: "The traces directory (default: $DCACHE_TRACES, else ../shared/traces).")
    var tracesDir: String?

    @Option(help: "Only these traces of the baselines table (comma-separated names).")
    var only: String?

    @Flag(help: "Print the baselines report as a Markdown table.")
    var markdown = false

    @Option(help: "The replay engine.")
    var engine: Engine = .policy

    @Option(help: "Replays to run in parallel (the build machines are shared: default 1).")
    var jobs: Int = 1

    @Option(help: "Seed for the key hash, the sketch, the climber's sampling and the admission jitter.")
    var seed: UInt64 = 0x5EED_CAC4E

    @Option(help: "The most counters per sketch row (the seed library's NumCounters); default unlimited.")
    var counterLimit: Int?

    @Option(help: "The sketch's doorkeeper: auto (only when --counter-limit caps the sketch), on, off.")
    var doorkeeper: DoorkeeperChoice = .auto

    mutating func validate() throws {
        if baselines {
            guard trace == nil, size == nil else { throw ValidationError("--baselines takes no --trace or --size") }
        } else {
            guard trace != nil, size != nil else { throw ValidationError("give --trace and --size, or --baselines") }
            guard parsedSizes != nil else { throw ValidationError("--size takes positive integers separated by commas") }
        }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    var parsedSizes: [Int]? {
        guard let size else { return nil }
        let sizes = size.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return sizes.map { $0! }
    }

    mutating func run() throws {
        if baselines {
            let report = try BaselineReport.run(
                tracesDirectory: resolvedTracesDirectory(), only: only.map { Set($0.split(separator: ",").map(String.init)) },
                jobs: jobs, configure: configure)
            print(markdown ? report.markdown() : report.text())
            if !report.allPass { throw ExitCode(1) }
        } else {
            let keys = try Workload.load(trace!)
            for size in parsedSizes! {
                for policy in policy.policies {
                    let result = Workload.replay(keys, name: trace!, size: size, policy: policy, configure: configure)
                    print("\(trace!)\tsize \(size)\t\(policy)\t\(String(format: "%.2f", result.hitRatio)) %\t"
                        + "(\(result.hits) hits / \(result.requests) requests)")
                }
            }
        }
    }

    /// Applies the command line's policy options to a simulator.
    var configure: @Sendable (inout PolicySimulator) -> Void {
        let seed = seed, limit = counterLimit ?? .max, mode = doorkeeper.mode
        return { simulator in
            simulator.seed = seed
            simulator.counterLimit = limit
            simulator.doorkeeper = mode
        }
    }

    func resolvedTracesDirectory() -> String {
        if let tracesDir { return tracesDir }
        if let fromEnvironment = ProcessInfo.processInfo.environment["DCACHE_TRACES"] { return fromEnvironment }
        return FileManager.default.currentDirectoryPath + "/../shared/traces"
    }
}

/// Loading and replaying one workload, with progress on stderr.
enum Workload {
    /// Loads a trace file, or generates a named Zipf stream.
    static func load(_ name: String) throws -> [UInt64] {
        if !FileManager.default.fileExists(atPath: name), let alpha = zipfAlpha(name) {
            var generator = ZipfGenerator(alpha: alpha)
            return generator.keys()
        }
        return try TraceFile.load(path: name)
    }

    /// The skew of a `zipf-A` name, or nil.
    static func zipfAlpha(_ name: String) -> Double? {
        guard name.hasPrefix("zipf-") else { return nil }
        return Double(name.dropFirst(5))
    }

    /// Replays keys, reporting progress on long traces.
    static func replay(
        _ keys: [UInt64], name: String, size: Int, policy: PolicySimulator.Policy,
        configure: (inout PolicySimulator) -> Void
    ) -> PolicySimulator.Result {
        var simulator = PolicySimulator(policy: policy, size: size)
        configure(&simulator)
        let label = "\(name) @\(size) \(policy)"
        let total = keys.count
        return simulator.run(keys) { done in
            guard total >= 2_000_000 else { return }
            FileHandle.standardError.write(Data("  \(label): \(done * 100 / total)%\n".utf8))
        }
    }
}
