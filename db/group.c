/*
 * Queries of the group aggregate and its memberships (see db/group.h).
 */
#include "config.h"
#include "db/directory.h"
#include "db/group.h"
#include "db/row.h"

#include <stdio.h>

/* The columns group_from_row reads, in its order; `g` is groups. */
#define GROUP_COLUMNS                                                            \
  "g.id, g.display_name, g.external_id, g.member_count, g.version, " DB_SQL_TS ( \
    "g.created_at") ", " DB_SQL_TS ("g.updated_at")

/* Fill @a g from row @a row of a result selecting GROUP_COLUMNS first.  @return 0, or -1. */
static int
group_from_row (const PGresult *res, int row, struct db_group *g)
{
  if (0 != db_col_text (res, row, 0, g->id, sizeof (g->id))
      || 0 != db_col_text (res, row, 1, g->display_name, sizeof (g->display_name))
      || 0 != db_col_text (res, row, 2, g->external_id, sizeof (g->external_id))
      || 0 != db_col_int64 (res, row, 3, &g->member_count)
      || 0 != db_col_int64 (res, row, 4, &g->version)
      || 0 != db_col_text (res, row, 5, g->created_at, sizeof (g->created_at))
      || 0 != db_col_text (res, row, 6, g->updated_at, sizeof (g->updated_at)))
    return -1;
  return 0;
}

/* Run @a st, which returns at most one GROUP_COLUMNS row, into @a out. */
static enum db_qs
exec_one (struct db_stmt *st, int nparams, const char *const *params, struct db_group *out)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  if (qs > 0 && 0 != group_from_row (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* Run @a st, which returns GROUP_COLUMNS rows, passing each to @a cb. */
static enum db_qs
exec_list (struct db_stmt *st, int nparams, const char *const *params, db_group_cb cb, void *cls)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      struct db_group g;
      if (0 != group_from_row (res, i, &g))
        {
          qs = DB_QS_HARD_ERROR;
          break;
        }
      cb (cls, &g);
    }
  PQclear (res);
  return qs;
}

static struct db_stmt insert_stmt
  = DB_STMT ("group_insert", "INSERT INTO groups AS g (org_id, display_name, external_id)"
                             " VALUES ($1::uuid, $2::text, $3::text) RETURNING " GROUP_COLUMNS);

enum db_qs
db_group_insert (const char *org_id, const char *display_name, const char *external_id,
                 struct db_group *out)
{
  const char *params[] = { org_id, display_name, external_id };
  return exec_one (&insert_stmt, 3, params, out);
}

static struct db_stmt get_stmt
  = DB_STMT ("group_get", "SELECT " GROUP_COLUMNS
                          " FROM groups g WHERE g.org_id = $1::uuid AND g.id = $2::uuid");

enum db_qs
db_group_get (const char *org_id, const char *id, struct db_group *out)
{
  const char *params[] = { org_id, id };
  return exec_one (&get_stmt, 2, params, out);
}

static struct db_stmt lock_stmt
  = DB_STMT ("group_lock",
             "SELECT " GROUP_COLUMNS " FROM groups g WHERE g.org_id = $1::uuid AND g.id = $2::uuid"
             " FOR UPDATE");

enum db_qs
db_group_lock (const char *org_id, const char *id, struct db_group *out)
{
  const char *params[] = { org_id, id };
  return exec_one (&lock_stmt, 2, params, out);
}

static struct db_stmt update_stmt = DB_STMT (
  "group_update", "UPDATE groups AS g SET display_name = $3::text, external_id = $4::text,"
                  " version = g.version + 1, updated_at = now ()"
                  " WHERE g.org_id = $1::uuid AND g.id = $2::uuid RETURNING " GROUP_COLUMNS);

enum db_qs
db_group_update (const char *org_id, const char *id, const char *display_name,
                 const char *external_id, struct db_group *out)
{
  const char *params[] = { org_id, id, display_name, external_id };
  return exec_one (&update_stmt, 4, params, out);
}

static struct db_stmt delete_stmt
  = DB_STMT ("group_delete", "DELETE FROM groups WHERE org_id = $1::uuid AND id = $2::uuid");

enum db_qs
db_group_delete (const char *org_id, const char *id)
{
  const char *params[] = { org_id, id };
  return db_exec (&delete_stmt, 2, params, NULL);
}

/* Served by groups_org_created (org_id, created_at, id). */
static struct db_stmt list_stmt = DB_STMT (
  "group_list", "SELECT " GROUP_COLUMNS " FROM groups g"
                " WHERE g.org_id = $1::uuid AND (g.created_at, g.id) > ($2::timestamptz, $3::uuid)"
                " ORDER BY g.created_at, g.id LIMIT $4::integer");

/* Served by the unique index groups_display_name: at most one row. */
static struct db_stmt list_by_name_stmt = DB_STMT (
  "group_list_by_name", "SELECT " GROUP_COLUMNS " FROM groups g"
                        " WHERE g.org_id = $1::uuid AND lower (g.display_name) = lower ($5::text)"
                        "   AND (g.created_at, g.id) > ($2::timestamptz, $3::uuid)"
                        " ORDER BY g.created_at, g.id LIMIT $4::integer");

enum db_qs
db_group_list (const char *org_id, const char *display_name, const char *after_created_at,
               const char *after_id, unsigned int limit, db_group_cb cb, void *cls)
{
  char lim[16];
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[] = {
    org_id,
    (NULL != after_created_at) ? after_created_at : DB_DIRECTORY_FIRST_CREATED_AT,
    (NULL != after_created_at) ? after_id : DB_DIRECTORY_FIRST_ID,
    lim,
    display_name,
  };
  if (NULL != display_name)
    return exec_list (&list_by_name_stmt, 5, params, cb, cls);
  return exec_list (&list_stmt, 4, params, cb, cls);
}

/* Served by group_members_user (org_id, user_id, group_id). */
static struct db_stmt list_of_user_stmt
  = DB_STMT ("group_list_of_user",
             "SELECT " GROUP_COLUMNS " FROM group_members m"
             " JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id"
             " WHERE m.org_id = $1::uuid AND m.user_id = $2::uuid AND m.group_id > $3::uuid"
             " ORDER BY m.group_id LIMIT $4::integer");

enum db_qs
db_group_list_of_user (const char *org_id, const char *user_id, const char *after_id,
                       unsigned int limit, db_group_cb cb, void *cls)
{
  char lim[16];
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[] = {
    org_id,
    user_id,
    (NULL != after_id) ? after_id : DB_DIRECTORY_FIRST_ID,
    lim,
  };
  return exec_list (&list_of_user_stmt, 4, params, cb, cls);
}

static struct db_stmt member_add_stmt
  = DB_STMT ("group_member_add",
             "INSERT INTO group_members (org_id, group_id, user_id)"
             " VALUES ($1::uuid, $2::uuid, $3::uuid) ON CONFLICT (group_id, user_id) DO NOTHING");

enum db_qs
db_group_member_add (const char *org_id, const char *group_id, const char *user_id)
{
  const char *params[] = { org_id, group_id, user_id };
  return db_exec (&member_add_stmt, 3, params, NULL);
}

static struct db_stmt member_remove_stmt = DB_STMT (
  "group_member_remove", "DELETE FROM group_members"
                         " WHERE org_id = $1::uuid AND group_id = $2::uuid AND user_id = $3::uuid");

enum db_qs
db_group_member_remove (const char *org_id, const char *group_id, const char *user_id)
{
  const char *params[] = { org_id, group_id, user_id };
  return db_exec (&member_remove_stmt, 3, params, NULL);
}
