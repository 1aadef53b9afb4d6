/*
 * The check-in loop (DESIGN §6), the heart of the agent.
 *
 * One iteration:
 *   0. Load the active bundle from disk and verify it again (agent/state.h):
 *      a file damaged or edited while we ran is not enforced, not reported
 *      as held, and is fetched afresh; last_error says "state:damaged".
 *   1. POST /api/v1/agent/checkin with what we enforce and how we fare
 *      (long-poll with `Prefer: wait=N`: the server answers when the
 *      subject's head changes, or after N seconds).
 *   2. On 200, verify and apply, in the order DESIGN §6 fixes:
 *        a. fix the time once (every expiry check below uses it);
 *        b. walk keysets N+1, N+2, ... up to the announced version, each
 *           signed by the keys of the one before it (lib/keyset.h);
 *        c. verify the head against the current keyset and the last head
 *           we accepted: alg pinned (the header's alg is never trusted),
 *           sub = our org, aud = our subject, not expired, serial and
 *           version never lower, same version never another hash;
 *        d. if the head names other bytes than ours: fetch at most
 *           `length` bytes, check sha256, parse;
 *        e. persist the exact bytes, then the head (write, fsync, rename,
 *           fsync dir) — renaming the head is the swap.
 *      Any failure keeps the last good bundle and becomes last_error,
 *      reported in the next check-in.  The server's `state` and `url` are
 *      hints: what to fetch follows from the verified head alone.
 *   3. Upload spooled events (agent/spool.h).
 *   4. Wait: nothing when the server held a long-poll (so a change reaches
 *      us at once) or when we just applied one (so the fleet view learns
 *      it at once); the reply's interval + random jitter otherwise; and by
 *      status code on errors: 401 node_invalid and 403 stop the loop, 429
 *      and 503 honour Retry-After, other 5xx and network errors back off
 *      exponentially with jitter.
 *      The first check-in of a loop, and the first after an error, does
 *      not long-poll: status.json (and the fleet view) learn at once where
 *      the agent stands, rather than when nothing has changed for a minute.
 *
 * 401 node_invalid means the credential is dead (the agent deleted, its
 * user deactivated or deleted, its org deleted): the agent is "revoked" —
 * the active bundle is dropped, so `check` denies, and `run` refuses to
 * start until `enroll` — rather than enforce allow rules nobody maintains
 * any more.  403 (disabled) only stops updates: the last good bundle stays
 * in force.
 *
 * last_error names (stable, short): "keyset:<lib/keyset.h name>",
 * "keyset:lower_version", "keyset:http_<status>", "head:<lib/bundle_head.h
 * or lib/jws.h name>" (e.g. "head:lower_serial", "head:bad_alg"),
 * "bundle:http_<status>", "bundle:too_large", "bundle:length",
 * "bundle:sha256", "bundle:parse", "bundle:mismatch", "checkin:malformed",
 * "state:io", "state:damaged" (the stored head, bundle or a later keyset
 * does not verify: fetched again), "keyset:damaged" (the enrollment keyset
 * does not verify: enroll again), "events:spool_damaged" (a damaged event
 * spool was moved aside, agent/spool.h), "network" (a download failed in
 * transit).
 */
#include "config.h"
#include "agent/sync.h"

#include "agent/http.h"
#include "agent/spool.h"
#include "agent/state.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/** Seconds a check-in may take beyond its long-poll. */
#define CHECKIN_SLACK_S 30
/** Seconds a keyset or bundle download may take. */
#define DOWNLOAD_TIMEOUT_S 120
/** Backoff after errors: first step and cap, seconds. */
#define BACKOFF_BASE_S 1
#define BACKOFF_CAP_S 300
/** Interval and jitter used until a server said otherwise, seconds. */
#define INTERVAL_DEFAULT_S 60
#define JITTER_DEFAULT_S 10
/** Bounds put on the server's interval and jitter, seconds. */
#define INTERVAL_MAX_S 86400
#define JITTER_MAX_S 3600
/** Most keyset versions walked in one check-in (the rest follow next time). */
#define KEYSET_STEPS_MAX 64
/** Events per batch until a bundle says otherwise. */
#define EVENTS_BATCH_DEFAULT 500
/** Most random delay before re-polling after a held long-poll, milliseconds. */
#define REPOLL_SPREAD_MS 250

