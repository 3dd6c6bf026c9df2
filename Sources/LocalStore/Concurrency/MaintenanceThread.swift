// MaintenanceThread: the one thread of the process that applies the stores' read rings to their
// policies, so that no reader ever does.
//
// Design note. A local hit must cost its caller the probe and a ring write and nothing more; the
// policy work behind it (frequency sketch, access order, window sizing) is upkeep, done later and
// elsewhere, as Caffeine schedules its buffer drains on an executor and Ristretto drains in a
// goroutine. A reader whose ring fills flips its store's `maintenanceRequested` flag (one atomic
// exchange, or one relaxed load when it is already set) and, on the flip, queues the store here.
// This thread takes the queue, runs each store's maintenance under its policy lock, and then
// rests for `pace` before the next pass: under a steady read load it wakes itself, so readers
// almost never pay for a wake-up (a futex call only when the thread was idle, i.e. once per burst
// of reads), and its share of a core stays small (one pass per store per `pace`, each bounded by
// the rings' size). Reads that arrive faster than that lap the rings and are dropped before the
// policy sees them: the policy works from a sample of the reads, the lossy buffer Caffeine's
// design note defends [1]. Writers still apply the rings themselves when they take the policy
// lock, so a single thread's reads and writes reach the policy in order.
//
// Parameters: `pace` = 1 ms bounds the thread to ~1,000 passes a second; with the default
// 64-entry rings that is up to 64,000 recorded reads per reader thread per second, plenty for a
// policy to rank the hot keys (its sketch ages every 10 × capacity recorded reads), at ~12 k
// instructions a pass per reader. Measured with two reader threads saturating a 2-core machine
// (dcache bench local): the thread took about 2% of a core, and two readers reached 1.7x one
// reader's throughput; at a 200 µs pace it took 7-13% and two readers 1.5-1.6x, since on a
// machine with as many busy threads as cores its time comes out of theirs.
//
// One thread for the whole process (started on first use, never stopped): a process rarely has
// more than a few stores, and a thread per store would sleep almost all the time.
//
// [1] B. Manes, "Design of a Modern Cache", https://highscalability.com/design-of-a-modern-cache/
//
// Concurrency: `queue` and `idle` are guarded by `mutex`; the thread itself touches a store only
// through `runRequestedMaintenance`, which takes the store's own locks.

import CSupport

#if canImport(Glibc)
import Glibc
#endif

final class MaintenanceThread: @unchecked Sendable {
    // @unchecked Sendable: the mutable properties are guarded by `mutex` (see the note above);
    // `mutex` and `condition` live in heap memory owned by this object, which lives forever.

    /// The process's maintenance thread.
    static let shared = MaintenanceThread()

    /// Rest between two passes that found work (see the design note).
    static let paceNanoseconds = 1_000_000

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Stores whose readers asked for maintenance, in request order. Guarded by `mutex`. It and
    /// the thread's batch keep `reservedStores` of capacity, so that a reader queueing a store
    /// does not allocate (a local hit allocates nothing, even the one that fills a ring).
    private var queue: [EntryStore] = []
    private static let reservedStores = 64
    /// True while the thread waits on `condition` (a request must signal it). Guarded by `mutex`.
    private var idle = false
    /// Passes run so far (for tests). Guarded by `mutex`.
    private var passes = 0

    private init() {
        queue.reserveCapacity(MaintenanceThread.reservedStores)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
        var thread = pthread_t()
        // The thread borrows an unretained pointer to self: the shared instance lives forever.
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<MaintenanceThread>.fromOpaque(context!).takeUnretainedValue().run()
            return nil
        }, Unmanaged.passUnretained(self).toOpaque())
        precondition(started == 0, "cannot start the local store's maintenance thread")
        pthread_detach(thread)
    }

    /// Queues `store` for a maintenance pass. Any thread; never blocks on the store.
    func schedule(_ store: EntryStore) {
        pthread_mutex_lock(mutex)
        queue.append(store)
        let wake = idle
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

    /// Number of passes run so far.
    var passCount: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return passes
    }

    // Never inlined: perf/instructions tells this thread apart by this function's symbol.
    @inline(never)
    private func run() {
        dc_thread_set_name("dcache-upkeep")
        var batch: [EntryStore] = []
        batch.reserveCapacity(MaintenanceThread.reservedStores)
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty {
                idle = true
                pthread_cond_wait(condition, mutex)
                idle = false
            }
            swap(&batch, &queue)
            passes += 1
            pthread_mutex_unlock(mutex)
            for store in batch { store.runRequestedMaintenance() }
            batch.removeAll(keepingCapacity: true)
            var rest = timespec(tv_sec: 0, tv_nsec: MaintenanceThread.paceNanoseconds)
            nanosleep(&rest, nil)
        }
    }
}
