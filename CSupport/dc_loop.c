#include "dc_loop.h"
#include "dc_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

struct dc_loop {
    uv_loop_t uv;
    /* The cross-thread wake-up: other threads write to the eventfd (write(2) is thread-safe),
     * the loop thread polls it. Not uv_async_t: uv_async_send marks its handle busy around the
     * eventfd write, and the loop thread spins on that mark (up to 997 pauses, then yields)
     * whenever a sender is preempted mid-send, which on a loaded 2-core machine cost the loop
     * thread about 4% of its time. Open from dc_loop_create to dc_loop_free. */
    int wakeup_fd;
    /* Watches wakeup_fd; loop thread only. Closed by dc_loop_stop. */
    uv_poll_t wakeup;
    /* Runs after every turn's I/O callbacks. */
    uv_check_t turn_end;
    /* Active while the Swift side has unfinished work: keeps epoll from blocking. */
    uv_idle_t busy;
    uv_thread_t thread;
    /* Set on the loop thread at start; compared by dc_loop_is_current. Written once before any
     * other thread can observe the loop running (uv_thread_create is a release point). */
    uv_thread_t thread_id;
    int thread_started;
    /* 1 between a dc_loop_wakeup and the wake-up callback that consumes it: later callers skip
     * the eventfd write (a system call) because a wake-up is already on its way. */
    _Atomic int wakeup_pending;
    dc_loop_hooks_t hooks;
    void *privdata;
};

/* Which loop the current thread runs, if any. Lets dc_loop_is_current answer without comparing
 * thread ids. */
static __thread dc_loop_t *current_loop;

static void on_wakeup(uv_poll_t *handle, int status, int events) {
    (void)events;
    dc_loop_t *loop = handle->data;
    if (status < 0) return;
    /* Consume the counter first (non-blocking: a second readiness report after an earlier read
     * finds it empty, which is harmless), then reset the flag, then drain: a producer that
     * enqueues after the reset sees 0 and writes again, so no request is left behind until some
     * unrelated wake-up, and a producer that saw 1 enqueued before the reset, so this drain
     * finds its work. */
    uint64_t count;
    while (read(loop->wakeup_fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    atomic_store_explicit(&loop->wakeup_pending, 0, memory_order_seq_cst);
    if (loop->hooks.on_wakeup) loop->hooks.on_wakeup(loop->privdata);
}

static void on_turn_end(uv_check_t *handle) {
    dc_loop_t *loop = handle->data;
    if (loop->hooks.on_turn_end) loop->hooks.on_turn_end(loop->privdata);
}

static void on_busy(uv_idle_t *handle) {
    /* Nothing to do here: an active idle handle only makes libuv poll with a zero timeout. */
    (void)handle;
}

dc_loop_t *dc_loop_create(const dc_loop_hooks_t *hooks, void *privdata, const char **errstr_out) {
    dc_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        if (errstr_out) *errstr_out = "out of memory";
        return NULL;
    }
    loop->hooks = *hooks;
    loop->privdata = privdata;
    loop->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakeup_fd < 0) {
        if (errstr_out) *errstr_out = "eventfd failed";
        free(loop);
        return NULL;
    }
    int rc = uv_loop_init(&loop->uv);
    if (rc != 0) {
        if (errstr_out) *errstr_out = uv_strerror(rc);
        close(loop->wakeup_fd);
        free(loop);
        return NULL;
    }
    rc = uv_poll_init(&loop->uv, &loop->wakeup, loop->wakeup_fd);
    if (rc == 0) rc = uv_poll_start(&loop->wakeup, UV_READABLE, on_wakeup);
    if (rc != 0) {
        if (errstr_out) *errstr_out = uv_strerror(rc);
        uv_close((uv_handle_t *)&loop->wakeup, NULL);
        uv_run(&loop->uv, UV_RUN_DEFAULT);
        uv_loop_close(&loop->uv);
        close(loop->wakeup_fd);
        free(loop);
        return NULL;
    }
    loop->wakeup.data = loop;
    uv_check_init(&loop->uv, &loop->turn_end);
    loop->turn_end.data = loop;
    uv_check_start(&loop->turn_end, on_turn_end);
    /* The check handle alone must not keep the loop alive: only the wake-up poll (and the
     * connections and timers) do, so that dc_loop_stop ends uv_run. */
    uv_unref((uv_handle_t *)&loop->turn_end);
    uv_idle_init(&loop->uv, &loop->busy);
    loop->busy.data = loop;
    uv_unref((uv_handle_t *)&loop->busy);
    return loop;
}

