/*
 * Decision event intake (DESIGN §7): POST /api/v1/agent/events, agent
 * credential only.  The org and the agent come from the credential
 * (rq->principal), never from the body, which may not even name them.
 *
 * Body {"events": [event, ...]}: 1..BW_EVENTS_BATCH_MAX events and at most
 * BW_EVENTS_BODY_MAX bytes once gzip-decoded (server/http.c decodes
 * `Content-Encoding: gzip`); beyond either limit the answer is 413, which
 * tells the agent to split the batch (DESIGN §6).  Each event:
 *   event_id        UUID version 7 (RFC 9562 §5.7)
 *   seq             integer 1..2^53-1, per agent
 *   time            RFC 3339 date-time, at most BW_EVENT_FUTURE_MAX_S ahead
 *                   of the server clock and not older than the retention
 *   user            string | null (optional)
 *   session         {id?, agent?, client?} strings | null (optional)
 *   surface, action as in DESIGN §4's decision requests
 *   resource        per surface, only these keys (no argument values,
 *                   prompts or secrets have a place to go):
 *                     network      {host | ip, port}
 *                     filesystem   {path, access?}  access = the action
 *                     credentials  {credential, host} | {credential,
 *                                  mcp_server, identity?} (identity as mcp's)
 *                     mcp          {server, tool?, identity?}  tool for
 *                                  invoke_tool only, and required there;
 *                                  identity {image_digest | url |
 *                                  registry_type + package, version?,
 *                                  sha256?} (registry_type with package
 *                                  only, and required there)
 *   decision        allow | deny | require_approval
 *   mode            enforce | audit
 *   rule            {policy_id (uuid), revision (>= 1), rule_id} | null;
 *                   required when reason is "rule"
 *   reason          rule | default | policy_error | catalog
 *   bundle_version  integer >= 0
 * Unknown keys are errors.  Any invalid event makes the whole batch a 400
 * that names every bad field as /events/<i>/<field>; nothing is stored.
 * A valid batch is stored in one transaction (db/event.h) and answered
 * 202 {accepted, duplicates, gaps: [{from_seq, to_seq}]} once committed.
 */
#include "config.h"
#include "api/handlers.h"
#include "db/event.h"
#include "lib/clock.h"
#include "lib/ident.h"
#include "lib/ipaddr.h"
#include "lib/json_errors.h"
#include "lib/rfc3339.h"
#include "lib/text.h"
#include "server/event_upkeep.h"
#include "server/fields.h"
#include "server/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** Most events in one batch (DESIGN §7). */
#define BW_EVENTS_BATCH_MAX 1000
/** Largest batch body in bytes, after gzip decoding (DESIGN §7). */
#define BW_EVENTS_BODY_MAX (1024 * 1024)
/** How far ahead of the server clock an event time may lie, seconds (clock skew). */
#define BW_EVENT_FUTURE_MAX_S 86400
/** Largest seq: the largest integer every JSON implementation reads exactly (RFC 8259 §6). */
#define EVENT_SEQ_MAX ((json_int_t) BW_JSON_INT_MAX)
/** Longest user, in bytes. */
#define EVENT_USER_MAX 256
/** Longest session member, in bytes. */
#define EVENT_SESSION_TEXT_MAX 200
/** Longest host, in bytes: a 253-byte name (RFC 1035 §2.3.4) with its trailing dot, or an
 *  IPv6 address in brackets. */
#define EVENT_HOST_MAX 254
/** Longest path, in bytes. */
#define EVENT_PATH_MAX 4096
/** Longest credential name, in bytes. */
#define EVENT_CREDENTIAL_MAX 128
/** Longest MCP server or tool name, in bytes. */
#define EVENT_MCP_NAME_MAX 256
/** Longest identity member, in bytes. */
#define EVENT_IDENTITY_TEXT_MAX 2048
/** Longest rule id, in bytes. */
#define EVENT_RULE_ID_MAX 64
/** Longest surface, action, decision, mode or reason, in bytes. */
#define EVENT_WORD_MAX 32
/** Bytes of an event's pointer prefix ("/events/999") with its NUL. */
#define PREFIX_MAX 24
/** Microseconds per second and per day. */
#define US_PER_S INT64_C (1000000)
#define US_PER_DAY (INT64_C (86400) * US_PER_S)

