#include "dc_redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* hiredis's libuv adapter defines static functions: it is included here and nowhere else. */
#include <hiredis/adapters/libuv.h>

#include "dc_internal.h"

/* hiredis's pub/sub routing reads our reply objects as redisReply: the layouts must agree. */
_Static_assert(sizeof(dc_reply_t) == sizeof(redisReply), "dc_reply_t must match redisReply");
_Static_assert(offsetof(dc_reply_t, type) == offsetof(redisReply, type), "type");
_Static_assert(offsetof(dc_reply_t, integer) == offsetof(redisReply, integer), "integer");
_Static_assert(offsetof(dc_reply_t, len) == offsetof(redisReply, len), "len");
_Static_assert(offsetof(dc_reply_t, str) == offsetof(redisReply, str), "str");
_Static_assert(offsetof(dc_reply_t, elements) == offsetof(redisReply, elements), "elements");
_Static_assert(offsetof(dc_reply_t, element) == offsetof(redisReply, element), "element");
_Static_assert(DC_REPLY_STRING == REDIS_REPLY_STRING && DC_REPLY_ARRAY == REDIS_REPLY_ARRAY &&
                   DC_REPLY_INTEGER == REDIS_REPLY_INTEGER && DC_REPLY_NIL == REDIS_REPLY_NIL &&
                   DC_REPLY_STATUS == REDIS_REPLY_STATUS && DC_REPLY_ERROR == REDIS_REPLY_ERROR,
               "reply type codes");

/* ---- reply arena ----
 *
 * hiredis builds one reply at a time and hands it to exactly one callback, after which it calls
 * freeObject on the root. So every object of a reply can come from a bump arena that freeObject
 * rewinds. The first chunk is kept across replies; a reply larger than it spills into overflow
 * chunks, which are freed at the rewind, and the kept chunk grows to the size that reply needed
 * (up to ARENA_MAX_KEPT) so that a steady stream of such replies stops allocating too. */

enum { ARENA_INITIAL = 16 * 1024, ARENA_MAX_KEPT = 1024 * 1024, ARENA_ALIGN = 16 };

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t capacity;
    size_t used;
    _Alignas(ARENA_ALIGN) char bytes[];
} arena_chunk;

typedef struct arena {
    arena_chunk *kept;     /* reused for every reply */
    arena_chunk *overflow; /* newest first; freed at rewind */
    size_t peak;           /* bytes the current reply has used so far */
} arena;

/* Each object starts with this header so that freeObject, which gets only the object, can find
 * its connection. */
typedef struct object_header {
    struct dc_conn *owner;
    void *unused; /* keeps the object 16-byte aligned */
} object_header;

struct dc_conn {
    dc_loop_t *loop;
    /* The live hiredis context, or NULL while idle. ac->data points back here. */
    redisAsyncContext *ac;
    dc_conn_callbacks_t callbacks;
    void *privdata;
    uv_timer_t connect_timer;
    /* > 0 while one of our callbacks into Swift runs (hiredis is inside redisProcessCallbacks). */
    int callback_depth;
    /* Set by dc_conn_abort/dc_conn_free around redisAsyncFree so that on_disconnect reports the
     * abort's reason instead of hiredis's "freed on request" success. */
    int aborting;
    int freeing;
    /* Set while dc_conn_send appends: the write happens in dc_conn_flush, not on POLLOUT. */
    int deferring_writes;
    arena replies;
    char errstr[160];
};

static void *arena_alloc(arena *a, size_t size) {
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    a->peak += size;
    arena_chunk *chunk = a->overflow ? a->overflow : a->kept;
    if (chunk != NULL && chunk->capacity - chunk->used >= size) {
        void *p = chunk->bytes + chunk->used;
        chunk->used += size;
        return p;
    }
    size_t capacity = ARENA_INITIAL;
    while (capacity < size) capacity *= 2;
    chunk = malloc(sizeof(*chunk) + capacity);
    if (chunk == NULL) return NULL;
    chunk->capacity = capacity;
    chunk->used = size;
    if (a->kept == NULL) {
        chunk->next = NULL;
        a->kept = chunk;
    } else {
        chunk->next = a->overflow;
        a->overflow = chunk;
    }
    return chunk->bytes;
}

