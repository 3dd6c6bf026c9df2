import Foundation

/// How much slower than a plain debug build the tests run: `DCACHE_TEST_TIME_SCALE` (`make tsan`
/// sets 10, since ThreadSanitizer slows everything by about that), else 1. Health timeouts and
/// "fails within" bounds are multiplied by it, so a sanitizer run checks the same behaviour
/// rather than the sanitizer's speed; plain runs keep the plain bounds.
public let testTimeScale: Int = {
    let value = ProcessInfo.processInfo.environment["DCACHE_TEST_TIME_SCALE"].flatMap { Int($0) } ?? 1
    return max(1, value)
}()

extension Duration {
    /// This duration times ``testTimeScale``.
    public var scaledForTests: Duration { self * testTimeScale }
}

/// True in a release (`-c release`) test build. Allocation counts and the hit-ratio replays need
/// one: `make test-optimized` runs them, and plain `make test` leaves them out.
#if DEBUG
public let isOptimizedBuild = false
#else
public let isOptimizedBuild = true
#endif
