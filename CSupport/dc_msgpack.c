/*
 * MessagePack writer and reader over msgpack-c. The design (why a flat node array, why a
 * validation pass before msgpack-c, why msgpack_unpack with our own zone) is in dc_msgpack.h.
 *
 * Reading happens in three linear passes over one input:
 *   1. scan()      walks the headers only, checking every declared length against the bytes that
 *                  remain; it counts the nodes and the bytes msgpack-c's zone will need.
 *   2. msgpack_unpack  builds msgpack-c's tree in a zone of exactly that size.
 *   3. flatten()   copies the tree into the reader's node array in pre-order; the zone is freed.
 * Because pass 1 has bounded every count by the input length, pass 2 allocates at most 24 bytes
 * per input byte (one 24-byte msgpack_object slot per value, a map pair being two values, and
 * every value takes at least one byte), and the node array holds at most one 24-byte node per
 * input byte: 48 bytes of working memory per input byte at most, freed or kept by the reader.
 *
 * Allocation goes through shim_malloc/shim_realloc, which only add the test hook
 * (dc_msgpack_fail_allocation_after) in front of malloc/realloc: memory from them is freed with
 * plain free, as msgpack_sbuffer_destroy does.
 */
#include "dc_msgpack.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation, with the test hook ---- */

/* Per thread, so that a test on one thread never makes a concurrent marshal call on another fail.
 * 0 = disabled; n > 0 = the n-th allocation from now fails, after which the hook disables itself. */
static _Thread_local int fail_countdown;

void dc_msgpack_fail_allocation_after(int countdown) { fail_countdown = countdown > 0 ? countdown : 0; }

static int allocation_should_fail(void) {
    if (fail_countdown == 0) return 0;
    return --fail_countdown == 0;
}

static void *shim_malloc(size_t size) { return allocation_should_fail() ? NULL : malloc(size); }

static void *shim_realloc(void *ptr, size_t size) { return allocation_should_fail() ? NULL : realloc(ptr, size); }

/* ---- writer ---- */

/* The smallest buffer we allocate: the size of a few small values, so that tiny outputs double
 * at most once or twice before settling. */
#define WRITER_MIN_CAPACITY 64

struct dc_msgpack_writer {
    /* The packer's sink. `data` comes from shim_malloc/shim_realloc and is freed by
     * msgpack_sbuffer_destroy (plain free). */
    msgpack_sbuffer buffer;
    /* Writes through write_reserving into `buffer`. */
    msgpack_packer packer;
};

/* The packer's write callback: grows the buffer through the shim (doubling, so appends are
 * amortized O(1)), then lets msgpack_sbuffer_write copy, which no longer needs to realloc.
 * Returns 0, or -1 when memory runs out (the packer passes that through as its own result). */
static int write_reserving(void *data, const char *bytes, size_t length) {
    msgpack_sbuffer *buffer = data;
    if (length == 0) return 0;
    if (buffer->alloc - buffer->size < length) {
        size_t capacity = buffer->alloc > 0 ? buffer->alloc : WRITER_MIN_CAPACITY;
        while (capacity - buffer->size < length) {
            if (capacity > SIZE_MAX / 2) return -1;
            capacity *= 2;
        }
        char *grown = shim_realloc(buffer->data, capacity);
        if (grown == NULL) return -1;
        buffer->data = grown;
        buffer->alloc = capacity;
    }
    return msgpack_sbuffer_write(buffer, bytes, length);
}

dc_msgpack_writer_t *dc_msgpack_writer_create(size_t initial_capacity) {
    dc_msgpack_writer_t *writer = shim_malloc(sizeof(*writer));
    if (writer == NULL) return NULL;
    msgpack_sbuffer_init(&writer->buffer);
    if (initial_capacity < WRITER_MIN_CAPACITY) initial_capacity = WRITER_MIN_CAPACITY;
    writer->buffer.data = shim_malloc(initial_capacity);
    if (writer->buffer.data == NULL) {
        free(writer);
        return NULL;
    }
    writer->buffer.alloc = initial_capacity;
    msgpack_packer_init(&writer->packer, &writer->buffer, write_reserving);
    return writer;
}

