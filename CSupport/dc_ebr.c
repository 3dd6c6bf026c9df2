#include "dc_ebr.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread dc_ebr_record_t *dc_ebr_self __attribute__((tls_model("initial-exec")));
_Atomic uint64_t dc_ebr_global_epoch = 1;
int dc_ebr_reader_fences = 1;

/* The registry: an append-only singly linked list, newest first. Appends take registry_lock;
 * scans walk it without the lock (records are never freed and `next` is set before publication). */
static dc_ebr_record_t *_Atomic registry_head;
static _Atomic uint32_t registry_count;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;

static int membarrier_available;

static void release_record_at_thread_exit(void *value) {
    dc_ebr_record_t *record = value;
    /* A thread cannot exit inside a read section, but reset both fields so that a reused record
     * starts clean and never holds back the epoch. */
    record->depth = 0;
    atomic_store_explicit(&record->epoch, 0, memory_order_release);
    atomic_store_explicit(&record->in_use, 0, memory_order_release);
}

static void initialize_once(void) {
    pthread_key_create(&exit_key, release_record_at_thread_exit);
#ifndef DC_EBR_TSAN
    long commands = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (commands >= 0 && (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
        membarrier_available = 1;
        dc_ebr_reader_fences = 0;
    }
#endif
}

dc_ebr_record_t *dc_ebr_register_thread(void) {
    pthread_once(&init_once, initialize_once);

    dc_ebr_record_t *record = NULL;
    /* Reuse a record handed back by an exited thread, keeping thread indexes dense. */
    for (dc_ebr_record_t *r = atomic_load_explicit(&registry_head, memory_order_acquire); r != NULL;
         r = atomic_load_explicit(&r->next, memory_order_acquire)) {
        uint32_t expected = 0;
        if (atomic_compare_exchange_strong(&r->in_use, &expected, 1)) {
            record = r;
            break;
        }
    }
    if (record == NULL) {
        if (posix_memalign((void **)&record, _Alignof(dc_ebr_record_t), sizeof(*record)) != 0) {
            fprintf(stderr, "dc_ebr: out of memory for a thread record\n");
            abort();
        }
        atomic_init(&record->epoch, 0);
        record->depth = 0;
        atomic_init(&record->in_use, 1);
        pthread_mutex_lock(&registry_lock);
        record->index = atomic_fetch_add(&registry_count, 1);
        atomic_init(&record->next, atomic_load_explicit(&registry_head, memory_order_relaxed));
        atomic_store_explicit(&registry_head, record, memory_order_release);
        pthread_mutex_unlock(&registry_lock);
    }
    pthread_setspecific(exit_key, record);
    dc_ebr_self = record;
    return record;
}

uint64_t dc_ebr_retire_epoch(void) {
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&dc_ebr_global_epoch, memory_order_seq_cst);
}

uint64_t dc_ebr_try_advance(void) {
    pthread_once(&init_once, initialize_once);
    uint64_t epoch = atomic_load_explicit(&dc_ebr_global_epoch, memory_order_seq_cst);
    if (membarrier_available) {
        /* Every CPU running one of our threads executes a full barrier before this returns: a
         * reader's epoch store is visible below, and its section's loads are ordered after it. */
        syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    } else {
        atomic_thread_fence(memory_order_seq_cst);
    }
    for (dc_ebr_record_t *r = atomic_load_explicit(&registry_head, memory_order_acquire); r != NULL;
         r = atomic_load_explicit(&r->next, memory_order_acquire)) {
        uint64_t seen = atomic_load_explicit(&r->epoch, memory_order_acquire);
        if (seen != 0 && seen != epoch) return epoch;
    }
    uint64_t expected = epoch;
    if (atomic_compare_exchange_strong(&dc_ebr_global_epoch, &expected, epoch + 1)) return epoch + 1;
    return expected; /* another thread advanced it meanwhile */
}

uint32_t dc_ebr_record_count(void) { return atomic_load_explicit(&registry_count, memory_order_acquire); }