/* Set by SIGINT/SIGTERM; polled by libcurl transfers and the waits. */
static volatile sig_atomic_t stop_flag;

static void
on_signal (int sig)
{
  (void) sig;
  stop_flag = 1;
}

/* Everything one running loop holds. */
struct loop
{
  const char *dir;
  struct ag_identity id;
  struct ag_http *http;
  struct ag_keysets ks;    /* verified chain; the current one verifies heads */
  struct ag_active active; /* bundle NULL: none */
  struct ag_status status;
  unsigned interval_s, jitter_s;
  unsigned failures; /* consecutive, for the backoff */
  int lock;          /* run.lock, held while the loop runs; -1 none */
  bool spool_damage; /* this check-in reports events:spool_damaged */
  char
    transient[200]; /* this iteration's network or status error ("" none); logged, not reported */
};

/* What one check-in came to. */
enum outcome
{
  OUT_CURRENT,  /* nothing new (or a held long-poll ended) */
  OUT_APPLIED,  /* a new head (and bundle) is active */
  OUT_REFUSED,  /* something failed verification or download: last good kept */
  OUT_RETRY,    /* network, 5xx, 429, other status: back off */
  OUT_REENROLL, /* 401 node_invalid */
  OUT_DISABLED, /* 403 */
  OUT_STOPPED,  /* a signal */
};

/* ---- helpers ---- */

static uint32_t
random_below (uint32_t n)
{
  uint32_t r = 0;
  if (0 == n)
    return 0;
  (void) bw_random (&r, sizeof (r));
  return r % n;
}

/* Sleep @ms, cut short by a signal.  Returns false when stopped. */
static bool
nap_ms (uint64_t ms)
{
  struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000 };
  while (!stop_flag && 0 != nanosleep (&ts, &ts) && EINTR == errno)
    ;
  return !stop_flag;
}

/* Exponential backoff with jitter: half of min(cap, base * 2^n) plus a random other half. */
static uint64_t
backoff_ms (unsigned failures)
{
  uint64_t cap = (uint64_t) BACKOFF_CAP_S * 1000, d = (uint64_t) BACKOFF_BASE_S * 1000;
  for (unsigned i = 0; i < failures && d < cap; i++)
    d *= 2;
  if (d > cap)
    d = cap;
  return d / 2 + random_below ((uint32_t) (d / 2 + 1));
}

static void
set_error (struct loop *l, const char *fmt, const char *a)
{
  snprintf (l->status.last_error, sizeof (l->status.last_error), fmt, a);
  json_t *f = json_pack ("{s:s}", "last_error", l->status.last_error);
  bw_log_json (BW_LOG_WARN, "refused; keeping the last good bundle", f);
}

static bool
is_stale (const struct loop *l, int64_t now)
{
  return NULL != l->active.bundle && now >= l->active.head.exp;
}

/* ---- the check-in request ---- */

