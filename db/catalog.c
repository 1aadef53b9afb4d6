/*
 * The MCP catalog (see db/catalog.h).
 */
#include "config.h"
#include "db/catalog.h"
#include "db/row.h"
#include "lib/log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The slice is built by PostgreSQL in one statement: jsonb_strip_nulls
 * drops an input's absent credential and an entry's absent expiry (the
 * definition itself holds no nulls: lib/catalog.c never stores one).
 */
static struct db_stmt slice_stmt = DB_STMT ("catalog_slice",
  "SELECT coalesce (jsonb_agg (jsonb_strip_nulls (jsonb_build_object ("
  "    'id', e.id, 'name', e.name, 'version', e.version, 'kind', e.kind,"
  "    'identity', e.definition->'identity',"
  "    'expires_at', floor (extract (epoch FROM e.expires_at))::bigint,"
  "    'inputs', (SELECT coalesce (jsonb_agg (jsonb_build_object ("
  "                 'name', i->'name', 'secret', i->'secret', 'credential', i->'credential')"
  "                 ORDER BY i->>'name' COLLATE \"C\"), '[]'::jsonb)"
  "               FROM jsonb_array_elements (e.definition->'inputs') i),"
  "    'tools', (SELECT coalesce (jsonb_agg (jsonb_build_object ("
  "                 'name', t->'name', 'description_sha256', t->'description_sha256',"
  "                 'annotations', t->'annotations')"
  "                 ORDER BY t->>'name' COLLATE \"C\"), '[]'::jsonb)"
  "               FROM jsonb_array_elements (e.definition->'tools') t"
  "              WHERE t->>'state' = 'approved')))"
  "  ORDER BY e.name COLLATE \"C\"), '[]'::jsonb)::text"
  " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND e.state = 'approved'"
  "   AND (e.expires_at IS NULL OR e.expires_at > clock_timestamp ())");

enum db_qs
db_catalog_slice (const char *org_id, json_t **slice)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&slice_stmt, 1, params, &res);
  *slice = NULL;
  if (qs > 0)
    {
      json_error_t err;
      *slice = json_loads (PQgetvalue (res, 0, 0), JSON_REJECT_DUPLICATES, &err);
      if (NULL == *slice || !json_is_array (*slice))
        {
          json_decref (*slice);
          *slice = NULL;
          qs = DB_QS_HARD_ERROR;
        }
    }
  PQclear (res);
  return qs;
}

/* ---- the workflow ---- */

/* The columns entry_from_row reads, in its order; `e` is catalog_entries. */
#define ENTRY_COLUMNS \
  "e.id, e.state," \
  " (e.state = 'approved' AND (e.expires_at IS NULL OR e.expires_at > now ()))," \
  " e.definition::text, e.source::text, e.reason, e.requested_by, e.requested_by_user," \
  " e.review_note, e.reviewed_by, " DB_SQL_TS ("e.reviewed_at") ", " \
  DB_SQL_TS ("e.expires_at") ", e.supersedes, e.revision, " DB_SQL_TS ("e.created_at") ", " \
  DB_SQL_TS ("e.updated_at") ", " DB_SQL_TS ("e.expired_at") "," \
  " (e.expires_at IS NOT NULL AND e.expires_at <= now ())"

/* The states in which an entry counts for the pin check. */
#define PIN_STATES "('requested', 'in_review', 'approved', 'suspended')"
/*
 * A live approval whose end passed: the expiry job deprecates it.  Live
 * entries are few (one per name) and the partial index catalog_entries_live
 * holds exactly them, so the scan walks that index.
 */
#define DUE "e.state IN ('approved', 'suspended') AND e.expires_at IS NOT NULL" \
  " AND e.expires_at <= now ()"

void
db_catalog_entry_clear (struct db_catalog_entry *e)
{
  if (NULL == e)
    return;
  json_decref (e->definition);
  e->definition = NULL;
  json_decref (e->source);
  e->source = NULL;
  free (e->reason);
  e->reason = NULL;
  free (e->review_note);
  e->review_note = NULL;
}

/* Fill @a e from an ENTRY_COLUMNS row.  @return 0, or -1 (nothing left to clear). */
static int
entry_from_row (const PGresult *res, int row, struct db_catalog_entry *e)
{
  memset (e, 0, sizeof (*e));
  if (0 != db_col_text (res, row, 0, e->id, sizeof (e->id))
      || 0 != db_col_text (res, row, 1, e->state, sizeof (e->state))
      || 0 != db_col_json (res, row, 3, true, &e->definition)
      || 0 != db_col_json (res, row, 4, false, &e->source)
      || 0 != db_col_strdup (res, row, 5, &e->reason)
      || 0 != db_col_text (res, row, 6, e->requested_by, sizeof (e->requested_by))
      || 0 != db_col_text (res, row, 7, e->requested_by_user, sizeof (e->requested_by_user))
      || 0 != db_col_strdup (res, row, 8, &e->review_note)
      || 0 != db_col_text (res, row, 9, e->reviewed_by, sizeof (e->reviewed_by))
      || 0 != db_col_text (res, row, 10, e->reviewed_at, sizeof (e->reviewed_at))
      || 0 != db_col_text (res, row, 11, e->expires_at, sizeof (e->expires_at))
      || 0 != db_col_text (res, row, 12, e->supersedes, sizeof (e->supersedes))
      || 0 != db_col_int64 (res, row, 13, &e->revision)
      || 0 != db_col_text (res, row, 14, e->created_at, sizeof (e->created_at))
      || 0 != db_col_text (res, row, 15, e->updated_at, sizeof (e->updated_at))
      || 0 != db_col_text (res, row, 16, e->expired_at, sizeof (e->expired_at))
      || NULL == e->reason)
    {
      db_catalog_entry_clear (e);
      return -1;
    }
  e->active = db_col_bool (res, row, 2);
  e->lapsed = db_col_bool (res, row, 17);
  return 0;
}

