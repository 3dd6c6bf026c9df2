/*
 * Monotonic clocks for expiry checks and deadlines.
 *
 * Why in C: Swift's ContinuousClock.now returns a Duration-based Instant through several calls;
 * these are single vDSO calls that the Swift optimizer inlines as plain C. Measured on the
 * project's machine kind (KVM, tsc clocksource): CLOCK_MONOTONIC ~31 ns, CLOCK_MONOTONIC_COARSE
 * ~10 ns with 4 ms resolution (perf/RESULTS.md, "clock costs"). The local store reads the coarse
 * clock first and the precise one only when an entry is within one coarse tick of its deadline,
 * so an expired entry is never returned and most TTL hits pay ~10 ns instead of ~31 ns.
 */
#ifndef DC_CLOCK_H
#define DC_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC: exact, never goes backwards. Any thread. */
static inline int64_t dc_clock_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Nanoseconds on CLOCK_MONOTONIC_COARSE: the time of the last kernel tick, so it lags the
 * precise clock by less than dc_clock_coarse_resolution_ns(). Any thread. */
static inline int64_t dc_clock_coarse_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The resolution of the coarse clock (one kernel tick, typically 1-4 ms). Any thread. */
static inline int64_t dc_clock_coarse_resolution_ns(void) {
    struct timespec ts;
    clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Nanoseconds since the Unix epoch on CLOCK_REALTIME, for log lines and event timestamps only:
 * it can jump, so nothing orders or expires by it. Any thread. */
static inline int64_t dc_clock_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* DC_CLOCK_H */
