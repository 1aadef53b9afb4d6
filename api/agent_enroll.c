/*
 * POST /api/v1/agent/enroll (DESIGN §6): an enroll secret is exchanged for
 * an agent credential, once per use, with the org's current keyset (the
 * first link of the chain the agent walks from then on).  Public route: the
 * secret is the credential.  An unknown, expired, revoked or used-up secret
 * gets one answer (401 enroll_secret_invalid), whichever it is.
 *
 * The use is counted, the agent inserted and the audit record (actor
 * "enroll-secret:<id>") appended in one transaction, so concurrent
 * enrollments never exceed max_uses and no agent exists without its
 * record.  The credential is shown once, in the reply, and stored only as
 * its SHA-256.  Not a hot path; attempts are rate-limited per process.
 */
#include "config.h"
#include "api/agents.h"
#include "api/handlers.h"
#include "db/agent.h"
#include "db/audit.h"
#include "db/enroll_secret.h"
#include "lib/canonical_json.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "server/agent_auth.h"
#include "server/auth.h"
#include "server/fields.h"
#include "server/http.h"
#include "server/keys.h"
#include "server/reply.h"
#include "server/settings.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** Enrollment attempts per second this process accepts on average ... */
#define ENROLL_RATE_PER_S 20
/** ... and in a burst; past that, 429 + Retry-After. */
#define ENROLL_BURST 200
/** Longest enroll_secret looked at, in bytes; a secret is 47 characters, anything else is
 *  answered as an invalid secret. */
#define ENROLL_SECRET_FIELD_MAX 256
/** Prefix of enroll secrets (api/enroll_secrets.c). */
#define ENROLL_SECRET_PREFIX "bwe_"
/* "enroll-secret:<uuid>" */
#define ACTOR_MAX 64
/* "/api/v1/orgs/<uuid>/agents/<uuid>" */
#define LOCATION_MAX 96
/* Check-in defaults when no configuration is at hand (BULWARK_CHECKIN_INTERVAL, _JITTER). */
#define CHECKIN_INTERVAL_DEFAULT_S 60
#define CHECKIN_JITTER_DEFAULT_S 10

#define NS_PER_S 1000000000ull

/* ---- rate limit: one token bucket per process ---- */

static struct
{
  pthread_mutex_t lock;
  bool started;
  double tokens;
  uint64_t last_ns;
} bucket = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Take one token.  @return false when the bucket is empty. */
static bool
rate_take (void)
{
  uint64_t now = bw_monotonic_ns ();
  bool ok;

  pthread_mutex_lock (&bucket.lock);
  if (!bucket.started)
    {
      bucket.started = true;
      bucket.tokens = ENROLL_BURST;
    }
  else
    {
      bucket.tokens += (double) (now - bucket.last_ns) / NS_PER_S * ENROLL_RATE_PER_S;
      if (bucket.tokens > ENROLL_BURST)
        bucket.tokens = ENROLL_BURST;
    }
  bucket.last_ns = now;
  ok = bucket.tokens >= 1.0;
  if (ok)
    bucket.tokens -= 1.0;
  pthread_mutex_unlock (&bucket.lock);
  return ok;
}

/* ---- the transaction ---- */

struct enroll_ctx
{
  const struct bw_request *rq;
  const char *secret_sha256;
  const char *credential_sha256;
  const char *hostname;
  const char *platform;
  const char *agent_version;
  unsigned int window_s;
  bool secret_invalid;             /* output: the use was refused */
  struct db_enroll_use use;        /* output */
  struct db_agent agent;           /* output */
};