void dc_msgpack_writer_free(dc_msgpack_writer_t *writer) {
    if (writer == NULL) return;
    msgpack_sbuffer_destroy(&writer->buffer);
    free(writer);
}

void dc_msgpack_writer_reset(dc_msgpack_writer_t *writer) { writer->buffer.size = 0; }

/* msgpack-c's packers return 0 or the callback's -1, and our callback fails only for memory. */
static int pack_status(int packer_result) { return packer_result == 0 ? DC_OK : DC_ERR_NOMEM; }

int dc_msgpack_write_nil(dc_msgpack_writer_t *writer) { return pack_status(msgpack_pack_nil(&writer->packer)); }

int dc_msgpack_write_bool(dc_msgpack_writer_t *writer, int value) {
    return pack_status(value ? msgpack_pack_true(&writer->packer) : msgpack_pack_false(&writer->packer));
}

int dc_msgpack_write_int64(dc_msgpack_writer_t *writer, int64_t value) {
    return pack_status(msgpack_pack_int64(&writer->packer, value));
}

int dc_msgpack_write_uint64(dc_msgpack_writer_t *writer, uint64_t value) {
    return pack_status(msgpack_pack_uint64(&writer->packer, value));
}

int dc_msgpack_write_double(dc_msgpack_writer_t *writer, double value) {
    return pack_status(msgpack_pack_double(&writer->packer, value));
}

int dc_msgpack_write_float(dc_msgpack_writer_t *writer, float value) {
    return pack_status(msgpack_pack_float(&writer->packer, value));
}

int dc_msgpack_write_str(dc_msgpack_writer_t *writer, const void *bytes, size_t length) {
    /* msgpack_pack_str takes a size_t but would silently truncate it to the 32-bit header. */
    if (length > UINT32_MAX) return DC_ERR_INVALID;
    int status = msgpack_pack_str(&writer->packer, length);
    if (status == 0 && length > 0) status = msgpack_pack_str_body(&writer->packer, bytes, length);
    return pack_status(status);
}

int dc_msgpack_write_bin(dc_msgpack_writer_t *writer, const void *bytes, size_t length) {
    if (length > UINT32_MAX) return DC_ERR_INVALID;
    int status = msgpack_pack_bin(&writer->packer, length);
    if (status == 0 && length > 0) status = msgpack_pack_bin_body(&writer->packer, bytes, length);
    return pack_status(status);
}

int dc_msgpack_write_array(dc_msgpack_writer_t *writer, size_t count) {
    if (count > UINT32_MAX) return DC_ERR_INVALID;
    return pack_status(msgpack_pack_array(&writer->packer, count));
}

int dc_msgpack_write_map(dc_msgpack_writer_t *writer, size_t count) {
    if (count > UINT32_MAX) return DC_ERR_INVALID;
    return pack_status(msgpack_pack_map(&writer->packer, count));
}

const uint8_t *dc_msgpack_writer_bytes(const dc_msgpack_writer_t *writer, size_t *length_out) {
    *length_out = writer->buffer.size;
    return (const uint8_t *)writer->buffer.data;
}

/* ---- reader ---- */

struct dc_msgpack_reader {
    /* shim_malloc'd; `capacity` slots, the first `count` valid. Kept across parses. */
    dc_msgpack_node_t *nodes;
    size_t capacity;
    uint32_t count;
    size_t error_offset;
    /* Long enough for the longest message below with two 20-digit numbers. */
    char errstr[128];
};

dc_msgpack_reader_t *dc_msgpack_reader_create(void) {
    dc_msgpack_reader_t *reader = shim_malloc(sizeof(*reader));
    if (reader == NULL) return NULL;
    memset(reader, 0, sizeof(*reader));
    return reader;
}

void dc_msgpack_reader_free(dc_msgpack_reader_t *reader) {
    if (reader == NULL) return;
    free(reader->nodes);
    free(reader);
}

__attribute__((format(printf, 4, 5))) static int fail(dc_msgpack_reader_t *reader, int status, size_t offset,
                                                      const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(reader->errstr, sizeof(reader->errstr), format, args);
    va_end(args);
    reader->error_offset = offset;
    reader->count = 0;
    return status;
}

static uint64_t load_be(const uint8_t *p, size_t width) {
    uint64_t value = 0;
    for (size_t i = 0; i < width; i++) value = (value << 8) | p[i];
    return value;
}