static void arena_rewind(arena *a) {
    int spilled = a->overflow != NULL;
    while (a->overflow != NULL) {
        arena_chunk *next = a->overflow->next;
        free(a->overflow);
        a->overflow = next;
    }
    if (spilled && a->kept != NULL && a->peak <= ARENA_MAX_KEPT) {
        /* Grow the kept chunk to what this reply needed, so the next such reply fits. */
        free(a->kept);
        a->kept = NULL;
        size_t capacity = ARENA_INITIAL;
        while (capacity < a->peak) capacity *= 2;
        arena_chunk *chunk = malloc(sizeof(*chunk) + capacity);
        if (chunk != NULL) {
            chunk->next = NULL;
            chunk->capacity = capacity;
            a->kept = chunk;
        }
    }
    if (a->kept != NULL) a->kept->used = 0;
    a->peak = 0;
}

static void arena_free_all(arena *a) {
    arena_rewind(a);
    free(a->kept);
    a->kept = NULL;
}

static dc_reply_t *new_object(const redisReadTask *task, size_t extra) {
    struct dc_conn *conn = task->privdata;
    object_header *header = arena_alloc(&conn->replies, sizeof(object_header) + sizeof(dc_reply_t) + extra);
    if (header == NULL) return NULL;
    header->owner = conn;
    dc_reply_t *reply = (dc_reply_t *)(header + 1);
    memset(reply, 0, sizeof(*reply));
    reply->type = task->type;
    if (task->parent != NULL) {
        dc_reply_t *parent = task->parent->obj;
        parent->element[task->idx] = reply;
    }
    return reply;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
    struct dc_conn *conn = task->privdata;
    /* A top-level error in subscribed mode answers a refused (P)SUBSCRIBE; hiredis 0.14 has no
     * callback for it (it looks in its list of "invalid" commands) and would drop it silently. */
    if (task->type == REDIS_REPLY_ERROR && task->parent == NULL && conn->ac != NULL &&
        (conn->ac->c.flags & REDIS_SUBSCRIBED) && conn->callbacks.on_unrouted_error != NULL) {
        conn->callbacks.on_unrouted_error(conn->privdata, str, len);
    }
    dc_reply_t *reply = new_object(task, len + 1);
    if (reply == NULL) return NULL;
    reply->str = (char *)(reply + 1);
    memcpy(reply->str, str, len);
    reply->str[len] = '\0';
    reply->len = len;
    return reply;
}

static void *create_array(const redisReadTask *task, int elements) {
    size_t count = elements > 0 ? (size_t)elements : 0;
    /* The element count is a number from the network: a reply claiming 2^31 elements would ask
     * for 16 GiB at once. Refusing it makes the reader fail ("out of memory"), which closes the
     * connection like any protocol error. */
    if (count > DC_REPLY_MAX_ELEMENTS) return NULL;
    dc_reply_t *reply = new_object(task, count * sizeof(dc_reply_t *));
    if (reply == NULL) return NULL;
    reply->elements = count;
    if (count > 0) {
        reply->element = (dc_reply_t **)(reply + 1);
        memset(reply->element, 0, count * sizeof(dc_reply_t *));
    }
    return reply;
}

static void *create_integer(const redisReadTask *task, long long value) {
    dc_reply_t *reply = new_object(task, 0);
    if (reply != NULL) reply->integer = value;
    return reply;
}

static void *create_nil(const redisReadTask *task) {
    /* The task's type is that of the bulk or multi-bulk header ($-1 / *-1), not NIL. */
    dc_reply_t *reply = new_object(task, 0);
    if (reply != NULL) reply->type = DC_REPLY_NIL;
    return reply;
}

