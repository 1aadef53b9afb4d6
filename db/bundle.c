/*
 * Queries of bundles, heads and their counters (see db/bundle.h).  Times
 * travel as unix seconds; bytea as "\x<hex>" text in and PostgreSQL's hex
 * output format out.
 */
#include "config.h"
#include "db/bundle.h"
#include "db/row.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a decimal int64 with sign and NUL. */
#define INT_TEXT_SIZE 24
/* GREATEST(last + 1, milliseconds since the epoch) of column @a col. */
#define NEXT_NUMBER(col) \
  "GREATEST (" col " + 1, (extract (epoch FROM clock_timestamp ()) * 1000)::bigint)"

/* Columns head_from_row reads, in its order; with the JWS as column HEAD_JWS_COL. */
#define HEAD_COLUMNS \
  "h.subject_id, h.bundle_version, h.sha256, h.length, h.head_serial, h.keyset_version," \
  " extract (epoch FROM h.issued_at)::bigint, extract (epoch FROM h.expires_at)::bigint"
#define HEAD_JWS_COL 8

static void
i64 (char out[INT_TEXT_SIZE], int64_t v)
{
  snprintf (out, INT_TEXT_SIZE, "%" PRId64, v);
}

/* Run @a st (one org id parameter) returning one int64 into @a out. */
static enum db_qs
one_int (struct db_stmt *st, const char *org_id, int64_t *out)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, 1, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

static struct db_stmt ensure_stmt = DB_STMT ("bundle_state_ensure",
  "INSERT INTO bundle_state (org_id) SELECT id FROM orgs WHERE id = $1::uuid"
  " ON CONFLICT (org_id) DO NOTHING");

enum db_qs
db_bundle_state_ensure (const char *org_id)
{
  const char *params[] = { org_id };
  return db_exec (&ensure_stmt, 1, params, NULL);
}

static struct db_stmt lock_stmt = DB_STMT ("bundle_state_lock",
  "SELECT bundle_version, head_serial, compiled_policy_version, keyset_version"
  " FROM bundle_state WHERE org_id = $1::uuid FOR UPDATE");

enum db_qs
db_bundle_state_lock (const char *org_id, struct db_bundle_state *out)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&lock_stmt, 1, params, &res);
  if (qs > 0
      && (0 != db_col_int64 (res, 0, 0, &out->bundle_version)
          || 0 != db_col_int64 (res, 0, 1, &out->head_serial)
          || 0 != db_col_int64 (res, 0, 2, &out->compiled_policy_version)
          || 0 != db_col_int64 (res, 0, 3, &out->keyset_version)))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

static struct db_stmt set_keyset_stmt = DB_STMT ("bundle_state_set_keyset",
  "INSERT INTO bundle_state (org_id, keyset_version) VALUES ($1::uuid, $2::bigint)"
  " ON CONFLICT (org_id) DO UPDATE SET keyset_version = EXCLUDED.keyset_version");

enum db_qs
db_bundle_state_set_keyset (const char *org_id, int64_t keyset_version)
{
  char v[INT_TEXT_SIZE];
  i64 (v, keyset_version);
  const char *params[] = { org_id, v };
  return db_exec (&set_keyset_stmt, 2, params, NULL);
}

static struct db_stmt set_compiled_stmt = DB_STMT ("bundle_state_set_compiled",
  "UPDATE bundle_state SET compiled_policy_version = $2::bigint WHERE org_id = $1::uuid");

enum db_qs
db_bundle_state_set_compiled (const char *org_id, int64_t policy_version)
{
  char v[INT_TEXT_SIZE];
  i64 (v, policy_version);
  const char *params[] = { org_id, v };
  return db_exec (&set_compiled_stmt, 2, params, NULL);
}

static struct db_stmt next_version_stmt = DB_STMT ("bundle_next_version",
  "UPDATE bundle_state SET bundle_version = " NEXT_NUMBER ("bundle_version")
  " WHERE org_id = $1::uuid RETURNING bundle_version");

enum db_qs
db_bundle_next_version (const char *org_id, int64_t *out)
{
  return one_int (&next_version_stmt, org_id, out);
}

static struct db_stmt next_serial_stmt = DB_STMT ("bundle_next_serial",
  "UPDATE bundle_state SET head_serial = " NEXT_NUMBER ("head_serial")
  " WHERE org_id = $1::uuid RETURNING head_serial");

enum db_qs
db_bundle_next_serial (const char *org_id, int64_t *out)
{
  return one_int (&next_serial_stmt, org_id, out);
}

static struct db_stmt insert_stmt = DB_STMT ("bundle_insert",
  "INSERT INTO bundles (sha256, org_id, version, body)"
  " VALUES ($1::text, $2::uuid, $3::bigint, $4::bytea) ON CONFLICT (sha256) DO NOTHING");

