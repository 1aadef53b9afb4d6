/*
 * The platform admin credential row (see db/platform.h).
 */
#include "config.h"
#include <string.h>
#include "db/platform.h"

static struct db_stmt get_stmt = DB_STMT ("platform_get",
  "SELECT token_sha256 FROM platform_admin WHERE singleton");

enum db_qs
db_platform_get (char sha256[65])
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&get_stmt, 0, NULL, &res);

  if (qs > 0)
    {
      /* the schema's CHECK guarantees 64 hex digits */
      if (64 != PQgetlength (res, 0, 0))
        qs = DB_QS_HARD_ERROR;
      else
        memcpy (sha256, PQgetvalue (res, 0, 0), 65);
    }
  PQclear (res);
  return qs;
}

/* The WHERE keeps created_at when the same hash is set again (every start
 * with the same BULWARK_BOOTSTRAP_TOKEN); no row is written then. */
static struct db_stmt set_stmt = DB_STMT ("platform_set",
  "INSERT INTO platform_admin (singleton, token_sha256) VALUES (true, $1::text)"
  " ON CONFLICT (singleton) DO UPDATE"
  "   SET token_sha256 = EXCLUDED.token_sha256, created_at = now ()"
  "   WHERE platform_admin.token_sha256 <> EXCLUDED.token_sha256");

enum db_qs
db_platform_set (const char *sha256)
{
  const char *params[] = { sha256 };

  return db_exec (&set_stmt, 1, params, NULL);
}

static struct db_stmt create_stmt = DB_STMT ("platform_create",
  "INSERT INTO platform_admin (singleton, token_sha256) VALUES (true, $1::text)"
  " ON CONFLICT (singleton) DO NOTHING");

enum db_qs
db_platform_create (const char *sha256)
{
  const char *params[] = { sha256 };

  return db_exec (&create_stmt, 1, params, NULL);
}
