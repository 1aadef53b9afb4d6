/*
 * Queries of the agents aggregate (see db/agent.h).
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "db/agent.h"
#include "db/row.h"

/* The agent's current head: its user's, or its own when it has no user. */
#define AGENT_FROM \
  " FROM agents a LEFT JOIN heads h" \
  "   ON h.org_id = a.org_id AND h.subject_id = COALESCE (a.user_id, a.id)"

/* Online: last seen within parameter @p seconds, by the database clock. */
#define ONLINE_EXPR(p) \
  "(a.last_seen_at IS NOT NULL AND a.last_seen_at > now () - " p "::integer * interval '1 second')"

/* Drift: a head exists and the reported bundle is not it. */
#define DRIFT_EXPR \
  "(h.sha256 IS NOT NULL AND (a.active_version IS DISTINCT FROM h.bundle_version" \
  " OR a.active_sha256 IS DISTINCT FROM h.sha256))"

/* The columns agent_from_row reads, in its order; $2 is the online window. */
#define AGENT_COLUMNS \
  "a.id, a.org_id, a.user_id, a.hostname, a.platform, a.agent_version, " \
  DB_SQL_TS ("a.enrolled_at") ", " DB_SQL_TS ("a.last_seen_at") ", " \
  DB_SQL_TS ("a.disabled_at") ", " ONLINE_EXPR ("$2") ", " \
  "h.bundle_version, h.sha256, h.head_serial, " \
  "a.active_version, a.active_sha256, a.active_head_serial, " DRIFT_EXPR ", " \
  "a.stale, a.last_error, a.keyset_version, a.events_spooled, a.events_dropped, a.last_event_seq"

/* Columns @a col.. (version, sha256, head_serial) into @a b; all NULL: absent. */
static int
bundle_from_row (const PGresult *res, int row, int col, struct db_agent_bundle *b)
{
  b->present = !PQgetisnull (res, row, col) && !PQgetisnull (res, row, col + 1);
  b->bundle_version = 0;
  b->head_serial = 0;
  b->sha256[0] = '\0';
  if (!b->present)
    return 0;
  if (0 != db_col_int64 (res, row, col, &b->bundle_version)
      || 0 != db_col_text (res, row, col + 1, b->sha256, sizeof (b->sha256)))
    return -1;
  if (!PQgetisnull (res, row, col + 2) && 0 != db_col_int64 (res, row, col + 2, &b->head_serial))
    return -1;
  return 0;
}

/* Fill @a a from row @a row of a result selecting AGENT_COLUMNS. */
static int
agent_from_row (const PGresult *res, int row, struct db_agent *a)
{
  if (0 != db_col_text (res, row, 0, a->id, sizeof (a->id))
      || 0 != db_col_text (res, row, 1, a->org_id, sizeof (a->org_id))
      || 0 != db_col_text (res, row, 2, a->user_id, sizeof (a->user_id))
      || 0 != db_col_text (res, row, 3, a->hostname, sizeof (a->hostname))
      || 0 != db_col_text (res, row, 4, a->platform, sizeof (a->platform))
      || 0 != db_col_text (res, row, 5, a->agent_version, sizeof (a->agent_version))
      || 0 != db_col_text (res, row, 6, a->enrolled_at, sizeof (a->enrolled_at))
      || 0 != db_col_text (res, row, 7, a->last_seen_at, sizeof (a->last_seen_at))
      || 0 != db_col_text (res, row, 8, a->disabled_at, sizeof (a->disabled_at))
      || 0 != bundle_from_row (res, row, 10, &a->desired)
      || 0 != bundle_from_row (res, row, 13, &a->active)
      || 0 != db_col_text (res, row, 18, a->last_error, sizeof (a->last_error))
      || 0 != db_col_int64 (res, row, 20, &a->events_spooled)
      || 0 != db_col_int64 (res, row, 21, &a->events_dropped)
      || 0 != db_col_int64 (res, row, 22, &a->last_event_seq))
    return -1;
  a->online = db_col_bool (res, row, 9);
  a->disabled = '\0' != a->disabled_at[0];
  a->drift = db_col_bool (res, row, 16);
  a->stale = db_col_bool (res, row, 17);
  a->has_keyset_version = !PQgetisnull (res, row, 19);
  a->keyset_version = 0;
  if (a->has_keyset_version && 0 != db_col_int64 (res, row, 19, &a->keyset_version))
    return -1;
  return 0;
}

static int
agent_row (const PGresult *res, int row, void *item)
{
  return agent_from_row (res, row, item);
}