_Static_assert(BW_EVENTS_BATCH_MAX == DB_EVENT_BATCH_MAX, "one batch limit");
_Static_assert(1000 == BW_EVENTS_BATCH_MAX && 1048576 == BW_EVENTS_BODY_MAX,
               "the 413 details name the limits");

static const char *const event_keys[]
  = { "event_id", "seq",      "time", "user", "session", "surface",        "action",
      "resource", "decision", "mode", "rule", "reason",  "bundle_version", NULL };

/** The parsed batch: events for db/event.h and the JSON texts they borrow. */
struct batch
{
  size_t n;
  struct db_event *events; /* owned, n */
  char **texts;            /* owned, 3 per event: session, resource, rule (or NULL) */
  int64_t *days;           /* owned: distinct UTC days of the events */
  size_t ndays;
  int64_t now_us;
  int64_t oldest_us; /* now - retention */
  unsigned long retention_days;
  const char *agent_user;  /* the credential's user id, or NULL for a userless agent */
  bool oom;
};

static void
batch_free (struct batch *b)
{
  for (size_t i = 0; NULL != b->texts && i < 3 * b->n; i++)
    free (b->texts[i]);
  free (b->texts);
  free (b->events);
  free (b->days);
}

/* ---- field checks, each reporting at base "/" key ---- */

/* A string member of 1..@a max bytes without control characters; NULL when absent or bad. */
static const char *
text_member (struct bw_errors *e, const json_t *obj, const char *key, bool required, size_t max,
             const char *base)
{
  const char *s = bw_errors_string (e, obj, key, required, max, base);
  if (NULL == s)
    return NULL;
  enum bw_text_fault f = bw_text_check (s, strlen (s));
  if (BW_TEXT_INVALID_UTF8 == f || BW_TEXT_CONTROL == f)
    {
      bw_errors_add (e, bw_text_fault_message (f), "%s/%s", base, key);
      return NULL;
    }
  return s;
}

/* An object member (absent: NULL; JSON null: NULL when @a nullable, else an error). */
static const json_t *
object_member (struct bw_errors *e, const json_t *obj, const char *key, bool required,
               bool nullable, const char *base)
{
  const json_t *v = json_object_get (obj, key);
  if (NULL == v || (nullable && json_is_null (v)))
    {
      if (NULL == v && required)
        bw_errors_add (e, "is required", "%s/%s", base, key);
      return NULL;
    }
  if (!json_is_object (v))
    {
      bw_errors_add (e, nullable ? "must be an object or null" : "must be an object", "%s/%s", base,
                     key);
      return NULL;
    }
  return v;
}

/* An integer member in @a min..@a max.  @return true and *out, or false (reported). */
static bool
int_member (struct bw_errors *e, const json_t *obj, const char *key, json_int_t min, json_int_t max,
            const char *msg, const char *base, json_int_t *out)
{
  const json_t *v = json_object_get (obj, key);
  if (NULL == v)
    {
      bw_errors_add (e, "is required", "%s/%s", base, key);
      return false;
    }
  if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max)
    {
      bw_errors_add (e, msg, "%s/%s", base, key);
      return false;
    }
  *out = json_integer_value (v);
  return true;
}

/* One of the NULL-terminated @a words; NULL when absent or not one of them (reported). */
static const char *
word_member (struct bw_errors *e, const json_t *obj, const char *key, const char *const *words,
             const char *msg, const char *base)
{
  const char *s = bw_errors_string (e, obj, key, true, EVENT_WORD_MAX, base);
  if (NULL == s)
    return NULL;
  for (size_t i = 0; NULL != words[i]; i++)
    if (0 == strcmp (s, words[i]))
      return words[i];
  bw_errors_add (e, msg, "%s/%s", base, key);
  return NULL;
}

static bool
uuid_text (const char *s, char out[BW_UUID_LEN + 1])
{
  if (strlen (s) != BW_UUID_LEN)
    return false;
  memcpy (out, s, BW_UUID_LEN + 1);
  bw_uuid_canonicalize (out);
  return bw_uuid_valid (out);
}

