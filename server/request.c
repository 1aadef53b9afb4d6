/*
 * Request contexts: creation on the request line, accessors, and freeing
 * in the completion callback (server/http.c).
 */
#include "config.h"
#include "server/request.h"
#include "lib/clock.h"
#include "lib/crypto.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A client-sent X-Request-ID is kept only if it is short and plain. */
static bool
request_id_acceptable (const char *id)
{
  size_t len = strlen (id);
  if (0 == len || len > BW_REQUEST_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      char c = id[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
            || c == '_' || c == '.' || c == ':'))
        return false;
    }
  return true;
}

static void
client_address (struct MHD_Connection *connection, char *out, size_t outlen)
{
  const union MHD_ConnectionInfo *ci
    = MHD_get_connection_info (connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (NULL == ci || NULL == ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (AF_INET == sa->sa_family)
    inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, out, (socklen_t) outlen);
  else if (AF_INET6 == sa->sa_family)
    inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, out, (socklen_t) outlen);
}

/* A new request id: 32 hex chars, a random per-thread prefix and a counter.
   Ids must be unique, not secret, so the CSPRNG is read once per thread. */
static void
request_id_new (char out[BW_REQUEST_ID_MAX + 1])
{
  static _Thread_local struct
  {
    bool seeded;
    unsigned char prefix[8];
    uint64_t n;
  } id;
  unsigned char raw[16];

  if (!id.seeded)
    {
      if (0 != bw_random (id.prefix, sizeof (id.prefix)))
        memset (id.prefix, 0, sizeof (id.prefix));
      id.seeded = true;
    }
  memcpy (raw, id.prefix, sizeof (id.prefix));
  id.n++;
  for (int i = 0; i < 8; i++)
    raw[8 + i] = (unsigned char) (id.n >> (56 - 8 * i));
  bw_hex (raw, sizeof (raw), out);
}

struct bw_request *
bw_request_new (struct MHD_Connection *connection, const char *method, const char *url)
{
  struct bw_request *rq = calloc (1, sizeof (*rq));
  if (NULL == rq)
    return NULL;
  rq->start_ns = bw_monotonic_ns ();
  rq->connection = connection;
  rq->method = method;
  rq->path = strdup (url);
  if (NULL == rq->path)
    {
      free (rq);
      return NULL;
    }
  const char *given = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "X-Request-ID");
  if (NULL != given && request_id_acceptable (given))
    strcpy (rq->request_id, given);
  else
    request_id_new (rq->request_id);
  client_address (connection, rq->remote_addr, sizeof (rq->remote_addr));
  return rq;
}

void
bw_request_free (struct bw_request *rq)
{
  if (NULL == rq)
    return;
  free (rq->path);
  free (rq->path_params_buf);
  free (rq->body);
  json_decref (rq->json);
  free (rq);
}

const char *
bw_request_header (const struct bw_request *rq, const char *name)
{
  return MHD_lookup_connection_value (rq->connection, MHD_HEADER_KIND, name);
}

const char *
bw_request_query (const struct bw_request *rq, const char *name)
{
  return MHD_lookup_connection_value (rq->connection, MHD_GET_ARGUMENT_KIND, name);
}
