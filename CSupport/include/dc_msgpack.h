/*
 * MessagePack [1] bytes for the MessagePack marshaller: a writer and a reader over msgpack-c [2].
 *
 * Writer. An opaque dc_msgpack_writer_t wraps a msgpack_sbuffer and a msgpack_packer. Swift walks
 * its own tree of encoded values and calls one dc_msgpack_write_* per value; msgpack-c picks the
 * smallest encoding of each integer and length header, so the output is the canonical form the
 * spec's examples show (a struct {"a":1,"b":"x"} is 82 a1 61 01 a1 62 a1 78). The buffer starts at
 * the capacity the caller asks for instead of msgpack-c's 8 KiB, because a cache value is usually
 * tens of bytes and every marshal call creates its own writer.
 *
 * Reader. dc_msgpack_reader_parse turns one complete MessagePack object into a flat array of
 * dc_msgpack_node_t in pre-order, and Swift walks that array by index. The choices, and why:
 *
 *  - A flat array of our own nodes, not msgpack_object. Swift then sees no msgpack type (this
 *    header does not include <msgpack.h>), holds only integer indices that every accessor checks,
 *    never a pointer into msgpack-c's zone, and a node's `next` skips its whole subtree in O(1),
 *    which is what an unkeyed container needs to step over an element it did not decode. String
 *    and binary payloads are (offset, length) into the caller's input, which Swift keeps alive
 *    and slices with its own bounds checks, so the reader never copies or retains the input.
 *    The price is one extra linear pass and 24 bytes per value.
 *
 *  - A validation pass before msgpack-c sees the bytes. msgpack-c allocates an array's or map's
 *    element storage from the declared count before reading any element (template_callback_array
 *    in its unpack.c), so the five bytes dd 01 00 00 00 made it hold 512 MiB, and df ff ff ff ff
 *    aborted an AddressSanitizer build asking for 256 GiB (measured here with msgpack-c 4.0.0).
 *    The pass checks that every declared length fits in the bytes that remain (each element takes
 *    at least one byte), so msgpack-c's allocations are bounded by 24 bytes per input byte; it
 *    also rejects 0xc1 (never used [1]), truncation, trailing bytes and nesting deeper than
 *    DC_MSGPACK_MAX_DEPTH, each with an offset and a reason in errstr, where msgpack-c would only
 *    say "parse error" or, for depth, "out of memory".
 *
 *  - msgpack-c then does the decoding proper (byte order, float widths, sign) with msgpack_unpack
 *    into a zone sized from the validation pass, so a parse makes one zone allocation; the zone
 *    is released before dc_msgpack_reader_parse returns. msgpack_unpack is marked "obsolete" in
 *    unpack.h but is the only entry point that takes the caller's zone (msgpack_unpack_next always
 *    allocates an 8 KiB one); if a later msgpack-c drops it, switch to msgpack_unpack_next.
 *
 * What we gave up: ext values are reported as DC_MSGPACK_EXT with their payload but without their
 * type byte (the marshaller does not decode ext, so nothing needs it), float32 and float64 both
 * arrive as a double (exact for float32), and inputs of 4 GiB or more are refused (offsets and
 * indices are 32-bit; a Redis value is at most 512 MiB).
 *
 * Threads: a writer or a reader belongs to one thread at a time; distinct objects are independent.
 *
 * References:
 *  [1] MessagePack specification, https://github.com/msgpack/msgpack/blob/master/spec.md
 *  [2] msgpack-c (C library, 4.0), https://github.com/msgpack/msgpack-c/tree/c_master
 */
#ifndef DC_MSGPACK_H
#define DC_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

#include "dc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The deepest nesting of arrays and maps a reader accepts: msgpack-c's C unpacker keeps its
 * container stack in a fixed array of MSGPACK_EMBED_STACK_SIZE (32) entries and fails beyond it.
 * A writer does not check it; the Swift encoder refuses to produce what the reader cannot read. */
#define DC_MSGPACK_MAX_DEPTH 32

/* ---- writer ---- */

typedef struct dc_msgpack_writer dc_msgpack_writer_t;

/* Creates an empty writer whose buffer starts with room for `initial_capacity` bytes (it doubles
 * as needed). Returns NULL only when memory runs out. The caller owns the writer and must free it
 * with dc_msgpack_writer_free. */
dc_msgpack_writer_t *dc_msgpack_writer_create(size_t initial_capacity);

/* Frees the writer and its buffer. Takes ownership of `writer`; NULL is ignored. */
void dc_msgpack_writer_free(dc_msgpack_writer_t *writer);

/* Forgets everything written, keeping the buffer's capacity. Borrows `writer` for the call. */
void dc_msgpack_writer_reset(dc_msgpack_writer_t *writer);

/* Each appends one value in its smallest MessagePack form and returns 0, or DC_ERR_NOMEM when the
 * buffer cannot grow (the bytes written so far are then incomplete: reset or free the writer).
 * All borrow `writer` for the call. */
int dc_msgpack_write_nil(dc_msgpack_writer_t *writer);
int dc_msgpack_write_bool(dc_msgpack_writer_t *writer, int value);
/* Non-negative values take the unsigned forms (positive fixint, uint 8..64), as the spec asks. */
int dc_msgpack_write_int64(dc_msgpack_writer_t *writer, int64_t value);
int dc_msgpack_write_uint64(dc_msgpack_writer_t *writer, uint64_t value);
int dc_msgpack_write_double(dc_msgpack_writer_t *writer, double value);
int dc_msgpack_write_float(dc_msgpack_writer_t *writer, float value);