/* Pass 1. Checks that `bytes` is exactly one well-formed object that msgpack-c can unpack without
 * allocating more than the input justifies, and sizes passes 2 and 3. Never reads past
 * bytes[length - 1]: every read is preceded by a check against `length - pos`. */
static int scan(dc_msgpack_reader_t *reader, const uint8_t *bytes, size_t length, size_t *nodes_out,
                size_t *zone_bytes_out) {
    /* pending[d] = values still to read at nesting level d; level 0 is the top level (one value),
     * level d > 0 the d-th open container, counted as msgpack-c counts its stack. */
    uint64_t pending[DC_MSGPACK_MAX_DEPTH + 1];
    int depth = 0;
    pending[0] = 1;
    size_t pos = 0, nodes = 0, zone_bytes = 0;
    for (;;) {
        while (pending[depth] == 0) {
            if (depth == 0) goto complete;
            depth--;
        }
        pending[depth]--;
        if (pos == length)
            return fail(reader, DC_ERR_PROTOCOL, pos, "truncated: a value is missing at offset %zu", pos);
        size_t start = pos;
        uint8_t head = bytes[pos++];
        nodes++;
        /* For scalars and payloads: the byte count after the header (and after its length field).
         * For containers: the declared count, and whether it counts pairs. */
        size_t field = 0;  /* width of a big-endian length/count field that follows the head */
        size_t fixed = 0;  /* payload bytes not counted by a length field (ints, floats, ext type) */
        int container = 0; /* 0, 1 = array, 2 = map */
        uint64_t declared = 0;
        if (head <= 0x7f || head >= 0xe0 || head == 0xc0 || head == 0xc2 || head == 0xc3) {
            /* positive/negative fixint, nil, false, true: the head is the whole value */
        } else if (head <= 0x8f) {
            container = 2;
            declared = head & 0x0f;
        } else if (head <= 0x9f) {
            container = 1;
            declared = head & 0x0f;
        } else if (head <= 0xbf) {
            declared = head & 0x1f;
        } else {
            switch (head) {
            case 0xc1:
                return fail(reader, DC_ERR_PROTOCOL, start, "invalid byte 0xc1 at offset %zu", start);
            case 0xc4: case 0xd9: field = 1; break;          /* bin 8, str 8 */
            case 0xc5: case 0xda: field = 2; break;          /* bin 16, str 16 */
            case 0xc6: case 0xdb: field = 4; break;          /* bin 32, str 32 */
            case 0xc7: field = 1; fixed = 1; break;          /* ext 8 (+ type byte) */
            case 0xc8: field = 2; fixed = 1; break;          /* ext 16 */
            case 0xc9: field = 4; fixed = 1; break;          /* ext 32 */
            case 0xca: fixed = 4; break;                     /* float 32 */
            case 0xcb: fixed = 8; break;                     /* float 64 */
            case 0xcc: case 0xd0: fixed = 1; break;          /* (u)int 8 */
            case 0xcd: case 0xd1: fixed = 2; break;          /* (u)int 16 */
            case 0xce: case 0xd2: fixed = 4; break;          /* (u)int 32 */
            case 0xcf: case 0xd3: fixed = 8; break;          /* (u)int 64 */
            case 0xd4: fixed = 2; break;                     /* fixext 1 (+ type byte) */
            case 0xd5: fixed = 3; break;                     /* fixext 2 */
            case 0xd6: fixed = 5; break;                     /* fixext 4 */
            case 0xd7: fixed = 9; break;                     /* fixext 8 */
            case 0xd8: fixed = 17; break;                    /* fixext 16 */
            case 0xdc: container = 1; field = 2; break;      /* array 16 */
            case 0xdd: container = 1; field = 4; break;      /* array 32 */
            case 0xde: container = 2; field = 2; break;      /* map 16 */
            case 0xdf: container = 2; field = 4; break;      /* map 32 */
            default: /* unreachable: every byte 0xc0...0xdf is listed above or handled earlier */
                return fail(reader, DC_ERR_PROTOCOL, start, "invalid byte 0x%02x at offset %zu", head, start);
            }
        }
        if (field > 0) {
            if (length - pos < field)
                return fail(reader, DC_ERR_PROTOCOL, start, "truncated: the header at offset %zu is cut short", start);
            declared = load_be(bytes + pos, field);
            pos += field;
        }
        if (container) {
            if (depth == DC_MSGPACK_MAX_DEPTH)
                return fail(reader, DC_ERR_PROTOCOL, start, "nesting deeper than %d at offset %zu",
                            DC_MSGPACK_MAX_DEPTH, start);
            /* Every element takes at least one byte: a count the rest of the input cannot hold is
             * a lie, and msgpack-c would allocate for it before noticing. */
            uint64_t elements = declared * (uint64_t)container;
            if (elements > length - pos)
                return fail(reader, DC_ERR_PROTOCOL, start,
                            "truncated: the %s at offset %zu declares %llu entries, %zu bytes remain",
                            container == 2 ? "map" : "array", start, (unsigned long long)declared, length - pos);
            zone_bytes += (size_t)declared * (container == 2 ? sizeof(msgpack_object_kv) : sizeof(msgpack_object));
            if (elements > 0) pending[++depth] = elements;
        } else {
            uint64_t payload = declared + fixed;
            if (payload > length - pos)
                return fail(reader, DC_ERR_PROTOCOL, start,
                            "truncated: the value at offset %zu needs %llu more bytes, %zu remain", start,
                            (unsigned long long)payload, length - pos);
            pos += (size_t)payload;
        }
    }
complete:
    if (pos != length)
        return fail(reader, DC_ERR_PROTOCOL, pos, "trailing bytes: the object ends at offset %zu of %zu", pos, length);
    *nodes_out = nodes;
    *zone_bytes_out = zone_bytes;
    return DC_OK;
}

