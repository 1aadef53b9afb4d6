/*
 * /api/v1/orgs/{org}/agents and /fleet/summary: the fleet view (DESIGN §6)
 * — every enrolled agent with what it should run (its subject's head) and
 * what it reports running, and the admin changes: disable (the agent gets
 * 403 agent_disabled and keeps its last good bundle) and delete (401
 * node_invalid: it must enroll again).  Each change commits with its audit
 * record and drops the credential from this replica's cache at once; the
 * agents_notify trigger tells the other replicas.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/agents.h"
#include "api/audit.h"
#include "api/handlers.h"
#include "db/org.h"
#include "db/agent.h"
#include "lib/canonical_json.h"
#include "lib/ident.h"
#include "server/agent_auth.h"
#include "server/fields.h"
#include "server/http.h"
#include "server/pagination.h"
#include "server/reply.h"
#include "server/settings.h"

/* Check-in interval when no configuration is at hand (the default of BULWARK_CHECKIN_INTERVAL). */
#define CHECKIN_INTERVAL_DEFAULT_S 60
/* Longest If-Match value looked at. */
#define IF_MATCH_MAX 1024

/* ---- representation ---- */

static json_t *
bundle_json (const struct db_agent_bundle *b)
{
  if (!b->present)
    return json_null ();
  return json_pack ("{s:I, s:s, s:I}", "bundle_version", (json_int_t) b->bundle_version,
                    "sha256", b->sha256, "head_serial", (json_int_t) b->head_serial);
}

json_t *
api_agent_json (const struct db_agent *a)
{
#define OR_NULL(v) ('\0' != (v)[0] ? (v) : NULL)
  return json_pack ("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:o, s:o, s:b, s:b, s:s?,"
                    " s:o, s:{s:I, s:I, s:I}}",
                    "id", a->id,
                    "user_id", OR_NULL (a->user_id),
                    "hostname", a->hostname,
                    "platform", a->platform,
                    "agent_version", a->agent_version,
                    "enrolled_at", a->enrolled_at,
                    "last_seen_at", OR_NULL (a->last_seen_at),
                    "online", (int) a->online,
                    "disabled", (int) a->disabled,
                    "desired", bundle_json (&a->desired),
                    "active", bundle_json (&a->active),
                    "drift", (int) a->drift,
                    "stale", (int) a->stale,
                    "last_error", OR_NULL (a->last_error),
                    "keyset_version", a->has_keyset_version
                                        ? json_integer ((json_int_t) a->keyset_version)
                                        : json_null (),
                    "events",
                    "spooled", (json_int_t) a->events_spooled,
                    "dropped", (json_int_t) a->events_dropped,
                    "last_seq", (json_int_t) a->last_event_seq);
#undef OR_NULL
}

static json_t *
agent_repr (const void *object)
{
  return api_agent_json (object);
}

int
api_agent_etag (const struct db_agent *a, char out[API_AGENT_ETAG_SIZE])
{
  char hex[BW_SHA256_HEX_LEN + 1];
  json_t *o = json_pack ("{s:s, s:s?}", "id", a->id, "disabled_at",
                         '\0' != a->disabled_at[0] ? a->disabled_at : NULL);
  int rc = (NULL == o) ? -1 : bw_json_digest (o, hex);

  json_decref (o);
  if (0 == rc)
    snprintf (out, API_AGENT_ETAG_SIZE, "\"%s\"", hex);
  return rc;
}

unsigned int
api_agents_online_window_s (void)
{
  const struct bw_config *cfg = bw_http_config ();
  unsigned long interval = (NULL != cfg) ? cfg->checkin_interval_s : CHECKIN_INTERVAL_DEFAULT_S;

  return (unsigned int) interval + API_AGENT_ONLINE_GRACE_S;
}

