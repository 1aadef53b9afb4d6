/*
 * The org's policy version (see db/policy_version.h).
 */
#include "config.h"
#include "db/policy_version.h"

/* pg_notify () is the function form of NOTIFY, which takes no parameters. */
static struct db_stmt bump_stmt = DB_STMT (
  "policy_version_bump",
  "WITH b AS (UPDATE orgs SET policy_version = policy_version + 1 WHERE id = $1::uuid"
  "           RETURNING id, policy_version)"
  " SELECT pg_notify ('" DB_POLICY_NOTIFY_CHANNEL "', b.id::text || ':' || b.policy_version)"
  " FROM b");

enum db_qs
db_policy_version_bump (const char *org_id)
{
  const char *params[] = { org_id };
  return db_exec (&bump_stmt, 1, params, NULL);
}