static char *
checkin_body (struct loop *l)
{
  struct ag_spool_counts c;
  if (0 != ag_spool_counts (l->dir, &c))
    memset (&c, 0, sizeof (c));
  /* A spool moved aside is reported once, unless something else is being reported. */
  l->spool_damage = c.damaged
                    && ('\0' == l->status.last_error[0]
                        || 0 == strcmp (l->status.last_error, "events:spool_damaged"));
  if (l->spool_damage)
    snprintf (l->status.last_error, sizeof (l->status.last_error), "events:spool_damaged");
  /* keyset_version 1 when even the enrollment keyset does not verify (a report, no claim). */
  const struct bw_keyset *ks = ag_keysets_current (&l->ks);
  json_t *bundle = json_null ();
  if (NULL != l->active.bundle)
    bundle = json_pack ("{s:I, s:s, s:I}", "version", (json_int_t) l->active.head.bundle_version,
                        "sha256", l->active.head.sha256, "head_serial",
                        (json_int_t) l->active.head.head_serial);
  json_t *j = json_pack (
    "{s:s, s:I, s:o, s:o, s:b, s:{s:I, s:I, s:I}}", "agent_version", PACKAGE_VERSION,
    "keyset_version", (json_int_t) (NULL != ks ? bw_keyset_version (ks) : 1), "bundle", bundle,
    "last_error", l->status.last_error[0] ? json_string (l->status.last_error) : json_null (),
    "stale", is_stale (l, (int64_t) time (NULL)), "events", "spooled", (json_int_t) c.spooled,
    "dropped", (json_int_t) c.dropped, "last_seq", (json_int_t) c.last_seq);
  if (NULL == j)
    return NULL;
  char *s = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  return s;
}

/* ---- keysets (step b) ---- */

static bool
advance_keysets (struct loop *l, uint64_t target)
{
  uint64_t have = bw_keyset_version (ag_keysets_current (&l->ks));
  if (target < have)
    {
      /* A server restored from an old backup, or someone replaying: never go back. */
      set_error (l, "keyset:%s", "lower_version");
      return false;
    }
  for (unsigned steps = 0; have < target && steps < KEYSET_STEPS_MAX; steps++)
    {
      char path[96], err[160];
      snprintf (path, sizeof (path), "/api/v1/agent/keysets/%" PRIu64, have + 1);
      struct ag_http_request rq = {
        .method = "GET", .path = path, .max_bytes = AG_KEYSET_MAX, .timeout_s = DOWNLOAD_TIMEOUT_S
      };
      struct ag_http_response rs;
      if (0 != ag_http_do (l->http, &rq, &rs, err, sizeof (err)))
        {
          set_error (l, "keyset:%s", 0 == strcmp (err, "too_large") ? "too_large" : "network");
          return false;
        }
      if (200 != rs.status)
        {
          char code[16];
          snprintf (code, sizeof (code), "http_%ld", rs.status);
          set_error (l, "keyset:%s", code);
          ag_http_response_clear (&rs);
          return false;
        }
      json_t *doc = json_loadb (rs.body, rs.len, JSON_REJECT_DUPLICATES, NULL);
      struct bw_keyset *next = NULL;
      enum bw_keyset_error e = NULL == doc
                                 ? BW_KEYSET_MALFORMED
                                 : bw_keyset_advance (ag_keysets_current (&l->ks), doc, &next);
      json_decref (doc);
      if (BW_KEYSET_OK != e)
        {
          ag_http_response_clear (&rs);
          set_error (l, "keyset:%s", bw_keyset_error_name (e));
          return false;
        }
      /* Persist each step, so a crash midway resumes from the last one trusted. */
      have = bw_keyset_version (next);
      int r = ag_keysets_append (l->dir, &l->ks, rs.body, rs.len, next);
      ag_http_response_clear (&rs);
      if (0 != r)
        {
          set_error (l, "%s", "state:io");
          return false;
        }
      json_t *f = json_pack ("{s:I}", "keyset_version", (json_int_t) have);
      bw_log_json (BW_LOG_INFO, "keyset advanced", f);
    }
  return true;
}

/* ---- bundle bytes (step d) ---- */