static void free_object(void *object) {
    /* Called on the root of a reply after its callback (or on a partial reply when the reader
     * fails): rewinding drops the whole reply at once. */
    object_header *header = (object_header *)object - 1;
    arena_rewind(&header->owner->replies);
}

static redisReplyObjectFunctions arena_reply_functions = {
    create_string, create_array, create_integer, create_nil, free_object,
};

/* ---- standalone parsing (fuzzing and tests) ---- */

struct dc_reply_parser {
    redisReader *reader;
    /* Only its `replies` arena is used: the reply objects find it through the reader's privdata. */
    struct dc_conn conn;
};

dc_reply_parser_t *dc_reply_parser_create(void) {
    dc_reply_parser_t *parser = calloc(1, sizeof(*parser));
    if (parser == NULL) return NULL;
    parser->reader = redisReaderCreateWithFunctions(&arena_reply_functions);
    if (parser->reader == NULL) {
        free(parser);
        return NULL;
    }
    parser->reader->privdata = &parser->conn;
    return parser;
}

int dc_reply_parser_feed(dc_reply_parser_t *parser, const char *bytes, size_t length) {
    return redisReaderFeed(parser->reader, bytes, length) == REDIS_OK ? DC_OK : DC_ERR_NOMEM;
}

int dc_reply_parser_next(dc_reply_parser_t *parser, const dc_reply_t **reply) {
    void *object = NULL;
    *reply = NULL;
    if (redisReaderGetReply(parser->reader, &object) != REDIS_OK) return DC_ERR_PROTOCOL;
    *reply = object;
    return DC_OK;
}

void dc_reply_parser_release(dc_reply_parser_t *parser, const dc_reply_t *reply) {
    (void)parser;
    if (reply != NULL) free_object((void *)reply);
}

void dc_reply_parser_free(dc_reply_parser_t *parser) {
    if (parser == NULL) return;
    redisReaderFree(parser->reader);
    arena_free_all(&parser->conn.replies);
    free(parser);
}

/* ---- event hooks ----
 *
 * We keep hiredis's libuv adapter for attaching, its bookkeeping struct and its cleanup, but
 * install our own add/del hooks, for two measured reasons:
 *
 * 1. The adapter calls uv_poll_start on every add/del, and libuv 1.44's uv_poll_start first stops
 *    the watcher, which on Linux issues an immediate EPOLL_CTL_DEL, then re-adds it at the next
 *    poll (EPOLL_CTL_ADD, EEXIST, EPOLL_CTL_MOD). hiredis asks for write interest on every
 *    appended command, so a turn of 50 pipelined commands cost ~100 epoll_ctl system calls
 *    (strace, perf/RESULTS.md). Our hooks track the mask and touch libuv only when it changes.
 * 2. Commands appended by dc_conn_send are written by dc_conn_flush at the end of the loop turn,
 *    so no write interest is needed for them (`deferring_writes`); POLLOUT is requested only
 *    when a flush could not write everything.
 *
 * They also fix the adapter's poll callback, which returns early on an error status without
 * telling hiredis, so a refused connect or a reset socket went unnoticed until a timeout; ours
 * lets hiredis look at the socket (connect: SO_ERROR via HandleWrite; established: the failing
 * read). This section can shrink once Debian ships a hiredis (1.0+) whose adapter does both. */

