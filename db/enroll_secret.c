/*
 * Queries of the enroll_secrets aggregate (see db/enroll_secret.h).
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include "db/enroll_secret.h"
#include "db/row.h"

/* The columns secret_from_row reads, in its order; `s` is enroll_secrets. */
#define SECRET_COLUMNS \
  "s.id, s.org_id, s.name, s.prefix, s.user_id, " DB_SQL_TS ("s.expires_at") ", " \
  "s.max_uses, s.uses, " DB_SQL_TS ("s.created_at") ", s.created_by, " \
  DB_SQL_TS ("s.revoked_at")

static int
secret_from_row (const PGresult *res, int row, struct db_enroll_secret *s)
{
  if (0 != db_col_text (res, row, 0, s->id, sizeof (s->id))
      || 0 != db_col_text (res, row, 1, s->org_id, sizeof (s->org_id))
      || 0 != db_col_text (res, row, 2, s->name, sizeof (s->name))
      || 0 != db_col_text (res, row, 3, s->prefix, sizeof (s->prefix))
      || 0 != db_col_text (res, row, 4, s->user_id, sizeof (s->user_id))
      || 0 != db_col_text (res, row, 5, s->expires_at, sizeof (s->expires_at))
      || 0 != db_col_int64 (res, row, 7, &s->uses)
      || 0 != db_col_text (res, row, 8, s->created_at, sizeof (s->created_at))
      || 0 != db_col_text (res, row, 9, s->created_by, sizeof (s->created_by))
      || 0 != db_col_text (res, row, 10, s->revoked_at, sizeof (s->revoked_at)))
    return -1;
  s->has_max_uses = !PQgetisnull (res, row, 6);
  s->max_uses = 0;
  if (s->has_max_uses && 0 != db_col_int64 (res, row, 6, &s->max_uses))
    return -1;
  return 0;
}

static int
secret_row (const PGresult *res, int row, void *item)
{
  return secret_from_row (res, row, item);
}