static bool
fetch_bundle (struct loop *l, const struct bw_head_claims *h, char **bytes)
{
  char path[128], err[160], sha[BW_SHA256_HEX_LEN + 1], why[128];
  *bytes = NULL;
  if (h->length > BW_BUNDLE_MAX)
    {
      set_error (l, "bundle:%s", "too_large");
      return false;
    }
  /* The signed sha256 names the content; the reply's unsigned url adds nothing to trust. */
  snprintf (path, sizeof (path), "/api/v1/agent/bundles/%s", h->sha256);
  struct ag_http_request rq = {
    .method = "GET", .path = path, .max_bytes = (size_t) h->length, .timeout_s = DOWNLOAD_TIMEOUT_S
  };
  struct ag_http_response rs;
  if (0 != ag_http_do (l->http, &rq, &rs, err, sizeof (err)))
    {
      set_error (l, "bundle:%s", 0 == strcmp (err, "too_large") ? "too_large" : "network");
      return false;
    }
  const char *fail = NULL;
  char code[16];
  struct bw_bundle *b = NULL;
  if (200 != rs.status)
    {
      snprintf (code, sizeof (code), "http_%ld", rs.status);
      fail = code;
    }
  else if (rs.len != h->length)
    fail = "length";
  else
    {
      bw_sha256_hex (rs.body, rs.len, sha);
      if (!bw_consttime_eq (sha, h->sha256, BW_SHA256_HEX_LEN))
        fail = "sha256";
      else if (NULL == (b = bw_bundle_parse (rs.body, rs.len, why, sizeof (why))))
        fail = "parse";
      else if (0 != strcmp (b->org, h->sub) || b->version != h->bundle_version)
        fail = "mismatch"; /* signed bytes that contradict their own head */
    }
  if (NULL != fail)
    {
      bw_bundle_free (b);
      ag_http_response_clear (&rs);
      set_error (l, "bundle:%s", fail);
      return false;
    }
  bw_bundle_free (b); /* loaded again from disk by ag_active_load, one code path */
  *bytes = rs.body;
  rs.body = NULL;
  ag_http_response_clear (&rs);
  return true;
}

/* ---- one reply (steps a-e) ---- */

static const char *
head_error (enum bw_head_error e, enum bw_jws_error je)
{
  return BW_HEAD_BAD_JWS == e ? bw_jws_error_name (je) : bw_head_error_name (e);
}

static enum outcome
apply (struct loop *l, const json_t *reply, const char **state_out /* set to a literal */)
{
  const int64_t now = (int64_t) time (NULL); /* a: the one clock reading of this check-in */
  const json_t *b = json_object_get (reply, "bundle");
  const json_t *ci = json_object_get (reply, "checkin");
  const char *state = json_string_value (json_object_get (b, "state"));
  const json_t *ksv = json_object_get (reply, "keyset_version");
  *state_out = "error";

  if (NULL == state || !json_is_integer (ksv) || json_integer_value (ksv) < 1)
    {
      set_error (l, "%s", "checkin:malformed");
      return OUT_REFUSED;
    }
  json_int_t iv = json_integer_value (json_object_get (ci, "interval_s"));
  json_int_t jv = json_integer_value (json_object_get (ci, "jitter_s"));
  if (iv >= 1 && iv <= INTERVAL_MAX_S)
    l->interval_s = (unsigned) iv;
  if (jv >= 0 && jv <= JITTER_MAX_S)
    l->jitter_s = (unsigned) jv;

  /* b: keysets first, so a head signed by a new key verifies. */
  if (!advance_keysets (l, (uint64_t) json_integer_value (ksv)))
    return OUT_REFUSED;

  if (0 == strcmp (state, "current"))
    {
      *state_out = "current"; /* a literal: the reply is freed before the summary */
      l->status.last_error[0] = '\0';
      return OUT_CURRENT;
    }
  const char *jws = json_string_value (json_object_get (b, "head"));
  if ((0 != strcmp (state, "refresh") && 0 != strcmp (state, "update")) || NULL == jws)
    {
      set_error (l, "%s", "checkin:malformed");
      return OUT_REFUSED;
    }

  /* c: the head, against the keyset and the last head accepted. */
  bool have = NULL != l->active.bundle;
  struct bw_head_expect ex = {
    .org_id = l->id.org_id,
    .subject_id = l->id.subject_id,
    .now = now,
    .have_last = have,
    .last_bundle_version = have ? l->active.head.bundle_version : 0,
    .last_head_serial = have ? l->active.head.head_serial : 0,
    .last_sha256 = have ? l->active.head.sha256 : NULL,
  };
  struct bw_head_claims claims;
  enum bw_jws_error je = BW_JWS_OK;
  enum bw_head_error he = bw_head_verify (jws, ag_keysets_current (&l->ks), &ex, &claims, &je);
  if (BW_HEAD_OK != he)
    {
      set_error (l, "head:%s", head_error (he, je));
      return OUT_REFUSED;
    }
  if (have && claims.head_serial == l->active.head.head_serial)
    {
      /* The very head we hold (verify checked version and hash match): nothing to do. */
      *state_out = "current";
      l->status.last_error[0] = '\0';
      return OUT_CURRENT;
    }

  /* d: new bytes only when the head names other content than ours. */
  char *bytes = NULL;
  bool same = have && 0 == strcmp (claims.sha256, l->active.head.sha256);
  if (!same && !fetch_bundle (l, &claims, &bytes))
    return OUT_REFUSED;

  /* e: persist bytes, then the head (the swap); then load what is now active. */
  int r = ag_active_save (l->dir, &claims, jws, bytes, same ? 0 : (size_t) claims.length);
  free (bytes);
  struct ag_active next;
  char why[160];
  if (0 != r || 0 != ag_active_load (l->dir, &l->id, &l->ks, &next, why, sizeof (why)))
    {
      set_error (l, "%s", "state:io");
      return OUT_REFUSED;
    }
  ag_active_clear (&l->active);
  l->active = next;
  l->status.last_error[0] = '\0';
  *state_out = same ? "refresh" : "update";
  json_t *f = json_pack ("{s:s, s:I, s:I, s:s}", "state", *state_out, "bundle_version",
                         (json_int_t) claims.bundle_version, "head_serial",
                         (json_int_t) claims.head_serial, "sha256", claims.sha256);
  bw_log_json (BW_LOG_INFO, "bundle applied", f);
  return OUT_APPLIED;
}