static void loop_thread_main(void *arg) {
    dc_loop_t *loop = arg;
    /* hiredis writes with write(2), not send(MSG_NOSIGNAL): a write to a connection the server
     * just closed raises SIGPIPE, whose default action ends the process. Every socket lives on
     * this thread, so blocking the signal here contains it (the write fails with EPIPE and the
     * connection reports the loss) without changing the application's own handling. A blocked
     * SIGPIPE stays pending on this thread and is never delivered. */
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);
    current_loop = loop;
    loop->thread_id = uv_thread_self();
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    if (loop->hooks.on_stopped) loop->hooks.on_stopped(loop->privdata);
    current_loop = NULL;
}

void dc_loop_set_privdata(dc_loop_t *loop, void *privdata) { loop->privdata = privdata; }

int dc_loop_start(dc_loop_t *loop) {
    if (loop->thread_started) return DC_ERR_INVALID;
    if (uv_thread_create(&loop->thread, loop_thread_main, loop) != 0) return DC_ERR_IO;
    loop->thread_started = 1;
    return DC_OK;
}

void dc_loop_wakeup(dc_loop_t *loop) {
    if (atomic_exchange_explicit(&loop->wakeup_pending, 1, memory_order_seq_cst) == 0) {
        const uint64_t one = 1;
        /* Fails only with EINTR, or EAGAIN when the counter is near 2^64 (never: every wake-up
         * reads it back to 0). */
        while (write(loop->wakeup_fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

int dc_loop_is_current(const dc_loop_t *loop) { return current_loop == loop; }

void dc_loop_set_busy(dc_loop_t *loop, int busy) {
    if (busy) {
        if (!uv_is_active((uv_handle_t *)&loop->busy)) uv_idle_start(&loop->busy, on_busy);
    } else if (uv_is_active((uv_handle_t *)&loop->busy)) {
        uv_idle_stop(&loop->busy);
    }
}

uint64_t dc_loop_now_ms(dc_loop_t *loop) { return uv_now(&loop->uv); }

uv_loop_t *dc_loop_uv(dc_loop_t *loop) { return &loop->uv; }

void dc_loop_stop(dc_loop_t *loop) {
    /* Other threads may still call dc_loop_wakeup until they learn that the loop stopped; they
     * only write to the eventfd, which stays open until dc_loop_free, so the poll handle can go. */
    uv_close((uv_handle_t *)&loop->wakeup, NULL);
    uv_close((uv_handle_t *)&loop->turn_end, NULL);
    uv_close((uv_handle_t *)&loop->busy, NULL);
}

int dc_loop_join(dc_loop_t *loop) {
    if (!loop->thread_started) return DC_OK;
    if (dc_loop_is_current(loop)) return DC_ERR_INVALID;
    return uv_thread_join(&loop->thread) == 0 ? DC_OK : DC_ERR_IO;
}

static void close_leftover(uv_handle_t *handle, void *arg) {
    (void)arg;
    if (!uv_is_closing(handle)) uv_close(handle, NULL);
}

void dc_loop_free(dc_loop_t *loop) {
    if (loop == NULL) return;
    /* The thread has exited (or never ran), so running the loop here, on the freeing thread, is
     * safe: it only finishes the close callbacks of the remaining handles. */
    if (!loop->thread_started) dc_loop_stop(loop);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop->uv) == UV_EBUSY) {
        /* A handle outlived its owner (a bug on the Swift side): close it rather than leak the
         * loop's memory under it. */
        uv_walk(&loop->uv, close_leftover, NULL);
        uv_run(&loop->uv, UV_RUN_DEFAULT);
        uv_loop_close(&loop->uv);
    }
    close(loop->wakeup_fd);
    free(loop);
}

/* ---- timers ---- */

struct dc_timer {
    uv_timer_t uv;
    dc_loop_fn fn;
    void *privdata;
};

static void on_timer(uv_timer_t *handle) {
    dc_timer_t *timer = handle->data;
    timer->fn(timer->privdata);
}

static void on_timer_closed(uv_handle_t *handle) { free(handle->data); }

dc_timer_t *dc_timer_create(dc_loop_t *loop, dc_loop_fn fn, void *privdata) {
    dc_timer_t *timer = calloc(1, sizeof(*timer));
    if (timer == NULL) return NULL;
    uv_timer_init(&loop->uv, &timer->uv);
    timer->uv.data = timer;
    timer->fn = fn;
    timer->privdata = privdata;
    return timer;
}

void dc_timer_set_privdata(dc_timer_t *timer, void *privdata) { timer->privdata = privdata; }

int dc_timer_start(dc_timer_t *timer, uint64_t timeout_ms, uint64_t repeat_ms) {
    return uv_timer_start(&timer->uv, on_timer, timeout_ms, repeat_ms) == 0 ? DC_OK : DC_ERR_INVALID;
}

void dc_timer_stop(dc_timer_t *timer) { uv_timer_stop(&timer->uv); }

void dc_timer_close(dc_timer_t *timer) {
    uv_timer_stop(&timer->uv);
    uv_close((uv_handle_t *)&timer->uv, on_timer_closed);
}
