/*
 * The per-org audit hash chain (DESIGN §3, API contract "Audit log").
 *
 * Appending locks the org row with the UPDATE that allocates the next seq,
 * so writers of one org are serialized and seq order is commit order.  The
 * record's time comes from the database clock (clock_timestamp() taken
 * after the lock), so every replica stamps from one clock and times never
 * go backwards along a chain.  The bytes hashed are defined once, by
 * db_audit_entry_json() and db_audit_entry_hash(); append and verify both
 * use them.
 */
#include "config.h"
#include "db/audit.h"
#include "db/org.h"
#include "lib/canonical_json.h"
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Select list matched by row_to_entry(). */
#define ENTRY_COLUMNS \
  "seq, id, " DB_SQL_TS ("time") ", actor, action, target_type, target_id," \
  " before_sha256, after_sha256, request_id, source_addr, prev_hash, hash"

json_t *
db_audit_entry_json (const struct db_audit_entry *e)
{
  return json_pack ("{s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s?, s:s?, s:s, s:s, s:s}",
                    "seq", (json_int_t) e->seq,
                    "id", e->id,
                    "time", e->time,
                    "actor", e->rec.actor,
                    "action", e->rec.action,
                    "target", "type", e->rec.target_type, "id", e->rec.target_id,
                    "before_sha256", e->rec.before_sha256,
                    "after_sha256", e->rec.after_sha256,
                    "request_id", e->rec.request_id,
                    "source_addr", e->rec.source_addr,
                    "prev_hash", e->prev_hash);
}

int
db_audit_entry_hash (const struct db_audit_entry *e, char out[BW_SHA256_HEX_LEN + 1])
{
  json_t *obj = db_audit_entry_json (e);
  if (NULL == obj)
    return -1;
  char *canon = bw_json_canonical (obj);
  json_decref (obj);
  if (NULL == canon)
    return -1;
  size_t plen = strlen (e->prev_hash);
  size_t clen = strlen (canon);
  char *buf = malloc (plen + 1 + clen);
  if (NULL == buf)
    {
      free (canon);
      return -1;
    }
  memcpy (buf, e->prev_hash, plen);
  buf[plen] = '\n';
  memcpy (buf + plen + 1, canon, clen);
  bw_sha256_hex (buf, plen + 1 + clen, out);
  free (buf);
  free (canon);
  return 0;
}

/** Parse a bigint column value.  @return 0, or -1 (logged). */
static int
parse_int64 (const char *v, int64_t *out)
{
  char *end;
  errno = 0;
  long long n = strtoll (v, &end, 10);
  if (0 != errno || end == v || '\0' != *end)
    {
      bw_logf (BW_LOG_ERROR, "audit: bad integer '%s'", v);
      return -1;
    }
  *out = (int64_t) n;
  return 0;
}

/**
 * Point @a e into row @a row of an ENTRY_COLUMNS result (borrowed until
 * PQclear).  @return 0, or -1 if seq is malformed.
 */
static int
row_to_entry (const PGresult *res, int row, struct db_audit_entry *e)
{
  memset (e, 0, sizeof (*e));
  if (0 != parse_int64 (PQgetvalue (res, row, 0), &e->seq))
    return -1;
  e->id = PQgetvalue (res, row, 1);
  e->time = PQgetvalue (res, row, 2);
  e->rec.actor = PQgetvalue (res, row, 3);
  e->rec.action = PQgetvalue (res, row, 4);
  e->rec.target_type = PQgetvalue (res, row, 5);
  e->rec.target_id = PQgetvalue (res, row, 6);
  e->rec.before_sha256 = PQgetisnull (res, row, 7) ? NULL : PQgetvalue (res, row, 7);
  e->rec.after_sha256 = PQgetisnull (res, row, 8) ? NULL : PQgetvalue (res, row, 8);
  e->rec.request_id = PQgetvalue (res, row, 9);
  e->rec.source_addr = PQgetvalue (res, row, 10);
  e->prev_hash = PQgetvalue (res, row, 11);
  e->hash = PQgetvalue (res, row, 12);
  return 0;
}