/* Appends a str (UTF-8, not checked here) or bin value of `length` bytes copied from `bytes`,
 * which is borrowed for the call and may be NULL when `length` is 0. Returns DC_ERR_INVALID when
 * `length` exceeds UINT32_MAX (the format's limit), else as above. */
int dc_msgpack_write_str(dc_msgpack_writer_t *writer, const void *bytes, size_t length);
int dc_msgpack_write_bin(dc_msgpack_writer_t *writer, const void *bytes, size_t length);

/* Appends an array header for `count` elements, or a map header for `count` key-value pairs; the
 * caller then writes exactly that many elements (2 * count values for a map, key first).
 * Returns DC_ERR_INVALID when `count` exceeds UINT32_MAX, else as above. */
int dc_msgpack_write_array(dc_msgpack_writer_t *writer, size_t count);
int dc_msgpack_write_map(dc_msgpack_writer_t *writer, size_t count);

/* The bytes written so far; their count goes to `*length_out`. The pointer is borrowed: valid
 * only until the next call on `writer` (any write may move the buffer). */
const uint8_t *dc_msgpack_writer_bytes(const dc_msgpack_writer_t *writer, size_t *length_out);

/* ---- reader ---- */

typedef enum dc_msgpack_type {
    DC_MSGPACK_NIL = 0,
    DC_MSGPACK_BOOL = 1,
    DC_MSGPACK_UINT = 2,  /* any integer >= 0, in value.u */
    DC_MSGPACK_INT = 3,   /* any integer < 0, in value.i */
    DC_MSGPACK_FLOAT = 4, /* float32 or float64, in value.f */
    DC_MSGPACK_STR = 5,
    DC_MSGPACK_BIN = 6,
    DC_MSGPACK_EXT = 7,
    DC_MSGPACK_ARRAY = 8,
    DC_MSGPACK_MAP = 9
} dc_msgpack_type_t;

/* One value of a parsed object. Nodes are in pre-order: the root is node 0, the first child of a
 * container is the node after it, and each child's `next` is its next sibling. A map's children
 * alternate key, value, key, value. */
typedef struct dc_msgpack_node {
    dc_msgpack_type_t type;
    /* str, bin, ext: payload bytes; array: elements; map: key-value pairs; otherwise 0. */
    uint32_t length;
    /* Index of the first node after this value's subtree (node count for the last one). */
    uint32_t next;
    union {
        uint8_t b;       /* DC_MSGPACK_BOOL: 0 or 1 */
        uint64_t u;      /* DC_MSGPACK_UINT */
        int64_t i;       /* DC_MSGPACK_INT */
        double f;        /* DC_MSGPACK_FLOAT */
        uint32_t offset; /* DC_MSGPACK_STR, _BIN, _EXT: where the payload starts in the input (0 if empty) */
    } value;
} dc_msgpack_node_t;

typedef struct dc_msgpack_reader dc_msgpack_reader_t;

/* Creates a reader with no parsed object. Returns NULL only when memory runs out. The caller owns
 * the reader and must free it with dc_msgpack_reader_free. */
dc_msgpack_reader_t *dc_msgpack_reader_create(void);

/* Frees the reader and its nodes. Takes ownership of `reader`; NULL is ignored. */
void dc_msgpack_reader_free(dc_msgpack_reader_t *reader);

/* Parses `bytes`, which must hold exactly one complete MessagePack object, replacing the nodes of
 * any previous parse. `bytes` is borrowed for the call only: nodes keep offsets into it, not
 * pointers, so the caller resolves payloads against its own copy. Returns 0, or:
 *   DC_ERR_PROTOCOL  malformed, truncated, trailing bytes, or nested deeper than
 *                    DC_MSGPACK_MAX_DEPTH (errstr and error_offset say what and where);
 *   DC_ERR_INVALID   `length` is UINT32_MAX or more;
 *   DC_ERR_NOMEM     memory ran out.
 * On failure the reader holds no nodes. Never reads outside [bytes, bytes + length). */
int dc_msgpack_reader_parse(dc_msgpack_reader_t *reader, const void *bytes, size_t length);

/* Number of nodes of the last successful parse (0 after a failure). */
uint32_t dc_msgpack_reader_node_count(const dc_msgpack_reader_t *reader);

/* Copies node `index` into `*node_out` and returns 0, or returns DC_ERR_INVALID when `index` is
 * not below dc_msgpack_reader_node_count. Borrows both for the call. */
int dc_msgpack_reader_node(const dc_msgpack_reader_t *reader, uint32_t index, dc_msgpack_node_t *node_out);

/* Why the last parse failed ("" after a success). Valid only until the next parse or free. */
const char *dc_msgpack_reader_errstr(const dc_msgpack_reader_t *reader);

/* The input offset at which the last parse failed (0 after a success). */
size_t dc_msgpack_reader_error_offset(const dc_msgpack_reader_t *reader);

/* Test hook: makes the `countdown`-th allocation from now by this shim on the calling thread fail
 * (1 = the next one), so tests can drive every DC_ERR_NOMEM path; 0 disables it. Covers the
 * writer, its buffer growth, the reader's nodes and its msgpack-c zone. */
void dc_msgpack_fail_allocation_after(int countdown);

#ifdef __cplusplus
}
#endif

#endif /* DC_MSGPACK_H */