static int
entry_row (const PGresult *res, int row, void *item)
{
  return entry_from_row (res, row, item);
}

static void
entry_clear_item (void *item)
{
  db_catalog_entry_clear (item);
}

/* Run @a st, which returns at most one ENTRY_COLUMNS row, into @a out. */
static enum db_qs
one_entry (struct db_stmt *st, int nparams, const char *const *params,
           struct db_catalog_entry *out)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  memset (out, 0, sizeof (*out));
  if (qs > 0 && 0 != entry_from_row (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* Run @a st, which returns ENTRY_COLUMNS rows, into a new array. */
static enum db_qs
many_entries (struct db_stmt *st, int nparams, const char *const *params,
              struct db_catalog_entry **items, size_t *n)
{
  PGresult *res = NULL;
  void *arr = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  *items = NULL;
  *n = 0;
  if (qs > 0
      && 0 != db_rows_copy (res, (size_t) qs, sizeof (struct db_catalog_entry), entry_row,
                            entry_clear_item, &arr))
    qs = DB_QS_HARD_ERROR;
  else if (qs > 0)
    {
      *items = arr;
      *n = (size_t) qs;
    }
  PQclear (res);
  return qs;
}

static struct db_stmt insert_stmt = DB_STMT ("catalog_insert",
  "INSERT INTO catalog_entries AS e"
  " (org_id, name, version, kind, pin_sha256, definition, source, reason, requested_by,"
  "  requested_by_user, supersedes)"
  " VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::jsonb, $7::jsonb, $8::text,"
  "         $9::text, $10::uuid, $11::uuid)"
  " RETURNING " ENTRY_COLUMNS);

enum db_qs
db_catalog_insert (const struct db_catalog_new *n, struct db_catalog_entry *out)
{
  const char *params[] = {
    n->org_id, n->name, n->version, n->kind, n->pin_sha256, n->definition, n->source,
    n->reason, n->requested_by, n->requested_by_user, n->supersedes,
  };
  return one_entry (&insert_stmt, 11, params, out);
}

static struct db_stmt get_stmt = DB_STMT ("catalog_get",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND e.id = $2::uuid");

enum db_qs
db_catalog_get (const char *org_id, const char *id, struct db_catalog_entry *out)
{
  const char *params[] = { org_id, id };
  return one_entry (&get_stmt, 2, params, out);
}

static struct db_stmt lock_stmt = DB_STMT ("catalog_lock",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND e.id = $2::uuid FOR UPDATE OF e");

enum db_qs
db_catalog_lock (const char *org_id, const char *id, struct db_catalog_entry *out)
{
  const char *params[] = { org_id, id };
  return one_entry (&lock_stmt, 2, params, out);
}

/*
 * One statement for every filter: a NULL parameter switches its condition
 * off.  The page walks the index catalog_entries_org (or _queue, _name)
 * from the cursor on.
 */
static struct db_stmt list_stmt = DB_STMT ("catalog_list",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid"
  "   AND ($2::text IS NULL OR e.state = $2::text)"
  "   AND ($3::text IS NULL OR e.name = $3::text)"
  "   AND (NOT $4::boolean OR e.state IN ('requested', 'in_review'))"
  "   AND ($5::timestamptz IS NULL OR (e.created_at, e.id) > ($5::timestamptz, $6::uuid))"
  " ORDER BY e.created_at, e.id"
  " LIMIT $7::integer");

enum db_qs
db_catalog_list (const struct db_catalog_filter *f, unsigned int limit,
                 struct db_catalog_entry **items, size_t *n)
{
  char limit_s[16];
  snprintf (limit_s, sizeof (limit_s), "%u", limit);
  const char *params[] = {
    f->org_id, f->state, f->name, f->queue ? "true" : "false",
    f->after_created_at, (NULL != f->after_created_at) ? f->after_id : NULL, limit_s,
  };
  return many_entries (&list_stmt, 7, params, items, n);
}

static struct db_stmt update_stmt = DB_STMT ("catalog_update",
  "UPDATE catalog_entries AS e SET"
  "  state = coalesce ($3::text, e.state),"
  "  definition = coalesce ($4::jsonb, e.definition),"
  "  pin_sha256 = coalesce ($5::text, e.pin_sha256),"
  "  review_note = CASE WHEN $6::boolean THEN $7::text ELSE e.review_note END,"
  "  reviewed_by = coalesce ($8::text, e.reviewed_by),"
  "  reviewed_at = CASE WHEN $8::text IS NULL THEN e.reviewed_at ELSE now () END,"
  "  expires_at = CASE WHEN $9::boolean THEN $10::timestamptz ELSE e.expires_at END,"
  "  supersedes = coalesce ($11::uuid, e.supersedes),"
  "  revision = e.revision + 1, updated_at = now ()"
  " WHERE e.org_id = $1::uuid AND e.id = $2::uuid"
  " RETURNING " ENTRY_COLUMNS);

enum db_qs
db_catalog_update (const struct db_catalog_change *c, struct db_catalog_entry *out)
{
  const char *params[] = {
    c->org_id, c->id, c->state, c->definition, (NULL != c->definition) ? c->pin_sha256 : NULL,
    c->set_note ? "true" : "false", c->set_note ? c->note : NULL, c->reviewed_by,
    c->set_expires ? "true" : "false", c->set_expires ? c->expires_at : NULL, c->supersedes,
  };
  return one_entry (&update_stmt, 11, params, out);
}

static struct db_stmt pin_stmt = DB_STMT ("catalog_pin_candidates",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND e.name = $2::text AND e.version = $3::text"
  "   AND e.state IN " PIN_STATES
  " ORDER BY e.created_at, e.id");

enum db_qs
db_catalog_pin_candidates (const char *org_id, const char *name, const char *version,
                           struct db_catalog_entry **items, size_t *n)
{
  const char *params[] = { org_id, name, version };
  return many_entries (&pin_stmt, 3, params, items, n);
}

static struct db_stmt live_stmt = DB_STMT ("catalog_live",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND e.name = $2::text AND e.state IN ('approved', 'suspended')");

enum db_qs
db_catalog_live (const char *org_id, const char *name, struct db_catalog_entry *out)
{
  const char *params[] = { org_id, name };
  return one_entry (&live_stmt, 2, params, out);
}

/* From the partial index catalog_entries_queue. */
static struct db_stmt successors_stmt = DB_STMT ("catalog_pending_successors",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND e.supersedes = $2::uuid"
  "   AND e.state IN ('requested', 'in_review')"
  " ORDER BY e.created_at, e.id FOR UPDATE OF e");

enum db_qs
db_catalog_pending_successors (const char *org_id, const char *id,
                               struct db_catalog_entry **items, size_t *n)
{
  const char *params[] = { org_id, id };
  return many_entries (&successors_stmt, 2, params, items, n);
}

/* From the partial index catalog_entries_expiring. */
static struct db_stmt expiry_orgs_stmt = DB_STMT ("catalog_expiry_orgs",
  "SELECT DISTINCT e.org_id FROM catalog_entries e JOIN orgs o ON o.id = e.org_id"
  " WHERE " DUE " AND o.deleted_at IS NULL"
  " LIMIT $1::integer");

enum db_qs
db_catalog_expiry_orgs (char org_ids[][BW_UUID_LEN + 1], size_t *n)
{
  char limit_s[16];
  snprintf (limit_s, sizeof (limit_s), "%d", DB_CATALOG_EXPIRY_BATCH);
  const char *params[] = { limit_s };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&expiry_orgs_stmt, 1, params, &res);
  *n = 0;
  for (int i = 0; qs > 0 && i < (int) qs && i < DB_CATALOG_EXPIRY_BATCH; i++)
    {
      if (0 != db_col_text (res, i, 0, org_ids[i], BW_UUID_LEN + 1))
        qs = DB_QS_HARD_ERROR;
      else
        *n = (size_t) i + 1;
    }
  PQclear (res);
  return qs;
}

static struct db_stmt expiry_due_stmt = DB_STMT ("catalog_expiry_due",
  "SELECT " ENTRY_COLUMNS " FROM catalog_entries e"
  " WHERE e.org_id = $1::uuid AND " DUE
  " ORDER BY e.expires_at, e.id LIMIT $2::integer FOR UPDATE OF e");

enum db_qs
db_catalog_expiry_due (const char *org_id, struct db_catalog_entry **items, size_t *n)
{
  char limit_s[16];
  snprintf (limit_s, sizeof (limit_s), "%d", DB_CATALOG_EXPIRY_BATCH);
  const char *params[] = { org_id, limit_s };
  return many_entries (&expiry_due_stmt, 2, params, items, n);
}

static struct db_stmt expire_mark_stmt = DB_STMT ("catalog_expire_mark",
  "UPDATE catalog_entries AS e SET state = 'deprecated', expired_at = now (),"
  "  revision = e.revision + 1, updated_at = now ()"
  " WHERE e.org_id = $1::uuid AND e.id = $2::uuid AND " DUE
  " RETURNING " ENTRY_COLUMNS);

enum db_qs
db_catalog_expire_mark (const char *org_id, const char *id, struct db_catalog_entry *out)
{
  const char *params[] = { org_id, id };
  return one_entry (&expire_mark_stmt, 2, params, out);
}