/* The audit record of the enrollment; the actor is the secret, not a principal. */
static enum db_qs
audit_enroll (struct enroll_ctx *ec)
{
  char actor[ACTOR_MAX];
  char after_sha[BW_SHA256_HEX_LEN + 1];
  json_t *after = api_agent_json (&ec->agent);
  int rc = (NULL == after) ? -1 : bw_json_digest (after, after_sha);
  struct db_audit_record rec = {
    .org_id = ec->use.org_id,
    .actor = actor,
    .action = "agent.enroll",
    .target_type = "agent",
    .target_id = ec->agent.id,
    .before_sha256 = NULL,
    .after_sha256 = after_sha,
    .request_id = ec->rq->request_id,
    .source_addr = ec->rq->remote_addr,
  };
  enum db_qs qs;

  json_decref (after);
  if (0 != rc)
    return DB_QS_HARD_ERROR;
  snprintf (actor, sizeof (actor), "enroll-secret:%s", ec->use.secret_id);
  qs = db_audit_append (&rec);
  return (0 == qs) ? DB_QS_HARD_ERROR : qs;
}

static enum db_qs
enroll_tx (void *cls)
{
  struct enroll_ctx *ec = cls;
  struct db_agent_new na;
  enum db_qs qs;

  ec->secret_invalid = false;
  qs = db_enroll_secret_use (ec->secret_sha256, &ec->use);
  if (qs < 0)
    return qs;
  if (0 == qs)
    {
      ec->secret_invalid = true;
      return DB_QS_ABORT;
    }
  na = (struct db_agent_new) {
    .org_id = ec->use.org_id,
    .user_id = ('\0' != ec->use.user_id[0]) ? ec->use.user_id : NULL,
    .enroll_secret_id = ec->use.secret_id,
    .credential_sha256 = ec->credential_sha256,
    .hostname = ec->hostname,
    .platform = ec->platform,
    .agent_version = ec->agent_version,
  };
  qs = db_agent_insert (&na, ec->window_s, &ec->agent);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  return audit_enroll (ec);
}

/* ---- the handler ---- */

/* Whether @a s has the shape of an enroll secret: the prefix and 43 base64url characters. */
static bool
secret_shaped (const char *s)
{
  if (strlen (s) != BW_TOKEN_SECRET_LEN || 0 != strncmp (s, ENROLL_SECRET_PREFIX, 4))
    return false;
  for (size_t i = 4; i < BW_TOKEN_SECRET_LEN; i++)
    if (NULL == strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]))
      return false;
  return true;
}

static enum bw_step
reply_secret_invalid (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_ENROLL_SECRET_INVALID,
                           "the enroll secret is unknown, expired, revoked, used up, "
                           "or its user is inactive",
                           NULL);
}

/* The 201 body: agent, credential, org, subject, keyset (@a keyset_doc parsed), check-in. */
static json_t *
enroll_json (const struct enroll_ctx *ec, const char *credential, const char *keyset_doc,
             uint64_t keyset_version)
{
  const struct bw_config *cfg = bw_http_config ();
  json_error_t jerr;
  json_t *keyset = json_loads (keyset_doc, JSON_REJECT_DUPLICATES, &jerr);
  bool has_user = '\0' != ec->use.user_id[0];

  if (NULL == keyset)
    {
      bw_logf (BW_LOG_ERROR, "enroll: the keyset of org %s is not JSON: %s", ec->use.org_id,
               jerr.text);
      return NULL;
    }
  return json_pack ("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:o, s:I, s:{s:I, s:I}}",
                    "agent_id", ec->agent.id,
                    "credential", credential,
                    "org", "id", ec->use.org_id, "slug", ec->use.org_slug,
                    "subject", "kind", has_user ? "user" : "agent",
                    "id", has_user ? ec->use.user_id : ec->agent.id,
                    "keyset", keyset,
                    "keyset_version", (json_int_t) keyset_version,
                    "checkin",
                    "interval_s", (json_int_t) ((NULL != cfg) ? cfg->checkin_interval_s
                                                              : CHECKIN_INTERVAL_DEFAULT_S),
                    "jitter_s", (json_int_t) ((NULL != cfg) ? cfg->checkin_jitter_s
                                                            : CHECKIN_JITTER_DEFAULT_S));
}

