/*
 * One Redis connection: a hiredis 0.14 async context attached to a dc_loop with hiredis's libuv
 * adapter, plus what the adapter lacks.
 *
 * What it adds to hiredis:
 *   - a connect timeout (hiredis 0.14 async has none): a libuv timer that frees the half-open
 *     context and reports DC_ERR_TIMEOUT;
 *   - pooled reply memory: hiredis's default reply objects cost two or three mallocs per reply;
 *     here the reader builds them in a per-connection arena that is rewound after each reply's
 *     callback, so steady-state replies allocate nothing. The objects keep redisReply's exact
 *     layout (checked at compile time) because hiredis's pub/sub routing reads them as such;
 *   - explicit batching: dc_conn_send only appends to the output buffer; dc_conn_flush writes it,
 *     so a loop turn's commands leave in one write instead of waiting for the adapter's POLLOUT;
 *   - one callback table per connection, with the connection's own `privdata`, so Swift needs no
 *     global state to route replies.
 *
 * Commands arrive pre-formatted in RESP2 (the Swift side encodes them, saving hiredis's
 * printf-style formatter). A command whose first argument is SUBSCRIBE or PSUBSCRIBE registers
 * its callback per channel or pattern, as hiredis does: the callback then runs for each
 * confirmation and each message. Do not send other commands on a subscribed connection: hiredis
 * 0.14 routes their replies by shape, and a PING reply in subscribed mode is lost.
 *
 * Threads: everything here runs on the connection's loop thread, callbacks included.
 *
 * Ownership: a dc_conn_t is created and freed by its owner. The hiredis context inside it comes
 * and goes with each (re)connection. Every command's `cmd_privdata` is handed back exactly once
 * through on_reply: with the reply, or with NULL when the connection ends first (including during
 * dc_conn_free). Subscription callbacks run once per message and once more with NULL when the
 * context ends.
 */
#ifndef DC_REDIS_H
#define DC_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "dc_loop.h"
#include "dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reply types, equal to hiredis's REDIS_REPLY_* (RESP2). */
enum {
    DC_REPLY_STRING = 1,
    DC_REPLY_ARRAY = 2,
    DC_REPLY_INTEGER = 3,
    DC_REPLY_NIL = 4,
    DC_REPLY_STATUS = 5,
    DC_REPLY_ERROR = 6
};

/* A reply, laid out exactly as hiredis's redisReply. Lives in the connection's arena: valid only
 * until the callback it was passed to returns. `str` is NUL-terminated and may contain NULs
 * (use `len`). */
typedef struct dc_reply {
    int type;
    long long integer;
    size_t len;
    char *str;
    size_t elements;
    struct dc_reply **element;
} dc_reply_t;

/* The largest element count a multi-bulk reply may claim; a larger one fails the reply (and the
 * connection) as a protocol error instead of asking for gigabytes at once. */
#define DC_REPLY_MAX_ELEMENTS (1 << 20)

/* A standalone RESP2 parser: hiredis's reader with the connections' reply objects, so that bytes
 * fed to it take the exact path of a received reply. For the fuzzer and tests; any thread, one
 * parser per thread. */
typedef struct dc_reply_parser dc_reply_parser_t;
/* Returns NULL when memory runs out. */
dc_reply_parser_t *dc_reply_parser_create(void);
/* Appends received bytes. DC_OK, or DC_ERR_NOMEM. */
int dc_reply_parser_feed(dc_reply_parser_t *parser, const char *bytes, size_t length);
/* The next complete reply in *reply (NULL when more bytes are needed): DC_OK; DC_ERR_PROTOCOL for
 * bytes that are not RESP2 (the parser is then unusable). A reply stays valid until it is
 * released, and must be released before the next call. */
int dc_reply_parser_next(dc_reply_parser_t *parser, const dc_reply_t **reply);
void dc_reply_parser_release(dc_reply_parser_t *parser, const dc_reply_t *reply);
void dc_reply_parser_free(dc_reply_parser_t *parser);

typedef struct dc_conn dc_conn_t;

