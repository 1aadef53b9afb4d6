/**
 * @file lib/rfc3339.h
 * Syntax of RFC 3339 §5.6 date-times as clients send them (query filters,
 * expiry times), checked before a value reaches SQL so a bad one is a 400
 * naming the field, never a failed statement.
 */
#ifndef BW_LIB_RFC3339_H
#define BW_LIB_RFC3339_H

#include <stdbool.h>

/** Longest date-time accepted, in bytes. */
#define BW_RFC3339_MAX 40
/** Largest UTC offset PostgreSQL takes for a timestamptz, in hours. */
#define BW_RFC3339_OFFSET_HOURS_MAX 15

/**
 * Whether @a s is an RFC 3339 §5.6 date-time that PostgreSQL 15 takes as a
 * timestamptz: full-date "T" full-time ("T"/"Z" in either case, §5.6 NOTE),
 * a real calendar date in years 1..9999, seconds up to 60 (a leap second,
 * then without fraction), `Z` or an offset of at most
 * BW_RFC3339_OFFSET_HOURS_MAX hours, at most BW_RFC3339_MAX bytes.
 */
bool bw_rfc3339_valid (const char *s);

#endif
