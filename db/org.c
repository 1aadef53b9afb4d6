/*
 * Queries of the org aggregate.  Soft delete keeps the row (the audit
 * chain references it); only live rows have deleted_at NULL, and the
 * partial unique index orgs_slug_live makes a deleted org's slug reusable.
 */
#include "config.h"
#include "db/org.h"
#include "db/row.h"
#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>

/** Select list matched by row_to_org(). */
#define ORG_COLUMNS \
  "id, slug, name, version, " DB_SQL_TS ("created_at") ", " DB_SQL_TS ("updated_at")

/** Fill @a out from row @a row of an ORG_COLUMNS result.  @return 0, or -1. */
static int
row_to_org (const PGresult *res, int row, struct db_org *out)
{
  if (0 != db_col_int64 (res, row, 3, &out->version)
      || 0 != db_col_text (res, row, 0, out->id, sizeof (out->id))
      || 0 != db_col_text (res, row, 1, out->slug, sizeof (out->slug))
      || 0 != db_col_text (res, row, 2, out->name, sizeof (out->name))
      || 0 != db_col_text (res, row, 4, out->created_at, sizeof (out->created_at))
      || 0 != db_col_text (res, row, 5, out->updated_at, sizeof (out->updated_at)))
    return -1;
  return 0;
}

/**
 * Run @a st, which returns at most one ORG_COLUMNS row, and copy it into
 * @a out.  @return as db_exec, or DB_QS_HARD_ERROR if the row is malformed.
 */
static enum db_qs
exec_one_org (struct db_stmt *st, int nparams, const char *const *params, struct db_org *out)
{
  PGresult *res;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  if (qs <= 0)
    {
      if (NULL != res)
        PQclear (res);
      return qs;
    }
  if (0 != row_to_org (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

enum db_qs
db_org_resolve (const char *id_or_slug, struct db_org_ref *out)
{
  static struct db_stmt by_id = DB_STMT (
    "org_resolve_id", "SELECT id, slug FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL");
  static struct db_stmt by_slug = DB_STMT (
    "org_resolve_slug", "SELECT id, slug FROM orgs WHERE slug = $1::text AND deleted_at IS NULL");
  struct db_stmt *st;
  if (bw_uuid_valid (id_or_slug))
    st = &by_id;
  else if (bw_slug_valid (id_or_slug))
    st = &by_slug;
  else
    return DB_QS_NO_RESULTS;

  const char *params[] = { id_or_slug };
  PGresult *res;
  enum db_qs qs = db_exec (st, 1, params, &res);
  if (qs <= 0)
    {
      if (NULL != res)
        PQclear (res);
      return qs;
    }
  if (0 != db_col_text (res, 0, 0, out->id, sizeof (out->id))
      || 0 != db_col_text (res, 0, 1, out->slug, sizeof (out->slug)))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

enum db_qs
db_org_insert (const char *slug, const char *name, struct db_org *out)
{
  static struct db_stmt st = DB_STMT (
    "org_insert",
    "INSERT INTO orgs (slug, name) VALUES ($1::text, $2::text) RETURNING " ORG_COLUMNS);
  const char *params[] = { slug, name };
  return exec_one_org (&st, 2, params, out);
}

enum db_qs
db_org_get (const char *org_id, struct db_org *out)
{
  static struct db_stmt st = DB_STMT (
    "org_get",
    "SELECT " ORG_COLUMNS " FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL");
  const char *params[] = { org_id };
  return exec_one_org (&st, 1, params, out);
}

enum db_qs
db_org_lock (const char *org_id, struct db_org *out)
{
  static struct db_stmt st = DB_STMT (
    "org_lock",
    "SELECT " ORG_COLUMNS " FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL FOR UPDATE");
  const char *params[] = { org_id };
  return exec_one_org (&st, 1, params, out);
}

enum db_qs
db_org_update (const char *org_id, const char *slug, const char *name, struct db_org *out)
{
  static struct db_stmt st = DB_STMT (
    "org_update",
    "UPDATE orgs SET slug = COALESCE ($2::text, slug), name = COALESCE ($3::text, name),"
    " version = version + 1, updated_at = now ()"
    " WHERE id = $1::uuid AND deleted_at IS NULL RETURNING " ORG_COLUMNS);
  const char *params[] = { org_id, slug, name };
  return exec_one_org (&st, 3, params, out);
}

enum db_qs
db_org_delete (const char *org_id)
{
  static struct db_stmt del = DB_STMT (
    "org_soft_delete",
    "UPDATE orgs SET deleted_at = now (), updated_at = now (), version = version + 1"
    " WHERE id = $1::uuid AND deleted_at IS NULL");
  static struct db_stmt revoke = DB_STMT (
    "org_revoke_tokens",
    "UPDATE api_tokens SET revoked_at = now () WHERE org_id = $1::uuid AND revoked_at IS NULL");
  const char *params[] = { org_id };
  enum db_qs qs = db_exec (&del, 1, params, NULL);
  if (qs <= 0)
    return qs;
  enum db_qs revoked = db_exec (&revoke, 1, params, NULL);
  if (revoked < 0)
    return revoked;
  return DB_QS_ONE_RESULT;
}

enum db_qs
db_org_list (const char *only_id, const char *after_id, unsigned int limit, db_org_cb cb,
             void *cls)
{
  /* A cursor names the last org of the previous page; its row outlives a
     soft delete, so the subquery finds it even then. */
  static struct db_stmt st = DB_STMT (
    "org_list",
    "SELECT " ORG_COLUMNS " FROM orgs WHERE deleted_at IS NULL"
    " AND ($1::uuid IS NULL OR id = $1::uuid)"
    " AND ($2::uuid IS NULL"
    "      OR (created_at, id) > (SELECT c.created_at, c.id FROM orgs c WHERE c.id = $2::uuid))"
    " ORDER BY created_at, id LIMIT $3::integer");
  char lim[16];
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[] = { only_id, after_id, lim };
  PGresult *res;
  enum db_qs qs = db_exec (&st, 3, params, &res);
  if (qs <= 0)
    {
      if (NULL != res)
        PQclear (res);
      return qs;
    }
  int n = PQntuples (res);
  struct db_org *orgs = calloc ((size_t) n, sizeof (*orgs));
  if (NULL == orgs)
    {
      PQclear (res);
      bw_logf (BW_LOG_ERROR, "orgs: out of memory listing %d orgs", n);
      return DB_QS_HARD_ERROR;
    }
  for (int i = 0; i < n; i++)
    if (0 != row_to_org (res, i, &orgs[i]))
      {
        free (orgs);
        PQclear (res);
        return DB_QS_HARD_ERROR;
      }
  PQclear (res);
  for (int i = 0; i < n; i++)
    cb (cls, &orgs[i]);
  free (orgs);
  return (enum db_qs) n;
}

static struct db_stmt writer_lock_stmt = DB_STMT ("org_writer_lock",
  "SELECT 1 FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL FOR NO KEY UPDATE");

enum db_qs
db_org_writer_lock (const char *org_id)
{
  const char *params[] = { org_id };
  return db_exec (&writer_lock_stmt, 1, params, NULL);
}
