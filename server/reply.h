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

/**
 * Reply @a status with @a body of @a len bytes (malloc'd, taken over and
 * freed by libmicrohttpd after sending; NULL when @a len is 0, also freed
 * on failure) of @a content_type, plus @a nheaders extra headers (strings
 * borrowed for the call).  No copy: for exact stored bytes (bundles,
 * keysets) and bodies built by hand on hot paths.
 */
enum bw_step bw_reply_bytes_steal (struct bw_request *rq, unsigned int status,
                                   const char *content_type, void *body, size_t len,
                                   const struct bw_header *headers, size_t nheaders);

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

/** Seconds a rate-limited client (429) is told to wait in `Retry-After`. */
#define BW_RATE_RETRY_AFTER_S 1

/**
 * bw_reply_problem plus extension members (RFC 9457 §3.2): every member of
 * the object @a extra (stolen, may be NULL) is added to the problem
 * document unless it would replace a standard one; e.g. `{"node_invalid":
 * true}` on the 401 of agent endpoints (DESIGN §6).  A 429 gets
 * `Retry-After: BW_RATE_RETRY_AFTER_S`.
 */
enum bw_step bw_reply_problem_ext (struct bw_request *rq, enum bw_error err, const char *detail,
                                   json_t *errors, json_t *extra);

/** Shorthand: one validation error for body field @a pointer (RFC 6901). */
enum bw_step bw_reply_invalid (struct bw_request *rq, const char *pointer, const char *message);

/**
 * Map a failed db_qs to its reply: UNAVAILABLE → 503 + Retry-After,
 * anything else → 500.  @a qs must be negative.
 */
enum bw_step bw_reply_db_error (struct bw_request *rq, int qs);

#endif