enum db_qs
db_bundle_insert (const char *org_id, const char *sha256, int64_t version,
                  const unsigned char *body, size_t len)
{
  char v[INT_TEXT_SIZE];
  char *hex = malloc (2 * len + 3);
  if (NULL == hex)
    return DB_QS_HARD_ERROR;
  hex[0] = '\\';
  hex[1] = 'x';
  bw_hex (body, len, hex + 2);
  i64 (v, version);
  const char *params[] = { sha256, org_id, v, hex };
  enum db_qs qs = db_exec (&insert_stmt, 4, params, NULL);
  free (hex);
  return qs;
}

static struct db_stmt get_stmt = DB_STMT ("bundle_get",
  "SELECT body FROM bundles WHERE sha256 = $2::text AND org_id = $1::uuid");

enum db_qs
db_bundle_get (const char *org_id, const char *sha256, unsigned char **body, size_t *len)
{
  const char *params[] = { org_id, sha256 };
  PGresult *res = NULL;
  *body = NULL;
  *len = 0;
  enum db_qs qs = db_exec (&get_stmt, 2, params, &res);
  if (qs > 0)
    {
      size_t n = 0;
      unsigned char *u = PQunescapeBytea ((const unsigned char *) PQgetvalue (res, 0, 0), &n);
      *body = (NULL != u) ? malloc ((0 == n) ? 1 : n) : NULL;
      if (NULL == *body)
        qs = DB_QS_HARD_ERROR;
      else
        {
          memcpy (*body, u, n);
          *len = n;
        }
      PQfreemem (u);
    }
  PQclear (res);
  return qs;
}

/* Fill @a h from a HEAD_COLUMNS row (jws left NULL).  @return 0, or -1. */
static int
head_from_row (const PGresult *res, int row, struct db_head *h)
{
  memset (h, 0, sizeof (*h));
  return (0 != db_col_text (res, row, 0, h->subject_id, sizeof (h->subject_id))
          || 0 != db_col_int64 (res, row, 1, &h->bundle_version)
          || 0 != db_col_text (res, row, 2, h->sha256, sizeof (h->sha256))
          || 0 != db_col_int64 (res, row, 3, &h->length)
          || 0 != db_col_int64 (res, row, 4, &h->head_serial)
          || 0 != db_col_int64 (res, row, 5, &h->keyset_version)
          || 0 != db_col_int64 (res, row, 6, &h->issued_at)
          || 0 != db_col_int64 (res, row, 7, &h->expires_at))
           ? -1 : 0;
}

/* Call @a cb for each HEAD_COLUMNS row of @a res (with the JWS when @a jws). */
static enum db_qs
each_head (PGresult *res, enum db_qs qs, bool jws, db_head_cb cb, void *cls)
{
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      struct db_head h;
      if (0 != head_from_row (res, i, &h))
        return DB_QS_HARD_ERROR;
      if (jws)
        h.jws = PQgetvalue (res, i, HEAD_JWS_COL);
      cb (cls, &h);
    }
  return qs;
}

/* The org row drives the join, so the org's head_serial comes even without heads. */
static struct db_stmt load_stmt = DB_STMT ("heads_load",
  "SELECT " HEAD_COLUMNS ", h.jws, b.head_serial"
  " FROM bundle_state b JOIN heads h ON h.org_id = b.org_id"
  " WHERE b.org_id = $1::uuid"
  " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, b.head_serial"
  " FROM bundle_state b WHERE b.org_id = $1::uuid"
  " ORDER BY 1 NULLS FIRST");

enum db_qs
db_heads_load (const char *org_id, int64_t *head_serial, db_head_cb cb, void *cls)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  *head_serial = 0;
  enum db_qs qs = db_exec (&load_stmt, 1, params, &res);
  if (qs > 0)
    {
      /* row 0 is the marker row (NULL subject) carrying the counter */
      if (0 != db_col_int64 (res, 0, 9, head_serial))
        qs = DB_QS_HARD_ERROR;
      for (int i = 1; qs > 0 && i < (int) qs; i++)
        {
          struct db_head h;
          if (0 != head_from_row (res, i, &h))
            {
              qs = DB_QS_HARD_ERROR;
              break;
            }
          h.jws = PQgetvalue (res, i, HEAD_JWS_COL);
          cb (cls, &h);
        }
      if (qs > 0)
        qs = (enum db_qs) (qs - 1);
    }
  PQclear (res);
  return qs;
}