enum db_qs
db_audit_append (const struct db_audit_record *rec)
{
  static struct db_stmt bump = DB_STMT (
    "audit_bump",
    "UPDATE orgs SET audit_seq = audit_seq + 1 WHERE id = $1::uuid"
    " RETURNING audit_seq, audit_head, gen_random_uuid (), " DB_SQL_TS ("clock_timestamp ()"));
  static struct db_stmt insert = DB_STMT (
    "audit_insert",
    "WITH ins AS (INSERT INTO audit_log (org_id, seq, id, time, actor, action, target_type,"
    " target_id, before_sha256, after_sha256, request_id, source_addr, prev_hash, hash)"
    " VALUES ($1::uuid, $2::bigint, $3::uuid, $4::timestamptz, $5::text, $6::text, $7::text,"
    " $8::text, $9::text, $10::text, $11::text, $12::text, $13::text, $14::text))"
    " UPDATE orgs SET audit_head = $14::text WHERE id = $1::uuid");

  const char *bump_params[] = { rec->org_id };
  PGresult *res;
  enum db_qs qs = db_exec (&bump, 1, bump_params, &res);
  if (qs <= 0)
    {
      if (NULL != res)
        PQclear (res);
      return qs;
    }
  struct db_audit_entry e = {
    .id = PQgetvalue (res, 0, 2),
    .time = PQgetvalue (res, 0, 3),
    .rec = *rec,
    .prev_hash = PQgetvalue (res, 0, 1),
  };
  char hash[BW_SHA256_HEX_LEN + 1];
  if (0 != parse_int64 (PQgetvalue (res, 0, 0), &e.seq) || 0 != db_audit_entry_hash (&e, hash))
    {
      bw_logf (BW_LOG_ERROR, "audit: cannot build record %s of org %s", rec->action, rec->org_id);
      PQclear (res);
      return DB_QS_HARD_ERROR;
    }
  const char *params[] = {
    rec->org_id, PQgetvalue (res, 0, 0), e.id, e.time,
    rec->actor, rec->action, rec->target_type, rec->target_id,
    rec->before_sha256, rec->after_sha256, rec->request_id, rec->source_addr,
    e.prev_hash, hash,
  };
  qs = db_exec (&insert, 14, params, NULL);
  PQclear (res);
  if (DB_QS_NO_RESULTS == qs)
    {
      bw_logf (BW_LOG_ERROR, "audit: org %s vanished while appending", rec->org_id);
      return DB_QS_HARD_ERROR;
    }
  return qs;
}

enum db_qs
db_audit_list (const struct db_audit_filter *f, unsigned int limit, db_audit_cb cb, void *cls)
{
  static struct db_stmt st = DB_STMT (
    "audit_list",
    "SELECT " ENTRY_COLUMNS " FROM audit_log WHERE org_id = $1::uuid"
    " AND ($2::bigint IS NULL OR seq < $2::bigint)"
    " AND ($3::text IS NULL OR actor = $3::text)"
    " AND ($4::text IS NULL OR action = $4::text)"
    " AND ($5::timestamptz IS NULL OR time >= $5::timestamptz)"
    " AND ($6::timestamptz IS NULL OR time < $6::timestamptz)"
    " ORDER BY seq DESC LIMIT $7::integer");
  char before[24];
  char lim[16];
  snprintf (before, sizeof (before), "%" PRId64, f->before_seq);
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[] = {
    f->org_id, (f->before_seq > 0) ? before : NULL, f->actor, f->action, f->since, f->until, lim,
  };
  PGresult *res;
  enum db_qs qs = db_exec (&st, 7, params, &res);
  if (qs <= 0)
    {
      if (NULL != res)
        PQclear (res);
      return qs;
    }
  int n = PQntuples (res);
  for (int i = 0; i < n; i++)
    {
      struct db_audit_entry e;
      if (0 != row_to_entry (res, i, &e))
        {
          PQclear (res);
          return DB_QS_HARD_ERROR;
        }
      cb (cls, &e);
    }
  PQclear (res);
  return (enum db_qs) n;
}

const char *
db_audit_fault_reason (enum db_audit_fault f)
{
  switch (f)
    {
    case DB_AUDIT_CHAIN_OK:
      return NULL;
    case DB_AUDIT_HASH_MISMATCH:
      return "hash mismatch";
    case DB_AUDIT_PREV_MISMATCH:
      return "prev_hash mismatch";
    case DB_AUDIT_SEQUENCE_GAP:
      return "sequence gap";
    }
  return NULL;
}

/** State of one verification, reset by each attempt of the transaction. */
struct verify_ctx
{
  const char *org_id;
  struct db_audit_verdict *out;
};

/** Record fault @a f at @a seq: the records before it verified. */
static void
verify_fail (struct db_audit_verdict *v, enum db_audit_fault f, int64_t seq)
{
  v->fault = f;
  v->first_bad_seq = seq;
  v->records = (seq > 0) ? seq - 1 : 0;
  v->head[0] = '\0';
}