/*
 * A host as the decision request named it (DESIGN §4): a name of ASCII
 * letters, digits, '-', '_' and '.' (A-labels for internationalized
 * names), or an IP address, IPv6 bare or in brackets.
 */
static bool
host_ok (const char *s)
{
  size_t len = strlen (s);
  struct bw_ip ip;
  if (len >= 2 && '[' == s[0] && ']' == s[len - 1])
    return NULL == bw_ip_parse (s + 1, len - 2, &ip);
  if (NULL != strchr (s, ':'))
    return NULL == bw_ip_parse (s, len, &ip);
  for (const char *p = s; '\0' != *p; p++)
    if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9')
          || '-' == *p || '_' == *p || '.' == *p))
      return false;
  return true;
}

/* Exactly one of @a a and @a b in @a obj; reports otherwise.  @return the one given, or NULL. */
static const char *
one_of (struct bw_errors *e, const json_t *obj, const char *a, const char *b, const char *base)
{
  bool has_a = NULL != json_object_get (obj, a);
  bool has_b = NULL != json_object_get (obj, b);
  if (has_a && has_b)
    bw_errors_add (e, "give only one of the two", "%s/%s", base, b);
  else if (!has_a && !has_b)
    {
      char msg[64];
      snprintf (msg, sizeof (msg), "is required (or \"%s\")", b);
      bw_errors_add (e, msg, "%s/%s", base, a);
    }
  else
    return has_a ? a : b;
  return NULL;
}

static void
host_member (struct bw_errors *e, const json_t *res, const char *base)
{
  const char *h = text_member (e, res, "host", true, EVENT_HOST_MAX, base);
  if (NULL != h && !host_ok (h))
    bw_errors_add (e, "must be a host name (ASCII letters, digits, '-', '_', '.') or an IP address",
                   "%s/host", base);
}

/* ---- resources per surface (DESIGN §4 "Decision requests") ---- */

static void
resource_network (struct bw_errors *e, const char *action, const json_t *res, const char *base)
{
  static const char *const keys[] = { "host", "ip", "port", NULL };
  json_int_t port;
  if (0 != strcmp (action, "connect"))
    bw_errors_add (e, "must be \"connect\" for the network surface", "/action");
  bw_errors_check_keys (e, res, keys, base);
  const char *which = one_of (e, res, "host", "ip", base);
  if (NULL != which && 0 == strcmp (which, "host"))
    host_member (e, res, base);
  else if (NULL != which)
    {
      struct bw_ip ip;
      const char *s = bw_errors_string (e, res, "ip", true, BW_IP_TEXT_MAX, base);
      const char *err = (NULL != s) ? bw_ip_parse (s, strlen (s), &ip) : NULL;
      if (NULL != err)
        bw_errors_add (e, err, "%s/ip", base);
    }
  int_member (e, res, "port", 1, 65535, "must be an integer 1..65535", base, &port);
}

static void
resource_filesystem (struct bw_errors *e, const char *action, const json_t *res, const char *base)
{
  static const char *const keys[] = { "path", "access", NULL };
  bool read = 0 == strcmp (action, "read");
  bool write = 0 == strcmp (action, "write");
  if (!read && !write)
    bw_errors_add (e, "must be \"read\" or \"write\" for the filesystem surface", "/action");
  bw_errors_check_keys (e, res, keys, base);
  bw_errors_string (e, res, "path", true, EVENT_PATH_MAX, base);
  const char *access = bw_errors_string (e, res, "access", false, EVENT_WORD_MAX, base);
  if (NULL != access && (read || write) && 0 != strcmp (access, action))
    bw_errors_add (e, "must be the same as the action", "%s/access", base);
  else if (NULL != access && 0 != strcmp (access, "read") && 0 != strcmp (access, "write"))
    bw_errors_add (e, "must be \"read\" or \"write\"", "%s/access", base);
}