typedef struct dc_conn_callbacks {
    /* A command's reply, or NULL when the connection ended before it arrived. `conn_privdata` is
     * the connection's, `cmd_privdata` the command's (returned exactly once per command, except
     * for subscriptions, see above). `reply` is valid only until this returns. Loop thread. */
    void (*on_reply)(void *conn_privdata, void *cmd_privdata, const dc_reply_t *reply);
    /* The TCP connection is up (status DC_OK), or connecting failed (DC_ERR_IO with `errstr`, or
     * DC_ERR_TIMEOUT). After a failure the connection is idle again and may be reconnected.
     * `errstr` is valid only until this returns. Loop thread. */
    void (*on_connect)(void *conn_privdata, int status, const char *errstr);
    /* An established connection ended: status DC_OK after dc_conn_disconnect, DC_ERR_IO when it
     * broke (`errstr` says why). Every pending command has had its on_reply(NULL) before this.
     * The connection is idle again. Loop thread. */
    void (*on_disconnect)(void *conn_privdata, int status, const char *errstr);
    /* An error reply that hiredis routes to no callback: in subscribed mode, the reply to a
     * (P)SUBSCRIBE the server refused (NOPERM, for instance), which hiredis 0.14 would drop.
     * Called from inside hiredis's reader while the reply is being built: copy the message and
     * react later, never call back into this connection from here. May be NULL. Loop thread. */
    void (*on_unrouted_error)(void *conn_privdata, const char *message, size_t length);
} dc_conn_callbacks_t;

/* Creates an idle connection on `loop`. `callbacks` is copied; `privdata` is borrowed until
 * dc_conn_free. Returns NULL when memory runs out. Loop thread only. */
dc_conn_t *dc_conn_create(dc_loop_t *loop, const dc_conn_callbacks_t *callbacks, void *privdata);

/* Starts connecting to `host`:`port` (host borrowed for the call; name resolution, when host is
 * not numeric, blocks the loop thread). The result arrives through on_connect, except when the
 * attempt fails at once: then this returns DC_ERR_IO (or DC_ERR_NOMEM) with the reason in
 * dc_conn_errstr, and on_connect is not called. Loop thread only; only while idle. */
int dc_conn_connect(dc_conn_t *conn, const char *host, int port, uint32_t timeout_ms);

/* Appends one RESP2-formatted command (borrowed for the call, copied) to the output buffer and
 * registers `cmd_privdata` for its reply. `command[length]` must be a NUL: hiredis scans
 * (P)(UN)SUBSCRIBE arguments as a C string. Nothing is written until dc_conn_flush. Returns
 * DC_ERR_CLOSED when there is no connection or it is closing; then on_reply is not called.
 * Loop thread only. */
int dc_conn_send(dc_conn_t *conn, const char *command, size_t length, void *cmd_privdata);

/* Writes as much of the output buffer as the socket takes now; the rest goes when the socket is
 * writable again. May call on_reply(NULL...) and on_disconnect synchronously if the write finds
 * the connection broken. Loop thread only; not from inside this connection's callbacks. */
void dc_conn_flush(dc_conn_t *conn);

/* Number of bytes appended but not yet written. Loop thread only. */
size_t dc_conn_pending_output(const dc_conn_t *conn);

/* 1 while the TCP connection is established. Loop thread only. */
int dc_conn_is_connected(const dc_conn_t *conn);

/* Closes gracefully: no new commands are accepted, pending replies are still delivered, then
 * on_disconnect(DC_OK). Safe from inside callbacks. Loop thread only. */
void dc_conn_disconnect(dc_conn_t *conn);

/* Closes at once: every pending command gets on_reply(NULL) and on_disconnect follows with
 * DC_ERR_IO and `reason` (borrowed for the call), synchronously. Use for timeouts and fault
 * handling. Loop thread only; not from inside this connection's callbacks. */
void dc_conn_abort(dc_conn_t *conn, const char *reason);

/* Frees the connection. Any live context is torn down first, synchronously: pending commands get
 * on_reply(NULL) and on_disconnect runs, before this returns; no callback runs afterwards. Memory
 * is released later in the loop turn. Loop thread only; not from inside this connection's
 * callbacks. Takes ownership of `conn`. */
void dc_conn_free(dc_conn_t *conn);

/* The last error message (static storage in the connection; overwritten by the next error). */
const char *dc_conn_errstr(const dc_conn_t *conn);

#ifdef __cplusplus
}
#endif

#endif /* DC_REDIS_H */
