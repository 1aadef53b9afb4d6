/*
 * /api/v1/orgs/{org}/tokens: org API tokens (API contract "API tokens",
 * DESIGN §3).  The secret is shown once, in the create response, and
 * stored only as its SHA-256; it is never logged or audited.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "api/audit.h"
#include "api/handlers.h"
#include "api/permission.h"
#include "db/org.h"
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

/* Longest expires_at accepted, in bytes (an RFC 3339 time with nine
 * fraction digits and an offset is 35). */
#define EXPIRES_AT_MAX BW_RFC3339_MAX
/* "/api/v1/orgs/<uuid>/tokens/<uuid>" */
#define LOCATION_MAX 96
/* '"' + hex SHA-256 + '"' */
#define ETAG_MAX (BW_SHA256_HEX_LEN + 2)

_Static_assert (BW_TOKEN_DISPLAY_PREFIX_LEN <= DB_TOKEN_PREFIX_MAX, "prefix column");
_Static_assert (BW_TOKEN_DISPLAY_PREFIX_LEN < BW_TOKEN_SECRET_LEN, "prefix shows part only");

/* ---- validation ---- */

/* Field checks: bw_fields_parse has already refused NUL characters and
 * over-long strings. */
static const char *
check_role (const json_t *v)
{
  enum bw_role r;

  if (0 != bw_role_parse (json_string_value (v), &r))
    return "must be one of owner, policy_admin, catalog_reviewer, auditor, viewer";
  return NULL;
}

static const char *
check_expires_at (const json_t *v)
{
  if (!bw_rfc3339_valid (json_string_value (v)))
    return "must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z";
  return NULL;
}

/* ---- representation ---- */

/*
 * The one JSON representation of a token, for responses and for the audit
 * digests.  It never holds the secret (only its display prefix).
 * @return a new object, or NULL on allocation failure.
 */
static json_t *
token_json (const struct db_token *t)
{
#define OR_NULL(ts) ('\0' != (ts)[0] ? (ts) : NULL)
  return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}",
                    "id", t->id,
                    "name", t->name,
                    "role", t->role,
                    "prefix", t->prefix,
                    "created_at", t->created_at,
                    "created_by", t->created_by,
                    "expires_at", OR_NULL (t->expires_at),
                    "last_used_at", OR_NULL (t->last_used_at),
                    "revoked_at", OR_NULL (t->revoked_at),
                    "user_id", OR_NULL (t->user_id));
#undef OR_NULL
}

/* Strong ETag of a token: the digest of its canonical representation. */
static int
token_etag (const json_t *obj, char out[ETAG_MAX + 1])
{
  char hex[BW_SHA256_HEX_LEN + 1];

  if (0 != bw_json_digest (obj, hex))
    return -1;
  snprintf (out, ETAG_MAX + 1, "\"%s\"", hex);
  return 0;
}

