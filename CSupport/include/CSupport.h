/*
 * CSupport: the small C shim between the Swift modules and the C libraries they stand on.
 *
 * It holds only what C does better than Swift, or what must touch a C library directly:
 *   dc_alloc.h   allocation through jemalloc (aligned tables, sized frees, per-thread counters)
 *   dc_clock.h   monotonic clocks read through the vDSO
 *   dc_ebr.h     epoch-based reclamation: per-thread records in initial-exec TLS, membarrier
 *   dc_loop.h    the libuv event-loop thread and its thread-safe wake-up
 *   dc_redis.h   hiredis async connections attached to that loop, with pooled reply memory
 *   dc_msgpack.h MessagePack writer and validating reader over msgpack-c, for the marshaller
 *   dc_thread.h  naming threads
 *
 * Conventions (see ../../shared/design/STYLE.md, "C (CSupport)"):
 *   - every exported symbol starts with dc_ (types dc_..._t); everything else is static;
 *   - functions return 0 on success or a negative dc_status_t; details go in the object's errstr;
 *   - every prototype says who owns what: "takes ownership", "borrows for the call",
 *     or "valid only until the callback returns"; callbacks name the thread they run on.
 */
#ifndef DC_CSUPPORT_H
#define DC_CSUPPORT_H

#include "dc_status.h"
#include "dc_alloc.h"
#include "dc_clock.h"
#include "dc_ebr.h"
#include "dc_loop.h"
#include "dc_redis.h"
#include "dc_msgpack.h"
#include "dc_thread.h"

#endif /* DC_CSUPPORT_H */