static struct db_stmt list_stmt = DB_STMT ("heads_list",
  "SELECT " HEAD_COLUMNS " FROM heads h WHERE h.org_id = $1::uuid"
  " AND ($2::bigint < 0 OR h.expires_at < to_timestamp ($2::bigint)"
  "      OR h.keyset_version <> $3::bigint)"
  " ORDER BY h.subject_id");

enum db_qs
db_heads_list (const char *org_id, int64_t expiring_before, int64_t keyset_version,
               db_head_cb cb, void *cls)
{
  char b[INT_TEXT_SIZE];
  char k[INT_TEXT_SIZE];
  i64 (b, expiring_before);
  i64 (k, keyset_version);
  const char *params[] = { org_id, b, k };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&list_stmt, 3, params, &res);
  qs = each_head (res, qs, false, cb, cls);
  PQclear (res);
  return qs;
}

static struct db_stmt exists_stmt = DB_STMT ("head_exists",
  "SELECT 1 FROM heads WHERE org_id = $1::uuid AND subject_id = $2::uuid");

enum db_qs
db_head_exists (const char *org_id, const char *subject_id)
{
  const char *params[] = { org_id, subject_id };
  return db_exec (&exists_stmt, 2, params, NULL);
}

static struct db_stmt upsert_stmt = DB_STMT ("head_upsert",
  "INSERT INTO heads (org_id, subject_id, bundle_version, sha256, length, head_serial,"
  "                   keyset_version, jws, issued_at, expires_at)"
  " VALUES ($1::uuid, $2::uuid, $3::bigint, $4::text, $5::bigint, $6::bigint, $7::bigint,"
  "         $8::text, to_timestamp ($9::bigint), to_timestamp ($10::bigint))"
  " ON CONFLICT (org_id, subject_id) DO UPDATE SET"
  "  bundle_version = EXCLUDED.bundle_version, sha256 = EXCLUDED.sha256,"
  "  length = EXCLUDED.length, head_serial = EXCLUDED.head_serial,"
  "  keyset_version = EXCLUDED.keyset_version, jws = EXCLUDED.jws,"
  "  issued_at = EXCLUDED.issued_at, expires_at = EXCLUDED.expires_at");

enum db_qs
db_head_upsert (const char *org_id, const struct db_head *h)
{
  char ver[INT_TEXT_SIZE], len[INT_TEXT_SIZE], ser[INT_TEXT_SIZE], ks[INT_TEXT_SIZE];
  char iat[INT_TEXT_SIZE], exp[INT_TEXT_SIZE];
  i64 (ver, h->bundle_version);
  i64 (len, h->length);
  i64 (ser, h->head_serial);
  i64 (ks, h->keyset_version);
  i64 (iat, h->issued_at);
  i64 (exp, h->expires_at);
  const char *params[] = { org_id, h->subject_id, ver, h->sha256, len, ser, ks, h->jws, iat, exp };
  return db_exec (&upsert_stmt, 10, params, NULL);
}

/*
 * A PostgreSQL array literal "{id,...}" of @a n canonical uuids (safe
 * unquoted: hex digits and '-').  @return malloc'd text, or NULL.
 */
static char *
uuid_array (const char *const *ids, size_t n)
{
  char *s = malloc (n * (BW_UUID_LEN + 1) + 3);
  size_t len = 0;
  if (NULL == s)
    return NULL;
  s[len++] = '{';
  for (size_t i = 0; i < n; i++)
    {
      if (!bw_uuid_valid (ids[i]))
        {
          free (s);
          return NULL;
        }
      if (i > 0)
        s[len++] = ',';
      memcpy (s + len, ids[i], BW_UUID_LEN);
      len += BW_UUID_LEN;
    }
  s[len++] = '}';
  s[len] = '\0';
  return s;
}

static struct db_stmt delete_except_stmt = DB_STMT ("heads_delete_except",
  "DELETE FROM heads WHERE org_id = $1::uuid AND NOT (subject_id = ANY ($2::uuid[]))");

enum db_qs
db_heads_delete_except (const char *org_id, const char *const *keep, size_t n)
{
  char *arr = uuid_array (keep, n);
  if (NULL == arr)
    return DB_QS_HARD_ERROR;
  const char *params[] = { org_id, arr };
  enum db_qs qs = db_exec (&delete_except_stmt, 2, params, NULL);
  free (arr);
  return qs;
}

static struct db_stmt notify_stmt = DB_STMT ("heads_notify",
  "SELECT pg_notify ('" DB_HEADS_NOTIFY_CHANNEL "', $1::text)");

enum db_qs
db_heads_notify (const char *org_id)
{
  const char *params[] = { org_id };
  return db_exec (&notify_stmt, 1, params, NULL);
}

