// SingleFlight: concurrent callers of one key share one execution of the work.
//
// The first caller of a key (the leader) runs the work itself, in its own task: no unstructured
// Task per miss, so no hop to the global executor and back, and the work runs on the leader's
// executor. Callers arriving meanwhile park a continuation in the key's waiter list; the leader
// resumes them with its result as soon as it has one. A leader that is cancelled fails alone:
// its waiters are resumed with "try again", and one of them leads the next execution, so one
// caller's cancellation never fails the others.
//
// The waiter lists are split over 16 locks by key hash: with many concurrent callers on a
// 2-core machine, one lock taken twice per read (join, then leave) was contended often enough
// that waits parked threads in the kernel (perf: a tenth of the CPU time in futex calls).

import Primitives

/// Shares one execution of an async operation among the concurrent callers of a key.
final class SingleFlight<Value: Sendable>: Sendable {
    /// A waiter gets the leader's result, or nil to try again (the leader was cancelled).
    private typealias Waiter = UnsafeContinuation<Result<Value, any Error>?, Never>
    private let stripes = (0..<16).map { _ in Locked<[String: [Waiter]]>([:]) }

    private func flights(_ key: String) -> Locked<[String: [Waiter]]> { stripes[key.hashValue & 15] }

    /// Returns the result of `work` for `key`, run by this caller or shared with the caller
    /// already running it.
    nonisolated(nonsending) func run(
        _ key: String, _ work: nonisolated(nonsending) () async throws -> Value
    ) async throws -> Value {
        let flights = flights(key)
        while true {
            let leads = flights.withLock { running -> Bool in
                guard running[key] == nil else { return false }
                running[key] = []
                return true
            }
            if leads {
                let outcome: Result<Value, any Error>
                do {
                    outcome = .success(try await work())
                } catch {
                    outcome = .failure(error)
                }
                let waiters = flights.withLock { $0.removeValue(forKey: key) } ?? []
                let shared: Result<Value, any Error>? = Task.isCancelled && outcome.isFailure ? nil : outcome
                for waiter in waiters { waiter.resume(returning: shared) }
                return try outcome.get()
            }
            let shared = await withUnsafeContinuation { (waiter: Waiter) in
                let joined = flights.withLock { running -> Bool in
                    guard running[key] != nil else { return false }
                    running[key]!.append(waiter)
                    return true
                }
                // The leader finished between our look and now: try again.
                if !joined { waiter.resume(returning: nil) }
            }
            if let shared { return try shared.get() }
        }
    }

    /// Keys with an execution in flight (for tests).
    var inFlight: Int { stripes.reduce(0) { $0 + $1.withLock { $0.count } } }

    /// Callers waiting on the execution in flight for `key`; nil when none is (for tests).
    func waiters(_ key: String) -> Int? { flights(key).withLock { $0[key]?.count } }
}

extension Result {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
