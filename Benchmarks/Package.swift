// swift-tools-version: 6.1
//
// The benchmark suite (ordo-one/package-benchmark), in a package of its own so that users of the
// library never resolve the benchmark tooling. Run from this folder:
//
//   swift package --allow-writing-to-package-directory benchmark                  # everything
//   swift package --allow-writing-to-package-directory benchmark --target LocalStoreBenchmarks
//
// or `make benchmarks` from the repository root. Benchmarks that need Redis start their own
// throwaway redis-server (EmbeddedRedis) on a free loopback port.
import PackageDescription

let benchmarkDependencies: [Target.Dependency] = [
    .product(name: "Benchmark", package: "benchmark")
]

let package = Package(
    name: "swift-distributed-cache-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-distributed-cache", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "LocalStoreBenchmarks",
            dependencies: benchmarkDependencies + [
                .product(name: "LocalStore", package: "swift-distributed-cache")
            ],
            path: "LocalStoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MarshallingBenchmarks",
            dependencies: benchmarkDependencies + [
                .product(name: "DistributedCache", package: "swift-distributed-cache")
            ],
            path: "MarshallingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
