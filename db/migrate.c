/*
 * The migration runner.  Migrations are the files migrations/NNNN_name.sql,
 * embedded into the binary by migrations/embed.sh (db/migrations_embedded.c).
 * The table schema_migrations records each applied version with the
 * SHA-256 of the file, so that an edited landed migration is noticed.
 *
 * Replicas starting together serialize on a session-level advisory lock;
 * the second one finds everything applied.  Each migration runs in its
 * own transaction together with its schema_migrations row, so a failed
 * migration leaves no trace and is retried at the next start.
 */
#include "config.h"
#include "db/db.h"
#include "db/internal.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/**
 * Key of the advisory lock held while migrating (pg_advisory_lock(bigint)
 * namespace, shared with nothing else): "BWMIGRAT" in ASCII.
 */
#define MIGRATE_LOCK_KEY "4779096284004290900"


/** Parse a non-negative integer column.  @return 0, or -1 if malformed. */
static int
parse_version (const char *s, unsigned int *out)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul (s, &end, 10);
  if (0 != errno || end == s || '\0' != *end || '-' == *s || v > UINT_MAX)
    return -1;
  *out = (unsigned int) v;
  return 0;
}


unsigned int
db_schema_version_expected (void)
{
  return (0 == db_migrations_count) ? 0 : db_migrations[db_migrations_count - 1].version;
}


int
db_schema_version (unsigned int *version)
{
  static struct db_stmt exists = DB_STMT (
    "migrate_table_exists", "SELECT to_regclass('schema_migrations') IS NOT NULL");
  static struct db_stmt latest = DB_STMT (
    "migrate_latest", "SELECT coalesce(max(version), 0) FROM schema_migrations");
  PGresult *res;
  if (DB_QS_ONE_RESULT != db_exec (&exists, 0, NULL, &res))
    {
      PQclear (res);
      return -1;
    }
  bool present = 't' == PQgetvalue (res, 0, 0)[0];
  PQclear (res);
  if (! present)
    {
      *version = 0;
      return 0;
    }
  if (DB_QS_ONE_RESULT != db_exec (&latest, 0, NULL, &res))
    {
      PQclear (res);
      return -1;
    }
  int rc = parse_version (PQgetvalue (res, 0, 0), version);
  PQclear (res);
  return rc;
}


/** The embedded migration with @a version, or NULL. */
static const struct db_migration *
find_migration (unsigned int version)
{
  for (size_t i = 0; i < db_migrations_count; i++)
    if (db_migrations[i].version == version)
      return &db_migrations[i];
  return NULL;
}


/** Version in row @a row of @a res, or 0 if malformed (versions start at 1). */
static unsigned int
row_version (const PGresult *res, int row)
{
  unsigned int v;
  if (0 != parse_version (PQgetvalue (res, row, 0), &v))
    return 0;
  return v;
}


/** @return true if @a version is among the @a rows rows of @a res. */
static bool
is_applied (const PGresult *res, int rows, unsigned int version)
{
  for (int row = 0; row < rows; row++)
    if (row_version (res, row) == version)
      return true;
  return false;
}


/**
 * Compare the applied migrations (@a rows rows of version, name, sha256 in
 * version order) with the embedded ones.
 * @return 0; -1 on an edited landed migration, an applied version this
 *         binary does not know or an embedded one skipped; -2 when the
 *         database is newer than this binary.
 */
static int
check_applied (const PGresult *res, int rows)
{
  unsigned int expected = db_schema_version_expected ();
  if (rows > 0 && row_version (res, rows - 1) > expected)
    {
      bw_log_json (BW_LOG_ERROR, "database schema is newer than this binary; upgrade bulwarkd",
                   json_pack ("{s:i, s:s, s:i}",
                              "database_version", (int) row_version (res, rows - 1),
                              "migration", PQgetvalue (res, rows - 1, 1),
                              "binary_version", (int) expected));
      return -2;
    }
  for (int row = 0; row < rows; row++)
    {
      unsigned int version = row_version (res, row);
      const struct db_migration *m = find_migration (version);
      if (NULL == m)
        {
          bw_logf (BW_LOG_ERROR, "migrate: applied migration '%s' (%s) is not built into "
                   "this binary", PQgetvalue (res, row, 0), PQgetvalue (res, row, 1));
          return -1;
        }
      char sha[BW_SHA256_HEX_LEN + 1];
      bw_sha256_hex (m->sql, strlen (m->sql), sha);
      if (0 != strcmp (sha, PQgetvalue (res, row, 2)))
        {
          bw_log_json (BW_LOG_ERROR,
                       "applied migration differs from the embedded file "
                       "(a landed migration was edited; add a new one instead)",
                       json_pack ("{s:i, s:s, s:s, s:s}", "version", (int) version,
                                  "migration", m->name,
                                  "applied_sha256", PQgetvalue (res, row, 2),
                                  "embedded_sha256", sha));
          return -1;
        }
    }
  unsigned int latest = (rows > 0) ? row_version (res, rows - 1) : 0;
  for (size_t i = 0; i < db_migrations_count && db_migrations[i].version < latest; i++)
    if (! is_applied (res, rows, db_migrations[i].version))
      {
        bw_logf (BW_LOG_ERROR, "migrate: migration %s is older than the applied version %u "
                 "but was never applied (give it a higher number)",
                 db_migrations[i].name, latest);
        return -1;
      }
  return 0;
}


