// EventLoop: one libuv loop on one thread, as a Swift object and a Swift executor.
//
// Design note. Every hiredis context lives on a loop thread and is touched only there (hiredis
// and libuv are not thread-safe). Other threads hand work to
// the loop through `inbox`, a mutex-protected queue, and wake it with dc_loop_wakeup, which costs
// an eventfd write only when no wake-up is already pending.
//
// The loop is also a TaskExecutor (and a SerialExecutor). A task that prefers it
// (`withTaskExecutorPreference(loop)`) runs on the loop thread, so when its command's reply
// arrives, the continuation resumes right there, in the same loop turn, with no thread hop; and
// the command it sends next is appended to the connection's buffer directly. This is what makes a
// single caller's round trip match redis-benchmark's (perf/RESULTS.md): a thread hop costs more
// than the Redis round trip on loopback. Tasks that do not prefer the loop work as usual, paying
// one hop to the global executor when their reply arrives.
//
// One loop turn (libuv's order): timers; I/O callbacks (replies resume continuations, whose jobs
// are queued on `runQueue`); the wake-up callback (moves the inbox to `runQueue`); then the
// turn-end hook: run the queued jobs (up to `jobsPerTurn`, so I/O is not starved), and let every
// connection write what the jobs queued, one write per connection per turn.
//
// Lifecycle: `EventLoop()` starts the thread; `shutdown()` stops it after its connections are
// closed and joins it. A running loop keeps itself alive (a retained self-reference given to C),
// so it cannot be deinitialized while its thread runs; shutdown releases that reference.

import CSupport
import DequeModule
import Primitives

