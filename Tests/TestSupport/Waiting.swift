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
