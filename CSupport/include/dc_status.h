#ifndef DC_STATUS_H
#define DC_STATUS_H

/* Status codes returned by every dc_ function that can fail: 0, or one of these. */
typedef enum dc_status {
    DC_OK = 0,
    DC_ERR_NOMEM = -1,       /* an allocation failed */
    DC_ERR_INVALID = -2,     /* an argument was out of range, or the object is in the wrong state */
    DC_ERR_IO = -3,          /* a socket or libuv call failed; errstr says which */
    DC_ERR_CLOSED = -4,      /* the object is closing or closed */
    DC_ERR_PROTOCOL = -5,    /* bytes that are not valid RESP2 (from the server) or MessagePack */
    DC_ERR_TIMEOUT = -6,     /* a connect or command deadline passed */
    DC_ERR_UNSUPPORTED = -7  /* the kernel or library lacks a feature; a fallback is in use */
} dc_status_t;

#endif /* DC_STATUS_H */