/* Call @a cb with column 0 of each row. */
static enum db_qs
each_org (struct db_stmt *st, int nparams, const char *const *params, db_org_id_cb cb, void *cls)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    cb (cls, PQgetvalue (res, i, 0));
  PQclear (res);
  return qs;
}

static struct db_stmt to_resign_stmt = DB_STMT ("heads_orgs_to_resign",
  "SELECT DISTINCT h.org_id FROM heads h JOIN bundle_state b ON b.org_id = h.org_id"
  " WHERE h.expires_at < to_timestamp ($1::bigint) OR h.keyset_version <> b.keyset_version"
  " LIMIT $2::integer");

enum db_qs
db_heads_orgs_to_resign (int64_t before, unsigned int limit, db_org_id_cb cb, void *cls)
{
  char b[INT_TEXT_SIZE];
  char l[INT_TEXT_SIZE];
  i64 (b, before);
  snprintf (l, sizeof (l), "%u", limit);
  const char *params[] = { b, l };
  return each_org (&to_resign_stmt, 2, params, cb, cls);
}

static struct db_stmt to_compile_stmt = DB_STMT ("bundle_orgs_to_compile",
  "SELECT o.id FROM orgs o LEFT JOIN bundle_state b ON b.org_id = o.id"
  " WHERE o.deleted_at IS NULL AND coalesce (b.compiled_policy_version, -1) < o.policy_version"
  "   AND EXISTS (SELECT 1 FROM agents a WHERE a.org_id = o.id AND a.deleted_at IS NULL)"
  " LIMIT $1::integer");

enum db_qs
db_bundle_orgs_to_compile (unsigned int limit, db_org_id_cb cb, void *cls)
{
  char l[INT_TEXT_SIZE];
  snprintf (l, sizeof (l), "%u", limit);
  const char *params[] = { l };
  return each_org (&to_compile_stmt, 1, params, cb, cls);
}

/* pg_locks shows a bigint advisory key as classid (high half), objid (low half), objsubid 1. */
static struct db_stmt job_lock_stmt = DB_STMT ("bundle_try_job_lock",
  "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
  "  AND l.pid = pg_backend_pid () AND l.granted AND l.objsubid = 1"
  "  AND l.classid::bigint = ($1::bigint >> 32) AND l.objid::bigint = ($1::bigint & 4294967295))"
  " THEN true ELSE pg_try_advisory_lock ($1::bigint) END");

enum db_qs
db_bundle_try_job_lock (int64_t key, bool *held)
{
  char k[INT_TEXT_SIZE];
  i64 (k, key);
  const char *params[] = { k };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&job_lock_stmt, 1, params, &res);
  *held = qs > 0 && db_col_bool (res, 0, 0);
  PQclear (res);
  return qs;
}

/*
 * Users with a live agent (active users only: deactivation also deletes
 * their agents, migration 0004) and userless live agents.
 */
static struct db_stmt subjects_stmt = DB_STMT ("bundle_subjects",
  "SELECT s.id, s.is_user,"
  "  coalesce (array_agg (m.group_id ORDER BY m.group_id)"
  "            FILTER (WHERE m.group_id IS NOT NULL), '{}')::text"
  " FROM (SELECT DISTINCT a.user_id AS id, true AS is_user"
  "        FROM agents a JOIN users u ON u.org_id = a.org_id AND u.id = a.user_id"
  "        WHERE a.org_id = $1::uuid AND a.deleted_at IS NULL AND u.active"
  "       UNION ALL"
  "       SELECT a.id, false FROM agents a"
  "        WHERE a.org_id = $1::uuid AND a.deleted_at IS NULL AND a.user_id IS NULL) s"
  " LEFT JOIN group_members m ON s.is_user AND m.org_id = $1::uuid AND m.user_id = s.id"
  " WHERE $2::uuid IS NULL OR s.id = $2::uuid"
  " GROUP BY s.id, s.is_user ORDER BY s.id");

enum db_qs
db_bundle_subjects (const char *org_id, const char *only, db_bundle_subject_cb cb, void *cls)
{
  const char *params[] = { org_id, only };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&subjects_stmt, 2, params, &res);
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      char *text;
      const char **groups;
      long ng = db_col_uuid_array (res, i, 2, &text, &groups);
      if (ng < 0)
        {
          bw_logf (BW_LOG_ERROR, "bundles: cannot read the groups of a subject");
          qs = DB_QS_HARD_ERROR;
          break;
        }
      struct db_bundle_subject s = {
        .id = PQgetvalue (res, i, 0),
        .is_user = db_col_bool (res, i, 1),
        .ngroups = (size_t) ng,
        .groups = groups,
      };
      cb (cls, &s);
      free (groups);
      free (text);
    }
  PQclear (res);
  return qs;
}