/* The offset of a str, bin or ext payload in the input. msgpack-c leaves the pointer of an empty
 * payload unset (its unpacker pushes a stale or NULL position when the length is 0), so an empty
 * payload gets offset 0 instead of a computed one. Any other pointer must lie inside the input with
 * its whole payload; scan() guarantees it, and the check keeps Swift's slices in bounds regardless. */
static int payload_offset(const char *ptr, uint32_t size, const uint8_t *base, size_t length, uint32_t *offset_out) {
    if (size == 0) {
        *offset_out = 0;
        return DC_OK;
    }
    const uint8_t *start = (const uint8_t *)ptr;
    if (start < base || (size_t)(start - base) > length || size > length - (size_t)(start - base))
        return DC_ERR_PROTOCOL;
    *offset_out = (uint32_t)(start - base);
    return DC_OK;
}

/* Pass 3. Appends `object` and its subtree in pre-order. The node array was sized by scan(), and
 * msgpack-c builds exactly the values scan() counted; the capacity check guards that claim
 * rather than trusting it. Recursion depth is at most DC_MSGPACK_MAX_DEPTH + 1 (scan() checked). */
static int flatten(dc_msgpack_reader_t *reader, const msgpack_object *object, const uint8_t *base, size_t length) {
    if (reader->count >= reader->capacity) return DC_ERR_PROTOCOL;
    uint32_t index = reader->count++;
    dc_msgpack_node_t node;
    memset(&node, 0, sizeof(node));
    int status = DC_OK;
    switch (object->type) {
    case MSGPACK_OBJECT_NIL: node.type = DC_MSGPACK_NIL; break;
    case MSGPACK_OBJECT_BOOLEAN:
        node.type = DC_MSGPACK_BOOL;
        node.value.b = object->via.boolean ? 1 : 0;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        node.type = DC_MSGPACK_UINT;
        node.value.u = object->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        node.type = DC_MSGPACK_INT;
        node.value.i = object->via.i64;
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        node.type = DC_MSGPACK_FLOAT;
        node.value.f = object->via.f64;
        break;
    case MSGPACK_OBJECT_STR:
        node.type = DC_MSGPACK_STR;
        node.length = object->via.str.size;
        status = payload_offset(object->via.str.ptr, node.length, base, length, &node.value.offset);
        break;
    case MSGPACK_OBJECT_BIN:
        node.type = DC_MSGPACK_BIN;
        node.length = object->via.bin.size;
        status = payload_offset(object->via.bin.ptr, node.length, base, length, &node.value.offset);
        break;
    case MSGPACK_OBJECT_EXT:
        node.type = DC_MSGPACK_EXT;
        node.length = object->via.ext.size;
        status = payload_offset(object->via.ext.ptr, node.length, base, length, &node.value.offset);
        break;
    case MSGPACK_OBJECT_ARRAY:
        node.type = DC_MSGPACK_ARRAY;
        node.length = object->via.array.size;
        for (uint32_t i = 0; i < object->via.array.size && status == DC_OK; i++) {
            status = flatten(reader, &object->via.array.ptr[i], base, length);
        }
        break;
    case MSGPACK_OBJECT_MAP:
        node.type = DC_MSGPACK_MAP;
        node.length = object->via.map.size;
        for (uint32_t i = 0; i < object->via.map.size && status == DC_OK; i++) {
            status = flatten(reader, &object->via.map.ptr[i].key, base, length);
            if (status == DC_OK) status = flatten(reader, &object->via.map.ptr[i].val, base, length);
        }
        break;
    default:
        status = DC_ERR_PROTOCOL;
    }
    if (status != DC_OK) return status;
    node.next = reader->count;
    reader->nodes[index] = node;
    return DC_OK;
}

