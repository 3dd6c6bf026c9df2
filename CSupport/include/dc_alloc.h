/*
 * Allocation through jemalloc.
 *
 * Why: the local store keeps its slot arrays and read buffers in raw memory that must be
 * cache-line aligned (so two shards never share a line) and is freed with its size known.
 * jemalloc's mallocx/sdallocx give both without the bookkeeping of posix_memalign + free, and
 * jemalloc's per-thread caches keep the write path's entry allocations off any shared lock.
 *
 * Linking libjemalloc also makes it the allocator of the whole process (Debian's build exports
 * plain malloc/free), which is the point: Swift objects, hiredis buffers and these tables all
 * come from one allocator whose per-thread byte counter (dc_alloc_thread_allocated_bytes) lets tests
 * and benchmarks prove that a local hit allocates nothing.
 *
 * Without jemalloc (DC_HAVE_JEMALLOC unset, used by ThreadSanitizer builds) the same functions
 * fall back to aligned_alloc/free, and dc_alloc_thread_allocated_bytes returns -1 ("unknown").
 */
#ifndef DC_ALLOC_H
#define DC_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns `size` bytes aligned to `alignment` (a power of two), zero-filled, or NULL when memory
 * runs out. The caller owns the block and must free it with dc_free_aligned(ptr, size, alignment). */
void *dc_alloc_aligned(size_t size, size_t alignment);

/* Frees a block from dc_alloc_aligned. Takes ownership of `ptr`; `size` and `alignment` must be
 * the values it was allocated with. NULL is ignored. */
void dc_free_aligned(void *ptr, size_t size, size_t alignment);

/* Bytes allocated so far by the calling thread (monotonic), or -1 when the allocator cannot tell.
 * Reads jemalloc's "thread.allocatedp" counter (a pointer fetched once per thread, then a plain
 * load), so two reads bracketing an operation tell whether it allocated, cheaply enough to wrap
 * every operation of a test loop. jemalloc counts bytes, not calls: a difference of 0 means no
 * allocation was made. */
int64_t dc_alloc_thread_allocated_bytes(void);

/* Bytes freed so far by the calling thread (monotonic), or -1 when the allocator cannot tell:
 * jemalloc's "thread.deallocatedp". Allocated minus deallocated over a span is the memory the
 * span left allocated (what a data structure built in it holds). */
int64_t dc_alloc_thread_deallocated_bytes(void);

/* 1 when jemalloc is the process allocator, 0 otherwise. */
int dc_alloc_is_jemalloc(void);

#ifdef __cplusplus
}
#endif

#endif /* DC_ALLOC_H */