/// An event-loop thread running libuv, on which Redis connections live and tasks may run.
///
/// Thread-safe: `execute`, `enqueue` and `shutdown` may be called from any thread; everything
/// marked "loop thread only" must run on this loop's thread (inside `execute` or a task that
/// prefers this executor).
public final class EventLoop: TaskExecutor, SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: `handle` is immutable; `inbox` is behind a lock (`Locked`); every other mutable
    // property is touched only on the loop thread (marked "loop thread").

    /// Work handed to the loop.
    enum Work {
        case job(UnownedJob)
        case closure(() -> Void)
        /// A command for the connection named in its header: no closure to allocate per command.
        case command(PendingCommand)
    }

    private struct Inbox: @unchecked Sendable {
        // @unchecked: closures and jobs are handed over exactly once, under the mutex.
        var work: [Work] = []
        var stopping = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var stopped = false
    }

    /// Jobs run per turn before the loop polls for I/O again: bounds how long replies can wait
    /// behind a burst of ready tasks (each job is one task step, typically < 1 µs).
    static let jobsPerTurn = 4_096

    /// The thread's name, as given to `init`.
    public let name: String
    let handle: OpaquePointer
    private let inbox = Locked(Inbox())
    /// Loop thread. (Loop-confined state skips Swift's dynamic exclusivity checks: confinement to
    /// one thread already guarantees exclusive access, and the checks cost ~20 ns per access on
    /// the path every command takes.)
    @exclusivity(unchecked) private var runQueue = Deque<Work>()
    /// Loop thread: the inbox's previous buffer, kept for its capacity (see `drainInbox`).
    @exclusivity(unchecked) private var drainedInbox: [Work] = []
    /// Loop thread: called at the end of every turn (connections flush their output here).
    @exclusivity(unchecked) private var turnEndHandlers: [ObjectIdentifier: () -> Void] = [:]
    /// Loop thread: what must be closed before the loop can stop (connections, timers).
    @exclusivity(unchecked) private var stopHandlers: [ObjectIdentifier: (@escaping () -> Void) -> Void] = [:]

    /// Starts a loop thread.
    /// - Parameter name: a name for logs and debuggers.
    /// - Throws: ``RedisError/eventLoopFailed(_:)`` when libuv cannot create the loop or thread.
    public init(name: String = "dcache-loop") throws(RedisError) {
        self.name = name
        var hooks = dc_loop_hooks_t()
        hooks.on_wakeup = { privdata in EventLoop.from(privdata).drainInbox() }
        hooks.on_turn_end = { privdata in EventLoop.from(privdata).turnEnd() }
        hooks.on_stopped = { privdata in EventLoop.from(privdata).loopThreadStopped() }
        var errstr: UnsafePointer<CChar>?
        // The C loop borrows an unretained pointer to self until dc_loop_free in deinit; while the
        // thread runs, `selfRetain` below keeps self alive.
        guard let handle = dc_loop_create(&hooks, nil, &errstr) else {
            throw .eventLoopFailed(errstr.map { String(cString: $0) } ?? "dc_loop_create failed")
        }
        self.handle = handle
        dc_loop_set_privdata(handle, Unmanaged.passUnretained(self).toOpaque())
        // Retained until the loop thread has stopped; released by `shutdown`.
        _ = Unmanaged.passRetained(self)
        guard dc_loop_start(handle) == 0 else {
            Unmanaged.passUnretained(self).release()
            throw .eventLoopFailed("cannot start the loop thread")
        }
    }

    deinit {
        // Only reachable after shutdown joined the thread (see the self-retain in init), or if
        // the thread never started.
        dc_loop_free(handle)
    }

    private static func from(_ privdata: UnsafeMutableRawPointer?) -> EventLoop {
        Unmanaged<EventLoop>.fromOpaque(privdata!).takeUnretainedValue()
    }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool { dc_loop_is_current(handle) != 0 }

    /// Runs `work` on the loop thread, in this or the next loop turn. Any thread.
    ///
    /// Called on the loop thread itself, `work` runs later in the current turn, not at once.
    /// After ``shutdown()``, `work` is dropped.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        submit(.closure(work))
    }

    /// Runs `work` on the loop thread; after ``shutdown()``, runs `otherwise` on the calling
    /// thread instead, so that a caller waiting for `work` is never left hanging.
    func execute(_ work: @escaping @Sendable () -> Void, otherwise: () -> Void) {
        if inEventLoop {
            runQueue.append(.closure(work))
            return
        }
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped else { return false }
            inbox.work.append(.closure(work))
            return true
        }
        if accepted { dc_loop_wakeup(handle) } else { otherwise() }
    }

    /// Loop thread only: like `execute`, without the `@Sendable` requirement.
    func executeOnLoop(_ work: @escaping () -> Void) {
        precondition(inEventLoop)
        runQueue.append(.closure(work))
    }

    func submit(_ work: Work) {
        if inEventLoop {
            runQueue.append(work)
            return
        }
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped else { return false }
            inbox.work.append(work)
            return true
        }
        if accepted {
            dc_loop_wakeup(handle)
            return
        }
        // The loop is gone: nothing may be lost or left waiting.
        switch work {
        case .job(let job):
            // Run the task step on the global executor instead.
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        case .command(let command):
            // No thread touches the command any more but this one.
            command.complete(.failure(.closed))
        case .closure:
            break
        }
    }

    // MARK: - Executor

    /// Runs a task step on the loop thread (Swift concurrency calls this).
    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// The loop as a serial executor.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// True when called on the loop thread: the loop runs one job at a time, so being on its
    /// thread is being isolated to it.
    public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool { other === self }

    /// Traps unless called on the loop thread.
    public func checkIsolated() {
        precondition(inEventLoop, "not on event loop \(name)")
    }

    // MARK: - Loop thread callbacks

    private func drainInbox() {
        // Swapped with a spare, not copied: a copy followed by removeAll(keepingCapacity:) on
        // the shared buffer allocated a new one on every wake-up.
        inbox.withLock { inbox in swap(&inbox.work, &drainedInbox) }
        runQueue.append(contentsOf: drainedInbox)
        drainedInbox.removeAll(keepingCapacity: true)
    }

    private func turnEnd() {
        var budget = EventLoop.jobsPerTurn
        while budget > 0, let work = runQueue.popFirst() {
            budget -= 1
            switch work {
            case .job(let job):
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            case .closure(let closure):
                closure()
            case .command(let command):
                command.header.connection!.takeUnretainedValue().submit(command)
            }
        }
        for handler in turnEndHandlers.values { handler() }
        dc_loop_set_busy(handle, runQueue.isEmpty ? 0 : 1)
    }

    private func loopThreadStopped() {
        // Whatever is still queued cannot run here any more.
        var leftover = inbox.withLock { inbox -> [Work] in
            inbox.stopped = true
            let work = inbox.work
            inbox.work = []
            return work
        }
        // Only when non-empty: copying an empty Deque into an Array writes the count into the
        // standard library's shared empty-array storage, a benign race TSan reports.
        if !runQueue.isEmpty { leftover.append(contentsOf: runQueue) }
        runQueue.removeAll()
        for work in leftover {
            switch work {
            case .job(let job): globalConcurrentExecutor.enqueue(ExecutorJob(job))
            case .command(let command): command.complete(.failure(.closed))
            case .closure: break
            }
        }
        let waiters = inbox.withLock { inbox -> [CheckedContinuation<Void, Never>] in
            let waiters = inbox.stopWaiters
            inbox.stopWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Registration (loop thread)

    /// Loop thread only: calls `handler` at the end of every loop turn until unregistered.
    func registerTurnEndHandler(_ owner: AnyObject, _ handler: @escaping () -> Void) {
        precondition(inEventLoop)
        turnEndHandlers[ObjectIdentifier(owner)] = handler
    }

    /// Loop thread only: `close(done)` runs at shutdown and must call `done` once the owner has
    /// released its libuv handles.
    func registerCloseHandler(_ owner: AnyObject, _ close: @escaping (@escaping () -> Void) -> Void) {
        precondition(inEventLoop)
        stopHandlers[ObjectIdentifier(owner)] = close
    }

    /// Loop thread only.
    func unregister(_ owner: AnyObject) {
        precondition(inEventLoop)
        turnEndHandlers[ObjectIdentifier(owner)] = nil
        stopHandlers[ObjectIdentifier(owner)] = nil
    }

    // MARK: - Shutdown

    /// Closes what still lives on the loop (connections fail their pending commands with
    /// ``RedisError/closed``), stops the thread and waits for it to exit. Idempotent. Must not be
    /// awaited from a task that runs on this loop.
    public func shutdown() async {
        let first = inbox.withLock { inbox -> Bool in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        if first {
            execute { [self] in self.closeEverythingThenStop() }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = inbox.withLock { inbox -> Bool in
                if inbox.stopped { return true }
                inbox.stopWaiters.append(continuation)
                return false
            }
            if alreadyStopped { continuation.resume() }
        }
        if first {
            dc_loop_join(handle)
            // Balances the retain taken in init: the thread no longer needs self.
            Unmanaged.passUnretained(self).release()
        }
    }

    /// For the deinit of a client or subscriber released without closing: closes `connections`
    /// without waiting, or, when the owner owns this loop, shuts the loop down, which closes every
    /// connection on it and stops the thread. Any thread.
    func closeAbandoned(_ connections: [RedisConnection], ownsLoop: Bool) {
        if ownsLoop {
            Task.detached { [self] in await self.shutdown() }
        } else {
            execute { for connection in connections { connection.close {} } }
        }
    }

    private func closeEverythingThenStop() {
        let closers = Array(stopHandlers.values)
        stopHandlers.removeAll()
        var remaining = closers.count
        let finish = { [self] in
            turnEndHandlers.removeAll()
            dc_loop_stop(handle)
        }
        guard remaining > 0 else { return finish() }
        for close in closers {
            close {
                remaining -= 1
                if remaining == 0 { finish() }
            }
        }
    }
}
