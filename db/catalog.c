/*
 * The MCP catalog (see db/catalog.h).
 */
#include "config.h"
#include "db/catalog.h"

#include <libpq-fe.h>

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
  "   AND (e.expires_at IS NULL OR e.expires_at > now ())");

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
