/*
 * libmicrohttpd glue.  The access handler is called several times per
 * request: on the request line (create the context, match the route, refuse
 * early what can be refused), once per body chunk (append up to the cap),
 * and a last time with no data (authenticate, parse, dispatch).  Per PERF.md,
 * responses are queued from the second call on, except refusals of requests
 * that still carry a body: queueing those at once lets MHD close the
 * connection instead of reading a body we will not use.  A handler may park
 * its request (BW_SUSPENDED, server/longpoll.h): the connection is
 * suspended, and once resumed libmicrohttpd calls us again with no data,
 * and the same handler runs again on the same request context.
 */
#include "config.h"
#include "server/http.h"
#include "db/db.h"
#include "db/org.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "server/agent_auth.h"
#include "server/auth.h"
#include "server/inflate.h"
#include "server/longpoll.h"
#include "server/metrics.h"
#include "server/reply.h"
#include "server/router.h"

#include <limits.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/** Bytes of a refused request's body read (and dropped) so the client gets the answer; past
 *  this the connection is cut instead. */
#define BW_BODY_DISCARD_MAX (64ull * 1024 * 1024)
/** Descriptors needed besides one per connection (database, epoll, wake-up pipes, logs). */
#define BW_FD_RESERVE 256

/* Set as the request context by the URI log callback when the raw path
 * holds an encoded '/' (%2F), which libmicrohttpd would decode before
 * routing: such a path is refused, so `acme%2Ftokens` never reaches the
 * tokens route.  Only its address matters. */
static char encoded_slash_marker;

static struct MHD_Daemon *daemon_handle;
static const struct bw_config *config;
static atomic_int inflight;
static atomic_bool shutting_down;

