/*
 * POST /api/v1/agent/checkin (DESIGN §6): the agent reports its status and
 * learns whether its bundle is current, needs a new head (refresh) or a
 * new bundle (update).  With `Prefer: wait=N` (RFC 7240 §4.3) a current
 * agent is parked until its org's heads change or N seconds pass.
 *
 * The nothing-changed answer runs no SQL: the credential comes from the
 * agent-auth cache (server/agent_auth.h), the head from memory
 * (server/heads.h), and the report goes to the in-memory status table
 * (server/agent_status.h), flushed in bulk.  The reply is printed by hand:
 * every value in it is a number, lowercase hex, a fixed word or a compact
 * JWS (base64url and dots), none of which needs JSON escaping.
 */
#include "config.h"
#include "api/handlers.h"
#include "db/agent.h"
#include "db/agent_status.h"
#include "lib/crypto.h"
#include "lib/json_errors.h"
#include "lib/text.h"
#include "server/agent_auth.h"
#include "server/agent_status.h"
#include "server/heads.h"
#include "server/http.h"
#include "server/http_headers.h"
#include "server/longpoll.h"
#include "server/reply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of a bundle download, before its hex sha256. */
#define BUNDLE_URL_PREFIX "/api/v1/agent/bundles/"
/* Bytes of the reply around the head's JWS (numbers, hex, words, url). */
#define REPLY_FIXED_MAX 512
/* "wait=" + up to 10 digits + NUL */
#define PREFERENCE_APPLIED_MAX 16

/** The agent's bundle as it reports it. */
struct reported_bundle
{
  bool present;
  int64_t version;
  const char *sha256;  /* borrowed from rq->json */
  int64_t head_serial;
};

/** A validated check-in body; strings borrowed from rq->json. */
struct checkin_body
{
  const char *agent_version;
  int64_t keyset_version;
  struct reported_bundle bundle;
  const char *last_error;        /* NULL for JSON null */
  bool stale;
  int64_t events_spooled;
  int64_t events_dropped;
  int64_t events_last_seq;
};

enum bundle_state
{
  STATE_CURRENT,
  STATE_REFRESH,
  STATE_UPDATE,
};

static const char *const state_names[] = {
  [STATE_CURRENT] = "current",
  [STATE_REFRESH] = "refresh",
  [STATE_UPDATE] = "update",
};

/* ---- validation ---- */

/*
 * Member @a key of @a obj: a JSON integer >= @a min (jansson refuses
 * numbers beyond int64 while parsing).  Reports at @a base "/" @a key.
 */
static bool
int_member (struct bw_errors *e, const json_t *obj, const char *key, int64_t min,
            const char *base, int64_t *out)
{
  const json_t *v = json_object_get (obj, key);

  if (NULL == v)
    {
      bw_errors_add (e, "is required", "%s/%s", base, key);
      return false;
    }
  if (!json_is_integer (v))
    {
      bw_errors_add (e, "must be an integer", "%s/%s", base, key);
      return false;
    }
  if (json_integer_value (v) < min || json_integer_value (v) > BW_JSON_INT_MAX)
    {
      bw_errors_add (e, (0 == min) ? "must be an integer from 0 to 2^53 - 1"
                                   : "must be an integer from 1 to 2^53 - 1",
                     "%s/%s", base, key);
      return false;
    }
  *out = (int64_t) json_integer_value (v);
  return true;
}

static void
parse_bundle (struct bw_errors *e, const json_t *v, struct reported_bundle *out)
{
  static const char *const keys[] = { "version", "sha256", "head_serial", NULL };
  const char *sha;

  out->present = false;
  if (json_is_null (v))
    return;
  if (!json_is_object (v))
    {
      bw_errors_add (e, "must be an object or null", "/bundle");
      return;
    }
  bw_errors_check_keys (e, v, keys, "/bundle");
  int_member (e, v, "version", 1, "/bundle", &out->version);
  int_member (e, v, "head_serial", 1, "/bundle", &out->head_serial);
  sha = bw_errors_string (e, v, "sha256", true, BW_SHA256_HEX_LEN, "/bundle");
  if (NULL != sha && !bw_sha256_hex_valid (sha))
    {
      bw_errors_add (e, "must be 64 lowercase hex digits", "/bundle/sha256");
      sha = NULL;
    }
  out->sha256 = sha;
  out->present = true;
}

