/*
 * GET /api/v1/agent/bundles/{sha256} (DESIGN §6): the exact bytes of a
 * compiled bundle, content-addressed and immutable, for the agents of the
 * org that owns it.  Another org's bundle, an unknown hash and a malformed
 * one are all 404: a path that is not 64 lowercase hex digits names no
 * bundle, just as a malformed uuid names no object elsewhere in the API.
 */
#include "config.h"
#include "api/handlers.h"
#include "lib/crypto.h"
#include "server/bundle_cache.h"
#include "server/http_headers.h"
#include "server/reply.h"

#include <stdio.h>
#include <stdlib.h>

/* RFC 9111 §5.2.2: one year, never revalidated (the address is the hash). */
#define BUNDLE_CACHE_CONTROL "private, max-age=31536000, immutable"

enum bw_step
api_agent_bundle_get (struct bw_request *rq)
{
  const char *sha256 = rq->params[0];
  unsigned char *body = NULL;
  size_t len = 0;
  char etag[BW_SHA256_HEX_LEN + 3];
  enum db_qs qs;

  if (NULL == sha256 || !bw_sha256_hex_valid (sha256))
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such bundle", NULL);
  /* exists for this agent's org first: a 304 must not tell another org's agent anything */
  qs = bw_bundles_get (rq->principal.org_id, sha256, &body, &len);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such bundle", NULL);
  snprintf (etag, sizeof (etag), "\"%s\"", sha256);
  {
    const struct bw_header h[] = { { "ETag", etag }, { "Cache-Control", BUNDLE_CACHE_CONTROL } };

    /* RFC 9110 §13.1.2: weak comparison; a 304 repeats ETag and Cache-Control (§15.4.5) */
    if (bw_request_if_none_match (rq, sha256))
      {
        free (body);
        return bw_reply_empty (rq, 304, h, 2);
      }
    return bw_reply_bytes_steal (rq, 200, "application/json", body, len, h, 2);
  }
}
