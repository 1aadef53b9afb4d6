/**
 * @file lib/clock.h
 * The two clocks the code reads: a monotonic one for durations, deadlines
 * and cache ages, and the wall clock for times that are stored or sent.
 */
#ifndef BW_LIB_CLOCK_H
#define BW_LIB_CLOCK_H

#include <stdint.h>

/** Nanoseconds of CLOCK_MONOTONIC (never goes back; meaningless across processes). */
uint64_t bw_monotonic_ns (void);

/** Microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t bw_realtime_us (void);

#endif
