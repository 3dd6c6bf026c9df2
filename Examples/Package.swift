// swift-tools-version: 6.1
//
// The examples of swift-distributed-cache, in a package of their own so that users of the library
// never resolve Hummingbird or swift-prometheus. One executable per folder; run one from this
// folder with
//
//   swift run basic
//
// or build them all with `make examples-build` from the repository root. Each example starts a
// throwaway redis-server on a free loopback port unless REDIS_ADDRESS is set (ExampleSupport).
import PackageDescription

/// An example: its folder, the library products it uses, and any other dependencies.
func example(_ name: String, _ extra: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "ExampleSupport",
            .product(name: "DistributedCache", package: "swift-distributed-cache"),
        ] + extra,
        path: name,
        exclude: ["README.md"]
    )
}

let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "swift-distributed-cache-examples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-distributed-cache", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Only the server is needed: the default traits would also build swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
    ],
    targets: [
        // The one piece every example shares: a Redis to talk to, and a few printing helpers.
        .target(
            name: "ExampleSupport",
            dependencies: [
                .product(name: "DistributedCache", package: "swift-distributed-cache"),
                .product(name: "EmbeddedRedis", package: "swift-distributed-cache"),
            ],
            path: "ExampleSupport"
        ),
        example("basic"),
        example("debug-mode", [logging]),
        example("lfu"),
        example("lru"),
        example(
            "comparison",
            [
                .product(name: "CacheSimulation", package: "swift-distributed-cache"),
                .product(name: "LocalStore", package: "swift-distributed-cache"),
            ]
        ),
        example("custom-logger", [logging]),
        example("custom-marshaller"),
        example("custom-local-cache"),
        example("custom-config"),
        example("environment"),
        example("stale-data-prevention", [.product(name: "RedisTransport", package: "swift-distributed-cache")]),
        example(
            "heavy-read-api",
            [
                logging,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DistributedCacheLifecycle", package: "swift-distributed-cache"),
                .product(name: "DistributedCacheConfiguration", package: "swift-distributed-cache"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
