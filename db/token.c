/*
 * Queries of the api_tokens aggregate (see db/token.h).
 */
#include "config.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "db/org.h"
#include "db/row.h"
#include "db/token.h"
#include "lib/ident.h"
#include "lib/log.h"

/* The columns token_from_row reads, in its order; `t` is api_tokens. */
#define TOKEN_COLUMNS \
  "t.id, t.org_id, t.name, t.role, t.prefix, t.created_by, " \
  DB_SQL_TS ("t.created_at") ", " DB_SQL_TS ("t.expires_at") ", " \
  DB_SQL_TS ("t.last_used_at") ", " DB_SQL_TS ("t.revoked_at") ", t.user_id"

/* Fill @a t from row @a row of a result selecting TOKEN_COLUMNS first. */
static int
token_from_row (const PGresult *res, int row, struct db_token *t)
{
  if (0 != db_col_text (res, row, 0, t->id, sizeof (t->id))
      || 0 != db_col_text (res, row, 1, t->org_id, sizeof (t->org_id))
      || 0 != db_col_text (res, row, 2, t->name, sizeof (t->name))
      || 0 != db_col_text (res, row, 3, t->role, sizeof (t->role))
      || 0 != db_col_text (res, row, 4, t->prefix, sizeof (t->prefix))
      || 0 != db_col_text (res, row, 5, t->created_by, sizeof (t->created_by))
      || 0 != db_col_text (res, row, 6, t->created_at, sizeof (t->created_at))
      || 0 != db_col_text (res, row, 7, t->expires_at, sizeof (t->expires_at))
      || 0 != db_col_text (res, row, 8, t->last_used_at, sizeof (t->last_used_at))
      || 0 != db_col_text (res, row, 9, t->revoked_at, sizeof (t->revoked_at))
      || 0 != db_col_text (res, row, 10, t->user_id, sizeof (t->user_id)))
    return -1;
  return 0;
}

/* token_from_row as a db_rows_copy_fn. */
static int
token_row (const PGresult *res, int row, void *item)
{
  return token_from_row (res, row, item);
}

/* Copy the single row of @a res (qs rows) into @a out; PQclear()s @a res. */
static enum db_qs
one_token (enum db_qs qs, PGresult *res, struct db_token *out)
{
  if (qs > 0 && 0 != token_from_row (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

static struct db_stmt expiry_future_stmt = DB_STMT ("token_expiry_future",
  "SELECT $1::timestamptz > now ()");

enum db_qs
db_token_expiry_future (const char *ts, bool *future)
{
  const char *params[] = { ts };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&expiry_future_stmt, 1, params, &res);

  if (qs > 0)
    *future = db_col_bool (res, 0, 0);
  PQclear (res);
  return qs;
}

/*
 * The org row is locked before the token row is written, in the same order
 * and mode (NO KEY UPDATE, what the audit append's UPDATE of orgs takes) as
 * the audit append and the org deletion, so writers of one org queue
 * instead of deadlocking; a concurrent deletion makes the SELECT find no
 * live org once it commits.
 */
static struct db_stmt create_stmt = DB_STMT ("token_create",
  "INSERT INTO api_tokens AS t"
  " (org_id, name, role, secret_sha256, prefix, created_by, expires_at, user_id)"
  " SELECT o.id, $2::text, $3::text, $4::text, $5::text, $6::text, $7::timestamptz, $8::uuid"
  " FROM orgs o WHERE o.id = $1::uuid AND o.deleted_at IS NULL"
  " FOR NO KEY UPDATE OF o"
  " RETURNING " TOKEN_COLUMNS);

enum db_qs
db_token_create (const struct db_token_new *nt, struct db_token *out)
{
  const char *params[] = {
    nt->org_id, nt->name, nt->role, nt->secret_sha256, nt->prefix, nt->created_by,
    nt->expires_at, nt->user_id,
  };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&create_stmt, 8, params, &res);

  return one_token (qs, res, out);
}

static struct db_stmt get_stmt = DB_STMT ("token_get",
  "SELECT " TOKEN_COLUMNS " FROM api_tokens t"
  " WHERE t.org_id = $1::uuid AND t.id = $2::uuid");

enum db_qs
db_token_get (const char *org_id, const char *id, struct db_token *out)
{
  const char *params[] = { org_id, id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&get_stmt, 2, params, &res);

  return one_token (qs, res, out);
}

/* Both pages are served by the index api_tokens_org (org_id, created_at, id). */
static struct db_stmt list_first_stmt = DB_STMT ("token_list_first",
  "SELECT " TOKEN_COLUMNS " FROM api_tokens t"
  " WHERE t.org_id = $1::uuid AND t.revoked_at IS NULL"
  " ORDER BY t.created_at, t.id"
  " LIMIT $2::integer");

static struct db_stmt list_after_stmt = DB_STMT ("token_list_after",
  "SELECT " TOKEN_COLUMNS " FROM api_tokens t"
  " WHERE t.org_id = $1::uuid AND t.revoked_at IS NULL"
  "   AND (t.created_at, t.id) > ($3::timestamptz, $4::uuid)"
  " ORDER BY t.created_at, t.id"
  " LIMIT $2::integer");

enum db_qs
db_token_list (const char *org_id, const char *after_created_at, const char *after_id,
               unsigned int limit, struct db_token **items, size_t *n)
{
  char limit_s[16];
  const char *params[] = { org_id, limit_s, after_created_at, after_id };
  PGresult *res = NULL;
  enum db_qs qs;

  *items = NULL;
  *n = 0;
  snprintf (limit_s, sizeof (limit_s), "%u", limit);
  if (NULL == after_created_at)
    qs = db_exec (&list_first_stmt, 2, params, &res);
  else
    qs = db_exec (&list_after_stmt, 4, params, &res);
  void *arr = NULL;
  if (qs > 0
      && 0 != db_rows_copy (res, (size_t) qs, sizeof (struct db_token), token_row, NULL, &arr))
    qs = DB_QS_HARD_ERROR;
  else if (qs > 0)
    {
      *items = arr;
      *n = (size_t) qs;
    }
  PQclear (res);
  return qs;
}

/*
 * Lock order as in create: the org row (the locking CTE is evaluated before
 * the join yields the token row to update), then the token row.
 */
static struct db_stmt revoke_stmt = DB_STMT ("token_revoke",
  "WITH o AS (SELECT id FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL FOR NO KEY UPDATE)"
  " UPDATE api_tokens AS t SET revoked_at = now ()"
  " FROM o WHERE t.org_id = o.id AND t.id = $2::uuid AND t.revoked_at IS NULL"
  " RETURNING " TOKEN_COLUMNS);

enum db_qs
db_token_revoke (const char *org_id, const char *id, struct db_token *out)
{
  const char *params[] = { org_id, id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&revoke_stmt, 2, params, &res);

  return one_token (qs, res, out);
}

/* One index probe on the unique secret_sha256, one on the orgs key. */
static struct db_stmt lookup_stmt = DB_STMT ("token_lookup",
  "SELECT t.id, t.org_id, t.role,"
  "  t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now ()), t.user_id"
  " FROM api_tokens t JOIN orgs o ON o.id = t.org_id"
  " WHERE t.secret_sha256 = $1::text AND o.deleted_at IS NULL");

enum db_qs
db_token_lookup (const char *secret_sha256, struct db_token_auth *out)
{
  const char *params[] = { secret_sha256 };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&lookup_stmt, 1, params, &res);

  if (qs > 0)
    {
      if (0 != db_col_text (res, 0, 0, out->id, sizeof (out->id))
          || 0 != db_col_text (res, 0, 1, out->org_id, sizeof (out->org_id))
          || 0 != db_col_text (res, 0, 2, out->role, sizeof (out->role))
          || 0 != db_col_text (res, 0, 4, out->user_id, sizeof (out->user_id)))
        qs = DB_QS_HARD_ERROR;
      else
        out->valid = db_col_bool (res, 0, 3);
    }
  PQclear (res);
  return qs;
}

