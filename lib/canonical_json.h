/**
 * @file lib/canonical_json.h
 * Canonical JSON bytes: object keys sorted, no insignificant whitespace,
 * UTF-8 (DESIGN §6).  Used for digests (audit before/after) and, later,
 * signed bundles.  Only integers are expected; reals are refused.
 */
#ifndef BW_LIB_CANONICAL_JSON_H
#define BW_LIB_CANONICAL_JSON_H

#include <jansson.h>

/**
 * Serialize @a v canonically.
 * @return a malloc'd NUL-terminated string owned by the caller, or NULL if
 *         @a v contains a real number or allocation failed.
 */
char *bw_json_canonical (const json_t *v);

/** Hex SHA-256 of bw_json_canonical(@a v) into @a out (65 bytes).  @return 0 or -1. */
int bw_json_digest (const json_t *v, char out[65]);

#endif
