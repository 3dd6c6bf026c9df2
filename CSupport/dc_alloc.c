#include "dc_alloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef DC_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>

void *dc_alloc_aligned(size_t size, size_t alignment) {
    if (size == 0) size = alignment;
    return mallocx(size, MALLOCX_ALIGN(alignment) | MALLOCX_ZERO);
}

void dc_free_aligned(void *ptr, size_t size, size_t alignment) {
    if (ptr == NULL) return;
    if (size == 0) size = alignment;
    /* Sized deallocation skips jemalloc's size lookup in its radix tree. */
    sdallocx(ptr, size, MALLOCX_ALIGN(alignment));
}

/* The address of this thread's jemalloc counter; fetched once per thread through mallctl (which
 * takes a lock and parses the name), then read directly. */
static __thread uint64_t *thread_allocated_counter;

int64_t dc_alloc_thread_allocated_bytes(void) {
    if (thread_allocated_counter == NULL) {
        uint64_t *counter = NULL;
        size_t len = sizeof(counter);
        if (mallctl("thread.allocatedp", &counter, &len, NULL, 0) != 0 || counter == NULL) return -1;
        thread_allocated_counter = counter;
    }
    return (int64_t)*thread_allocated_counter;
}

/* Same for "thread.deallocatedp". */
static __thread uint64_t *thread_deallocated_counter;

int64_t dc_alloc_thread_deallocated_bytes(void) {
    if (thread_deallocated_counter == NULL) {
        uint64_t *counter = NULL;
        size_t len = sizeof(counter);
        if (mallctl("thread.deallocatedp", &counter, &len, NULL, 0) != 0 || counter == NULL) return -1;
        thread_deallocated_counter = counter;
    }
    return (int64_t)*thread_deallocated_counter;
}

int dc_alloc_is_jemalloc(void) {
    /* Asks the allocator that actually serves malloc in this process: if another library's
     * malloc won symbol resolution, jemalloc's counters would stay at zero while malloc works. */
    const char *version = NULL;
    size_t len = sizeof(version);
    if (mallctl("version", &version, &len, NULL, 0) != 0) return 0;
    int64_t before = dc_alloc_thread_allocated_bytes();
    /* volatile: otherwise the compiler may elide the malloc/free pair altogether. */
    void *volatile probe = malloc(64);
    int64_t after = dc_alloc_thread_allocated_bytes();
    free(probe);
    return before >= 0 && after > before;
}

#else /* no jemalloc: portable fallbacks */

void *dc_alloc_aligned(size_t size, size_t alignment) {
    if (size == 0) size = alignment;
    size_t rounded = (size + alignment - 1) & ~(alignment - 1);
    void *ptr = aligned_alloc(alignment, rounded);
    if (ptr != NULL) memset(ptr, 0, rounded);
    return ptr;
}

void dc_free_aligned(void *ptr, size_t size, size_t alignment) {
    (void)size;
    (void)alignment;
    free(ptr);
}

int64_t dc_alloc_thread_allocated_bytes(void) { return -1; }

int64_t dc_alloc_thread_deallocated_bytes(void) { return -1; }

int dc_alloc_is_jemalloc(void) { return 0; }

#endif
