// swift-tools-version: 6.1
//
// The benchmark suite (ordo-one/package-benchmark), in a package of its own so that users of the
// library never resolve the benchmark tooling. Run from this folder:
//
//   swift package --allow-writing-to-package-directory benchmark                  # everything
//   swift package --allow-writing-to-package-directory benchmark --target LocalStoreBenchmarks
//
// or `make benchmarks` from the repository root (`make benchmarks-smoke` runs each benchmark
// once, as CI does; see BenchmarkSettings). Benchmarks that need Redis start their own
// throwaway redis-server (EmbeddedRedis) on a free loopback port.
import PackageDescription

func benchmark(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "benchmark"), "BenchmarkSettings"]
            + products.map { .product(name: $0, package: "swift-distributed-cache") },
        path: name,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "swift-distributed-cache-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-distributed-cache", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(
            name: "BenchmarkSettings",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "BenchmarkSettings"
        ),
        benchmark("LocalStoreBenchmarks", ["LocalStore"]),
        benchmark("TransportBenchmarks", ["RedisTransport", "EmbeddedRedis"]),
        benchmark("CacheBenchmarks", ["DistributedCache", "EmbeddedRedis"]),
        benchmark("MarshallingBenchmarks", ["DistributedCache"]),
    ],
    swiftLanguageModes: [.v6]
)
