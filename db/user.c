/*
 * Queries of the user aggregate (see db/user.h).
 */
#include "config.h"
#include "db/directory.h"
#include "db/row.h"
#include "db/user.h"
#include "lib/log.h"

#include <stdio.h>
#include <string.h>

/* The columns user_from_row reads, in its order; `u` is users. */
#define USER_COLUMNS                                                                              \
  "u.id, u.user_name, u.display_name, u.external_id, u.active, u.emails, u.version, " DB_SQL_TS ( \
    "u.created_at") ", " DB_SQL_TS ("u.updated_at")

void
db_user_clear (struct db_user *u)
{
  if (NULL == u)
    return;
  json_decref (u->emails);
  u->emails = NULL;
}

/* Fill @a u from row @a row of a result selecting USER_COLUMNS first.  @return 0, or -1. */
static int
user_from_row (const PGresult *res, int row, struct db_user *u)
{
  json_error_t err = { .line = 0 };
  u->emails = NULL;
  if (0 != db_col_text (res, row, 0, u->id, sizeof (u->id))
      || 0 != db_col_text (res, row, 1, u->user_name, sizeof (u->user_name))
      || 0 != db_col_text (res, row, 2, u->display_name, sizeof (u->display_name))
      || 0 != db_col_text (res, row, 3, u->external_id, sizeof (u->external_id))
      || 0 != db_col_int64 (res, row, 6, &u->version)
      || 0 != db_col_text (res, row, 7, u->created_at, sizeof (u->created_at))
      || 0 != db_col_text (res, row, 8, u->updated_at, sizeof (u->updated_at)))
    return -1;
  u->active = db_col_bool (res, row, 4);
  u->emails = json_loadb (PQgetvalue (res, row, 5), (size_t) PQgetlength (res, row, 5),
                          JSON_REJECT_DUPLICATES, &err);
  if (!json_is_array (u->emails))
    {
      bw_logf (BW_LOG_ERROR, "users: emails of %s are not an array: %s", u->id, err.text);
      db_user_clear (u);
      return -1;
    }
  return 0;
}

/* Run @a st, which returns at most one USER_COLUMNS row, into @a out. */
static enum db_qs
exec_one (struct db_stmt *st, int nparams, const char *const *params, struct db_user *out)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  out->emails = NULL;
  if (qs > 0 && 0 != user_from_row (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* Run @a st, which returns USER_COLUMNS rows, passing each to @a cb. */
static enum db_qs
exec_list (struct db_stmt *st, int nparams, const char *const *params, db_user_cb cb, void *cls)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      struct db_user u;
      if (0 != user_from_row (res, i, &u))
        {
          qs = DB_QS_HARD_ERROR;
          break;
        }
      cb (cls, &u);
      db_user_clear (&u);
    }
  PQclear (res);
  return qs;
}

static struct db_stmt insert_stmt
  = DB_STMT ("user_insert",
             "INSERT INTO users AS u (org_id, user_name, display_name, external_id, active, emails)"
             " VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::boolean, $6::jsonb)"
             " RETURNING " USER_COLUMNS);

enum db_qs
db_user_insert (const char *org_id, const struct db_user_values *v, struct db_user *out)
{
  const char *params[] = {
    org_id, v->user_name, v->display_name, v->external_id, v->active ? "true" : "false", v->emails,
  };
  return exec_one (&insert_stmt, 6, params, out);
}

static struct db_stmt get_stmt = DB_STMT (
  "user_get", "SELECT " USER_COLUMNS " FROM users u WHERE u.org_id = $1::uuid AND u.id = $2::uuid");

enum db_qs
db_user_get (const char *org_id, const char *id, struct db_user *out)
{
  const char *params[] = { org_id, id };
  return exec_one (&get_stmt, 2, params, out);
}

static struct db_stmt lock_stmt = DB_STMT (
  "user_lock", "SELECT " USER_COLUMNS " FROM users u WHERE u.org_id = $1::uuid AND u.id = $2::uuid"
               " FOR UPDATE");

enum db_qs
db_user_lock (const char *org_id, const char *id, struct db_user *out)
{
  const char *params[] = { org_id, id };
  return exec_one (&lock_stmt, 2, params, out);
}

