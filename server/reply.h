/**
 * @file server/reply.h
 * The only way handlers answer.  Every response gets `X-Request-ID`;
 * errors are RFC 9457 problem documents built from the error registry.
 */
#ifndef BW_SERVER_REPLY_H
#define BW_SERVER_REPLY_H

#include <jansson.h>
#include "api/error.h"
#include "server/request.h"

/** Extra response header (both strings borrowed for the call). */
struct bw_header
{
  const char *name;
  const char *value;
};

/**
 * Reply @a status with @a body (stolen) as application/json, plus
 * @a nheaders extra headers.
 */
enum bw_step bw_reply_json (struct bw_request *rq, unsigned int status, json_t *body,
                            const struct bw_header *headers, size_t nheaders);

/** Reply @a status with an empty body (204, 304). */
enum bw_step bw_reply_empty (struct bw_request *rq, unsigned int status,
                             const struct bw_header *headers, size_t nheaders);

/** Reply @a status with @a body (copied) of @a content_type. */
enum bw_step bw_reply_text (struct bw_request *rq, unsigned int status, const char *content_type,
                            const char *body, size_t len);

/** Most entries of a problem's `errors` list; the rest are dropped and flagged. */
#define BW_PROBLEM_ERRORS_MAX 100

/**
 * Reply with the problem document of @a err (RFC 9457): type, title,
 * status, detail, code, request_id, and `errors` when @a errors (stolen,
 * may be NULL) is a non-empty array of {pointer|parameter, message}; past
 * BW_PROBLEM_ERRORS_MAX entries it is cut and `errors_truncated` is true.
 * @a detail (may be NULL) is copied; it must not contain internals.
 * Adds `Retry-After` for 503 and `Allow` for 405 (from the route table).
 */
enum bw_step bw_reply_problem (struct bw_request *rq, enum bw_error err, const char *detail,
                               json_t *errors);

/** Shorthand: one validation error for body field @a pointer (RFC 6901). */
enum bw_step bw_reply_invalid (struct bw_request *rq, const char *pointer, const char *message);

/**
 * Map a failed db_qs to its reply: UNAVAILABLE → 503 + Retry-After,
 * anything else → 500.  @a qs must be negative.
 */
enum bw_step bw_reply_db_error (struct bw_request *rq, int qs);

#endif