/* Copy the single row of @a res (qs rows) into @a out; PQclear()s @a res. */
static enum db_qs
one_agent (enum db_qs qs, PGresult *res, struct db_agent *out)
{
  if (qs > 0 && 0 != agent_from_row (res, 0, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* ---- authentication ---- */

/* One probe of the unique credential index, one of the orgs key. */
static struct db_stmt auth_stmt = DB_STMT ("agent_auth_lookup",
  "SELECT a.id, a.org_id, a.user_id, a.disabled_at IS NOT NULL"
  " FROM agents a JOIN orgs o ON o.id = a.org_id"
  " WHERE a.credential_sha256 = decode ($1::text, 'hex')"
  "   AND a.deleted_at IS NULL AND o.deleted_at IS NULL");

enum db_qs
db_agent_auth_lookup (const char *credential_sha256, struct db_agent_auth *out)
{
  const char *params[] = { credential_sha256 };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&auth_stmt, 1, params, &res);

  if (qs > 0)
    {
      if (0 != db_col_text (res, 0, 0, out->id, sizeof (out->id))
          || 0 != db_col_text (res, 0, 1, out->org_id, sizeof (out->org_id))
          || 0 != db_col_text (res, 0, 2, out->user_id, sizeof (out->user_id)))
        qs = DB_QS_HARD_ERROR;
      else
        out->disabled = db_col_bool (res, 0, 3);
    }
  PQclear (res);
  return qs;
}

/* ---- writes ---- */

static struct db_stmt insert_stmt = DB_STMT ("agent_insert",
  "INSERT INTO agents"
  " (org_id, user_id, enroll_secret_id, credential_sha256, hostname, platform, agent_version)"
  " VALUES ($1::uuid, $2::uuid, $3::uuid, decode ($4::text, 'hex'), $5::text, $6::text, $7::text)"
  " RETURNING id");

enum db_qs
db_agent_insert (const struct db_agent_new *na, unsigned int online_window_s,
                 struct db_agent *out)
{
  const char *params[] = {
    na->org_id, na->user_id, na->enroll_secret_id, na->credential_sha256,
    na->hostname, na->platform, na->agent_version,
  };
  char id[BW_UUID_LEN + 1];
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&insert_stmt, 7, params, &res);

  if (qs > 0 && 0 != db_col_text (res, 0, 0, id, sizeof (id)))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  if (qs <= 0)
    return qs;
  qs = db_agent_get (na->org_id, id, online_window_s, out);
  return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* inserted in this transaction */
}

static struct db_stmt set_disabled_stmt = DB_STMT ("agent_set_disabled",
  "UPDATE agents SET disabled_at = CASE WHEN $3::boolean THEN COALESCE (disabled_at, now ())"
  " ELSE NULL END"
  " WHERE org_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL");

enum db_qs
db_agent_set_disabled (const char *org_id, const char *id, bool disabled)
{
  const char *params[] = { org_id, id, disabled ? "true" : "false" };

  return db_exec (&set_disabled_stmt, 3, params, NULL);
}

static struct db_stmt delete_stmt = DB_STMT ("agent_delete",
  "UPDATE agents SET deleted_at = now ()"
  " WHERE org_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL");

enum db_qs
db_agent_delete (const char *org_id, const char *id)
{
  const char *params[] = { org_id, id };

  return db_exec (&delete_stmt, 2, params, NULL);
}

/* ---- reads ---- */

static struct db_stmt get_stmt = DB_STMT ("agent_get",
  "SELECT " AGENT_COLUMNS AGENT_FROM
  " WHERE a.org_id = $1::uuid AND a.id = $3::uuid AND a.deleted_at IS NULL");

static struct db_stmt lock_stmt = DB_STMT ("agent_lock",
  "SELECT " AGENT_COLUMNS AGENT_FROM
  " WHERE a.org_id = $1::uuid AND a.id = $3::uuid AND a.deleted_at IS NULL"
  " FOR UPDATE OF a");

static enum db_qs
get_or_lock (struct db_stmt *st, const char *org_id, const char *id,
             unsigned int online_window_s, struct db_agent *out)
{
  char window[16];
  const char *params[] = { org_id, window, id };
  PGresult *res = NULL;
  enum db_qs qs;

  snprintf (window, sizeof (window), "%u", online_window_s);
  qs = db_exec (st, 3, params, &res);
  return one_agent (qs, res, out);
}

enum db_qs
db_agent_get (const char *org_id, const char *id, unsigned int online_window_s,
              struct db_agent *out)
{
  return get_or_lock (&get_stmt, org_id, id, online_window_s, out);
}

enum db_qs
db_agent_lock (const char *org_id, const char *id, unsigned int online_window_s,
               struct db_agent *out)
{
  return get_or_lock (&lock_stmt, org_id, id, online_window_s, out);
}

/*
 * One statement for every filter combination: the org's agents come from
 * the index agents_org_enrolled (org_id, enrolled_at, id), the filters are
 * evaluated per row.  $3 status name or NULL, $4 user id or NULL, $5/$6
 * the cursor or NULL, $7 the limit.
 */
static struct db_stmt list_stmt = DB_STMT ("agent_list",
  "SELECT " AGENT_COLUMNS AGENT_FROM
  " WHERE a.org_id = $1::uuid AND a.deleted_at IS NULL"
  "   AND ($4::uuid IS NULL OR a.user_id = $4::uuid)"
  "   AND ($5::timestamptz IS NULL OR (a.enrolled_at, a.id) > ($5::timestamptz, $6::uuid))"
  "   AND CASE $3::text"
  "         WHEN 'online' THEN " ONLINE_EXPR ("$2")
  "         WHEN 'offline' THEN NOT " ONLINE_EXPR ("$2")
  "         WHEN 'stale' THEN a.stale"
  "         WHEN 'drift' THEN " DRIFT_EXPR
  "         WHEN 'disabled' THEN a.disabled_at IS NOT NULL"
  "         ELSE true END"
  " ORDER BY a.enrolled_at, a.id"
  " LIMIT $7::integer");

static const char *const status_names[] = {
  [DB_AGENT_STATUS_ANY] = NULL,
  [DB_AGENT_STATUS_ONLINE] = "online",
  [DB_AGENT_STATUS_OFFLINE] = "offline",
  [DB_AGENT_STATUS_STALE] = "stale",
  [DB_AGENT_STATUS_DRIFT] = "drift",
  [DB_AGENT_STATUS_DISABLED] = "disabled",
};

enum db_qs
db_agent_list (const char *org_id, const struct db_agent_filter *f,
               unsigned int online_window_s, unsigned int limit, struct db_agent **items,
               size_t *n)
{
  char window[16];
  char limit_s[16];
  const char *params[] = {
    org_id, window, status_names[f->status], f->user_id, f->after_enrolled_at, f->after_id,
    limit_s,
  };
  PGresult *res = NULL;
  void *arr = NULL;
  enum db_qs qs;

  *items = NULL;
  *n = 0;
  snprintf (window, sizeof (window), "%u", online_window_s);
  snprintf (limit_s, sizeof (limit_s), "%u", limit);
  qs = db_exec (&list_stmt, 7, params, &res);
  if (qs > 0
      && 0 != db_rows_copy (res, (size_t) qs, sizeof (struct db_agent), agent_row, NULL, &arr))
    qs = DB_QS_HARD_ERROR;
  else if (qs > 0)
    {
      *items = arr;
      *n = (size_t) qs;
    }
  PQclear (res);
  return qs;
}

static struct db_stmt summary_stmt = DB_STMT ("agent_fleet_summary",
  "SELECT count(a.id),"
  "  count(a.id) FILTER (WHERE " ONLINE_EXPR ("$2") "),"
  "  count(a.id) FILTER (WHERE a.stale),"
  "  count(a.id) FILTER (WHERE " DRIFT_EXPR "),"
  "  count(a.id) FILTER (WHERE a.disabled_at IS NOT NULL),"
  "  count(a.id) FILTER (WHERE h.sha256 IS NOT NULL AND a.active_sha256 = h.sha256),"
  "  (SELECT max (bundle_version) FROM heads WHERE org_id = $1::uuid)"
  AGENT_FROM
  " WHERE a.org_id = $1::uuid AND a.deleted_at IS NULL");

enum db_qs
db_agent_fleet_summary (const char *org_id, unsigned int online_window_s,
                        struct db_fleet_summary *out)
{
  char window[16];
  const char *params[] = { org_id, window };
  PGresult *res = NULL;
  enum db_qs qs;

  snprintf (window, sizeof (window), "%u", online_window_s);
  qs = db_exec (&summary_stmt, 2, params, &res);
  if (qs > 0)
    {
      if (0 != db_col_int64 (res, 0, 0, &out->agents)
          || 0 != db_col_int64 (res, 0, 1, &out->online)
          || 0 != db_col_int64 (res, 0, 2, &out->stale)
          || 0 != db_col_int64 (res, 0, 3, &out->drift)
          || 0 != db_col_int64 (res, 0, 4, &out->disabled)
          || 0 != db_col_int64 (res, 0, 5, &out->on_latest))
        qs = DB_QS_HARD_ERROR;
      out->has_latest = !PQgetisnull (res, 0, 6);
      out->latest_bundle_version = 0;
      if (qs > 0 && out->has_latest && 0 != db_col_int64 (res, 0, 6, &out->latest_bundle_version))
        qs = DB_QS_HARD_ERROR;
    }
  PQclear (res);
  return qs;
}
