/*
 * /api/v1/orgs/{org}/enroll-secrets: the secrets an agent exchanges for its
 * credential at POST /api/v1/agent/enroll (DESIGN §6).  The secret is shown
 * once, in the create response, and stored only as its SHA-256; it is never
 * logged or audited.  A secret may expire, be limited to a number of uses,
 * and be bound to a user, whose policies its agents then enforce.
 */
#include "config.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "api/audit.h"
#include "api/handlers.h"
#include "db/org.h"
#include "db/enroll_secret.h"
#include "db/token.h"
#include "db/user.h"
#include "lib/canonical_json.h"
#include "lib/crypto.h"
#include "lib/ident.h"
#include "lib/rfc3339.h"
#include "server/auth.h"
#include "server/fields.h"
#include "server/pagination.h"
#include "server/reply.h"

/** Prefix of enroll secrets (found by secret scanners). */
#define ENROLL_SECRET_PREFIX "bwe_"
/** Most uses a secret may allow. */
#define MAX_USES_LIMIT 1000000
/* "/api/v1/orgs/<uuid>/enroll-secrets/<uuid>" */
#define LOCATION_MAX 112
/* '"' + hex SHA-256 + '"' */
#define ETAG_MAX (BW_SHA256_HEX_LEN + 2)

_Static_assert (BW_TOKEN_DISPLAY_PREFIX_LEN <= DB_ENROLL_SECRET_PREFIX_MAX, "prefix column");
_Static_assert (sizeof (ENROLL_SECRET_PREFIX) == 5, "a 4-character prefix");

/* ---- validation ---- */

static const char *
check_expires_at (const json_t *v)
{
  if (!bw_rfc3339_valid (json_string_value (v)))
    return "must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z";
  return NULL;
}

static const char *
check_max_uses (const json_t *v)
{
  json_int_t n = json_integer_value (v);

  if (n < 1 || n > MAX_USES_LIMIT)
    return "must be an integer from 1 to 1000000";
  return NULL;
}

/* ---- representation ---- */

/*
 * The one JSON representation of a secret, for responses and the audit
 * digests; never the secret itself.  @return a new object, or NULL.
 */
static json_t *
secret_json (const struct db_enroll_secret *s)
{
#define OR_NULL(v) ('\0' != (v)[0] ? (v) : NULL)
  json_t *o = json_pack ("{s:s, s:s, s:s, s:s?, s:s?, s:I, s:s, s:s, s:s?}",
                         "id", s->id,
                         "name", s->name,
                         "prefix", s->prefix,
                         "user_id", OR_NULL (s->user_id),
                         "expires_at", OR_NULL (s->expires_at),
                         "uses", (json_int_t) s->uses,
                         "created_at", s->created_at,
                         "created_by", s->created_by,
                         "revoked_at", OR_NULL (s->revoked_at));
#undef OR_NULL
  if (NULL != o
      && 0 != json_object_set_new (o, "max_uses", s->has_max_uses
                                                    ? json_integer ((json_int_t) s->max_uses)
                                                    : json_null ()))
    {
      json_decref (o);
      return NULL;
    }
  return o;
}

static json_t *
secret_repr (const void *object)
{
  return secret_json (object);
}

/* Strong ETag: the digest of the canonical representation. */
static int
secret_etag (const json_t *obj, char out[ETAG_MAX + 1])
{
  char hex[BW_SHA256_HEX_LEN + 1];

  if (0 != bw_json_digest (obj, hex))
    return -1;
  snprintf (out, ETAG_MAX + 1, "\"%s\"", hex);
  return 0;
}

/* The {id} path parameter if it is a canonical uuid, else NULL (→ 404). */
static const char *
secret_id_param (const struct bw_request *rq)
{
  const char *id = rq->params[1];

  return NULL != id && bw_uuid_valid (id) ? id : NULL;
}

static enum bw_step
reply_no_secret (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such enroll secret", NULL);
}

/* ---- POST /api/v1/orgs/{org}/enroll-secrets ---- */

struct create_ctx
{
  const struct bw_request *rq;
  struct db_enroll_secret_new ns;
  enum
  {
    CREATE_DONE,
    CREATE_EXPIRY_PAST,
    CREATE_NO_USER,
    CREATE_ORG_GONE,
  } outcome;
  struct db_enroll_secret secret;
};

