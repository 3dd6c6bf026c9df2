// BaselineReport: replays every row of the baselines table and formats the verdicts.

import Foundation
import CacheSimulation
import Synchronization

/// The measured hit ratios of every baselines row, and how to print them.
struct BaselineReport: Sendable {
    /// One row: the table's figures and ours.
    struct Line: Sendable {
        let row: HitRatioBaselines.Row
        let ours: Double
        let oursLRU: Double

        var passesDefault: Bool { ours + 1e-9 >= row.defaultPolicyFloor }
        var passesLRU: Bool { abs(oursLRU - row.lru) <= HitRatioBaselines.lruReproductionTolerance + 1e-9 }
        var passes: Bool { passesDefault && passesLRU }
    }

    let lines: [Line]
    var allPass: Bool { lines.allSatisfy(\.passes) }

    /// Loads each trace once and replays all its sizes with both policies.
    static func run(
        tracesDirectory: String, only: Set<String>?, jobs: Int, configure: @escaping @Sendable (inout PolicySimulator) -> Void
    ) throws
        -> BaselineReport
    {
        let rows = HitRatioBaselines.rows.filter { only?.contains($0.trace) ?? true }
        var traces: [String] = []
        for row in rows where !traces.contains(row.trace) { traces.append(row.trace) }
        var results: [Int: (Double, Double)] = [:]
        for trace in traces {
            let traceRows = rows.enumerated().filter { $0.element.trace == trace }
            let first = traceRows[0].element
            let keys: [UInt64]
            if let alpha = first.zipfAlpha {
                var generator = ZipfGenerator(alpha: alpha)
                keys = generator.keys()
            } else {
                keys = try TraceFile.load(path: tracesDirectory + "/" + first.file!)
            }
            FileHandle.standardError.write(Data("\(trace): \(keys.count) requests\n".utf8))
            let work = traceRows.flatMap { row in
                PolicySimulator.Policy.allCases.map { (row.offset, row.element.size, $0) }
            }
            let measured = Mutex<[(Int, PolicySimulator.Policy, Double)]>([])
            let nextItem = Mutex(0)
            // `jobs` workers take work items in order until none is left.
            DispatchQueue.concurrentPerform(iterations: min(jobs, work.count)) { _ in
                while true {
                    let item = nextItem.withLock { next -> Int in
                        defer { next += 1 }
                        return next
                    }
                    guard item < work.count else { return }
                    let (index, size, policy) = work[item]
                    let ratio = Workload.replay(keys, name: trace, size: size, policy: policy, configure: configure).hitRatio
                    measured.withLock { $0.append((index, policy, ratio)) }
                }
            }
            for (index, policy, ratio) in measured.withLock({ $0 }) {
                var pair = results[index] ?? (0, 0)
                if policy == .windowTinyLFU { pair.0 = ratio } else { pair.1 = ratio }
                results[index] = pair
            }
        }
        let lines = rows.indices.map { Line(row: rows[$0], ours: results[$0]!.0, oursLRU: results[$0]!.1) }
        return BaselineReport(lines: lines)
    }

    private static func f(_ x: Double) -> String { String(format: "%.2f", x) }
    private static func signed(_ x: Double) -> String { String(format: "%+.2f", x) }

    private func cells(_ line: Line) -> [String] {
        let row = line.row
        let verdict = line.passes ? "PASS" : "FAIL (\(line.passesDefault ? "" : "default")\(line.passesDefault || line.passesLRU ? "" : ", ")\(line.passesLRU ? "" : "lru"))"
        return [
            row.trace, String(row.size), Self.f(line.ours), Self.f(line.oursLRU), Self.f(row.opt), Self.f(row.caffeine),
            Self.f(row.lru), Self.signed(line.ours - row.caffeine), Self.signed(line.ours - row.lru),
            Self.f(row.defaultPolicyFloor), verdict,
        ]
    }

    private static let header = [
        "trace", "size", "ours (lfu)", "ours (lru)", "OPT", "Caffeine 2.6.2", "LRU", "lfu - Caffeine", "lfu - LRU",
        "floor", "verdict",
    ]

    /// A plain-text table for terminals.
    func text() -> String {
        let table = [Self.header] + lines.map(cells)
        let widths = Self.header.indices.map { column in table.map { $0[column].count }.max()! }
        let rendered = table.map { cells in
            cells.enumerated().map { column, cell in
                column < 1 || column == cells.count - 1
                    ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }
        let failures = lines.filter { !$0.passes }.count
        return rendered.joined(separator: "\n") + "\n\n" + (failures == 0 ? "all \(lines.count) rows pass" : "\(failures) of \(lines.count) rows FAIL")
    }

    /// A Markdown table for `perf/RESULTS.md`.
    func markdown() -> String {
        let align = ["---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "---"]
        var out = "| " + Self.header.joined(separator: " | ") + " |\n| " + align.joined(separator: " | ") + " |\n"
        for line in lines { out += "| " + cells(line).joined(separator: " | ") + " |\n" }
        let failures = lines.filter { !$0.passes }.count
        out += "\n" + (failures == 0 ? "All \(lines.count) rows pass." : "\(failures) of \(lines.count) rows FAIL.")
        return out
    }
}
