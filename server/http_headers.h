/**
 * @file server/http_headers.h
 * Request header fields of the agent protocol (DESIGN §6): the `wait`
 * preference of `Prefer` (RFC 7240 §2, §4.3) and `If-None-Match`
 * (RFC 9110 §13.1.2).  The parsers take one field value; the request
 * helpers combine every field line of that name, in order (RFC 9110 §5.3).
 */
#ifndef BW_SERVER_HTTP_HEADERS_H
#define BW_SERVER_HTTP_HEADERS_H

#include <stdbool.h>
#include "server/request.h"

/** What one `Prefer` field value says about `wait`. */
enum bw_prefer_wait
{
  BW_PREFER_WAIT_ABSENT = 0, /**< no wait preference in it */
  BW_PREFER_WAIT_VALID,      /**< `wait=<delta-seconds>`; the seconds are set */
  BW_PREFER_WAIT_INVALID,    /**< a wait preference without delta-seconds: ignored */
};

/**
 * Find the first `wait` preference in the `Prefer` field value @a value
 * (RFC 7240 §2: `1#preference`, each `token [BWS "=" BWS word]
 * *(OWS ";" [OWS parameter])`; names case-insensitive).  Other preferences
 * (`respond-async`, `return=minimal`, ...) and their parameters are
 * skipped; a malformed element is skipped up to the next top-level comma.
 * @param[out] seconds  on VALID, the delta-seconds, saturated at UINT_MAX
 */
enum bw_prefer_wait bw_prefer_wait_parse (const char *value, unsigned int *seconds);

/**
 * The `wait` preference of @a rq over all its `Prefer` fields: only the
 * first instance counts (RFC 7240 §2).  @return true and @a seconds when
 * it is valid; false when absent or invalid (then the client gets no wait).
 */
bool bw_request_prefer_wait (const struct bw_request *rq, unsigned int *seconds);

/**
 * Whether the `If-None-Match` field value @a value ("*" or a list of
 * entity tags) matches the current entity tag `"<opaque>"` by weak
 * comparison (RFC 9110 §8.8.3.2, §13.1.2: `W/"x"` matches `"x"`).  A
 * malformed value matches nothing (the full answer is always safe).
 * @param opaque  the tag's characters without the quotes (borrowed)
 */
bool bw_if_none_match_parse (const char *value, const char *opaque);

/** bw_if_none_match_parse over every `If-None-Match` field of @a rq. */
bool bw_request_if_none_match (const struct bw_request *rq, const char *opaque);

#endif
