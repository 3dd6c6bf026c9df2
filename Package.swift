// swift-tools-version: 6.1
//
// swift-distributed-cache: a nanosecond-fast local cache per instance, kept in step across
// instances through Redis. The layers (see README.md, "Architecture") are one module each:
//
//   DistributedCache   public API (SyncedCache), options, marshalling, sync protocol
//   LocalStore         sharded lock-striped table, eviction policies, expiry, metrics
//   RedisTransport     libuv loop thread, hiredis async connections, pub/sub, reconnect
//   CSupport (C)       the shim over hiredis, libuv, jemalloc and msgpack-c
//
// Beside them: MessagePackCoding (the MessagePack Codable coder), CacheSimulation (hit-ratio
// simulator and traces), DistributedCacheLifecycle, EmbeddedRedis, PodLineProtocol, Primitives.
//
import PackageDescription

import class Foundation.ProcessInfo

// jemalloc is the process allocator of everything that links CSupport (see README.md,
// "Memory"). ThreadSanitizer brings its own malloc interceptors, which do not mix with a second
// malloc implementation, so `make tsan` builds with DCACHE_NO_JEMALLOC=1: the shim then falls back
// to the C library's allocator and the allocation-counting tests skip themselves.
let useJemalloc = ProcessInfo.processInfo.environment["DCACHE_NO_JEMALLOC"] == nil

var cSupportLinker: [LinkerSetting] = [
    .linkedLibrary("hiredis"),
    .linkedLibrary("uv"),
    .linkedLibrary("msgpackc"),
]
var cSupportC: [CSetting] = []
if useJemalloc {
    // Listed before libc on the link line, so its malloc/free bind first for the whole process.
    cSupportLinker.insert(.linkedLibrary("jemalloc"), at: 0)
    cSupportC.append(.define("DC_HAVE_JEMALLOC", to: "1"))
}

/// Invariant checkers (`_checkInvariants()`) are compiled into debug builds only.
let internalChecks: [SwiftSetting] = [
    .define("DCACHE_INTERNAL_CHECKS", .when(configuration: .debug))
]

