/*
 * Naming the calling thread, for debuggers, `top -H` and perf reports.
 *
 * Why in C: Linux's way is prctl(PR_SET_NAME), a variadic function Swift cannot call, and
 * pthread_setname_np is a GNU extension that Glibc's Swift overlay does not import.
 */
#ifndef DC_THREAD_H
#define DC_THREAD_H

#include <sys/prctl.h>

/* Names the calling thread; the kernel keeps the first 15 bytes. Borrows `name` for the call. */
static inline void dc_thread_set_name(const char *name) {
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

#endif /* DC_THREAD_H */
