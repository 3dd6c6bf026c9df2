import Testing

/// Polls `condition` every 5 ms until it holds, or records an issue after `timeout`.
///
/// Tests wait for what they expect to happen (a propagated event, an expired entry) rather than
/// sleeping a fixed time: a slow machine then takes longer instead of failing, and a condition
/// that never holds still fails. Timeouts are generous because they only bound a failure.
public func eventually(
    _ description: String = "condition", timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async rethrows {
    let deadline = ContinuousClock.now + timeout.scaledForTests
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try? await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("timed out waiting for \(description)", sourceLocation: sourceLocation)
}

/// Runs `body` until it succeeds, at most `attempts` times; throws the last error. For fixtures
/// whose start can lose a race for a free port to a concurrently starting test.
public func retrying<Value>(attempts: Int, _ body: () async throws -> Value) async throws -> Value {
    var lastError: (any Error)?
    for _ in 0..<max(1, attempts) {
        do { return try await body() } catch { lastError = error }
    }
    throw lastError!
}