/* Reply @a status with agent @a a and its ETag. */
static enum bw_step
reply_agent (struct bw_request *rq, unsigned int status, const struct db_agent *a)
{
  char etag[API_AGENT_ETAG_SIZE];
  json_t *body = api_agent_json (a);

  if (NULL == body || 0 != api_agent_etag (a, etag))
    {
      json_decref (body);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  {
    const struct bw_header h[] = { { "ETag", etag } };

    return bw_reply_json (rq, status, body, h, 1);
  }
}

static enum bw_step
reply_no_agent (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such agent", NULL);
}

/* The {id} path parameter if it is a canonical uuid, else NULL (→ 404). */
static const char *
agent_id_param (const struct bw_request *rq)
{
  const char *id = rq->params[1];

  return NULL != id && bw_uuid_valid (id) ? id : NULL;
}

/*
 * Whether an If-Match value (RFC 9110 §13.1.1: "*" or a comma-separated
 * list of entity tags) matches @a etag by strong comparison; weak tags
 * never match, a malformed value matches nothing.
 */
static bool
if_match (const char *value, const char *etag)
{
  size_t etag_len = strlen (etag);
  const char *p = value;

  if (strnlen (value, IF_MATCH_MAX + 1) > IF_MATCH_MAX)
    return false;
  for (;;)
    {
      size_t n;

      while (' ' == *p || '\t' == *p)
        p++;
      if ('*' == *p)
        return true;
      n = strcspn (p, ",");
      while (n > 0 && (' ' == p[n - 1] || '\t' == p[n - 1]))
        n--;
      if (n == etag_len && 0 == memcmp (p, etag, n))
        return true;
      p = strchr (p, ',');
      if (NULL == p)
        return false;
      p++;
    }
}

/* ---- GET /api/v1/orgs/{org}/agents ---- */

static const struct
{
  const char *name;
  enum db_agent_status status;
} statuses[] = {
  { "online", DB_AGENT_STATUS_ONLINE },
  { "offline", DB_AGENT_STATUS_OFFLINE },
  { "stale", DB_AGENT_STATUS_STALE },
  { "drift", DB_AGENT_STATUS_DRIFT },
  { "disabled", DB_AGENT_STATUS_DISABLED },
};

/* A list row as bw_reply_rows_page (server/pagination.h) reads it. */
static json_t *
agent_row_json (const void *row)
{
  return api_agent_json (row);
}

static const char *
agent_row_created_at (const void *row)
{
  return ((const struct db_agent *) row)->enrolled_at;
}

static const char *
agent_row_id (const void *row)
{
  return ((const struct db_agent *) row)->id;
}

enum bw_step
api_agents_list (struct bw_request *rq)
{
  struct bw_page page;
  struct db_agent_filter f = { .status = DB_AGENT_STATUS_ANY };
  const char *status = bw_request_query (rq, "status");
  struct db_agent *items = NULL;
  size_t n = 0;
  json_t *errors;
  enum db_qs qs;

  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &f.after_enrolled_at, &f.after_id))
    return bw_reply_bad_cursor (rq);
  errors = json_array ();
  if (NULL == errors)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  if (NULL != status)
    {
      size_t i = 0;

      while (i < sizeof (statuses) / sizeof (statuses[0]) && 0 != strcmp (status, statuses[i].name))
        i++;
      if (i < sizeof (statuses) / sizeof (statuses[0]))
        f.status = statuses[i].status;
      else
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "parameter", "status", "message",
                                                  "must be one of online, offline, stale, "
                                                  "drift, disabled"));
    }
  f.user_id = bw_request_query (rq, "user_id");
  if (NULL != f.user_id && !bw_uuid_valid (f.user_id))
    json_array_append_new (errors, json_pack ("{s:s, s:s}", "parameter", "user_id", "message",
                                              "must be a user id (a lowercase uuid)"));
  if (json_array_size (errors) > 0)
    return bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameters", errors);
  json_decref (errors);

  qs = db_agent_list (rq->org.id, &f, api_agents_online_window_s (), page.limit + 1, &items, &n);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  const struct bw_page_rows rows = {
    .rows = items, .n = n, .size = sizeof (*items), .to_json = agent_row_json,
    .created_at = agent_row_created_at, .id = agent_row_id,
  };
  enum bw_step step = bw_reply_rows_page (rq, &page, &rows);
  free (items);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/agents/{id} ---- */

enum bw_step
api_agents_get (struct bw_request *rq)
{
  const char *id = agent_id_param (rq);
  struct db_agent *a;
  enum db_qs qs;
  enum bw_step step;

  if (NULL == id)
    return reply_no_agent (rq);
  a = malloc (sizeof (*a)); /* large (last_error): not on the stack */
  if (NULL == a)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  qs = db_agent_get (rq->org.id, id, api_agents_online_window_s (), a);
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 == qs)
    step = reply_no_agent (rq);
  else
    step = reply_agent (rq, 200, a);
  free (a);
  return step;
}

/* ---- PATCH /api/v1/orgs/{org}/agents/{id} ---- */

struct change_ctx
{
  const struct bw_request *rq;
  const char *id;
  bool disable;            /* PATCH: the requested state */
  bool delete;             /* DELETE instead of PATCH */
  const char *if_match;    /* If-Match value, or NULL */
  unsigned int window_s;
  struct db_agent before;
  struct db_agent after;   /* PATCH: the agent after the change */
  bool precondition_failed;
};