static void
identity (struct bw_errors *e, const json_t *res, const char *base)
{
  static const char *const keys[]
    = { "image_digest", "url", "registry_type", "package", "version", "sha256", NULL };
  char ibase[BW_POINTER_MAX];
  const json_t *id = object_member (e, res, "identity", false, false, base);
  if (NULL == id)
    return;
  snprintf (ibase, sizeof (ibase), "%s/identity", base);
  bw_errors_check_keys (e, id, keys, ibase);
  for (size_t i = 0; NULL != keys[i]; i++)
    text_member (e, id, keys[i], false, EVENT_IDENTITY_TEXT_MAX, ibase);
  int kinds = (NULL != json_object_get (id, "image_digest")) + (NULL != json_object_get (id, "url"))
              + (NULL != json_object_get (id, "package"));
  if (1 != kinds)
    bw_errors_add (e, "give exactly one of \"image_digest\", \"url\" or \"package\"", "%s", ibase);
  /* a package's registry is part of its identity, as in a decision request */
  bool package = NULL != json_object_get (id, "package");
  if (package != (NULL != json_object_get (id, "registry_type")))
    bw_errors_add (e, package ? "is required with \"package\"" : "only goes with \"package\"",
                   "%s/registry_type", ibase);
}

static void
resource_credentials (struct bw_errors *e, const char *action, const json_t *res, const char *base)
{
  static const char *const keys[] = { "credential", "host", "mcp_server", "identity", NULL };
  if (0 != strcmp (action, "use"))
    bw_errors_add (e, "must be \"use\" for the credentials surface", "/action");
  bw_errors_check_keys (e, res, keys, base);
  text_member (e, res, "credential", true, EVENT_CREDENTIAL_MAX, base);
  const char *which = one_of (e, res, "host", "mcp_server", base);
  if (NULL != which && 0 == strcmp (which, "host"))
    host_member (e, res, base);
  else if (NULL != which)
    text_member (e, res, "mcp_server", true, EVENT_MCP_NAME_MAX, base);
  if (NULL != which && 0 == strcmp (which, "host") && NULL != json_object_get (res, "identity"))
    bw_errors_add (e, "only goes with \"mcp_server\"", "%s/identity", base);
  else
    identity (e, res, base); /* the process the credential went to */
}

static void
resource_mcp (struct bw_errors *e, const char *action, const json_t *res, const char *base)
{
  static const char *const keys[] = { "server", "tool", "identity", NULL };
  static const char *const actions[]
    = { "invoke_tool", "register", "read_resource", "get_prompt", "list_tools", NULL };
  bool known = false;
  for (size_t i = 0; NULL != actions[i]; i++)
    known = known || 0 == strcmp (action, actions[i]);
  if (!known)
    bw_errors_add (e,
                   "must be \"invoke_tool\", \"register\", \"read_resource\", \"get_prompt\" or "
                   "\"list_tools\" for the mcp surface",
                   "/action");
  bw_errors_check_keys (e, res, keys, base);
  text_member (e, res, "server", true, EVENT_MCP_NAME_MAX, base);
  bool invoke = 0 == strcmp (action, "invoke_tool");
  if (known && !invoke && NULL != json_object_get (res, "tool"))
    bw_errors_add (e, "only goes with the action \"invoke_tool\"", "%s/tool", base);
  else
    text_member (e, res, "tool", invoke, EVENT_MCP_NAME_MAX, base);
  identity (e, res, base);
}

/* ---- one event ---- */

/* Microseconds since the epoch of @a s, which bw_rfc3339_valid accepted. */
static int64_t
time_us (const char *s)
{
#define DIGITS2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
  struct tm tm = {
    .tm_year = DIGITS2 (s) * 100 + DIGITS2 (s + 2) - 1900,
    .tm_mon = DIGITS2 (s + 5) - 1,
    .tm_mday = DIGITS2 (s + 8),
    .tm_hour = DIGITS2 (s + 11),
    .tm_min = DIGITS2 (s + 14),
    .tm_sec = DIGITS2 (s + 17), /* a leap second 60 rolls over, as in PostgreSQL */
  };
  int64_t secs = (int64_t) timegm (&tm);
  const char *p = s + 19;
  int64_t frac = 0;
  int digits = 0;
  if ('.' == *p)
    for (p++; '0' <= *p && *p <= '9'; p++)
      if (digits < 6) /* finer than a microsecond: cut */
        {
          frac = frac * 10 + (*p - '0');
          digits++;
        }
  for (; digits < 6; digits++)
    frac *= 10;
  if ('+' == *p || '-' == *p)
    {
      int64_t off = (int64_t) (DIGITS2 (p + 1) * 60 + DIGITS2 (p + 4)) * 60;
      secs += ('+' == *p) ? -off : off;
    }
#undef DIGITS2
  return secs * US_PER_S + frac;
}