/* Copy the single row of @a res (qs rows) into @a out; PQclear()s @a res. */
static enum db_qs
one_secret (enum db_qs qs, PGresult *res, struct db_enroll_secret *out)
{
  if (qs > 0 && 0 != secret_from_row (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

static struct db_stmt create_stmt = DB_STMT ("enroll_secret_create",
  "INSERT INTO enroll_secrets AS s"
  " (org_id, name, secret_sha256, prefix, user_id, expires_at, max_uses, created_by)"
  " VALUES ($1::uuid, $2::text, decode ($3::text, 'hex'), $4::text, $5::uuid,"
  "         $6::timestamptz, $7::bigint, $8::text)"
  " RETURNING " SECRET_COLUMNS);

enum db_qs
db_enroll_secret_create (const struct db_enroll_secret_new *ns, struct db_enroll_secret *out)
{
  const char *params[] = {
    ns->org_id, ns->name, ns->secret_sha256, ns->prefix, ns->user_id, ns->expires_at,
    ns->max_uses, ns->created_by,
  };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&create_stmt, 8, params, &res);

  return one_secret (qs, res, out);
}

static struct db_stmt get_stmt = DB_STMT ("enroll_secret_get",
  "SELECT " SECRET_COLUMNS " FROM enroll_secrets s"
  " WHERE s.org_id = $1::uuid AND s.id = $2::uuid");

enum db_qs
db_enroll_secret_get (const char *org_id, const char *id, struct db_enroll_secret *out)
{
  const char *params[] = { org_id, id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&get_stmt, 2, params, &res);

  return one_secret (qs, res, out);
}

/* Both pages from the index enroll_secrets_org_created (org_id, created_at, id). */
static struct db_stmt list_first_stmt = DB_STMT ("enroll_secret_list_first",
  "SELECT " SECRET_COLUMNS " FROM enroll_secrets s"
  " WHERE s.org_id = $1::uuid AND s.revoked_at IS NULL"
  " ORDER BY s.created_at, s.id"
  " LIMIT $2::integer");

static struct db_stmt list_after_stmt = DB_STMT ("enroll_secret_list_after",
  "SELECT " SECRET_COLUMNS " FROM enroll_secrets s"
  " WHERE s.org_id = $1::uuid AND s.revoked_at IS NULL"
  "   AND (s.created_at, s.id) > ($3::timestamptz, $4::uuid)"
  " ORDER BY s.created_at, s.id"
  " LIMIT $2::integer");

enum db_qs
db_enroll_secret_list (const char *org_id, const char *after_created_at, const char *after_id,
                       unsigned int limit, struct db_enroll_secret **items, size_t *n)
{
  char limit_s[16];
  const char *params[] = { org_id, limit_s, after_created_at, after_id };
  PGresult *res = NULL;
  void *arr = NULL;
  enum db_qs qs;

  *items = NULL;
  *n = 0;
  snprintf (limit_s, sizeof (limit_s), "%u", limit);
  if (NULL == after_created_at)
    qs = db_exec (&list_first_stmt, 2, params, &res);
  else
    qs = db_exec (&list_after_stmt, 4, params, &res);
  if (qs > 0
      && 0 != db_rows_copy (res, (size_t) qs, sizeof (struct db_enroll_secret), secret_row, NULL,
                            &arr))
    qs = DB_QS_HARD_ERROR;
  else if (qs > 0)
    {
      *items = arr;
      *n = (size_t) qs;
    }
  PQclear (res);
  return qs;
}

/* Lock order as everywhere: the org row (the CTE), then the secret row. */
static struct db_stmt revoke_stmt = DB_STMT ("enroll_secret_revoke",
  "WITH o AS (SELECT id FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL FOR NO KEY UPDATE)"
  " UPDATE enroll_secrets AS s SET revoked_at = now ()"
  " FROM o WHERE s.org_id = o.id AND s.id = $2::uuid AND s.revoked_at IS NULL"
  " RETURNING " SECRET_COLUMNS);

enum db_qs
db_enroll_secret_revoke (const char *org_id, const char *id, struct db_enroll_secret *out)
{
  const char *params[] = { org_id, id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&revoke_stmt, 2, params, &res);

  return one_secret (qs, res, out);
}

static struct db_stmt org_stmt = DB_STMT ("enroll_secret_org",
  "SELECT s.org_id FROM enroll_secrets s JOIN orgs o ON o.id = s.org_id"
  " WHERE s.secret_sha256 = decode ($1::text, 'hex') AND o.deleted_at IS NULL");

enum db_qs
db_enroll_secret_org (const char *secret_sha256, char org_id[BW_UUID_LEN + 1])
{
  const char *params[] = { secret_sha256 };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&org_stmt, 1, params, &res);

  if (qs > 0 && 0 != db_col_text (res, 0, 0, org_id, BW_UUID_LEN + 1))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/*
 * Two statements on purpose: in READ COMMITTED each statement takes a new
 * snapshot, so the UPDATE, which runs once the org lock is held, sees every
 * change committed by the writer it waited for (a user deactivation, a
 * revocation).  Concurrent uses of one secret queue on the org lock and
 * then on the secret row; PostgreSQL re-checks the UPDATE's WHERE against
 * the newest row version, so `uses < max_uses` holds for each of them.
 */
static struct db_stmt use_lock_stmt = DB_STMT ("enroll_secret_use_lock",
  "SELECT o.id FROM orgs o JOIN enroll_secrets s ON s.org_id = o.id"
  " WHERE s.secret_sha256 = decode ($1::text, 'hex') AND o.deleted_at IS NULL"
  " FOR NO KEY UPDATE OF o");

static struct db_stmt use_stmt = DB_STMT ("enroll_secret_use",
  "UPDATE enroll_secrets AS s SET uses = s.uses + 1"
  " FROM orgs o"
  " WHERE s.secret_sha256 = decode ($1::text, 'hex') AND o.id = s.org_id"
  "   AND o.deleted_at IS NULL"
  "   AND s.revoked_at IS NULL"
  "   AND (s.expires_at IS NULL OR s.expires_at > now ())"
  "   AND (s.max_uses IS NULL OR s.uses < s.max_uses)"
  "   AND (s.user_id IS NULL OR EXISTS (SELECT 1 FROM users u"
  "        WHERE u.org_id = s.org_id AND u.id = s.user_id AND u.active))"
  " RETURNING s.id, s.org_id, o.slug, s.user_id");

enum db_qs
db_enroll_secret_use (const char *secret_sha256, struct db_enroll_use *out)
{
  const char *params[] = { secret_sha256 };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&use_lock_stmt, 1, params, NULL);

  if (qs <= 0)
    return qs;
  qs = db_exec (&use_stmt, 1, params, &res);
  if (qs > 0
      && (0 != db_col_text (res, 0, 0, out->secret_id, sizeof (out->secret_id))
          || 0 != db_col_text (res, 0, 1, out->org_id, sizeof (out->org_id))
          || 0 != db_col_text (res, 0, 2, out->org_slug, sizeof (out->org_slug))
          || 0 != db_col_text (res, 0, 3, out->user_id, sizeof (out->user_id))))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}