static enum db_qs
change_tx (void *cls)
{
  struct change_ctx *c = cls;
  const char *org_id = c->rq->org.id;
  enum db_qs qs;

  c->precondition_failed = false;
  qs = db_org_writer_lock (org_id);
  if (qs > 0)
    qs = db_agent_lock (org_id, c->id, c->window_s, &c->before);
  if (qs <= 0)
    return qs;
  if (NULL != c->if_match)
    {
      char etag[API_AGENT_ETAG_SIZE];

      if (0 != api_agent_etag (&c->before, etag))
        return DB_QS_HARD_ERROR;
      if (!if_match (c->if_match, etag))
        {
          c->precondition_failed = true;
          return DB_QS_ABORT;
        }
    }
  if (c->delete)
    {
      qs = db_agent_delete (org_id, c->id);
      if (qs > 0)
        qs = api_audit_change (c->rq, org_id, "agent.delete", "agent", c->id, agent_repr,
                               &c->before, NULL);
      return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* locked, yet gone */
    }
  qs = db_agent_set_disabled (org_id, c->id, c->disable);
  if (qs > 0)
    qs = db_agent_get (org_id, c->id, c->window_s, &c->after);
  if (qs > 0)
    qs = api_audit_change (c->rq, org_id, c->disable ? "agent.disable" : "agent.enable", "agent",
                           c->id, agent_repr, &c->before, &c->after);
  return (0 == qs) ? DB_QS_HARD_ERROR : qs;
}

/* Run the change of @a c; reply 404/412/errors here.  @return true when committed. */
static bool
run_change (struct bw_request *rq, struct change_ctx *c)
{
  enum db_qs qs;

  c->rq = rq;
  c->window_s = api_agents_online_window_s ();
  c->if_match = bw_request_header (rq, "If-Match");
  qs = db_tx_run (DB_READ_COMMITTED, change_tx, c);
  if (DB_QS_ABORT == qs && c->precondition_failed)
    bw_reply_problem (rq, BW_E_PRECONDITION_FAILED,
                      "If-Match does not match the agent's current ETag", NULL);
  else if (qs < 0)
    bw_reply_db_error (rq, qs);
  else if (0 == qs)
    reply_no_agent (rq);
  else
    {
      /* this replica answers from its cache: drop the entry now, not at the NOTIFY */
      bw_agent_auth_forget (c->id);
      return true;
    }
  return false;
}

enum bw_step
api_agents_update (struct bw_request *rq)
{
  const json_t *disabled = NULL;
  const struct bw_field fields[] = {
    { "disabled", BW_FIELD_BOOLEAN, true, false, 0, NULL, &disabled },
  };
  struct change_ctx *c;
  enum bw_step step = BW_REPLIED;

  if (NULL == agent_id_param (rq))
    return reply_no_agent (rq);
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  c = calloc (1, sizeof (*c));
  if (NULL == c)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  c->id = agent_id_param (rq);
  c->disable = json_is_true (disabled);
  if (run_change (rq, c))
    step = reply_agent (rq, 200, &c->after);
  free (c);
  return step;
}

/* ---- DELETE /api/v1/orgs/{org}/agents/{id} ---- */

enum bw_step
api_agents_delete (struct bw_request *rq)
{
  struct change_ctx *c;
  enum bw_step step = BW_REPLIED;

  if (NULL == agent_id_param (rq))
    return reply_no_agent (rq);
  c = calloc (1, sizeof (*c));
  if (NULL == c)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  c->id = agent_id_param (rq);
  c->delete = true;
  if (run_change (rq, c))
    step = bw_reply_empty (rq, 204, NULL, 0);
  free (c);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/fleet/summary ---- */

enum bw_step
api_fleet_summary (struct bw_request *rq)
{
  struct db_fleet_summary s;
  enum db_qs qs = db_agent_fleet_summary (rq->org.id, api_agents_online_window_s (), &s);
  json_t *body;

  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  body = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:f}",
                    "agents", (json_int_t) s.agents,
                    "online", (json_int_t) s.online,
                    "offline", (json_int_t) (s.agents - s.online),
                    "stale", (json_int_t) s.stale,
                    "drift", (json_int_t) s.drift,
                    "disabled", (json_int_t) s.disabled,
                    "latest_bundle_version", s.has_latest
                                               ? json_integer ((json_int_t) s.latest_bundle_version)
                                               : json_null (),
                    "on_latest", (json_int_t) s.on_latest,
                    "on_latest_share", (0 == s.agents) ? 1.0
                                                       : (double) s.on_latest / (double) s.agents);
  return bw_reply_json (rq, 200, body, NULL, 0); /* NULL body: 500 */
}
