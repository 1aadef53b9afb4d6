/*
 * Queries of signing keys and keysets (see db/signing_key.h).  bytea goes
 * in as "\x<hex>" text and comes out in PostgreSQL's hex output format,
 * decoded with PQunescapeBytea.
 */
#include "config.h"
#include "db/signing_key.h"
#include "db/row.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a decimal int64 with sign and NUL. */
#define INT_TEXT_SIZE 24

void
db_signing_key_clear (struct db_signing_key *k)
{
  if (NULL == k)
    return;
  free (k->spki);
  k->spki = NULL;
  if (NULL != k->sealed)
    OPENSSL_cleanse (k->sealed, k->sealed_len);
  free (k->sealed);
  k->sealed = NULL;
}

/* "\x<hex>" of @a len bytes: bytea text input.  @return malloc'd text, or NULL. */
static char *
bytea_text (const unsigned char *b, size_t len)
{
  char *t = malloc (2 * len + 3);
  if (NULL == t)
    return NULL;
  t[0] = '\\';
  t[1] = 'x';
  bw_hex (b, len, t + 2);
  return t;
}

/* Column @a col (bytea) decoded into malloc'd bytes.  @return 0, or -1. */
static int
bytea_col (const PGresult *res, int row, int col, unsigned char **out, size_t *len)
{
  size_t n = 0;
  unsigned char *u = PQunescapeBytea ((const unsigned char *) PQgetvalue (res, row, col), &n);
  *out = NULL;
  *len = 0;
  if (NULL == u)
    return -1;
  *out = malloc ((0 == n) ? 1 : n);
  if (NULL != *out)
    {
      memcpy (*out, u, n);
      *len = n;
    }
  OPENSSL_cleanse (u, n);
  PQfreemem (u);
  return (NULL == *out) ? -1 : 0;
}

static struct db_stmt insert_stmt = DB_STMT ("signing_key_insert",
  "INSERT INTO signing_keys (org_id, kid, public_spki, private_sealed, master_key_id)"
  " VALUES ($1::uuid, $2::text, $3::bytea, $4::bytea, $5::text)");

enum db_qs
db_signing_key_insert (const char *org_id, const char *kid, const unsigned char *spki,
                       size_t spki_len, const unsigned char *sealed, size_t sealed_len,
                       const char *master_key_id)
{
  char *s = bytea_text (spki, spki_len);
  char *p = bytea_text (sealed, sealed_len);
  enum db_qs qs = DB_QS_HARD_ERROR;
  if (NULL != s && NULL != p)
    {
      const char *params[] = { org_id, kid, s, p, master_key_id };
      qs = db_exec (&insert_stmt, 5, params, NULL);
    }
  free (s);
  free (p);
  return qs;
}

static struct db_stmt current_stmt = DB_STMT ("signing_key_current",
  "SELECT k.kid, k.public_spki, k.private_sealed, k.master_key_id, b.keyset_version"
  " FROM signing_keys k JOIN bundle_state b ON b.org_id = k.org_id"
  " WHERE k.org_id = $1::uuid AND k.retired_at IS NULL"
  " ORDER BY k.created_at DESC LIMIT 1");

enum db_qs
db_signing_key_current (const char *org_id, struct db_signing_key *out)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  memset (out, 0, sizeof (*out));
  enum db_qs qs = db_exec (&current_stmt, 1, params, &res);
  if (qs > 0
      && (0 != db_col_text (res, 0, 0, out->kid, sizeof (out->kid))
          || 0 != bytea_col (res, 0, 1, &out->spki, &out->spki_len)
          || 0 != bytea_col (res, 0, 2, &out->sealed, &out->sealed_len)
          || 0 != db_col_text (res, 0, 3, out->master_key_id, sizeof (out->master_key_id))
          || 0 != db_col_int64 (res, 0, 4, &out->keyset_version)))
    {
      db_signing_key_clear (out);
      qs = DB_QS_HARD_ERROR;
    }
  PQclear (res);
  return qs;
}

static struct db_stmt retire_stmt = DB_STMT ("signing_key_retire",
  "UPDATE signing_keys SET retired_at = now ()"
  " WHERE org_id = $1::uuid AND kid = $2::text AND retired_at IS NULL");

enum db_qs
db_signing_key_retire (const char *org_id, const char *kid)
{
  const char *params[] = { org_id, kid };
  return db_exec (&retire_stmt, 2, params, NULL);
}

static struct db_stmt keyset_insert_stmt = DB_STMT ("keyset_insert",
  "INSERT INTO keysets (org_id, version, document) VALUES ($1::uuid, $2::bigint, $3::text)");

enum db_qs
db_keyset_insert (const char *org_id, int64_t version, const char *doc)
{
  char v[INT_TEXT_SIZE];
  snprintf (v, sizeof (v), "%" PRId64, version);
  const char *params[] = { org_id, v, doc };
  return db_exec (&keyset_insert_stmt, 3, params, NULL);
}

/* A malloc'd copy of column @a col.  @return 0, or -1. */
static int
dup_col (const PGresult *res, int row, int col, char **out)
{
  *out = strdup (PQgetvalue (res, row, col));
  return (NULL == *out) ? -1 : 0;
}

static struct db_stmt keyset_get_stmt = DB_STMT ("keyset_get",
  "SELECT k.document FROM keysets k JOIN orgs o ON o.id = k.org_id"
  " WHERE k.org_id = $1::uuid AND k.version = $2::bigint AND o.deleted_at IS NULL");

enum db_qs
db_keyset_get (const char *org_id, int64_t version, char **doc)
{
  char v[INT_TEXT_SIZE];
  snprintf (v, sizeof (v), "%" PRId64, version);
  const char *params[] = { org_id, v };
  PGresult *res = NULL;
  *doc = NULL;
  enum db_qs qs = db_exec (&keyset_get_stmt, 2, params, &res);
  if (qs > 0 && 0 != dup_col (res, 0, 0, doc))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

static struct db_stmt keyset_latest_stmt = DB_STMT ("keyset_latest",
  "SELECT coalesce (k.version, 0), k.document FROM orgs o"
  " LEFT JOIN LATERAL (SELECT version, document FROM keysets WHERE org_id = o.id"
  "                    ORDER BY version DESC LIMIT 1) k ON true"
  " WHERE o.id = $1::uuid AND o.deleted_at IS NULL");

enum db_qs
db_keyset_latest (const char *org_id, int64_t *version, char **doc)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  if (NULL != doc)
    *doc = NULL;
  *version = 0;
  enum db_qs qs = db_exec (&keyset_latest_stmt, 1, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, version))
    qs = DB_QS_HARD_ERROR;
  if (qs > 0 && NULL != doc && *version > 0 && 0 != dup_col (res, 0, 1, doc))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

static struct db_stmt notify_stmt = DB_STMT ("keys_notify",
  "SELECT pg_notify ('" DB_KEYS_NOTIFY_CHANNEL "', $1::text)");

enum db_qs
db_keys_notify (const char *org_id)
{
  const char *params[] = { org_id };
  return db_exec (&notify_stmt, 1, params, NULL);
}
