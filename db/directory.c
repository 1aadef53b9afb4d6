/*
 * The directory's org lock and sizes (see db/directory.h).
 */
#include "config.h"
#include "db/directory.h"
#include "db/row.h"

static struct db_stmt lock_stmt
  = DB_STMT ("directory_lock",
             "SELECT user_count, group_count FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL"
             " FOR NO KEY UPDATE");

enum db_qs
db_directory_lock (const char *org_id, struct db_directory_size *out)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&lock_stmt, 1, params, &res);
  if (qs > 0
      && (0 != db_col_int64 (res, 0, 0, &out->users)
          || 0 != db_col_int64 (res, 0, 1, &out->groups)))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}
