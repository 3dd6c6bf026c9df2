// A short load test against the API over loopback, bounded in requests and in time.

import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct LoadTest {
    var baseURL: String
    var productCount: Int
    var connections = 8
    var maximumRequests = 4_000
    var maximumDuration: Duration = .seconds(3)

    struct Result {
        var requests = 0
        var failures = 0
        var elapsed: Duration = .zero
        var latencies: [Duration] = []

        func percentile(_ fraction: Double) -> Duration {
            guard !latencies.isEmpty else { return .zero }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
        }
    }

    /// Runs `connections` workers until `maximumRequests` were sent or `maximumDuration` passed.
    /// Reads are skewed as real catalogue traffic is: 80 % go to the 50 most popular products.
    func run() async -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + maximumDuration
        let perWorker = maximumRequests / connections
        var total = Result()
        await withTaskGroup(of: Result.self) { group in
            for _ in 0..<connections {
                group.addTask { [baseURL, productCount] in
                    var result = Result()
                    while result.requests < perWorker && clock.now < deadline {
                        let id = Double.random(in: 0..<1) < 0.8 ? Int.random(in: 1...50) : Int.random(in: 1...productCount)
                        let sent = clock.now
                        let status = try? await get("\(baseURL)/products/\(id)").status
                        result.latencies.append(clock.now - sent)
                        result.requests += 1
                        if status != 200 { result.failures += 1 }
                    }
                    return result
                }
            }
            for await result in group {
                total.requests += result.requests
                total.failures += result.failures
                total.latencies += result.latencies
            }
        }
        total.elapsed = clock.now - start
        return total
    }
}

/// One GET: the status and the body as text.
func get(_ url: String) async throws -> (status: Int, body: String) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}