/* 401 with node_invalid, 403, 429/503, other: what an error status means (DESIGN §6). */
static enum outcome
classify (struct loop *l, const struct ag_http_response *rs)
{
  if (401 == rs->status)
    {
      json_t *p = json_loadb (rs->body, rs->len, 0, NULL);
      bool invalid = json_is_true (json_object_get (p, "node_invalid"));
      json_decref (p);
      if (invalid)
        return OUT_REENROLL;
    }
  if (403 == rs->status)
    return OUT_DISABLED;
  json_t *f = json_pack ("{s:I, s:s%}", "status", (json_int_t) rs->status, "body", rs->body,
                         rs->len < 512 ? rs->len : 512);
  bw_log_json (BW_LOG_WARN, "server answered with an error", f);
  return OUT_RETRY;
}

static enum outcome
checkin (struct loop *l, int wait_s, const char **state, long *retry_after_s, bool *held)
{
  char err[160];
  *state = "error";
  *retry_after_s = -1;
  *held = false;
  char *body = checkin_body (l);
  if (NULL == body)
    return OUT_RETRY;
  struct ag_http_request rq = {
    .method = "POST",
    .path = "/api/v1/agent/checkin",
    .body = body,
    .body_len = strlen (body),
    .prefer_wait_s = wait_s,
    .max_bytes = AG_HTTP_JSON_MAX,
    .timeout_s = (long) wait_s + CHECKIN_SLACK_S,
  };
  struct ag_http_response rs;
  int r = ag_http_do (l->http, &rq, &rs, err, sizeof (err));
  free (body);
  if (0 != r)
    {
      if (stop_flag)
        return OUT_STOPPED;
      snprintf (l->transient, sizeof (l->transient), "checkin:%s", err);
      json_t *f = json_pack ("{s:s}", "error", err);
      bw_log_json (BW_LOG_WARN, "check-in failed", f);
      return OUT_RETRY;
    }
  *retry_after_s = rs.retry_after_s;
  *held = rs.preference_applied;
  json_t *f = json_pack ("{s:I, s:b, s:i}", "status", (json_int_t) rs.status, "held", *held,
                         "wait_s", wait_s);
  bw_log_json (BW_LOG_DEBUG, "check-in answered", f);
  enum outcome o;
  if (200 == rs.status)
    {
      l->status.last_checkin = (int64_t) time (NULL);
      if (l->spool_damage && 0 != ag_spool_damage_reported (l->dir))
        bw_logf (BW_LOG_ERROR, "cannot write %s/events.json: %s", l->dir, strerror (errno));
      json_t *reply = json_loadb (rs.body, rs.len, JSON_REJECT_DUPLICATES, NULL);
      if (NULL == reply)
        {
          set_error (l, "%s", "checkin:malformed");
          o = OUT_REFUSED;
        }
      else if (0 == l->ks.n)
        o = OUT_REFUSED; /* a report only: there is no keyset to verify the answer with */
      else
        o = apply (l, reply, state);
      json_decref (reply);
    }
  else
    {
      snprintf (l->transient, sizeof (l->transient), "checkin:http_%ld", rs.status);
      o = classify (l, &rs);
    }
  ag_http_response_clear (&rs);
  return o;
}