static enum db_qs
create_tx (void *cls)
{
  struct create_ctx *cc = cls;
  enum db_qs qs;

  cc->outcome = CREATE_DONE;
  qs = db_org_writer_lock (cc->ns.org_id);
  if (qs < 0)
    return qs;
  if (0 == qs)
    {
      cc->outcome = CREATE_ORG_GONE;
      return DB_QS_ABORT;
    }
  if (NULL != cc->ns.expires_at)
    {
      bool future = false;

      qs = db_token_expiry_future (cc->ns.expires_at, &future);
      if (qs < 0)
        return qs;
      if (!future)
        {
          cc->outcome = CREATE_EXPIRY_PAST;
          return DB_QS_ABORT;
        }
    }
  if (NULL != cc->ns.user_id)
    {
      bool ok = false;

      qs = db_user_active (cc->ns.org_id, cc->ns.user_id, &ok);
      if (qs < 0)
        return qs;
      if (!ok)
        {
          cc->outcome = CREATE_NO_USER;
          return DB_QS_ABORT;
        }
    }
  qs = db_enroll_secret_create (&cc->ns, &cc->secret);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  return api_audit_change (cc->rq, cc->ns.org_id, "enroll_secret.create", "enroll_secret",
                           cc->secret.id, secret_repr, NULL, &cc->secret);
}

enum bw_step
api_enroll_secrets_create (struct bw_request *rq)
{
  const json_t *name = NULL;
  const json_t *expires_at = NULL;
  const json_t *max_uses = NULL;
  const json_t *user_id = NULL;
  const struct bw_field fields[] = {
    { "name", BW_FIELD_STRING, true, false, DB_ENROLL_SECRET_NAME_MAX, bw_field_check_text,
      &name },
    { "expires_at", BW_FIELD_STRING, false, true, BW_RFC3339_MAX, check_expires_at,
      &expires_at },
    { "max_uses", BW_FIELD_INTEGER, false, true, 0, check_max_uses, &max_uses },
    { "user_id", BW_FIELD_STRING, false, true, BW_UUID_LEN, bw_field_check_user_id, &user_id },
  };
  char secret[BW_TOKEN_SECRET_LEN + 1];
  char secret_sha256[BW_SHA256_HEX_LEN + 1];
  char prefix[BW_TOKEN_DISPLAY_PREFIX_LEN + 1];
  char max_uses_s[24];
  char etag[ETAG_MAX + 1];
  char location[LOCATION_MAX];
  struct create_ctx cc = { .rq = rq };
  json_t *body = NULL;
  enum db_qs qs;
  enum bw_step step;

  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (0 != bw_auth_secret_new (ENROLL_SECRET_PREFIX, secret))
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  bw_sha256_hex (secret, BW_TOKEN_SECRET_LEN, secret_sha256);
  memcpy (prefix, secret, BW_TOKEN_DISPLAY_PREFIX_LEN);
  prefix[BW_TOKEN_DISPLAY_PREFIX_LEN] = '\0';
  if (NULL != max_uses)
    snprintf (max_uses_s, sizeof (max_uses_s), "%" JSON_INTEGER_FORMAT,
              json_integer_value (max_uses));

  cc.ns.org_id = rq->org.id;
  cc.ns.name = json_string_value (name);
  cc.ns.secret_sha256 = secret_sha256;
  cc.ns.prefix = prefix;
  cc.ns.user_id = (NULL != user_id) ? json_string_value (user_id) : NULL;
  cc.ns.expires_at = (NULL != expires_at) ? json_string_value (expires_at) : NULL;
  cc.ns.max_uses = (NULL != max_uses) ? max_uses_s : NULL;
  cc.ns.created_by = rq->principal.actor;
  qs = db_tx_run (DB_READ_COMMITTED, create_tx, &cc);

  if (DB_QS_ABORT == qs && CREATE_EXPIRY_PAST == cc.outcome)
    step = bw_reply_invalid (rq, "/expires_at", "must be in the future");
  else if (DB_QS_ABORT == qs && CREATE_NO_USER == cc.outcome)
    step = bw_reply_invalid (rq, "/user_id", "must be an active user of this organization");
  else if (DB_QS_ABORT == qs && CREATE_ORG_GONE == cc.outcome)
    step = bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  else if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (NULL == (body = secret_json (&cc.secret)) || 0 != secret_etag (body, etag)
           || 0 != json_object_set_new (body, "secret", json_string (secret)))
    step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  else
    {
      const struct bw_header h[] = {
        { "ETag", etag },
        { "Location", location },
        /* the body holds a secret: keep it out of every cache (RFC 9111 §5.2.2.5) */
        { "Cache-Control", "no-store" },
      };

      snprintf (location, sizeof (location), "/api/v1/orgs/%s/enroll-secrets/%s", rq->org.id,
                cc.secret.id);
      step = bw_reply_json (rq, 201, body, h, sizeof (h) / sizeof (h[0]));
      body = NULL; /* stolen */
    }
  json_decref (body);
  OPENSSL_cleanse (secret, sizeof (secret));
  return step;
}

