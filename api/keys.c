/*
 * The org's signing keys (DESIGN §6): POST /api/v1/orgs/{org}/keys/rotate,
 * and the signed keyset documents, GET /api/v1/orgs/{org}/keysets/{version}
 * (admins) and GET /api/v1/agent/keysets/{version} (the agent's own org).
 *
 * A keyset is served as the exact bytes stored when it was signed, never
 * re-serialized: agents verify its signatures over those bytes' payload.
 * Keysets never change, so they are cached for a year, with their SHA-256
 * as a strong ETag.
 */
#include "config.h"
#include "api/audit.h"
#include "api/handlers.h"
#include "lib/crypto.h"
#include "lib/jws.h"
#include "server/etag.h"
#include "server/keys.h"
#include "server/reply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Cache-Control of immutable documents (RFC 8246). */
#define IMMUTABLE_CACHE "private, max-age=31536000, immutable"
/** "/api/v1/orgs/<uuid>/keysets/<uint64>" */
#define KEYSET_LOCATION_MAX 96
/** Bytes of a quoted hex SHA-256 ETag with NUL. */
#define SHA_ETAG_SIZE (BW_SHA256_HEX_LEN + 3)
/** Bytes of a decimal uint64 with NUL. */
#define U64_TEXT_SIZE 24

/* ---- POST /api/v1/orgs/{org}/keys/rotate ---- */

struct rotate_ctx
{
  const struct bw_request *rq;
  uint64_t version;         /**< the new keyset version */
  char kid[BW_KID_LEN + 1]; /**< the new key */
};

static enum db_qs
rotate_tx (void *cls)
{
  struct rotate_ctx *c = cls;
  const char *org = c->rq->org.id;
  char target[U64_TEXT_SIZE];
  enum db_qs qs = bw_keys_rotate (org, &c->version, c->kid);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  json_t *before = json_pack ("{s:I}", "keyset_version", (json_int_t) (c->version - 1));
  json_t *after
    = json_pack ("{s:I, s:s}", "keyset_version", (json_int_t) c->version, "kid", c->kid);
  snprintf (target, sizeof (target), "%" PRIu64, c->version);
  qs = (NULL != before && NULL != after)
         ? api_audit (c->rq, org, "key.rotate", "keyset", target, before, after)
         : DB_QS_HARD_ERROR;
  json_decref (before);
  json_decref (after);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

enum bw_step
api_keys_rotate (struct bw_request *rq)
{
  /* an org from before keys existed gets its first key before the rotation */
  enum db_qs qs = bw_keys_current (rq->org.id, NULL, NULL);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (DB_QS_NO_RESULTS == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  struct rotate_ctx c = { .rq = rq };
  qs = db_tx_run (DB_READ_COMMITTED, rotate_tx, &c);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  bw_keys_invalidate (rq->org.id);
  char loc[KEYSET_LOCATION_MAX];
  snprintf (loc, sizeof (loc), "/api/v1/orgs/%s/keysets/%" PRIu64, rq->org.id, c.version);
  return bw_reply_versioned (
    rq, 201, json_pack ("{s:I, s:s}", "keyset_version", (json_int_t) c.version, "kid", c.kid),
    (int64_t) c.version, loc);
}

/* ---- GET .../keysets/{version} ---- */

/* A keyset version: 1..INT64_MAX in decimal without sign or leading zero. */
static bool
parse_version (const char *s, uint64_t *out)
{
  char *end;
  if (NULL == s || s[0] < '1' || s[0] > '9' || strlen (s) >= U64_TEXT_SIZE)
    return false;
  errno = 0;
  unsigned long long v = strtoull (s, &end, 10);
  if (0 != errno || '\0' != *end || v > INT64_MAX)
    return false;
  *out = v;
  return true;
}

/*
 * Whether If-None-Match @a value (RFC 9110 §13.1.2: "*" or a list of
 * entity tags, compared weakly) matches @a etag (quoted).
 */
static bool
none_match (const char *value, const char *etag)
{
  size_t elen = strlen (etag);
  const char *p = value;
  while ('\0' != *p)
    {
      while (' ' == *p || '\t' == *p || ',' == *p)
        p++;
      if ('*' == *p)
        return true;
      if (0 == strncmp (p, "W/", 2))
        p += 2;
      size_t n = strcspn (p, ",");
      while (n > 0 && (' ' == p[n - 1] || '\t' == p[n - 1]))
        n--;
      if (n == elen && 0 == strncmp (p, etag, elen))
        return true;
      p += strcspn (p, ",");
    }
  return false;
}

/* Answer keyset @a version of @a org_id: the stored bytes, or 304, or 404. */
static enum bw_step
reply_keyset (struct bw_request *rq, const char *org_id, const char *version_param)
{
  uint64_t version;
  if (!parse_version (version_param, &version))
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such keyset", NULL);
  char *doc = NULL;
  enum db_qs qs = bw_keys_keyset (org_id, version, &doc);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (DB_QS_NO_RESULTS == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such keyset", NULL);
  char etag[SHA_ETAG_SIZE];
  size_t len = strlen (doc);
  etag[0] = '"';
  bw_sha256_hex (doc, len, etag + 1);
  etag[SHA_ETAG_SIZE - 2] = '"';
  etag[SHA_ETAG_SIZE - 1] = '\0';
  const struct bw_header h[] = {
    { "ETag", etag },
    { "Cache-Control", IMMUTABLE_CACHE },
  };
  const char *inm = bw_request_header (rq, "If-None-Match");
  if (NULL != inm && none_match (inm, etag))
    {
      free (doc);
      return bw_reply_empty (rq, 304, h, 2);
    }
  return bw_reply_bytes_steal (rq, 200, "application/json", doc, len, h, 2);
}

enum bw_step
api_keysets_get (struct bw_request *rq)
{
  return reply_keyset (rq, rq->org.id, rq->params[1]);
}

enum bw_step
api_agent_keysets_get (struct bw_request *rq)
{
  return reply_keyset (rq, rq->principal.org_id, rq->params[0]);
}
