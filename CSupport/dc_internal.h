/* Declarations shared between the shim's own .c files; never imported by Swift. */
#ifndef DC_INTERNAL_H
#define DC_INTERNAL_H

#include <uv.h>

#include "dc_loop.h"

/* The libuv loop inside a dc_loop (for attaching hiredis contexts and timers to it). */
uv_loop_t *dc_loop_uv(dc_loop_t *loop);

#endif /* DC_INTERNAL_H */