/* ---- GET /api/v1/orgs/{org}/enroll-secrets ---- */

/* A list row as bw_reply_rows_page (server/pagination.h) reads it. */
static json_t *
secret_row_json (const void *row)
{
  return secret_json (row);
}

static const char *
secret_row_created_at (const void *row)
{
  return ((const struct db_enroll_secret *) row)->created_at;
}

static const char *
secret_row_id (const void *row)
{
  return ((const struct db_enroll_secret *) row)->id;
}

enum bw_step
api_enroll_secrets_list (struct bw_request *rq)
{
  struct bw_page page;
  const char *after_created_at = NULL;
  const char *after_id = NULL;
  struct db_enroll_secret *items = NULL;
  size_t n = 0;
  enum db_qs qs;

  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &after_created_at, &after_id))
    return bw_reply_bad_cursor (rq);
  qs = db_enroll_secret_list (rq->org.id, after_created_at, after_id, page.limit + 1, &items,
                              &n);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  const struct bw_page_rows rows = {
    .rows = items, .n = n, .size = sizeof (*items), .to_json = secret_row_json,
    .created_at = secret_row_created_at, .id = secret_row_id,
  };
  enum bw_step step = bw_reply_rows_page (rq, &page, &rows);
  free (items);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/enroll-secrets/{id} ---- */

enum bw_step
api_enroll_secrets_get (struct bw_request *rq)
{
  const char *id = secret_id_param (rq);
  struct db_enroll_secret s;
  json_t *body;
  char etag[ETAG_MAX + 1];
  enum db_qs qs;

  if (NULL == id)
    return reply_no_secret (rq);
  qs = db_enroll_secret_get (rq->org.id, id, &s);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_secret (rq);
  body = secret_json (&s);
  if (NULL == body || 0 != secret_etag (body, etag))
    {
      json_decref (body);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  {
    const struct bw_header h[] = { { "ETag", etag } };

    return bw_reply_json (rq, 200, body, h, 1);
  }
}

/* ---- DELETE /api/v1/orgs/{org}/enroll-secrets/{id} ---- */

struct revoke_ctx
{
  const struct bw_request *rq;
  const char *id;
  struct db_enroll_secret secret; /* output */
};

static enum db_qs
revoke_tx (void *cls)
{
  struct revoke_ctx *rc = cls;
  struct db_enroll_secret before;
  enum db_qs qs = db_enroll_secret_revoke (rc->rq->org.id, rc->id, &rc->secret);

  if (qs <= 0)
    return qs;
  /* the UPDATE changed only revoked_at, which was NULL before */
  before = rc->secret;
  before.revoked_at[0] = '\0';
  return api_audit_change (rc->rq, rc->rq->org.id, "enroll_secret.revoke", "enroll_secret",
                           rc->id, secret_repr, &before, &rc->secret);
}

enum bw_step
api_enroll_secrets_revoke (struct bw_request *rq)
{
  struct revoke_ctx rc = { .rq = rq, .id = secret_id_param (rq) };
  enum db_qs qs;

  if (NULL == rc.id)
    return reply_no_secret (rq);
  qs = db_tx_run (DB_READ_COMMITTED, revoke_tx, &rc);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_secret (rq);
  return bw_reply_empty (rq, 204, NULL, 0);
}