static void
parse_events (struct bw_errors *e, const json_t *v, struct checkin_body *b)
{
  static const char *const keys[] = { "spooled", "dropped", "last_seq", NULL };

  if (!json_is_object (v))
    {
      bw_errors_add (e, "must be an object", "/events");
      return;
    }
  bw_errors_check_keys (e, v, keys, "/events");
  int_member (e, v, "spooled", 0, "/events", &b->events_spooled);
  int_member (e, v, "dropped", 0, "/events", &b->events_dropped);
  /* The seq of the last event the agent created: checked, not stored.  agents.last_event_seq
     is what intake received (db/event.c measures seq gaps from it), and must stay so. */
  int_member (e, v, "last_seq", 0, "/events", &b->events_last_seq);
}

/*
 * Validate the body: every member required (bundle and last_error may be
 * null), no unknown members, every fault reported with its pointer.
 * @return true, or false after replying 400.
 */
static bool
parse_body (struct bw_request *rq, struct checkin_body *b)
{
  static const char *const keys[] = { "agent_version", "keyset_version", "bundle",
                                      "last_error", "stale", "events", NULL };
  const json_t *body = rq->json;
  json_t *errors;
  struct bw_errors e;
  const json_t *v;

  memset (b, 0, sizeof (*b));
  if (!json_is_object (body))
    {
      bw_reply_invalid (rq, "", "the body must be a JSON object");
      return false;
    }
  errors = json_array ();
  if (NULL == errors)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  bw_errors_init (&e, errors, "");
  bw_errors_check_keys (&e, body, keys, "");

  b->agent_version = bw_errors_string (&e, body, "agent_version", true, DB_AGENT_VERSION_MAX, "");
  if (NULL != b->agent_version)
    {
      const char *why = bw_text_fault_message (bw_text_check (b->agent_version,
                                                              strlen (b->agent_version)));

      if (NULL != why)
        {
          bw_errors_add (&e, why, "/agent_version");
          b->agent_version = NULL;
        }
    }
  int_member (&e, body, "keyset_version", 1, "", &b->keyset_version);

  v = json_object_get (body, "bundle");
  if (NULL == v)
    bw_errors_add (&e, "is required (null when the agent has no bundle yet)", "/bundle");
  else
    parse_bundle (&e, v, &b->bundle);

  v = json_object_get (body, "last_error");
  if (NULL == v)
    bw_errors_add (&e, "is required (null when there is none)", "/last_error");
  else if (!json_is_null (v))
    b->last_error = bw_errors_string (&e, body, "last_error", true, DB_AGENT_LAST_ERROR_MAX, "");

  v = json_object_get (body, "stale");
  if (NULL == v)
    bw_errors_add (&e, "is required", "/stale");
  else if (!json_is_boolean (v))
    bw_errors_add (&e, "must be a boolean", "/stale");
  else
    b->stale = json_is_true (v);

  v = json_object_get (body, "events");
  if (NULL == v)
    bw_errors_add (&e, "is required", "/events");
  else
    parse_events (&e, v, b);

  if (!e.failed)
    {
      json_decref (errors);
      return true;
    }
  {
    char detail[96];
    size_t n = json_array_size (errors);

    snprintf (detail, sizeof (detail), "%zu field%s invalid", n, (1 == n) ? " is" : "s are");
    bw_reply_problem (rq, BW_E_VALIDATION, detail, errors);
  }
  return false;
}

/* ---- the answer ---- */

static void
record_report (const struct bw_request *rq, const struct checkin_body *b)
{
  struct db_agent_report r;

  memset (&r, 0, sizeof (r));
  memcpy (r.agent_id, rq->principal.agent_id, sizeof (r.agent_id));
  memcpy (r.org_id, rq->principal.org_id, sizeof (r.org_id));
  snprintf (r.agent_version, sizeof (r.agent_version), "%s", b->agent_version);
  r.keyset_version = b->keyset_version;
  r.has_active = b->bundle.present;
  if (b->bundle.present)
    {
      r.active_version = b->bundle.version;
      memcpy (r.active_sha256, b->bundle.sha256, sizeof (r.active_sha256));
      r.active_head_serial = b->bundle.head_serial;
    }
  r.last_error = (char *) b->last_error; /* copied by bw_agent_status_record */
  r.stale = b->stale;
  r.events_spooled = b->events_spooled;
  r.events_dropped = b->events_dropped;
  bw_agent_status_record (&r);
}

/*
 * DESIGN §6: no bundle, or another version or hash → update; the same
 * bundle under another head serial → refresh; else current.
 */
static enum bundle_state
state_of (const struct reported_bundle *b, const struct bw_head_info *h)
{
  if (!b->present || (uint64_t) b->version != h->bundle_version
      || 0 != strcmp (b->sha256, h->sha256))
    return STATE_UPDATE;
  if ((uint64_t) b->head_serial != h->head_serial)
    return STATE_REFRESH;
  return STATE_CURRENT;
}