enum bw_step
api_agent_enroll (struct bw_request *rq)
{
  const json_t *secret = NULL;
  const json_t *hostname = NULL;
  const json_t *platform = NULL;
  const json_t *agent_version = NULL;
  const struct bw_field fields[] = {
    { "enroll_secret", BW_FIELD_STRING, true, false, ENROLL_SECRET_FIELD_MAX, NULL, &secret },
    { "hostname", BW_FIELD_STRING, true, false, DB_AGENT_HOSTNAME_MAX, bw_field_check_text,
      &hostname },
    { "platform", BW_FIELD_STRING, true, false, DB_AGENT_PLATFORM_MAX, bw_field_check_text,
      &platform },
    { "agent_version", BW_FIELD_STRING, true, false, DB_AGENT_VERSION_MAX, bw_field_check_text,
      &agent_version },
  };
  char secret_sha256[BW_SHA256_HEX_LEN + 1];
  char credential[BW_TOKEN_SECRET_LEN + 1];
  char credential_sha256[BW_SHA256_HEX_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  char etag[API_AGENT_ETAG_SIZE];
  char location[LOCATION_MAX];
  uint64_t keyset_version = 0;
  char *keyset_doc = NULL;
  struct enroll_ctx *ec = NULL;
  json_t *body = NULL;
  enum db_qs qs;
  enum bw_step step;

  credential[0] = '\0';
  if (!rate_take ())
    return bw_reply_problem (rq, BW_E_TOO_MANY_REQUESTS,
                             "too many enrollments on this server right now", NULL);
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (!secret_shaped (json_string_value (secret)))
    return reply_secret_invalid (rq);
  bw_sha256_hex (json_string_value (secret), BW_TOKEN_SECRET_LEN, secret_sha256);

  /* The keyset first, outside the transaction (bw_keys_current runs its own
     statements): if it cannot be had, nothing has been used up. */
  qs = db_enroll_secret_org (secret_sha256, org_id);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_secret_invalid (rq);
  qs = bw_keys_current (org_id, &keyset_version, &keyset_doc);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs || NULL == keyset_doc)
    {
      free (keyset_doc);
      return reply_secret_invalid (rq); /* the org went away meanwhile */
    }

  ec = calloc (1, sizeof (*ec));
  if (NULL == ec || 0 != bw_auth_secret_new (BW_AGENT_CREDENTIAL_PREFIX, credential))
    {
      step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      goto cleanup;
    }
  bw_sha256_hex (credential, BW_TOKEN_SECRET_LEN, credential_sha256);
  ec->rq = rq;
  ec->secret_sha256 = secret_sha256;
  ec->credential_sha256 = credential_sha256;
  ec->hostname = json_string_value (hostname);
  ec->platform = json_string_value (platform);
  ec->agent_version = json_string_value (agent_version);
  ec->window_s = api_agents_online_window_s ();
  qs = db_tx_run (DB_READ_COMMITTED, enroll_tx, ec);
  if (DB_QS_ABORT == qs && ec->secret_invalid)
    step = reply_secret_invalid (rq);
  else if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 != strcmp (ec->use.org_id, org_id))
    {
      /* cannot happen: a secret's org never changes */
      bw_logf (BW_LOG_ERROR, "enroll: secret %s changed org", ec->use.secret_id);
      step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  else if (NULL == (body = enroll_json (ec, credential, keyset_doc, keyset_version))
           || 0 != api_agent_etag (&ec->agent, etag))
    step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  else
    {
      const struct bw_header h[] = {
        { "ETag", etag },
        { "Location", location },
        /* the body holds the credential: keep it out of every cache (RFC 9111 §5.2.2.5) */
        { "Cache-Control", "no-store" },
      };

      snprintf (location, sizeof (location), "/api/v1/orgs/%s/agents/%s", ec->use.org_id,
                ec->agent.id);
      step = bw_reply_json (rq, 201, body, h, sizeof (h) / sizeof (h[0]));
      body = NULL; /* stolen */
    }
cleanup:
  json_decref (body);
  free (keyset_doc);
  free (ec);
  OPENSSL_cleanse (credential, sizeof (credential));
  return step;
}