static void poll_with_errors(uv_poll_t *handle, int status, int events) {
    redisLibuvEvents *p = (redisLibuvEvents *)handle->data;
    if (p->context == NULL) return;
    if (status != 0) {
        events = (p->context->c.flags & REDIS_CONNECTED) ? UV_READABLE : UV_WRITABLE;
    }
    if (p->context != NULL && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
    if (p->context != NULL && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void set_poll_events(redisLibuvEvents *p, int events) {
    if (events == p->events) return;
    p->events = events;
    if (events) {
        uv_poll_start(&p->handle, events, poll_with_errors);
    } else {
        uv_poll_stop(&p->handle);
    }
}

static void add_read(void *privdata) {
    redisLibuvEvents *p = privdata;
    set_poll_events(p, p->events | UV_READABLE);
}

static void del_read(void *privdata) {
    redisLibuvEvents *p = privdata;
    set_poll_events(p, p->events & ~UV_READABLE);
}

static void add_write(void *privdata) {
    redisLibuvEvents *p = privdata;
    struct dc_conn *conn = p->context != NULL ? p->context->data : NULL;
    if (conn != NULL && conn->deferring_writes) return; /* dc_conn_flush will write it */
    set_poll_events(p, p->events | UV_WRITABLE);
}

static void del_write(void *privdata) {
    redisLibuvEvents *p = privdata;
    set_poll_events(p, p->events & ~UV_WRITABLE);
}

/* ---- hiredis callbacks (loop thread) ---- */

static void set_errstr(struct dc_conn *conn, const char *message) {
    snprintf(conn->errstr, sizeof(conn->errstr), "%s", message ? message : "unknown error");
}

static void on_reply(redisAsyncContext *ac, void *reply, void *cmd_privdata) {
    struct dc_conn *conn = ac->data;
    conn->callback_depth++;
    conn->callbacks.on_reply(conn->privdata, cmd_privdata, reply);
    conn->callback_depth--;
}

static void on_connected(const redisAsyncContext *ac, int status) {
    struct dc_conn *conn = ac->data;
    uv_timer_stop(&conn->connect_timer);
    if (status != REDIS_OK) {
        /* hiredis frees the context right after this returns. */
        set_errstr(conn, ac->errstr);
        conn->ac = NULL;
        conn->callback_depth++;
        conn->callbacks.on_connect(conn->privdata, DC_ERR_IO, conn->errstr);
        conn->callback_depth--;
        return;
    }
    conn->callback_depth++;
    conn->callbacks.on_connect(conn->privdata, DC_OK, NULL);
    conn->callback_depth--;
}

static void on_disconnected(const redisAsyncContext *ac, int status) {
    struct dc_conn *conn = ac->data;
    conn->ac = NULL;
    int result;
    if (conn->aborting) {
        result = DC_ERR_IO; /* errstr was set by the abort */
    } else if (status == REDIS_OK) {
        result = DC_OK;
        set_errstr(conn, "disconnected");
    } else {
        result = DC_ERR_IO;
        set_errstr(conn, ac->errstr[0] ? ac->errstr : "connection lost");
    }
    conn->callback_depth++;
    conn->callbacks.on_disconnect(conn->privdata, result, conn->errstr);
    conn->callback_depth--;
}

/* Tears the live context down synchronously (we are not inside a hiredis callback, so
 * redisAsyncFree does not defer). Reports a connect failure itself when the context never
 * connected, because hiredis then calls neither onConnect nor onDisconnect. */
static void teardown_context(struct dc_conn *conn, int connect_status, const char *reason) {
    redisAsyncContext *ac = conn->ac;
    if (ac == NULL) return;
    int was_connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    uv_timer_stop(&conn->connect_timer);
    set_errstr(conn, reason);
    conn->aborting = 1;
    redisAsyncFree(ac);
    conn->aborting = 0;
    conn->ac = NULL;
    if (!was_connected && !conn->freeing) {
        conn->callback_depth++;
        conn->callbacks.on_connect(conn->privdata, connect_status, conn->errstr);
        conn->callback_depth--;
    }
}

static void on_connect_timeout(uv_timer_t *timer) {
    struct dc_conn *conn = timer->data;
    teardown_context(conn, DC_ERR_TIMEOUT, "connect timed out");
}

/* ---- public API ---- */

dc_conn_t *dc_conn_create(dc_loop_t *loop, const dc_conn_callbacks_t *callbacks, void *privdata) {
    struct dc_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) return NULL;
    conn->loop = loop;
    conn->callbacks = *callbacks;
    conn->privdata = privdata;
    uv_timer_init(dc_loop_uv(loop), &conn->connect_timer);
    conn->connect_timer.data = conn;
    return conn;
}

int dc_conn_connect(dc_conn_t *conn, const char *host, int port, uint32_t timeout_ms) {
    if (conn->ac != NULL || conn->freeing) return DC_ERR_INVALID;
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (ac == NULL) {
        set_errstr(conn, "out of memory");
        return DC_ERR_NOMEM;
    }
    if (ac->err) {
        set_errstr(conn, ac->errstr);
        redisAsyncFree(ac);
        return DC_ERR_IO;
    }
    ac->data = conn;
    /* Replace the reader's object functions before any byte is read. */
    ac->c.reader->fn = &arena_reply_functions;
    ac->c.reader->privdata = conn;
    if (redisLibuvAttach(ac, dc_loop_uv(conn->loop)) != REDIS_OK) {
        set_errstr(conn, "cannot attach to the event loop");
        redisAsyncFree(ac);
        return DC_ERR_IO;
    }
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    conn->ac = ac;
    if (timeout_ms > 0) uv_timer_start(&conn->connect_timer, on_connect_timeout, timeout_ms, 0);
    return DC_OK;
}

int dc_conn_send(dc_conn_t *conn, const char *command, size_t length, void *cmd_privdata) {
    if (conn->ac == NULL) return DC_ERR_CLOSED;
    conn->deferring_writes = (conn->ac->c.flags & REDIS_CONNECTED) != 0;
    int status = redisAsyncFormattedCommand(conn->ac, on_reply, cmd_privdata, command, length);
    conn->deferring_writes = 0;
    return status == REDIS_OK ? DC_OK : DC_ERR_CLOSED;
}

void dc_conn_flush(dc_conn_t *conn) {
    redisAsyncContext *ac = conn->ac;
    if (ac == NULL || !(ac->c.flags & REDIS_CONNECTED) || sdslen(ac->c.obuf) == 0) return;
    /* Writing now, rather than waiting for the adapter's POLLOUT event, saves a loop turn per
     * batch; whatever the socket does not take is finished on POLLOUT as usual. */
    redisAsyncHandleWrite(ac);
}

size_t dc_conn_pending_output(const dc_conn_t *conn) {
    return conn->ac != NULL ? sdslen(conn->ac->c.obuf) : 0;
}

int dc_conn_is_connected(const dc_conn_t *conn) {
    return conn->ac != NULL && (conn->ac->c.flags & REDIS_CONNECTED) != 0;
}

void dc_conn_disconnect(dc_conn_t *conn) {
    if (conn->ac != NULL) redisAsyncDisconnect(conn->ac);
}

void dc_conn_abort(dc_conn_t *conn, const char *reason) {
    if (conn->callback_depth > 0) {
        /* hiredis would defer the free past our return; refuse rather than break the contract
         * that everything is reported before this returns. */
        set_errstr(conn, "dc_conn_abort called from a callback");
        return;
    }
    teardown_context(conn, DC_ERR_IO, reason);
}

static void on_conn_timer_closed(uv_handle_t *handle) {
    struct dc_conn *conn = handle->data;
    arena_free_all(&conn->replies);
    free(conn);
}

void dc_conn_free(dc_conn_t *conn) {
    if (conn == NULL) return;
    conn->freeing = 1;
    teardown_context(conn, DC_ERR_CLOSED, "connection freed");
    /* The timer's close callback runs later in this loop turn, after hiredis is done with the
     * context; the connection's memory goes with it. */
    uv_close((uv_handle_t *)&conn->connect_timer, on_conn_timer_closed);
}

const char *dc_conn_errstr(const dc_conn_t *conn) { return conn->errstr; }
