/*
 * Liveness, readiness and metrics.  /healthz never touches the database,
 * so an orchestrator does not restart a replica because PostgreSQL is down;
 * /readyz takes the replica out of rotation instead.
 */
#include "config.h"
#include "api/handlers.h"
#include "db/db.h"
#include "lib/log.h"
#include "server/metrics.h"
#include "server/reply.h"

#include <stdlib.h>
#include <string.h>

enum bw_step
api_healthz (struct bw_request *rq)
{
  return bw_reply_json (rq, 200, json_pack ("{s:s}", "status", "ok"), NULL, 0);
}

enum bw_step
api_readyz (struct bw_request *rq)
{
  const char *why = NULL;
  if (!db_ready (&why))
    return bw_reply_problem (rq, BW_E_DB_UNAVAILABLE, why, NULL);
  return bw_reply_json (rq, 200,
                        json_pack ("{s:s, s:I}", "status", "ready", "schema_version",
                                   (json_int_t) db_schema_version_expected ()),
                        NULL, 0);
}

enum bw_step
api_metrics (struct bw_request *rq)
{
  char *text = bw_metrics_render ();
  if (NULL == text)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  enum bw_step s = bw_reply_text (rq, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                                  strlen (text));
  free (text);
  return s;
}
