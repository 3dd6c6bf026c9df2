/*
 * Epoch-based reclamation (EBR) for the local store's lock-free readers.
 *
 * What it does: readers of the local store never take a lock and never write shared memory; they
 * announce "I am reading, as of epoch E" in a record that only their thread writes. Writers that
 * unlink an entry or a slot array do not free it at once: they retire it, tagged with the epoch
 * read after the unlink (dc_ebr_retire_epoch). The global epoch advances only when every thread
 * inside a read section has announced the current epoch, and anything retired at epoch t is freed
 * once the global epoch reaches t + 2: by then every reader that could have seen it has left.
 *
 * Why C: the per-thread record lives in initial-exec TLS, so finding it is one %fs-relative load
 * that the Swift optimizer inlines (Swift has no thread-local storage of its own, and
 * pthread_getspecific is a call into libc). And the reader side needs no fence at all: the rare
 * advance calls membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier on every
 * CPU running one of our threads, the asymmetric scheme of liburcu's "memb" flavour [2]. Measured
 * here: membarrier ~200 ns per advance (perf/RESULTS.md), against a fence of ~10 ns on every read.
 * When the kernel lacks membarrier, readers fall back to a seq_cst fence (dc_ebr_reader_fences).
 *
 * Memory ordering, stated once:
 *   reader   enter: load G (acquire); store my.epoch = G (relaxed); compiler barrier
 *                   [fallback: seq_cst fence]; ...reads...; exit: store my.epoch = 0 (release)
 *   retire   the writer unlinks (under its shard lock), then dc_ebr_retire_epoch() runs a seq_cst
 *            fence and loads G: the unlink is globally visible before the tag is read.
 *   advance  membarrier (or fence); for every record: epoch == 0 or epoch == G, else give up;
 *            CAS G -> G + 1 (seq_cst).
 * A reader that announced G' <= t may still hold an entry retired at t; the advance t+1 -> t+2
 * waits for it. A reader that announced t+1 or later loaded G after the CAS that made G = t+1,
 * which came after the unlink was visible, so it cannot reach the entry.
 *
 * Under ThreadSanitizer (which does not model membarrier) readers use seq_cst stores and the
 * advance uses acquire loads, which gives TSan the happens-before edges it needs.
 *
 * Threads: every function may be called from any thread. A thread's record is created on its
 * first read section and handed back (not freed) when the thread exits, for reuse by a later one.
 *
 * References:
 *  [1] K. Fraser, "Practical lock-freedom", PhD thesis, Univ. of Cambridge, 2004, ch. 5.
 *  [2] M. Desnoyers et al., "User-Level Implementations of Read-Copy Update", IEEE TPDS 23(2),
 *      2012; membarrier(2) in Linux 4.14+.
 */
#ifndef DC_EBR_H
#define DC_EBR_H

#include <stdatomic.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DC_EBR_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define DC_EBR_TSAN 1
#endif

/* One thread's announcement. 128 bytes each (two cache lines), so that a reader's stores never
 * share a line, nor the 128-byte pair that x86's adjacent-line prefetcher fetches together, with
 * another thread's. */
typedef struct dc_ebr_record {
    /* 0 while the thread is outside any read section, else the global epoch it saw on entry.
     * Written only by the owning thread; read by any thread advancing the epoch. */
    _Atomic uint64_t epoch;
    /* Nesting depth of read sections; only the owning thread touches it. */
    uint32_t depth;
    /* A small dense number (0, 1, 2, ...) for striping per-thread data such as counters and read
     * buffers. Stable for the life of the thread; reused after it exits. */
    uint32_t index;
    /* 1 while a live thread owns this record. */
    _Atomic uint32_t in_use;
    /* The registry is an append-only list: records are never freed, so readers of `next` need no
     * protection. */
    struct dc_ebr_record *_Atomic next;
} __attribute__((aligned(128))) dc_ebr_record_t;

/* This thread's record, or NULL before its first read section. Initial-exec TLS: a single load
 * relative to %fs. Valid only on the thread that reads it. */
extern __thread dc_ebr_record_t *dc_ebr_self __attribute__((tls_model("initial-exec")));

/* The global epoch: starts at 1, never 0 (0 means "quiescent" in a record). */
extern _Atomic uint64_t dc_ebr_global_epoch;

/* 1 when readers must fence because membarrier is unavailable; set once at the first
 * registration and never changed afterwards. */
extern int dc_ebr_reader_fences;

/* Slow path of dc_ebr_thread_record: allocates or reuses a record for the calling thread.
 * Aborts only if memory runs out for a 64-byte record. */
dc_ebr_record_t *dc_ebr_register_thread(void);

/* The calling thread's record, registering it on first use. */
static inline dc_ebr_record_t *dc_ebr_thread_record(void) {
    dc_ebr_record_t *record = dc_ebr_self;
    if (__builtin_expect(record == NULL, 0)) record = dc_ebr_register_thread();
    return record;
}

/* The record's dense thread index (see dc_ebr_record_t.index). Swift reads it through this
 * function because it does not import structs with _Atomic fields. */
static inline uint32_t dc_ebr_record_index(const dc_ebr_record_t *record) { return record->index; }

/* Enters a read section. Sections nest; only the outermost announces. Borrowed record: the one
 * returned by dc_ebr_thread_record on this thread. */
static inline void dc_ebr_enter(dc_ebr_record_t *record) {
    if (record->depth++ != 0) return;
    uint64_t epoch = atomic_load_explicit(&dc_ebr_global_epoch, memory_order_acquire);
#ifdef DC_EBR_TSAN
    atomic_store_explicit(&record->epoch, epoch, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
#else
    atomic_store_explicit(&record->epoch, epoch, memory_order_relaxed);
    if (__builtin_expect(dc_ebr_reader_fences, 0)) {
        atomic_thread_fence(memory_order_seq_cst);
    } else {
        /* Only the compiler must not move the section's loads above the store; the CPU-level
         * ordering is supplied by membarrier on the advancing side. */
        atomic_signal_fence(memory_order_seq_cst);
    }
#endif
}

/* Leaves a read section. After the outermost exit nothing read inside may be used. */
static inline void dc_ebr_exit(dc_ebr_record_t *record) {
    if (--record->depth != 0) return;
    atomic_store_explicit(&record->epoch, 0, memory_order_release);
}

/* The epoch to tag a retired object with. Call after the object was unlinked. */
uint64_t dc_ebr_retire_epoch(void);

/* The global epoch as seen now (acquire). Something retired at t may be freed when this is >= t+2. */
static inline uint64_t dc_ebr_current_epoch(void) {
    return atomic_load_explicit(&dc_ebr_global_epoch, memory_order_acquire);
}

/* Tries to move the global epoch forward by one and returns the epoch in force afterwards. It
 * fails (returns the unchanged epoch) while some thread is still inside a section entered at an
 * older epoch. Costs one membarrier system call plus a scan of the thread records; callers batch
 * retirements and call this once per batch. Never blocks. */
uint64_t dc_ebr_try_advance(void);

/* Number of thread records ever created (the upper bound of any record's index + 1). */
uint32_t dc_ebr_record_count(void);

#ifdef __cplusplus
}
#endif

#endif /* DC_EBR_H */