/*
 * The arrays travel as PostgreSQL array literals in two text parameters,
 * which is safe without quoting because every element is checked or made
 * here: ids must pass bw_uuid_valid (hex digits and '-' only) and times are
 * decimal integers we print ourselves, so no element can contain a brace,
 * comma, quote, backslash, blank or spell NULL.  Microseconds are turned
 * into a timestamp in SQL by exact interval arithmetic.
 */
static struct db_stmt last_used_stmt = DB_STMT ("token_last_used_flush",
  "UPDATE api_tokens AS t SET last_used_at = v.ts"
  " FROM (SELECT u.id, timestamptz 'epoch' + u.us * interval '1 microsecond' AS ts"
  "       FROM unnest ($1::uuid[], $2::bigint[]) AS u (id, us)) AS v"
  " WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.ts)");

/* Per element: a uuid or an int64 (at most 20 characters with its sign) and a separator. */
#define ID_ELEMENT_BYTES (BW_UUID_LEN + 1)
#define US_ELEMENT_BYTES (20 + 1)

enum db_qs
db_token_last_used_flush (const struct db_token_last_used *items, size_t n)
{
  char *ids = NULL;
  char *uss = NULL;
  size_t isize;
  size_t usize;
  size_t ilen = 0;
  size_t ulen = 0;
  enum db_qs qs = DB_QS_HARD_ERROR;

  if (0 == n || n > DB_TOKEN_FLUSH_MAX)
    return DB_QS_HARD_ERROR;
  /* "{" + elements, each with its "," or "}" + NUL */
  isize = n * ID_ELEMENT_BYTES + 2;
  usize = n * US_ELEMENT_BYTES + 2;
  ids = malloc (isize);
  uss = malloc (usize);
  if (NULL == ids || NULL == uss)
    goto cleanup;
  ids[ilen++] = '{';
  uss[ulen++] = '{';
  for (size_t i = 0; i < n; i++)
    {
      const char *sep = i + 1 < n ? "," : "}";

      if (!bw_uuid_valid (items[i].id))
        {
          bw_logf (BW_LOG_ERROR, "last-used flush: not a uuid, batch dropped");
          goto cleanup;
        }
      ilen += (size_t) snprintf (ids + ilen, isize - ilen, "%s%s", items[i].id, sep);
      ulen += (size_t) snprintf (uss + ulen, usize - ulen, "%" PRId64 "%s",
                                 items[i].at_us, sep);
    }
  {
    const char *params[] = { ids, uss };

    qs = db_exec (&last_used_stmt, 2, params, NULL);
  }
cleanup:
  free (ids);
  free (uss);
  return qs;
}
