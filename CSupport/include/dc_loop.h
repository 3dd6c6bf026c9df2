/*
 * The event-loop thread: one libuv loop, run by one thread that this object owns.
 *
 * Every hiredis context and libuv handle of a loop is created, used and freed on that loop's
 * thread; other threads reach it only through dc_loop_wakeup, which writes to an eventfd the loop
 * polls: no libuv call happens off the loop thread (dc_loop.c says why not uv_async_send). The
 * Swift side keeps its own job and request queues and drains them in the on_wakeup hook; C only
 * provides the thread, the wake-up and the per-turn hook.
 *
 * One loop turn, in libuv's order: timers; I/O callbacks (hiredis replies, the async wake-up);
 * then the "turn end" check hook, where Swift runs the jobs those callbacks made ready and writes
 * every command they queued in one batch per connection; then the loop blocks in epoll again,
 * unless dc_loop_set_busy asked it not to.
 *
 * Lifecycle: dc_loop_create (any thread) -> dc_loop_start (any thread) -> ... -> dc_loop_stop
 * (on the loop thread, once every connection and timer is closed) -> dc_loop_join (any other
 * thread) -> dc_loop_free (any thread, after the join).
 */
#ifndef DC_LOOP_H
#define DC_LOOP_H

#include <stdint.h>

#include "dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_loop dc_loop_t;

/* A hook or timer callback. Runs on the loop thread; `privdata` is borrowed. */
typedef void (*dc_loop_fn)(void *privdata);

typedef struct dc_loop_hooks {
    /* After one or more dc_loop_wakeup calls (coalesced: one call may stand for many). */
    dc_loop_fn on_wakeup;
    /* Once per loop turn, after all I/O callbacks of that turn. */
    dc_loop_fn on_turn_end;
    /* Once, on the loop thread, after uv_run returned: the thread's last call into its owner. */
    dc_loop_fn on_stopped;
} dc_loop_hooks_t;

/* Creates a loop; the thread is not started yet. `hooks` is copied; `privdata` is borrowed until
 * dc_loop_free and passed to every hook. Returns NULL when memory runs out or libuv fails
 * (`errstr_out`, if not NULL, receives a static message). Any thread. */
dc_loop_t *dc_loop_create(const dc_loop_hooks_t *hooks, void *privdata, const char **errstr_out);

/* Replaces the `privdata` passed to the hooks. Only before dc_loop_start (the Swift owner can
 * hand out a pointer to itself only once it is initialized, after dc_loop_create). */
void dc_loop_set_privdata(dc_loop_t *loop, void *privdata);

/* Starts the loop thread. Any thread; once. */
int dc_loop_start(dc_loop_t *loop);

/* Wakes the loop thread so that it calls on_wakeup. Thread-safe and cheap when a wake-up is
 * already pending (one atomic exchange, no system call). */
void dc_loop_wakeup(dc_loop_t *loop);

/* 1 when called on this loop's thread. Any thread. */
int dc_loop_is_current(const dc_loop_t *loop);

/* When `busy` is 1, the next loop turns poll without blocking (a uv_idle handle is active), so
 * work that the turn-end hook could not finish runs again at once. Loop thread only. */
void dc_loop_set_busy(dc_loop_t *loop, int busy);

/* The loop's cached time in milliseconds (uv_now). Loop thread only. */
uint64_t dc_loop_now_ms(dc_loop_t *loop);

/* Lets the loop thread finish: it returns from uv_run once every connection and timer is closed.
 * dc_loop_wakeup stays safe to call afterwards (it does nothing useful). Loop thread only; once. */
void dc_loop_stop(dc_loop_t *loop);

/* Waits for the loop thread to exit. Any thread but the loop's own. */
int dc_loop_join(dc_loop_t *loop);

/* Frees the loop. Only after dc_loop_join returned, or if dc_loop_start was never called, and
 * only when no other thread can still call dc_loop_wakeup on it (the caller owns the last
 * reference). Takes ownership of `loop`. */
void dc_loop_free(dc_loop_t *loop);

/* A one-shot or repeating timer on a loop. */
typedef struct dc_timer dc_timer_t;

/* Creates a stopped timer. `privdata` is borrowed until dc_timer_close. Loop thread only.
 * Returns NULL when memory runs out. */
dc_timer_t *dc_timer_create(dc_loop_t *loop, dc_loop_fn fn, void *privdata);

/* Replaces the timer's `privdata`. Loop thread only. */
void dc_timer_set_privdata(dc_timer_t *timer, void *privdata);

/* (Re)starts the timer: `fn` runs after `timeout_ms`, then every `repeat_ms` if that is > 0.
 * Loop thread only. */
int dc_timer_start(dc_timer_t *timer, uint64_t timeout_ms, uint64_t repeat_ms);

/* Stops the timer; `fn` is not called again until the next dc_timer_start. Loop thread only. */
void dc_timer_stop(dc_timer_t *timer);

/* Stops and releases the timer: `fn` is never called again, and the memory is freed once libuv
 * has closed the handle (later in this loop turn). Loop thread only; the pointer is invalid
 * afterwards. */
void dc_timer_close(dc_timer_t *timer);

#ifdef __cplusplus
}
#endif

#endif /* DC_LOOP_H */
