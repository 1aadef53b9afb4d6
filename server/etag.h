/**
 * @file server/etag.h
 * Version entity tags and `If-Match` (RFC 9110 §8.8.3, §13.1.1) for objects
 * whose ETag is their version number: `"<version>"`, a strong validator.
 */
#ifndef BW_SERVER_ETAG_H
#define BW_SERVER_ETAG_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "server/request.h"

/** Bytes of an ETag `"<version>"` with its NUL (an int64 has at most 20 characters). */
#define BW_ETAG_SIZE 24

/** Write the entity tag `"<version>"` of @a version into @a out. */
void bw_etag_of_version (int64_t version, char out[BW_ETAG_SIZE]);

/**
 * Whether an `If-Match` field value (RFC 9110 §13.1.1: "*" or a list of
 * entity tags) matches the object at @a version by strong comparison.
 * Weak tags never match; a malformed value matches nothing.
 * @param value  the header value, NUL-terminated (borrowed)
 */
bool bw_if_match_version (const char *value, int64_t version);

/**
 * Reply @a status with @a body (stolen), `ETag: "<version>"` and, when
 * @a location is not NULL (a 201), `Location: <location>` (borrowed).
 */
enum bw_step bw_reply_versioned (struct bw_request *rq, unsigned int status, json_t *body,
                                 int64_t version, const char *location);

#endif