int dc_msgpack_reader_parse(dc_msgpack_reader_t *reader, const void *bytes, size_t length) {
    reader->count = 0;
    reader->error_offset = 0;
    reader->errstr[0] = '\0';
    if (length >= UINT32_MAX) return fail(reader, DC_ERR_INVALID, 0, "input of %zu bytes exceeds 4 GiB", length);
    if (length == 0) return fail(reader, DC_ERR_PROTOCOL, 0, "empty input");

    size_t node_count = 0, zone_bytes = 0;
    int status = scan(reader, bytes, length, &node_count, &zone_bytes);
    if (status != DC_OK) return status;

    if (node_count > reader->capacity) {
        dc_msgpack_node_t *nodes = shim_realloc(reader->nodes, node_count * sizeof(*nodes));
        if (nodes == NULL) return fail(reader, DC_ERR_NOMEM, 0, "out of memory for %zu nodes", node_count);
        reader->nodes = nodes;
        reader->capacity = node_count;
    }

    /* One chunk of exactly what scan() counted; msgpack_zone_malloc aligns to 8 bytes, and
     * msgpack_object (24) and msgpack_object_kv (48) are multiples of 8, so nothing is lost to
     * padding. The hook stands in for the malloc inside msgpack_zone_init, which it cannot reach. */
    msgpack_zone zone;
    if (allocation_should_fail() || !msgpack_zone_init(&zone, zone_bytes > 0 ? zone_bytes : sizeof(void *)))
        return fail(reader, DC_ERR_NOMEM, 0, "out of memory for a %zu-byte zone", zone_bytes);
    msgpack_object root;
    size_t offset = 0;
    msgpack_unpack_return unpacked = msgpack_unpack(bytes, length, &offset, &zone, &root);
    if (unpacked == MSGPACK_UNPACK_SUCCESS) {
        status = flatten(reader, &root, bytes, length);
        if (status != DC_OK) status = fail(reader, status, 0, "msgpack-c built a tree unlike the scanned input");
    } else if (unpacked == MSGPACK_UNPACK_NOMEM_ERROR) {
        status = fail(reader, DC_ERR_NOMEM, 0, "msgpack-c ran out of memory");
    } else {
        /* scan() accepts only what msgpack-c accepts; reaching this is a bug in one of them. */
        status = fail(reader, DC_ERR_PROTOCOL, offset, "msgpack-c rejected validated input (status %d)", (int)unpacked);
    }
    msgpack_zone_destroy(&zone);
    return status;
}

uint32_t dc_msgpack_reader_node_count(const dc_msgpack_reader_t *reader) { return reader->count; }

int dc_msgpack_reader_node(const dc_msgpack_reader_t *reader, uint32_t index, dc_msgpack_node_t *node_out) {
    if (index >= reader->count) return DC_ERR_INVALID;
    *node_out = reader->nodes[index];
    return DC_OK;
}

const char *dc_msgpack_reader_errstr(const dc_msgpack_reader_t *reader) { return reader->errstr; }

size_t dc_msgpack_reader_error_offset(const dc_msgpack_reader_t *reader) { return reader->error_offset; }