static enum outcome
upload (struct loop *l, uint64_t *uploaded, long *retry_after_s)
{
  struct ag_upload_result res;
  unsigned batch = NULL != l->active.bundle && l->active.bundle->settings.events_batch_max > 0
                     ? l->active.bundle->settings.events_batch_max
                     : EVENTS_BATCH_DEFAULT;
  int r = ag_spool_upload (l->dir, l->http, batch, &res);
  *uploaded += res.accepted;
  *retry_after_s = res.retry_after_s;
  enum outcome o = OUT_CURRENT;
  if (0 != r)
    {
      if (stop_flag)
        o = OUT_STOPPED;
      else if (0 == res.status)
        {
          snprintf (l->transient, sizeof (l->transient), "events:%s", res.err);
          json_t *f = json_pack ("{s:s}", "error", res.err);
          bw_log_json (BW_LOG_WARN, "event upload failed", f);
          o = OUT_RETRY;
        }
      else
        {
          snprintf (l->transient, sizeof (l->transient), "events:http_%ld", res.status);
          struct ag_http_response rs = { .status = res.status,
                                         .body = res.problem,
                                         .len = res.problem ? strlen (res.problem) : 0 };
          o = classify (l, &rs);
        }
    }
  free (res.problem);
  return o;
}

/* ---- the loop ---- */

static void
save_status (struct loop *l, const char *state)
{
  snprintf (l->status.state, sizeof (l->status.state), "%s", state);
  if (0 != ag_status_save (l->dir, &l->status))
    bw_logf (BW_LOG_ERROR, "cannot write %s/status.json: %s", l->dir, strerror (errno));
}

static void
print_summary (const struct loop *l, const char *state, uint64_t uploaded)
{
  bool have = NULL != l->active.bundle;
  json_t *j = json_pack (
    "{s:s, s:o, s:o, s:o, s:o, s:I}", "state", state, "bundle_version",
    have ? json_integer ((json_int_t) l->active.head.bundle_version) : json_null (), "head_serial",
    have ? json_integer ((json_int_t) l->active.head.head_serial) : json_null (), "last_error",
    l->status.last_error[0] ? json_string (l->status.last_error) : json_null (), "error",
    l->transient[0] ? json_string (l->transient) : json_null (), "events_uploaded",
    (json_int_t) uploaded);
  char *s = j ? json_dumps (j, JSON_COMPACT) : NULL;
  if (NULL != s)
    printf ("%s\n", s);
  free (s);
  json_decref (j);
}

