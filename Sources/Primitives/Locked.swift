// Locked: a value guarded by a pthread mutex.
//
// Why not Synchronization.Mutex: its lock is a futex driven by atomics inside the toolchain's
// Synchronization module, which is not built with ThreadSanitizer instrumentation, so TSan sees no
// happens-before edge between a lock release and the next acquisition and reports every access
// the mutex protects as a race (727 reports in our first TSan run). pthread_mutex_lock and
// unlock are intercepted by TSan, and cost the same uncontended (one atomic each, no system
// call). This type can go if Synchronization.Mutex becomes visible to TSan.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that is only read or written while a mutex is held.
///
/// `@unchecked Sendable`: the state is accessed only inside `withLock`/`withLockIfAvailable`,
/// which hold `mutex` for the duration of the access. Both live in heap memory owned by this
/// object: the mutex's address must never change (pthread requires it), and reaching the state
/// through a pointer keeps Swift's dynamic exclusivity checks (which guard class properties) off
/// this path.
public final class Locked<State>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let state: UnsafeMutablePointer<State>

    /// Creates the lock with an initial value.
    public init(_ initial: State) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inlinable
    public func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body(&state.pointee)
    }

    /// Runs `body` if the lock is free right now; returns nil without waiting otherwise.
    @inlinable
    public func withLockIfAvailable<Result, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard tryLock() else { return nil }
        defer { unlock() }
        return try body(&state.pointee)
    }

    @usableFromInline func lock() { pthread_mutex_lock(mutex) }
    @usableFromInline func unlock() { pthread_mutex_unlock(mutex) }
    @usableFromInline func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }
}