/* @a us as DB_EVENT_TIME_SIZE text (see db/event.h). */
static void
time_text (int64_t us, char out[DB_EVENT_TIME_SIZE])
{
  time_t secs = (time_t) (us / US_PER_S);
  struct tm tm;
  char text[64]; /* room for any int the compiler imagines; real times take 27 bytes */
  gmtime_r (&secs, &tm);
  snprintf (text, sizeof (text), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (us % US_PER_S));
  snprintf (out, DB_EVENT_TIME_SIZE, "%.*s", DB_EVENT_TIME_SIZE - 1, text);
}

/* Compact JSON text of @a v (borrowed), kept in *slot; NULL for NULL. */
static const char *
keep_json (struct batch *b, const json_t *v, char **slot)
{
  if (NULL == v)
    return NULL;
  *slot = json_dumps (v, JSON_COMPACT); /* jsonb orders the keys itself */
  if (NULL == *slot)
    b->oom = true;
  return *slot;
}

/* Remember the UTC day of @a us (a short linear list: a batch spans a day or two). */
static void
note_day (struct batch *b, int64_t us)
{
  int64_t day = us / US_PER_DAY;
  for (size_t i = 0; i < b->ndays; i++)
    if (b->days[i] == day)
      return;
  b->days[b->ndays++] = day;
}

static void
event_time (struct batch *b, struct bw_errors *e, const json_t *ev, struct db_event *out)
{
  const char *t = bw_errors_string (e, ev, "time", true, BW_RFC3339_MAX, "");
  if (NULL == t)
    return;
  if (!bw_rfc3339_valid (t))
    {
      bw_errors_add (e, "must be an RFC 3339 date-time, e.g. 2026-11-29T12:00:00.123Z", "/time");
      return;
    }
  int64_t us = time_us (t);
  char msg[96];
  if (us > b->now_us + BW_EVENT_FUTURE_MAX_S * US_PER_S)
    bw_errors_add (e, "must not lie more than 1 day in the future (check the clock)", "/time");
  else if (us < b->oldest_us)
    {
      snprintf (msg, sizeof (msg), "is older than the retention of %lu days", b->retention_days);
      bw_errors_add (e, msg, "/time");
    }
  else
    {
      time_text (us, out->time);
      note_day (b, us);
    }
}

static void
event_rule (struct bw_errors *e, const json_t *ev, const char *reason)
{
  static const char *const keys[] = { "policy_id", "revision", "rule_id", NULL };
  const json_t *rule = object_member (e, ev, "rule", false, true, "");
  json_int_t revision;
  char id[BW_UUID_LEN + 1];
  if (NULL == rule)
    {
      if (NULL != reason && 0 == strcmp (reason, "rule"))
        bw_errors_add (e, "is required when the reason is \"rule\"", "/rule");
      return;
    }
  bw_errors_check_keys (e, rule, keys, "/rule");
  const char *pid = bw_errors_string (e, rule, "policy_id", true, BW_UUID_LEN, "/rule");
  if (NULL != pid && !uuid_text (pid, id))
    bw_errors_add (e, "must be a uuid", "/rule/policy_id");
  int_member (e, rule, "revision", 1, EVENT_SEQ_MAX, "must be an integer >= 1", "/rule", &revision);
  text_member (e, rule, "rule_id", true, EVENT_RULE_ID_MAX, "/rule");
}

static void
event_session (struct bw_errors *e, const json_t *ev)
{
  static const char *const keys[] = { "id", "agent", "client", NULL };
  const json_t *session = object_member (e, ev, "session", false, true, "");
  if (NULL == session)
    return;
  bw_errors_check_keys (e, session, keys, "/session");
  for (size_t i = 0; NULL != keys[i]; i++)
    text_member (e, session, keys[i], false, EVENT_SESSION_TEXT_MAX, "/session");
}