/* Everything but the active bundle (step 0 loads it).  An enum ag_exit: OK when ready. */
static int
loop_open (struct loop *l, const char *dir)
{
  char why[160];
  memset (l, 0, sizeof (*l));
  l->dir = dir;
  l->lock = -1;
  l->interval_s = INTERVAL_DEFAULT_S;
  l->jitter_s = JITTER_DEFAULT_S;
  int r = ag_state_secure (dir, why, sizeof (why));
  if (r < 0)
    {
      fprintf (stderr, "bulwark-agent: refusing the state directory %s: %s\n", dir, why);
      return AG_EXIT_FAIL;
    }
  /* The lock first: `enroll` cannot then replace the enrollment under us. */
  if (0 == r && (l->lock = ag_run_lock (dir)) < 0)
    {
      fprintf (stderr, "bulwark-agent: another `run` holds %s/run.lock\n", dir);
      return AG_EXIT_FAIL;
    }
  r = ag_identity_load (dir, &l->id);
  if (0 != r)
    {
      fprintf (stderr, "bulwark-agent: %s in %s: run `bulwark-agent enroll` first\n",
               1 == r ? "not enrolled" : "unreadable enrollment", dir);
      return AG_EXIT_FAIL;
    }
  if (0 != ag_status_load (dir, &l->status))
    memset (&l->status, 0, sizeof (l->status));
  if (0 == strcmp (l->status.state, "revoked"))
    {
      fprintf (stderr, "bulwark-agent: agent revoked: enroll again (the server no longer "
                       "accepts its credential)\n");
      return AG_EXIT_REENROLL;
    }
  r = ag_keysets_load (dir, l->id.org_id, &l->ks, why, sizeof (why));
  l->http = ag_http_new (l->id.server, l->id.credential, &stop_flag);
  if (NULL == l->http)
    {
      fprintf (stderr, "bulwark-agent: cannot set up HTTP for %s\n", l->id.server);
      return AG_EXIT_FAIL;
    }
  if (1 == r)
    {
      /* A later keyset is damaged: drop it and those after it; the server has them all. */
      snprintf (l->status.last_error, sizeof (l->status.last_error), "state:damaged");
      json_t *f = json_pack ("{s:s}", "damage", why);
      bw_log_json (BW_LOG_WARN, "a stored keyset does not verify; fetching it again", f);
      if (0 != ag_keysets_truncate (dir, &l->ks))
        bw_logf (BW_LOG_ERROR, "cannot remove the damaged keysets in %s: %s", dir,
                 strerror (errno));
    }
  else if (0 != r)
    {
      /*
       * Without the enrollment keyset, nothing the server sends can be
       * verified: only a new enrollment helps.  One check-in tells the fleet
       * view; its answer is not used.
       */
      const char *state;
      long retry_after_s;
      bool held;
      fprintf (stderr, "bulwark-agent: the keysets in %s do not verify: enroll again (%s)\n", dir,
               why);
      snprintf (l->status.last_error, sizeof (l->status.last_error), "keyset:damaged");
      (void) checkin (l, 0, &state, &retry_after_s, &held);
      save_status (l, "error");
      return AG_EXIT_FAIL;
    }
  return AG_EXIT_OK;
}

/* Step 0: the active bundle, as on disk now and verified again. */
static void
reload_active (struct loop *l)
{
  char why[160];
  ag_active_clear (&l->active);
  if (ag_active_load (l->dir, &l->id, &l->ks, &l->active, why, sizeof (why)) >= 0)
    return;
  /* Not enforced, not reported as held: the next check-in fetches head and bundle afresh. */
  snprintf (l->status.last_error, sizeof (l->status.last_error), "state:damaged");
  json_t *f = json_pack ("{s:s, s:s}", "last_error", l->status.last_error, "damage", why);
  bw_log_json (BW_LOG_WARN, "the stored bundle does not verify; fetching it again", f);
}

/* 401 node_invalid: nothing of this enrollment is enforced any more (see the top). */
static void
mark_revoked (struct loop *l)
{
  ag_active_clear (&l->active);
  if (0 != ag_active_drop (l->dir))
    bw_logf (BW_LOG_ERROR, "cannot remove the bundle in %s: %s", l->dir, strerror (errno));
  save_status (l, "revoked");
}