/**
 * Check the rows of one page against the chain so far (@a prev is the
 * previous record's hash, updated here).  @return 1 to read on, 0 when a
 * fault was recorded, or DB_QS_HARD_ERROR.
 */
static int
verify_page (const PGresult *res, int64_t head_seq, char prev[BW_SHA256_HEX_LEN + 1],
             struct db_audit_verdict *v)
{
  int n = PQntuples (res);
  for (int i = 0; i < n; i++)
    {
      struct db_audit_entry e;
      char hash[BW_SHA256_HEX_LEN + 1];
      int64_t expect = v->records + 1;
      if (0 != row_to_entry (res, i, &e))
        return DB_QS_HARD_ERROR;
      if (e.seq != expect)
        {
          verify_fail (v, DB_AUDIT_SEQUENCE_GAP, expect);
          return 0;
        }
      /* A record past the org's head was not appended by db_audit_append. */
      if (e.seq > head_seq)
        {
          verify_fail (v, DB_AUDIT_HASH_MISMATCH, e.seq);
          return 0;
        }
      if (0 != strcmp (e.prev_hash, prev))
        {
          verify_fail (v, DB_AUDIT_PREV_MISMATCH, e.seq);
          return 0;
        }
      if (0 != db_audit_entry_hash (&e, hash))
        {
          bw_logf (BW_LOG_ERROR, "audit: cannot hash record %" PRId64, e.seq);
          return DB_QS_HARD_ERROR;
        }
      if (0 != strcmp (e.hash, hash))
        {
          verify_fail (v, DB_AUDIT_HASH_MISMATCH, e.seq);
          return 0;
        }
      memcpy (prev, hash, sizeof (hash));
      v->records = e.seq;
    }
  return 1;
}

static enum db_qs
verify_tx (void *cls)
{
  static struct db_stmt head_st = DB_STMT (
    "audit_verify_head", "SELECT audit_seq, audit_head FROM orgs WHERE id = $1::uuid");
  static struct db_stmt page_st = DB_STMT (
    "audit_verify_page",
    "SELECT " ENTRY_COLUMNS " FROM audit_log WHERE org_id = $1::uuid AND seq > $2::bigint"
    " ORDER BY seq LIMIT $3::integer");
  struct verify_ctx *ctx = cls;
  struct db_audit_verdict *v = ctx->out;
  memset (v, 0, sizeof (*v));

  const char *head_params[] = { ctx->org_id };
  PGresult *res;
  enum db_qs qs = db_exec (&head_st, 1, head_params, &res);
  if (qs <= 0)
    {
      if (NULL != res)
        PQclear (res);
      return qs;
    }
  int64_t head_seq;
  /* Anything but 64 characters can never equal a computed hash. */
  char head_hash[BW_SHA256_HEX_LEN + 1] = "";
  if (BW_SHA256_HEX_LEN == PQgetlength (res, 0, 1))
    memcpy (head_hash, PQgetvalue (res, 0, 1), sizeof (head_hash));
  int bad = parse_int64 (PQgetvalue (res, 0, 0), &head_seq);
  PQclear (res);
  if (0 != bad)
    return DB_QS_HARD_ERROR;

  char prev[BW_SHA256_HEX_LEN + 1] = DB_AUDIT_GENESIS_HASH;
  char lim[16];
  snprintf (lim, sizeof (lim), "%d", DB_AUDIT_VERIFY_PAGE);
  for (;;)
    {
      char after[24];
      snprintf (after, sizeof (after), "%" PRId64, v->records);
      const char *params[] = { ctx->org_id, after, lim };
      qs = db_exec (&page_st, 3, params, &res);
      if (qs < 0)
        return qs;
      int rows = PQntuples (res);
      int go_on = verify_page (res, head_seq, prev, v);
      PQclear (res);
      if (go_on < 0)
        return DB_QS_HARD_ERROR;
      if (0 == go_on)
        return DB_QS_ONE_RESULT;
      if (rows < DB_AUDIT_VERIFY_PAGE)
        break;
    }
  if (v->records < head_seq)
    verify_fail (v, DB_AUDIT_SEQUENCE_GAP, v->records + 1);
  else if (0 != strcmp (prev, head_hash))
    verify_fail (v, DB_AUDIT_HASH_MISMATCH, head_seq);
  else
    memcpy (v->head, prev, sizeof (prev));
  return DB_QS_ONE_RESULT;
}

enum db_qs
db_audit_verify (const char *org_id, struct db_audit_verdict *out)
{
  struct verify_ctx ctx = { .org_id = org_id, .out = out };
  return db_tx_run (DB_REPEATABLE_READ, verify_tx, &ctx);
}