/** Transaction body applying one migration and recording it. */
static enum db_qs
apply_cb (void *cls)
{
  static struct db_stmt record = DB_STMT (
    "migrate_record",
    "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1::int, $2::text, $3::text)");
  const struct db_migration *m = cls;
  enum db_qs qs = db_exec_script (m->name, m->sql);
  if (qs < 0)
    return qs;
  char version[sizeof ("4294967295")];
  char sha[BW_SHA256_HEX_LEN + 1];
  snprintf (version, sizeof (version), "%u", m->version);
  bw_sha256_hex (m->sql, strlen (m->sql), sha);
  const char *params[] = { version, m->name, sha };
  return db_exec (&record, 3, params, NULL);
}


/** Apply the embedded migrations missing from @a res (@a rows rows).  @return 0, or -1. */
static int
apply_pending (const PGresult *res, int rows, unsigned int *applied)
{
  for (size_t i = 0; i < db_migrations_count; i++)
    {
      const struct db_migration *m = &db_migrations[i];
      if (is_applied (res, rows, m->version))
        continue;
      bw_log_json (BW_LOG_INFO, "applying migration",
                   json_pack ("{s:i, s:s}", "version", (int) m->version, "migration", m->name));
      enum db_qs qs = db_tx_run (DB_READ_COMMITTED, &apply_cb, (void *) m);
      if (qs < 0)
        {
          bw_log_json (BW_LOG_ERROR, "migration failed",
                       json_pack ("{s:i, s:s, s:i}", "version", (int) m->version,
                                  "migration", m->name, "db_qs", (int) qs));
          return -1;
        }
      if (NULL != applied)
        (*applied)++;
    }
  return 0;
}


int
db_migrate (unsigned int *applied)
{
  static struct db_stmt lock = DB_STMT ("migrate_lock", "SELECT pg_advisory_lock($1::bigint)");
  static struct db_stmt unlock = DB_STMT ("migrate_unlock",
                                          "SELECT pg_advisory_unlock($1::bigint)");
  /* Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can fail. */
  static struct db_stmt create = DB_STMT (
    "migrate_create_table",
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version int PRIMARY KEY,"
    " name text NOT NULL,"
    " sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())");
  static struct db_stmt list = DB_STMT (
    "migrate_applied", "SELECT version, name, sha256 FROM schema_migrations ORDER BY version");
  const char *key[] = { MIGRATE_LOCK_KEY };
  if (NULL != applied)
    *applied = 0;
  enum db_qs locked = db_exec (&lock, 1, key, NULL);
  if (locked < 0)
    {
      bw_logf (BW_LOG_ERROR, "migrate: cannot take the migration lock (db_qs %d)", (int) locked);
      return -1;
    }
  int rc = -1;
  PGresult *res = NULL;
  enum db_qs qs = DB_QS_HARD_ERROR;
  if (db_exec (&create, 0, NULL, NULL) >= 0)
    qs = db_exec (&list, 0, NULL, &res);
  if (qs >= 0)
    rc = check_applied (res, (int) qs);
  if (0 == rc)
    rc = apply_pending (res, (int) qs, applied);
  PQclear (res);
  /* A lost connection releases the lock with its session; db_exec would
     reconnect, and the new session holds nothing to unlock.  Should the
     lock be lost midway, the primary key of schema_migrations still lets
     only one replica record (and so commit) each migration. */
  if (NULL != db_conn_current () && db_exec (&unlock, 1, key, NULL) < 0)
    bw_logf (BW_LOG_WARN, "migrate: cannot release the migration lock; it ends with the session");
  if (0 == rc && NULL != applied && *applied > 0)
    bw_logf (BW_LOG_INFO, "migrate: %u migration(s) applied, schema version %u",
             *applied, db_schema_version_expected ());
  return rc;
}