/* Parse event @a i into b->events[i]; errors to @a errors. */
static void
event_parse (struct batch *b, size_t i, const json_t *ev, json_t *errors)
{
  static const char *const surfaces[] = { "network", "filesystem", "credentials", "mcp", NULL };
  static const char *const decisions[] = { "allow", "deny", "require_approval", NULL };
  static const char *const modes[] = { "enforce", "audit", NULL };
  static const char *const reasons[] = { "rule", "default", "policy_error", "catalog", NULL };
  struct db_event *out = &b->events[i];
  char prefix[PREFIX_MAX];
  struct bw_errors e;
  json_int_t v;

  snprintf (prefix, sizeof (prefix), "/events/%zu", i);
  bw_errors_init (&e, errors, prefix);
  if (!json_is_object (ev))
    {
      bw_errors_add (&e, "an event must be a JSON object", "%s", "");
      return;
    }
  bw_errors_check_keys (&e, ev, event_keys, "");

  const char *id = bw_errors_string (&e, ev, "event_id", true, BW_UUID_LEN, "");
  if (NULL != id
      && (!uuid_text (id, out->event_id) || '7' != out->event_id[14]
          || NULL == strchr ("89ab", out->event_id[19])))
    bw_errors_add (&e, "must be a UUIDv7 (RFC 9562 §5.7)", "/event_id");
  if (int_member (&e, ev, "seq", 1, EVENT_SEQ_MAX, "must be an integer from 1 to 2^53 - 1", "", &v))
    out->seq = (int64_t) v;
  event_time (b, &e, ev, out);

  /* Who comes from the credential (DESIGN §7): an agent enrolled for a user speaks for that
     user only, and its events carry that user's id; a userless agent may name the local
     account it saw, kept apart as reported_user so it never passes for a verified user. */
  const json_t *user = json_object_get (ev, "user");
  const char *named = NULL;
  if (NULL != user && !json_is_null (user))
    named = text_member (&e, ev, "user", false, EVENT_USER_MAX, "");
  if (NULL == b->agent_user)
    out->reported_user = named;
  else if (NULL == named || 0 == strcmp (named, b->agent_user))
    out->user = b->agent_user;
  else
    bw_errors_add (&e, "must be the agent's own user (or null)", "/user");
  event_session (&e, ev);

  out->surface
    = word_member (&e, ev, "surface", surfaces,
                   "must be \"network\", \"filesystem\", \"credentials\" or \"mcp\"", "");
  out->action = bw_errors_string (&e, ev, "action", true, EVENT_WORD_MAX, "");
  const json_t *res = object_member (&e, ev, "resource", true, false, "");
  if (NULL != out->surface && NULL != out->action && NULL != res)
    {
      if (0 == strcmp (out->surface, "network"))
        resource_network (&e, out->action, res, "/resource");
      else if (0 == strcmp (out->surface, "filesystem"))
        resource_filesystem (&e, out->action, res, "/resource");
      else if (0 == strcmp (out->surface, "credentials"))
        resource_credentials (&e, out->action, res, "/resource");
      else
        resource_mcp (&e, out->action, res, "/resource");
    }
  out->decision = word_member (&e, ev, "decision", decisions,
                               "must be \"allow\", \"deny\" or \"require_approval\"", "");
  out->mode = word_member (&e, ev, "mode", modes, "must be \"enforce\" or \"audit\"", "");
  out->reason = word_member (&e, ev, "reason", reasons,
                             "must be \"rule\", \"default\", \"policy_error\" or \"catalog\"", "");
  event_rule (&e, ev, out->reason);
  if (int_member (&e, ev, "bundle_version", 0, INT64_MAX, "must be an integer >= 0", "", &v))
    out->bundle_version = (int64_t) v;
  if (e.failed)
    return;
  out->session
    = keep_json (b, object_member (&e, ev, "session", false, true, ""), &b->texts[3 * i]);
  out->resource = keep_json (b, res, &b->texts[3 * i + 1]);
  out->rule = keep_json (b, object_member (&e, ev, "rule", false, true, ""), &b->texts[3 * i + 2]);
}

/* ---- POST /api/v1/agent/events ---- */

static enum bw_step
too_large (struct bw_request *rq, const char *detail)
{
  return bw_reply_problem (rq, BW_E_PAYLOAD_TOO_LARGE, detail, NULL);
}

