// Marshalling benchmarks: marshal and unmarshal of a small struct with the MessagePack and JSON
// marshallers, the per-value cost every remote set, get and set event pays on top of Redis.
//
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark \
//        --target MarshallingBenchmarks
//
// Each timed sample runs 1,000 operations (scalingFactor .kilo), so the reported nanoseconds and
// allocation counts are per operation. The struct is an id, a 19-byte string, a double and a
// flag: 57 bytes as MessagePack, 69 as JSON.

@preconcurrency import Benchmark
import BenchmarkSettings
import DistributedCache

struct Small: Codable, Equatable {
    var id: Int
    var name: String
    var score: Double
    var active: Bool
}

let small = Small(id: 123_456, name: "user:123456:profile", score: 0.75, active: true)

nonisolated(unsafe) let perOperation = suiteConfiguration(timeUnits: .nanoseconds, scalingFactor: .kilo, maxIterations: 1_000_000)

let benchmarks: @Sendable () -> Void = {
    let marshallers: [(String, any Marshaller)] = [("msgpack", MessagePackMarshaller()), ("json", JSONMarshaller())]
    for (label, marshaller) in marshallers {
        Benchmark("Marshalling.\(label).marshal.small", configuration: perOperation) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try marshaller.marshal(small))
            }
        }

        Benchmark("Marshalling.\(label).unmarshal.small", configuration: perOperation) { benchmark in
            let bytes = try marshaller.marshal(small)
            let decoded = try marshaller.unmarshal(Small.self, from: bytes)
            precondition(decoded == small, "\(label) does not round-trip")
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try marshaller.unmarshal(Small.self, from: bytes))
            }
        }
    }
}
