/**
 * @file agent/http.h
 * The agent's HTTP client: one libcurl easy handle per server, reused so
 * check-ins ride one kept-alive connection.  Every request has a byte cap
 * on the answer (a server, or anything in between, cannot make the agent
 * buffer more than it expects) and a total timeout; a long-poll can be cut
 * short by a signal through the abort flag.
 */
#ifndef BW_AGENT_HTTP_H
#define BW_AGENT_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/** Longest server base URL, bytes. */
#define AG_URL_MAX 1024
/** Longest JSON answer of the control API (check-in, enroll, problems), bytes. */
#define AG_HTTP_JSON_MAX (256u * 1024)

/** A client of one server.  Opaque. */
struct ag_http;

/** One request.  All pointers borrowed for the call. */
struct ag_http_request
{
  const char *method; /**< "GET" or "POST" */
  const char *path;   /**< absolute path, e.g. "/api/v1/agent/checkin" */
  const void *body;   /**< POST body, or NULL */
  size_t body_len;
  const char *content_encoding; /**< e.g. "gzip", or NULL */
  int prefer_wait_s;            /**< > 0: send `Prefer: wait=N` (RFC 7240) */
  size_t max_bytes;             /**< largest answer body accepted; more is an error */
  long timeout_s;               /**< whole exchange, seconds */
};

/** One answer. */
struct ag_http_response
{
  long status;             /**< HTTP status code */
  char *body;              /**< malloc'd, NUL-terminated (not counted in len); owned */
  size_t len;              /**< body bytes */
  long retry_after_s;      /**< Retry-After in seconds (RFC 9110 §10.2.3), -1 when absent */
  bool preference_applied; /**< the server sent Preference-Applied (it honoured the wait) */
};

/**
 * A client for @a base_url ("http(s)://host[:port]", no trailing slash
 * needed) sending `Authorization: Bearer @a bearer` when @a bearer is not
 * NULL (both copied).  TLS peers are verified; BULWARK_AGENT_CA_FILE names
 * a CA bundle to use instead of the system's.  @a abort_flag (may be NULL)
 * is polled during transfers: non-zero aborts the request.
 * @return the client, or NULL (out of memory, libcurl failure).
 */
struct ag_http *ag_http_new (const char *base_url, const char *bearer,
                             volatile sig_atomic_t *abort_flag);

/** Free @a h; wipes the bearer.  NULL-safe. */
void ag_http_free (struct ag_http *h);

/**
 * Send @a rq and read the answer into @a out (zeroed first).
 * @param err  on failure, a stable short reason: "network:<curl error>",
 *             "too_large" (the answer exceeded max_bytes), "aborted"
 * @return 0 when an HTTP answer (of any status) was read, -1 otherwise.
 */
int ag_http_do (struct ag_http *h, const struct ag_http_request *rq, struct ag_http_response *out,
                char *err, size_t errlen);

/** Free the body of @a r and zero it.  NULL-safe. */
void ag_http_response_clear (struct ag_http_response *r);

/**
 * Whether @a url may be used: https, or http to a loopback address
 * (127.0.0.0/8, ::1, localhost).  Plain http elsewhere would hand the
 * enrollment secret, the credential and the first keyset (trusted on
 * first use) to anyone on the path; BULWARK_AGENT_ALLOW_HTTP=1 allows it
 * for lab setups.
 */
bool ag_http_url_acceptable (const char *url);

#endif
