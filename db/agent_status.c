/*
 * Bulk store of agent check-in reports (db/agent_status.h).
 */
#include "config.h"
#include "db/agent_status.h"
#include "lib/log.h"

#include <jansson.h>
#include <stdlib.h>

/*
 * The reports travel as one JSON array (a jsonb parameter): jansson
 * escapes the strings, and jsonb_to_recordset types every member, so no
 * value is ever spliced into SQL.  Microseconds become a timestamp by
 * exact interval arithmetic, as in the token last-used flush.
 */
static struct db_stmt flush_stmt = DB_STMT ("agent_status_flush",
  "UPDATE agents AS a SET"
  "  last_seen_at = GREATEST (a.last_seen_at, v.ts),"
  "  reported_at = v.ts,"
  "  agent_version = v.agent_version,"
  "  keyset_version = v.keyset_version,"
  "  active_version = v.active_version,"
  "  active_sha256 = v.active_sha256,"
  "  active_head_serial = v.active_head_serial,"
  "  last_error = v.last_error,"
  "  stale = v.stale,"
  "  events_spooled = v.events_spooled,"
  "  events_dropped = v.events_dropped"
  " FROM (SELECT r.*, timestamptz 'epoch' + r.seen_us * interval '1 microsecond' AS ts"
  "       FROM jsonb_to_recordset ($1::jsonb) AS r (id uuid, org_id uuid, seen_us bigint,"
  "         agent_version text, keyset_version bigint, active_version bigint,"
  "         active_sha256 text, active_head_serial bigint, last_error text, stale boolean,"
  "         events_spooled bigint, events_dropped bigint)) AS v"
  " WHERE a.id = v.id AND a.org_id = v.org_id AND a.deleted_at IS NULL"
  "   AND (a.reported_at IS NULL OR a.reported_at <= v.ts)");

/* @return the report as a JSON object of the recordset's columns, or NULL. */
static json_t *
report_json (const struct db_agent_report *r)
{
  json_t *o = json_pack ("{s:s, s:s, s:I, s:s, s:I, s:b, s:I, s:I}",
                         "id", r->agent_id, "org_id", r->org_id,
                         "seen_us", (json_int_t) r->seen_us,
                         "agent_version", r->agent_version,
                         "keyset_version", (json_int_t) r->keyset_version,
                         "stale", r->stale,
                         "events_spooled", (json_int_t) r->events_spooled,
                         "events_dropped", (json_int_t) r->events_dropped);

  if (NULL == o)
    return NULL;
  if (r->has_active
      && (0 != json_object_set_new (o, "active_version", json_integer (r->active_version))
          || 0 != json_object_set_new (o, "active_sha256", json_string (r->active_sha256))
          || 0 != json_object_set_new (o, "active_head_serial",
                                       json_integer (r->active_head_serial))))
    goto fail;
  if (NULL != r->last_error
      && 0 != json_object_set_new (o, "last_error", json_string (r->last_error)))
    goto fail;
  return o;
fail:
  json_decref (o);
  return NULL;
}

enum db_qs
db_agent_status_flush (struct db_agent_report *const *items, size_t n)
{
  json_t *arr;
  char *text = NULL;
  enum db_qs qs = DB_QS_HARD_ERROR;

  if (0 == n || n > DB_AGENT_STATUS_FLUSH_MAX)
    return DB_QS_HARD_ERROR;
  arr = json_array ();
  if (NULL == arr)
    return DB_QS_HARD_ERROR;
  for (size_t i = 0; i < n; i++)
    if (0 != json_array_append_new (arr, report_json (items[i])))
      {
        bw_logf (BW_LOG_ERROR, "agent status flush: out of memory");
        goto cleanup;
      }
  text = json_dumps (arr, JSON_COMPACT);
  if (NULL == text)
    goto cleanup;
  {
    const char *params[] = { text };

    qs = db_exec (&flush_stmt, 1, params, NULL);
  }
cleanup:
  free (text);
  json_decref (arr);
  return qs;
}