static json_t *
intake_json (const struct db_event_intake *r)
{
  json_t *gaps = json_array ();
  for (size_t i = 0; NULL != gaps && i < r->ngaps; i++)
    if (0
        != json_array_append_new (gaps, json_pack ("{s:I, s:I}", "from_seq",
                                                   (json_int_t) r->gaps[i].from_seq, "to_seq",
                                                   (json_int_t) r->gaps[i].to_seq)))
      {
        json_decref (gaps);
        gaps = NULL;
      }
  if (NULL == gaps)
    return NULL;
  return json_pack ("{s:I, s:I, s:o}", "accepted", (json_int_t) r->accepted, "duplicates",
                    (json_int_t) r->duplicates, "gaps", gaps);
}

enum bw_step
api_agent_events (struct bw_request *rq)
{
  const json_t *events = NULL;
  const struct bw_field fields[] = {
    { .name = "events", .type = BW_FIELD_ARRAY, .required = true, .out = &events },
  };
  if (rq->body_len > BW_EVENTS_BODY_MAX)
    return too_large (rq, "a batch is at most 1048576 bytes (after gzip decoding): split it");
  if (BW_PRINCIPAL_AGENT != rq->principal.kind)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL); /* the route table says agent */
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  size_t n = json_array_size (events);
  if (n > BW_EVENTS_BATCH_MAX)
    return too_large (rq, "a batch holds at most 1000 events: split it");
  if (0 == n)
    return bw_reply_invalid (rq, "/events", "must hold 1 to 1000 events");

  struct batch b = { .n = n, .retention_days = bw_event_retention_days () };
  b.now_us = bw_realtime_us ();
  b.agent_user = rq->principal.agent_has_user ? rq->principal.subject_id : NULL;
  b.oldest_us = b.now_us - (int64_t) b.retention_days * US_PER_DAY;
  b.events = calloc (n, sizeof (*b.events));
  b.texts = calloc (3 * n, sizeof (*b.texts));
  b.days = calloc (n, sizeof (*b.days));
  json_t *errors = json_array ();
  struct db_event_intake result = { 0 };
  enum bw_step step;
  enum db_qs qs;
  if (NULL == b.events || NULL == b.texts || NULL == b.days || NULL == errors)
    {
      step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      goto cleanup;
    }
  /* past what one problem can list, further events are not looked at */
  for (size_t i = 0; i < n && !b.oom && json_array_size (errors) <= BW_PROBLEM_ERRORS_MAX; i++)
    event_parse (&b, i, json_array_get (events, i), errors);
  if (json_array_size (errors) > 0)
    {
      char detail[80];
      if (json_array_size (errors) > BW_PROBLEM_ERRORS_MAX)
        snprintf (detail, sizeof (detail),
                  "the batch is refused: more than %d errors, nothing was stored",
                  BW_PROBLEM_ERRORS_MAX);
      else
        snprintf (detail, sizeof (detail), "the batch is refused: %zu error%s, nothing was stored",
                  json_array_size (errors), (1 == json_array_size (errors)) ? "" : "s");
      step = bw_reply_problem (rq, BW_E_VALIDATION, detail, errors);
      errors = NULL; /* stolen */
      goto cleanup;
    }
  if (b.oom)
    {
      step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      goto cleanup;
    }
  qs = bw_event_partitions_ensure (b.days, b.ndays);
  if (qs >= 0)
    qs = db_event_intake (rq->principal.org_id, rq->principal.agent_id, b.events, n, &result);
  if (DB_QS_HARD_ERROR == qs)
    bw_event_partitions_forget (b.days, b.ndays); /* a partition dropped behind our back? */
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 == qs) /* deleted since it authenticated */
    step = bw_reply_problem_ext (rq, BW_E_AUTH_REQUIRED,
                                 "unknown or deleted agent credential: enroll again", NULL,
                                 json_pack ("{s:b}", "node_invalid", 1));
  else
    step = bw_reply_json (rq, 202, intake_json (&result), NULL, 0);
cleanup:
  db_event_intake_clear (&result);
  json_decref (errors);
  batch_free (&b);
  return step;
}