/* Reply 200 with token @a t and its ETag. */
static enum bw_step
reply_token (struct bw_request *rq, const struct db_token *t)
{
  json_t *body = token_json (t);
  char etag[ETAG_MAX + 1];

  if (NULL == body || 0 != token_etag (body, etag))
    {
      json_decref (body);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  {
    const struct bw_header h[] = { { "ETag", etag } };

    return bw_reply_json (rq, 200, body, h, 1);
  }
}

/* The {id} path parameter if it is a canonical uuid, else NULL (→ 404). */
static const char *
token_id_param (const struct bw_request *rq)
{
  const char *id = rq->params[1];

  return NULL != id && bw_uuid_valid (id) ? id : NULL;
}

/* ---- POST /api/v1/orgs/{org}/tokens ---- */

struct create_ctx
{
  const struct bw_request *rq;
  struct db_token_new nt;
  /* outputs, reset on each attempt */
  enum
  {
    CREATE_DONE,
    CREATE_EXPIRY_PAST,
    CREATE_ORG_GONE,
    CREATE_USER_INVALID,
  } outcome;
  struct db_token token;
  json_t *json;           /* token_json of the new token, owned */
};

static enum db_qs
create_tx (void *cls)
{
  struct create_ctx *cc = cls;
  enum db_qs qs;

  cc->outcome = CREATE_DONE;
  json_decref (cc->json);
  cc->json = NULL;
  if (NULL != cc->nt.expires_at)
    {
      bool future = false;

      qs = db_token_expiry_future (cc->nt.expires_at, &future);
      if (qs < 0)
        return qs;
      if (!future)
        {
          cc->outcome = CREATE_EXPIRY_PAST;
          return DB_QS_ABORT;
        }
    }
  if (NULL != cc->nt.user_id)
    {
      bool ok = false;

      /* the org lock first: user changes take it too, so the user stays active until commit */
      if ((qs = db_org_writer_lock (cc->nt.org_id)) <= 0)
        {
          cc->outcome = CREATE_ORG_GONE;
          return (0 == qs) ? DB_QS_ABORT : qs;
        }
      if ((qs = db_user_active (cc->nt.org_id, cc->nt.user_id, &ok)) < 0)
        return qs;
      if (!ok)
        {
          cc->outcome = CREATE_USER_INVALID;
          return DB_QS_ABORT;
        }
    }
  qs = db_token_create (&cc->nt, &cc->token);
  if (qs < 0)
    return qs;
  if (0 == qs)
    {
      cc->outcome = CREATE_ORG_GONE;
      return DB_QS_ABORT;
    }
  cc->json = token_json (&cc->token);
  if (NULL == cc->json)
    return DB_QS_HARD_ERROR;
  return api_audit (cc->rq, cc->nt.org_id, "token.create", "token", cc->token.id, NULL, cc->json);
}

enum bw_step
api_tokens_create (struct bw_request *rq)
{
  const json_t *name = NULL;
  const json_t *role = NULL;
  const json_t *expires_at = NULL;
  const json_t *user_id = NULL;
  const struct bw_field fields[] = {
    { "name", BW_FIELD_STRING, true, false, DB_TOKEN_NAME_MAX, bw_field_check_text, &name },
    { "role", BW_FIELD_STRING, true, false, 0, check_role, &role },
    { "expires_at", BW_FIELD_STRING, false, true, EXPIRES_AT_MAX, check_expires_at, &expires_at },
    { "user_id", BW_FIELD_STRING, false, true, BW_UUID_LEN, bw_field_check_user_id, &user_id },
  };
  char secret[BW_TOKEN_SECRET_LEN + 1];
  char secret_sha256[BW_SHA256_HEX_LEN + 1];
  char prefix[BW_TOKEN_DISPLAY_PREFIX_LEN + 1];
  char etag[ETAG_MAX + 1];
  char location[LOCATION_MAX];
  struct create_ctx cc = { .rq = rq };
  enum db_qs qs;
  enum bw_step step;

  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (0 != bw_auth_secret_new (BW_TOKEN_PREFIX, secret))
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  bw_sha256_hex (secret, BW_TOKEN_SECRET_LEN, secret_sha256);
  memcpy (prefix, secret, BW_TOKEN_DISPLAY_PREFIX_LEN);
  prefix[BW_TOKEN_DISPLAY_PREFIX_LEN] = '\0';

  cc.nt.org_id = rq->org.id;
  cc.nt.name = json_string_value (name);
  cc.nt.role = json_string_value (role);
  cc.nt.secret_sha256 = secret_sha256;
  cc.nt.prefix = prefix;
  cc.nt.created_by = rq->principal.actor;
  cc.nt.expires_at = NULL != expires_at ? json_string_value (expires_at) : NULL;
  cc.nt.user_id = NULL != user_id ? json_string_value (user_id) : NULL;
  qs = db_tx_run (DB_READ_COMMITTED, create_tx, &cc);

  if (DB_QS_ABORT == qs && CREATE_EXPIRY_PAST == cc.outcome)
    step = bw_reply_invalid (rq, "/expires_at", "must be in the future");
  else if (DB_QS_ABORT == qs && CREATE_USER_INVALID == cc.outcome)
    step = bw_reply_invalid (rq, "/user_id", "must be an active user of this organization");
  else if (DB_QS_ABORT == qs && CREATE_ORG_GONE == cc.outcome)
    step = bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  else if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 != token_etag (cc.json, etag)
           || 0 != json_object_set_new (cc.json, "secret", json_string (secret)))
    step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  else
    {
      const struct bw_header h[] = {
        { "ETag", etag },
        { "Location", location },
        /* the body holds a secret: keep it out of every cache (RFC 9111 §5.2.2.5) */
        { "Cache-Control", "no-store" },
      };

      snprintf (location, sizeof (location), "/api/v1/orgs/%s/tokens/%s", rq->org.id,
                cc.token.id);
      step = bw_reply_json (rq, 201, cc.json, h, sizeof (h) / sizeof (h[0]));
      cc.json = NULL; /* stolen */
    }
  json_decref (cc.json);
  OPENSSL_cleanse (secret, sizeof (secret));
  return step;
}