let package = Package(
    name: "swift-distributed-cache",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DistributedCache", targets: ["DistributedCache"]),
        .library(name: "LocalStore", targets: ["LocalStore"]),
        .library(name: "RedisTransport", targets: ["RedisTransport"]),
        .library(name: "MessagePackCoding", targets: ["MessagePackCoding"]),
        .library(name: "CacheSimulation", targets: ["CacheSimulation"]),
        .library(name: "EmbeddedRedis", targets: ["EmbeddedRedis"]),
        .library(name: "DistributedCacheLifecycle", targets: ["DistributedCacheLifecycle"]),
        .library(name: "DistributedCacheConfiguration", targets: ["DistributedCacheConfiguration"]),
        .executable(name: "dcache", targets: ["dcache"]),
        .executable(name: "hitratio", targets: ["hitratio"]),
        .executable(name: "dcache-probe", targets: ["dcache-probe"]),
        .executable(name: "dcache-hitbench", targets: ["dcache-hitbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // `make docs`: the DocC catalog (a command plugin; nothing of it is linked).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "CSupport",
            path: "CSupport",
            cSettings: cSupportC,
            linkerSettings: cSupportLinker
        ),
        // What every layer shares: the one lock type (pthread-based, so ThreadSanitizer sees it)
        // and the one set of saturating Duration conversions.
        .target(name: "Primitives"),
        .target(
            name: "LocalStore",
            dependencies: [
                "CSupport",
                "Primitives",
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: internalChecks
        ),
        .target(
            name: "RedisTransport",
            dependencies: [
                "CSupport",
                "Primitives",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: internalChecks
        ),
        // Codable values as MessagePack (msgpack-c underneath); knows nothing of caching.
        .target(name: "MessagePackCoding", dependencies: ["CSupport"]),
        // The hit-ratio simulator, the trace reader and the Zipf generator, for `hitratio` and the
        // hit-ratio tests.
        .target(name: "CacheSimulation", dependencies: ["LocalStore"]),
        .target(
            name: "DistributedCache",
            dependencies: [
                "CSupport",
                "Primitives",
                "LocalStore",
                "RedisTransport",
                "MessagePackCoding",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
                // HMAC-SHA256 of signed events.
                .product(name: "Crypto", package: "swift-crypto"),
                // Spans around Redis operations (when a tracer is bootstrapped or given).
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: internalChecks
        ),
        // SyncedCache as a swift-service-lifecycle Service (a companion, so that the library
        // itself does not depend on ServiceLifecycle).
        .target(
            name: "DistributedCacheLifecycle",
            dependencies: ["DistributedCache", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // Throwaway redis-server processes for tests, demos, examples and benchmarks; not for
        // production (no persistence, no password, lives as long as its owner).
        // Options from a swift-configuration ConfigReader (a companion, for the same reason).
        .target(
            name: "DistributedCacheConfiguration",
            dependencies: ["DistributedCache", .product(name: "Configuration", package: "swift-configuration")]
        ),
        .target(name: "EmbeddedRedis"),
        // The `dcache pod` line protocol, parsed (its own module so that the fuzzer reaches it).
        .target(name: "PodLineProtocol"),
        .executableTarget(
            name: "dcache",
            dependencies: [
                "CSupport",
                "DistributedCache",
                "LocalStore",
                "RedisTransport",
                "PodLineProtocol",
                "Primitives",
                "EmbeddedRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // perf/: exactly N operations after a fixed setup, for callgrind and allocation counts.
        .executableTarget(
            name: "dcache-probe",
            dependencies: ["CSupport", "DistributedCache", "LocalStore"],
            path: "perf/Probe"
        ),
        // perf/: the local-hit workload through the public API, next to a Dictionary.
        .executableTarget(
            name: "dcache-hitbench",
            dependencies: ["DistributedCache", "LocalStore", "EmbeddedRedis"],
            path: "perf/HitBench"
        ),
        .executableTarget(
            name: "hitratio",
            dependencies: [
                "CacheSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests mirror Sources; TestSupport holds the RedisServer fixture they share.
        .target(name: "TestSupport", dependencies: ["EmbeddedRedis", "Primitives", "RedisTransport"], path: "Tests/TestSupport"),
        .testTarget(name: "PrimitivesTests", dependencies: ["Primitives"]),
        .testTarget(
            name: "LocalStoreTests",
            dependencies: ["LocalStore", "CacheSimulation", "CSupport", "Primitives", "TestSupport"],
            swiftSettings: internalChecks
        ),
        .testTarget(
            name: "RedisTransportTests",
            dependencies: ["RedisTransport", "TestSupport", "Primitives", "CSupport"]
        ),
        .testTarget(
            name: "DistributedCacheTests",
            dependencies: [
                "DistributedCache", "LocalStore", "MessagePackCoding", "TestSupport", "RedisTransport", "Primitives", "CSupport",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(name: "CacheSimulationTests", dependencies: ["CacheSimulation", "LocalStore", "TestSupport"]),
        .testTarget(name: "PodLineProtocolTests", dependencies: ["PodLineProtocol"]),
        .testTarget(
            name: "DistributedCacheLifecycleTests",
            dependencies: [
                "DistributedCacheLifecycle", "DistributedCache", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DistributedCacheConfigurationTests",
            dependencies: [
                "DistributedCacheConfiguration", "DistributedCache",
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "DCacheToolTests",
            dependencies: ["TestSupport", "RedisTransport", "dcache"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer targets (Fuzz/, see scripts/fuzz): declared only when DCACHE_FUZZ is set, since
// the executable has no main of its own and links only with `-sanitize=fuzzer`.
if ProcessInfo.processInfo.environment["DCACHE_FUZZ"] != nil {
    package.products.append(.executable(name: "dcache-fuzz", targets: ["dcache-fuzz"]))
    package.targets.append(
        .executableTarget(
            name: "dcache-fuzz",
            dependencies: ["DistributedCache", "RedisTransport", "CSupport", "PodLineProtocol"],
            path: "Fuzz",
            exclude: ["corpus", "README.md"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ))
}