static void
loop_close (struct loop *l)
{
  if (l->lock >= 0)
    close (l->lock);
  ag_http_free (l->http);
  ag_keysets_clear (&l->ks);
  ag_active_clear (&l->active);
  ag_identity_clear (&l->id);
}

int
ag_run_main (const char *dir, const struct ag_run_options *opts)
{
  struct loop l;
  struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: waits end at once */
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  int code = loop_open (&l, dir);
  if (AG_EXIT_OK != code)
    {
      loop_close (&l);
      return code;
    }
  int wait_s = opts->wait_s >= 0 ? opts->wait_s : (opts->once ? 0 : AG_WAIT_DEFAULT_S);
  if (wait_s > AG_WAIT_MAX_S)
    wait_s = AG_WAIT_MAX_S;
  uint64_t uploaded = 0;
  bool settled = false; /* the last check-in of this loop was answered and went well */
  for (;;)
    {
      const char *state;
      long retry_after_s, upload_retry_s = -1;
      bool held;
      l.transient[0] = '\0';
      reload_active (&l);
      /* Long-poll only once status.json says where we stand (see the top). */
      int w = opts->once || settled ? wait_s : 0;
      enum outcome o = checkin (&l, w, &state, &retry_after_s, &held);
      enum outcome u = OUT_CURRENT;
      /* After an error status the server asked for quiet (Retry-After) or is unwell: no upload. */
      if (OUT_REENROLL != o && OUT_DISABLED != o && OUT_STOPPED != o && OUT_RETRY != o)
        u = upload (&l, &uploaded, &upload_retry_s);
      /* The stronger of the two decides: stop > disabled/re-enroll > retry. */
      if (OUT_REENROLL == u || OUT_DISABLED == u || OUT_STOPPED == u
          || (OUT_RETRY == u && OUT_RETRY != o))
        {
          o = u;
          retry_after_s = upload_retry_s;
        }
      switch (o)
        {
        case OUT_REENROLL:
          mark_revoked (&l);
          fprintf (stderr, "bulwark-agent: the server revoked this agent (401 node_invalid): "
                           "its bundle is no longer enforced; enroll again\n");
          code = AG_EXIT_REENROLL;
          goto done;
        case OUT_DISABLED:
          save_status (&l, "disabled");
          fprintf (stderr, "bulwark-agent: this agent was disabled by an administrator\n");
          code = AG_EXIT_DISABLED;
          goto done;
        case OUT_STOPPED:
          goto done;
        case OUT_RETRY:
          l.failures++;
          save_status (&l, "error");
          break;
        case OUT_REFUSED:
          l.failures = 0;
          save_status (&l, "error");
          break;
        case OUT_CURRENT:
        case OUT_APPLIED:
          l.failures = 0;
          save_status (&l, "ok");
          break;
        }
      settled = OUT_CURRENT == o || OUT_APPLIED == o;
      if (opts->once)
        {
          print_summary (&l, OUT_RETRY == o ? "error" : state, uploaded);
          code = (OUT_CURRENT == o || OUT_APPLIED == o) ? AG_EXIT_OK : AG_EXIT_FAIL;
          goto done;
        }
      uint64_t delay_ms;
      if (OUT_RETRY == o && retry_after_s >= 0)
        /* The server said when (429/503); never sooner than the first backoff step. */
        delay_ms
          = (uint64_t) (retry_after_s > BACKOFF_BASE_S ? retry_after_s : BACKOFF_BASE_S) * 1000;
      else if (OUT_RETRY == o)
        delay_ms = backoff_ms (l.failures);
      else if (OUT_APPLIED == o)
        delay_ms = 0; /* report the new version right away */
      else if (OUT_CURRENT == o && (held || w < wait_s))
        delay_ms = random_below (REPOLL_SPREAD_MS); /* (back) into the long-poll */
      else
        delay_ms = (uint64_t) l.interval_s * 1000 + random_below (l.jitter_s * 1000 + 1);
      if (!nap_ms (delay_ms))
        goto done;
    }
done:
  loop_close (&l);
  return code;
}