/* The declared Content-Length, or 0 when there is none. */
static unsigned long long
declared_length (const struct bw_request *rq)
{
  const char *cl = bw_request_header (rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (NULL == cl)
    return 0;
  char *end;
  unsigned long long n = strtoull (cl, &end, 10);
  return ('\0' == *end) ? n : ULLONG_MAX;
}

static bool
is_json_media_type (const char *ct)
{
  if (NULL == ct)
    return false;
  size_t n = strlen ("application/json");
  return 0 == strncasecmp (ct, "application/json", n) && ('\0' == ct[n] || ';' == ct[n] || ' ' == ct[n]);
}

/* Resolve `{org}` and check the principal may see it: another org is 404. */
static bool
resolve_org (struct bw_request *rq)
{
  if (0 != strncmp (rq->route->pattern, "/api/v1/orgs/{org}", strlen ("/api/v1/orgs/{org}")))
    return true;
  int qs = db_org_resolve (rq->params[0], &rq->org);
  if (qs < 0)
    {
      bw_reply_db_error (rq, qs);
      return false;
    }
  if (0 == qs
      || (BW_PRINCIPAL_ORG_TOKEN == rq->principal.kind
          && 0 != strcmp (rq->org.id, rq->principal.org_id)))
    {
      bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
      return false;
    }
  return true;
}

static bool
authorize (struct bw_request *rq)
{
  const struct bw_route *r = rq->route;
  if (BW_PERM_NONE == r->perm)
    return true;
  if (BW_PERM_AGENT == r->perm)
    return bw_agent_auth_or_reply (rq);
  switch (bw_auth_authenticate (rq))
    {
    case BW_AUTH_OK:
      break;
    case BW_AUTH_INVALID:
      bw_reply_problem (rq, BW_E_AUTH_REQUIRED, NULL, NULL);
      return false;
    case BW_AUTH_DB_UNAVAILABLE:
      bw_reply_problem (rq, BW_E_DB_UNAVAILABLE, NULL, NULL);
      return false;
    case BW_AUTH_ERROR:
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  /* bw_auth_authenticate never yields an agent; fail closed if it ever did */
  if (BW_PRINCIPAL_AGENT == rq->principal.kind)
    {
      bw_reply_problem (rq, BW_E_AUTH_REQUIRED, NULL, NULL);
      return false;
    }
  if (!resolve_org (rq))
    return false;
  if (BW_PRINCIPAL_PLATFORM == rq->principal.kind)
    return true;
  if (BW_PERM_PLATFORM == r->perm || !bw_role_allows (rq->principal.role, r->perm))
    {
      char detail[96];
      snprintf (detail, sizeof (detail), "role %s lacks permission %s",
                bw_role_name (rq->principal.role), bw_perm_name (r->perm));
      bw_reply_problem (rq, BW_E_FORBIDDEN, detail, NULL);
      return false;
    }
  return true;
}

/* jansson names a duplicate key but not where it sits.  When the body
 * parses without the duplicate check and its top-level object has the key
 * jansson named, point at it; otherwise at the whole document (""). */
static void
duplicate_pointer (const struct bw_request *rq, const json_error_t *strict, char *out,
                   size_t outlen)
{
  out[0] = '\0';
  if (0 != strncmp (strict->text, "duplicate object key", strlen ("duplicate object key")))
    return;
  json_error_t jerr;
  json_t *lax = json_loadb (rq->body, rq->body_len, JSON_DECODE_ANY, &jerr);
  const char *key;
  json_t *v;
  json_object_foreach (lax, key, v)
    {
      char expected[sizeof (strict->text)];
      snprintf (expected, sizeof (expected), "duplicate object key near '\"%s\"'", key);
      if (0 == strcmp (strict->text, expected) && NULL == strpbrk (key, "/~"))
        {
          snprintf (out, outlen, "/%s", key);
          break;
        }
    }
  json_decref (lax);
}

/* Content-Encoding (RFC 9110 §8.4): none, identity or gzip.  A gzip body is
 * replaced by its decoded bytes, which must fit the body limit as well —
 * the limit is on what we parse, not on what travelled. */
static bool
decode_body (struct bw_request *rq)
{
  const char *ce = bw_request_header (rq, MHD_HTTP_HEADER_CONTENT_ENCODING);
  if (NULL == ce || 0 == strcasecmp (ce, "identity"))
    return true;
  if (0 != strcasecmp (ce, "gzip"))
    {
      bw_reply_problem (rq, BW_E_UNSUPPORTED_MEDIA_TYPE,
                        "Content-Encoding must be gzip or absent", NULL);
      return false;
    }
  char *plain = NULL;
  size_t plain_len = 0;
  char detail[128];
  switch (bw_inflate_gzip ((NULL != rq->body) ? rq->body : "", rq->body_len, config->body_limit,
                           &plain, &plain_len))
    {
    case BW_INFLATE_OK:
      free (rq->body);
      rq->body = plain;
      rq->body_len = plain_len;
      return true;
    case BW_INFLATE_TOO_LARGE:
      snprintf (detail, sizeof (detail),
                "the request body exceeds the limit of %lu bytes after gzip decoding",
                config->body_limit);
      bw_reply_problem (rq, BW_E_PAYLOAD_TOO_LARGE, detail, NULL);
      return false;
    case BW_INFLATE_INVALID:
      bw_reply_problem (rq, BW_E_MALFORMED_JSON, "the body is not a valid gzip stream", NULL);
      return false;
    case BW_INFLATE_NOMEM:
      break;
    }
  bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  return false;
}

static bool
parse_body (struct bw_request *rq)
{
  if (!is_json_media_type (bw_request_header (rq, MHD_HTTP_HEADER_CONTENT_TYPE)))
    {
      bw_reply_problem (rq, BW_E_UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json",
                        NULL);
      return false;
    }
  if (!decode_body (rq))
    return false;
  json_error_t jerr;
  rq->json = json_loadb ((NULL != rq->body) ? rq->body : "", rq->body_len,
                         JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (NULL == rq->json)
    {
      char detail[256];
      char pointer[160];
      /* jansson names its own flag here; say what the client can fix. */
      const char *what = (0 == rq->body_len) ? "the body is empty"
                         : (NULL != strstr (jerr.text, "JSON_ALLOW_NUL"))
                           ? "strings must not contain \\u0000"
                           : jerr.text;
      snprintf (detail, sizeof (detail), "%s (line %d, column %d)", what, jerr.line, jerr.column);
      duplicate_pointer (rq, &jerr, pointer, sizeof (pointer));
      bw_reply_problem (rq, BW_E_MALFORMED_JSON, detail,
                        ('\0' == pointer[0]) ? NULL
                                            : json_pack ("[{s:s, s:s}]", "pointer", pointer,
                                                         "message", "duplicate key"));
      return false;
    }
  return true;
}

/* Run the route's handler (again, after a long-poll resumed it: same
 * request, already authorized and parsed).  A handler that parked the
 * request (BW_SUSPENDED) has not replied yet: libmicrohttpd calls us again
 * once it is resumed (server/longpoll.h). */
static void
run_handler (struct bw_request *rq)
{
  rq->suspended = (BW_SUSPENDED == rq->route->handler (rq));
  if (db_tx_leaked ())
    bw_log_json (BW_LOG_ERROR, "handler left a transaction open",
                 json_pack ("{s:s, s:s}", "route", rq->route->pattern, "request_id",
                            rq->request_id));
  if (rq->suspended && rq->replied)
    {
      bw_log_json (BW_LOG_ERROR, "handler replied and parked",
                   json_pack ("{s:s, s:s}", "route", rq->route->pattern, "request_id",
                              rq->request_id));
      rq->suspended = false;
    }
  if (!rq->replied && !rq->suspended)
    {
      bw_log_json (BW_LOG_ERROR, "handler did not reply",
                   json_pack ("{s:s, s:s}", "route", rq->route->pattern, "request_id",
                              rq->request_id));
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
}

static void
dispatch (struct bw_request *rq, enum bw_error early)
{
  if (BW_E_PAYLOAD_TOO_LARGE == early)
    {
      char detail[96];
      snprintf (detail, sizeof (detail), "the request body exceeds the limit of %lu bytes",
                config->body_limit);
      bw_reply_problem (rq, early, detail, NULL);
      return;
    }
  if (BW_E__COUNT != early)
    {
      bw_reply_problem (rq, early, NULL, NULL);
      return;
    }
  if (!authorize (rq))
    return;
  if (rq->route->json_body
      && !(BW_BODY_OPTIONAL == rq->route->json_body && 0 == rq->body_len)
      && !parse_body (rq))
    return;
  run_handler (rq);
}

/* Called with the raw request target before libmicrohttpd decodes it. */
static void *
on_uri (void *cls, const char *uri, struct MHD_Connection *connection)
{
  size_t path_len = strcspn (uri, "?");
  for (size_t i = 0; i + 2 < path_len; i++)
    if ('%' == uri[i] && '2' == uri[i + 1] && ('f' == uri[i + 2] || 'F' == uri[i + 2]))
      return &encoded_slash_marker;
  return NULL;
}

/* First call: context, route, early refusals.  A request whose line has
 * arrived is finished even when shutdown begins meanwhile. */
static enum MHD_Result
on_request_line (struct MHD_Connection *connection, const char *url, const char *method,
                 void **con_cls)
{
  bool encoded_slash = (&encoded_slash_marker == *con_cls);
  struct bw_request *rq = bw_request_new (connection, method, url);
  *con_cls = rq;
  if (NULL == rq)
    return MHD_NO;
  atomic_fetch_add (&inflight, 1);
  struct bw_route_match m;
  rq->early = BW_E__COUNT;
  if (0 != bw_route_find (rq, method, url, &m))
    rq->early = BW_E_INTERNAL;
  else if (atomic_load (&shutting_down))
    rq->early = BW_E_SHUTTING_DOWN;
  else if (NULL == m.route || encoded_slash)
    rq->early = (m.path_known && !encoded_slash) ? BW_E_METHOD_NOT_ALLOWED : BW_E_NOT_FOUND;
  else if (declared_length (rq) > config->body_limit)
    rq->early = BW_E_PAYLOAD_TOO_LARGE;
  rq->route = encoded_slash ? NULL : m.route;
  memcpy (rq->allow, m.allow, sizeof (rq->allow));
  /* A refused request's body is read and dropped so that the client, still
     sending, reads the answer; past the discard cap we answer at once and
     libmicrohttpd closes the connection. */
  if (BW_E__COUNT != rq->early && declared_length (rq) > BW_BODY_DISCARD_MAX)
    dispatch (rq, rq->early);
  return MHD_YES;
}

/* Body chunk: keep it only for routes that take a body, up to the cap.
 * libmicrohttpd cannot queue a response while a body is still arriving, so
 * the body of a refused request (or one found too large on the way) is read
 * and dropped, and answered once complete; a client that keeps sending past
 * BW_BODY_DISCARD_MAX bytes is cut off instead. */
static enum MHD_Result
on_body_chunk (struct bw_request *rq, const char *data, size_t n)
{
  if (rq->replied)
    return MHD_YES;
  if (BW_E__COUNT != rq->early || !rq->route->json_body)
    {
      rq->body_len += n;
      return (rq->body_len > BW_BODY_DISCARD_MAX) ? MHD_NO : MHD_YES;
    }
  if (rq->body_len + n > config->body_limit)
    {
      rq->early = BW_E_PAYLOAD_TOO_LARGE;
      rq->body_len += n;
      return MHD_YES;
    }
  char *grown = realloc (rq->body, rq->body_len + n + 1);
  if (NULL == grown)
    return MHD_NO;
  memcpy (grown + rq->body_len, data, n);
  rq->body_len += n;
  grown[rq->body_len] = '\0';
  rq->body = grown;
  return MHD_YES;
}

static enum MHD_Result
on_access (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
  struct bw_request *rq = *con_cls;
  if (NULL == rq || (void *) &encoded_slash_marker == (void *) rq)
    return on_request_line (connection, url, method, con_cls);
  if (0 != *upload_data_size)
    {
      size_t n = *upload_data_size;
      *upload_data_size = 0;
      return on_body_chunk (rq, upload_data, n);
    }
  if (rq->suspended)
    run_handler (rq); /* resumed after a long-poll: answer or park again */
  else if (!rq->replied)
    dispatch (rq, rq->early);
  return MHD_YES;
}

/* Completion: one log line, metrics, free. */
static void
on_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
  struct bw_request *rq = *con_cls;
  *con_cls = NULL;
  if (NULL == rq || (void *) &encoded_slash_marker == (void *) rq)
    return;
  uint64_t elapsed_ns = bw_monotonic_ns () - rq->start_ns;
  double seconds = (double) elapsed_ns / 1e9;
  size_t route_index = (NULL != rq->route) ? bw_route_index (rq->route) : bw_routes_count;
  bw_metrics_observe (route_index, rq->method, rq->status, seconds);
  if (bw_log_enabled (BW_LOG_INFO))
    {
      json_t *fields = json_pack ("{s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:s}",
                                  "method", rq->method,
                                  "route", (NULL != rq->route) ? rq->route->pattern : "unmatched",
                                  "path", rq->path, "status", (int) rq->status,
                                  "bytes", (json_int_t) rq->bytes_out,
                                  "latency_us", (json_int_t) (elapsed_ns / 1000),
                                  "request_id", rq->request_id,
                                  "remote", rq->remote_addr);
      if (NULL != fields && '\0' != rq->principal.actor[0])
        json_object_set_new (fields, "principal", json_string (rq->principal.actor));
      if (NULL != fields && MHD_REQUEST_TERMINATED_COMPLETED_OK != toe)
        json_object_set_new (fields, "terminated", json_integer (toe));
      bw_log_json (BW_LOG_INFO, "request", fields);
    }
  bw_longpoll_release (rq);
  bw_request_free (rq);
  atomic_fetch_sub (&inflight, 1);
}

/* libmicrohttpd's own messages become JSON log lines too. */
static void
on_mhd_log (void *cls, const char *fmt, va_list ap)
{
  char msg[512];
  vsnprintf (msg, sizeof (msg), fmt, ap);
  size_t len = strlen (msg);
  while (len > 0 && '\n' == msg[len - 1])
    msg[--len] = '\0';
  bw_log_json (BW_LOG_WARN, "libmicrohttpd", json_pack ("{s:s}", "detail", msg));
}

static void
raise_fd_limit (unsigned long max_connections)
{
  struct rlimit rl;
  if (0 != getrlimit (RLIMIT_NOFILE, &rl))
    return;
  if (rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (0 != setrlimit (RLIMIT_NOFILE, &rl))
        getrlimit (RLIMIT_NOFILE, &rl);
    }
  /* one descriptor per connection, plus PostgreSQL connections, epoll and
     libmicrohttpd's wake-up pipes, logs */
  if (RLIM_INFINITY != rl.rlim_cur && rl.rlim_cur < max_connections + BW_FD_RESERVE)
    bw_log_json (BW_LOG_WARN, "file descriptor limit below the connection limit",
                 json_pack ("{s:I, s:I, s:s}", "nofile", (json_int_t) rl.rlim_cur,
                            "max_connections", (json_int_t) max_connections, "hint",
                            "raise LimitNOFILE (systemd) or lower BULWARK_MAX_CONNECTIONS"));
}

int
bw_http_start (const struct bw_config *cfg)
{
  config = cfg;
  raise_fd_limit (cfg->max_connections);
  /* MHD_ALLOW_SUSPEND_RESUME: parked check-ins (server/longpoll.h) */
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC
                       | MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME;
  if (AF_INET6 == cfg->listen_addr.ss_family)
    flags |= MHD_USE_IPv6;
  /* libmicrohttpd refuses a pool of one: then its polling thread serves alone. */
  unsigned int pool = (cfg->pool_size > 1) ? (unsigned int) cfg->pool_size : 0;
  if (0 != bw_longpoll_start ())
    {
      bw_logf (BW_LOG_ERROR, "cannot start the long-poll timer thread");
      return -1;
    }
  daemon_handle = MHD_start_daemon (
    flags, 0, NULL, NULL, &on_access, NULL,
    MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, NULL,
    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &cfg->listen_addr,
    MHD_OPTION_THREAD_POOL_SIZE, pool,
    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg->connection_timeout_s,
    MHD_OPTION_URI_LOG_CALLBACK, &on_uri, NULL,
    MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_connections,
    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) cfg->per_ip_connections,
    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) cfg->connection_memory,
    MHD_OPTION_NOTIFY_COMPLETED, &on_completed, NULL,
    MHD_OPTION_END);
  if (NULL == daemon_handle)
    {
      bw_log_json (BW_LOG_ERROR, "cannot listen", json_pack ("{s:s}", "listen", cfg->listen));
      bw_longpoll_stop ();
      return -1;
    }
  return 0;
}

const struct bw_config *
bw_http_config (void)
{
  return config;
}

void
bw_http_stop (unsigned long timeout_s)
{
  if (NULL == daemon_handle)
    return;
  atomic_store (&shutting_down, true);
  MHD_socket s = MHD_quiesce_daemon (daemon_handle);
  if (MHD_INVALID_SOCKET != s)
    close (s);
  /* Parked check-ins answer now (and later parks resume at once): they
     count as in flight, and MHD_stop_daemon must find none suspended. */
  bw_longpoll_stop ();
  uint64_t deadline = bw_monotonic_ns () + (uint64_t) timeout_s * 1000000000u;
  while (atomic_load (&inflight) > 0 && bw_monotonic_ns () < deadline)
    usleep (10000);
  if (atomic_load (&inflight) > 0)
    bw_log_json (BW_LOG_WARN, "shutdown timeout: closing in-flight requests",
                 json_pack ("{s:i}", "inflight", atomic_load (&inflight)));
  MHD_stop_daemon (daemon_handle);
  daemon_handle = NULL;
}