/* ---- GET /api/v1/orgs/{org}/tokens ---- */

/* A list row as bw_reply_rows_page (server/pagination.h) reads it. */
static json_t *
token_row_json (const void *row)
{
  return token_json (row);
}

static const char *
token_row_created_at (const void *row)
{
  return ((const struct db_token *) row)->created_at;
}

static const char *
token_row_id (const void *row)
{
  return ((const struct db_token *) row)->id;
}

enum bw_step
api_tokens_list (struct bw_request *rq)
{
  struct bw_page page;
  const char *after_created_at = NULL;
  const char *after_id = NULL;
  struct db_token *items = NULL;
  size_t n = 0;
  enum db_qs qs;

  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  /* the cursor key is "<created_at>|<id>" of the last token of the previous page */
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &after_created_at, &after_id))
    return bw_reply_bad_cursor (rq);
  /* one row more than the page tells whether another page follows */
  qs = db_token_list (rq->org.id, after_created_at, after_id, page.limit + 1, &items, &n);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  const struct bw_page_rows rows = {
    .rows = items, .n = n, .size = sizeof (*items), .to_json = token_row_json,
    .created_at = token_row_created_at, .id = token_row_id,
  };
  enum bw_step step = bw_reply_rows_page (rq, &page, &rows);
  free (items);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/tokens/{id} ---- */

enum bw_step
api_tokens_get (struct bw_request *rq)
{
  const char *id = token_id_param (rq);
  struct db_token t;
  enum db_qs qs;

  if (NULL == id)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such token", NULL);
  qs = db_token_get (rq->org.id, id, &t);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such token", NULL);
  return reply_token (rq, &t);
}

/* ---- DELETE /api/v1/orgs/{org}/tokens/{id} ---- */

struct revoke_ctx
{
  const struct bw_request *rq;
  const char *id;
  struct db_token token;  /* output */
};

static enum db_qs
revoke_tx (void *cls)
{
  struct revoke_ctx *rc = cls;
  json_t *before = NULL;
  json_t *after = NULL;
  enum db_qs qs = db_token_revoke (rc->rq->org.id, rc->id, &rc->token);

  if (qs <= 0)
    return qs;
  /* the UPDATE changed only revoked_at, which was NULL before */
  after = token_json (&rc->token);
  before = json_deep_copy (after);
  if (NULL == before || 0 != json_object_set_new (before, "revoked_at", json_null ()))
    qs = DB_QS_HARD_ERROR;
  else
    qs = api_audit (rc->rq, rc->rq->org.id, "token.revoke", "token", rc->id, before, after);
  json_decref (before);
  json_decref (after);
  return qs;
}

enum bw_step
api_tokens_revoke (struct bw_request *rq)
{
  struct revoke_ctx rc = { .rq = rq, .id = token_id_param (rq) };
  enum db_qs qs;

  if (NULL == rc.id)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such token", NULL);
  qs = db_tx_run (DB_READ_COMMITTED, revoke_tx, &rc);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such token", NULL);
  return bw_reply_empty (rq, 204, NULL, 0);
}