/* A compact JWS: base64url segments and dots, safe inside a JSON string. */
static bool
jws_printable (const char *jws)
{
  for (const char *p = jws; '\0' != *p; p++)
    if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9')
          || '-' == *p || '_' == *p || '.' == *p))
      return false;
  return '\0' != jws[0];
}

static enum bw_step
reply_checkin (struct bw_request *rq, enum bundle_state state, const struct bw_head_info *h,
               bool waited)
{
  const struct bw_config *cfg = bw_http_config ();
  size_t jws_len = (STATE_CURRENT != state) ? strlen (h->jws) : 0;
  size_t cap = REPLY_FIXED_MAX + jws_len;
  char *text;
  int n;
  char applied[PREFERENCE_APPLIED_MAX];
  struct bw_header hdr[1];

  if (STATE_CURRENT != state && !jws_printable (h->jws))
    {
      bw_logf (BW_LOG_ERROR, "check-in: the head of a subject is not a compact JWS");
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  text = malloc (cap);
  if (NULL == text)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  n = snprintf (text, cap,
                "{\"bundle\":{\"state\":\"%s\",\"version\":%" PRIu64 ",\"sha256\":\"%s\","
                "\"length\":%" PRIu64 ",\"head_serial\":%" PRIu64 "%s%s%s%s%s%s},"
                "\"keyset_version\":%" PRIu64 ","
                "\"checkin\":{\"interval_s\":%lu,\"jitter_s\":%lu}}",
                state_names[state], h->bundle_version, h->sha256, h->length, h->head_serial,
                (STATE_CURRENT != state) ? ",\"head\":\"" : "",
                (STATE_CURRENT != state) ? h->jws : "",
                (STATE_CURRENT != state) ? "\"" : "",
                (STATE_UPDATE == state) ? ",\"url\":\"" BUNDLE_URL_PREFIX : "",
                (STATE_UPDATE == state) ? h->sha256 : "",
                (STATE_UPDATE == state) ? "\"" : "",
                h->keyset_version, cfg->checkin_interval_s, cfg->checkin_jitter_s);
  if (n < 0 || (size_t) n >= cap)
    {
      free (text);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  if (waited)
    {
      snprintf (applied, sizeof (applied), "wait=%u", bw_longpoll_wait_s (rq));
      hdr[0] = (struct bw_header) { "Preference-Applied", applied };
    }
  return bw_reply_bytes_steal (rq, 200, "application/json", text, (size_t) n, hdr,
                               waited ? 1 : 0);
}

enum bw_step
api_agent_checkin (struct bw_request *rq)
{
  const struct bw_principal *p = &rq->principal;
  bool resumed = bw_longpoll_resumed (rq);
  struct checkin_body b;
  struct bw_head_info h;
  unsigned int wait_s = 0;
  bool wants_wait;
  uint64_t epoch;
  enum bundle_state state;
  enum db_qs qs;
  enum bw_step step;

  /* Woken, the agent may have been disabled or deleted meanwhile: ask again. */
  if (resumed && !bw_agent_auth_or_reply (rq))
    return BW_REPLIED;
  /* after a wake-up the body is parsed again (it was valid) but not recorded again */
  if (!parse_body (rq, &b))
    return BW_REPLIED;
  if (!resumed)
    record_report (rq, &b);
  wants_wait = resumed || (bw_request_prefer_wait (rq, &wait_s) && wait_s > 0);

  /* the epoch before the head: a change after this look wakes the park below */
  epoch = bw_longpoll_epoch ();
  memset (&h, 0, sizeof (h));
  qs = bw_heads_get (p->org_id, p->subject_id, p->agent_has_user, &h, false);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    {
      /* A subject keeps a head while it has a live agent: this one was deleted meanwhile
         (its credential is still cached until the NOTIFY arrives). */
      bw_agent_auth_forget (p->agent_id);
      return bw_agent_reply_node_invalid (rq);
    }
  state = state_of (&b.bundle, &h);
  /* An agent behind on keysets is answered at once: it walks them first. */
  if (STATE_CURRENT == state && wants_wait && (uint64_t) b.keyset_version >= h.keyset_version
      && !bw_longpoll_timed_out (rq))
    return bw_longpoll_park (rq, p->org_id, resumed ? 0 : wait_s, epoch);
  if (STATE_CURRENT == state)
    return reply_checkin (rq, state, &h, resumed);

  /* something to do: read the head again, with its JWS */
  qs = bw_heads_get (p->org_id, p->subject_id, p->agent_has_user, &h, true);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs || NULL == h.jws)
    {
      free (h.jws);
      bw_logf (BW_LOG_ERROR, "check-in: no head for agent %s", p->agent_id);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  state = state_of (&b.bundle, &h);
  step = reply_checkin (rq, state, &h, resumed);
  free (h.jws);
  return step;
}