static struct db_stmt update_stmt
  = DB_STMT ("user_update", "UPDATE users AS u SET user_name = $3::text, display_name = $4::text,"
                            " external_id = $5::text, active = $6::boolean, emails = $7::jsonb,"
                            " version = u.version + 1, updated_at = now ()"
                            " WHERE u.org_id = $1::uuid AND u.id = $2::uuid"
                            " RETURNING " USER_COLUMNS);

enum db_qs
db_user_update (const char *org_id, const char *id, const struct db_user_values *v,
                struct db_user *out)
{
  const char *params[] = {
    org_id,    id, v->user_name, v->display_name, v->external_id, v->active ? "true" : "false",
    v->emails,
  };
  return exec_one (&update_stmt, 7, params, out);
}

static struct db_stmt delete_stmt
  = DB_STMT ("user_delete", "DELETE FROM users WHERE org_id = $1::uuid AND id = $2::uuid");

enum db_qs
db_user_delete (const char *org_id, const char *id)
{
  const char *params[] = { org_id, id };
  return db_exec (&delete_stmt, 2, params, NULL);
}

/* Served by users_org_created (org_id, created_at, id); the active filter is a row filter. */
static struct db_stmt list_stmt = DB_STMT (
  "user_list", "SELECT " USER_COLUMNS " FROM users u"
               " WHERE u.org_id = $1::uuid AND ($2::boolean IS NULL OR u.active = $2::boolean)"
               "   AND (u.created_at, u.id) > ($3::timestamptz, $4::uuid)"
               " ORDER BY u.created_at, u.id LIMIT $5::integer");

/* Served by the unique index users_user_name: at most one row. */
static struct db_stmt list_by_name_stmt = DB_STMT (
  "user_list_by_name", "SELECT " USER_COLUMNS " FROM users u"
                       " WHERE u.org_id = $1::uuid AND lower (u.user_name) = lower ($6::text)"
                       "   AND ($2::boolean IS NULL OR u.active = $2::boolean)"
                       "   AND (u.created_at, u.id) > ($3::timestamptz, $4::uuid)"
                       " ORDER BY u.created_at, u.id LIMIT $5::integer");

enum db_qs
db_user_list (const char *org_id, const struct db_user_filter *f, unsigned int limit, db_user_cb cb,
              void *cls)
{
  char lim[16];
  const char *active = (DB_USER_ACTIVE == f->active)     ? "true"
                       : (DB_USER_INACTIVE == f->active) ? "false"
                                                         : NULL;
  const char *after_ts
    = (NULL != f->after_created_at) ? f->after_created_at : DB_DIRECTORY_FIRST_CREATED_AT;
  const char *after_id = (NULL != f->after_created_at) ? f->after_id : DB_DIRECTORY_FIRST_ID;
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[] = { org_id, active, after_ts, after_id, lim, f->user_name };
  if (NULL != f->user_name)
    return exec_list (&list_by_name_stmt, 6, params, cb, cls);
  return exec_list (&list_stmt, 5, params, cb, cls);
}

/* Served by the primary key (group_id, user_id). */
static struct db_stmt list_in_group_stmt
  = DB_STMT ("user_list_in_group",
             "SELECT " USER_COLUMNS " FROM group_members m"
             " JOIN users u ON u.org_id = m.org_id AND u.id = m.user_id"
             " WHERE m.org_id = $1::uuid AND m.group_id = $2::uuid AND m.user_id > $3::uuid"
             " ORDER BY m.user_id LIMIT $4::integer");

enum db_qs
db_user_list_in_group (const char *org_id, const char *group_id, const char *after_id,
                       unsigned int limit, db_user_cb cb, void *cls)
{
  char lim[16];
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[]
    = { org_id, group_id, (NULL != after_id) ? after_id : DB_DIRECTORY_FIRST_ID, lim };
  return exec_list (&list_in_group_stmt, 4, params, cb, cls);
}

static struct db_stmt user_ok_stmt = DB_STMT ("user_active",
  "SELECT active FROM users WHERE org_id = $1::uuid AND id = $2::uuid");

enum db_qs
db_user_active (const char *org_id, const char *user_id, bool *ok)
{
  const char *params[] = { org_id, user_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&user_ok_stmt, 2, params, &res);

  if (qs >= 0)
    {
      *ok = qs > 0 && db_col_bool (res, 0, 0);
      qs = DB_QS_ONE_RESULT;
    }
  PQclear (res);
  return qs;
}
