/*
 * Agent credentials (see server/agent_auth.h): `Authorization: Bearer
 * bwa_<43 base64url>` (RFC 6750 §2.1), hashed with SHA-256 and looked up in
 * a bounded in-memory cache, so the nothing-changed check-in runs no SQL.
 *
 * The cache is set-associative: CACHE_SETS sets of CACHE_WAYS entries, the
 * set chosen by the credential's hash, each set guarded by one of
 * LOCK_STRIPES mutexes.  A miss runs one SQL lookup and remembers its
 * answer: a live agent for BW_AGENT_AUTH_TTL_S, an unknown or deleted
 * credential for NEGATIVE_TTL_S (so that one bad credential presented in a
 * loop costs one query per NEGATIVE_TTL_S, not one per request).  A
 * negative answer only takes a free, expired or negative slot, so a flood
 * of made-up credentials never pushes out live agents.
 *
 * Invalidation: NOTIFY bulwark_agent '<agent id>' (migration 0004
 * triggers) drops that agent's entries; a NULL payload (the listener
 * reconnected and may have missed some) drops everything.  Every drop
 * bumps `epoch`; a lookup that saw the epoch move while its query ran does
 * not store its answer, since the answer may predate the change.
 */
#include "config.h"
#include "server/agent_auth.h"
#include "db/agent.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "server/auth.h"
#include "server/longpoll.h"
#include "server/notify.h"
#include "server/reply.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Entries in the cache, in all: enough for a large fleet per replica. */
#define CACHE_MAX 32768
/* Entries per set (associativity). */
#define CACHE_WAYS 8
#define CACHE_SETS (CACHE_MAX / CACHE_WAYS)
/* Mutexes guarding the sets (set i uses stripe i % LOCK_STRIPES). */
#define LOCK_STRIPES 64
/* Seconds an unknown or deleted credential is answered from memory. */
#define NEGATIVE_TTL_S 5
/* Characters of a credential: the prefix and base64url of 32 bytes. */
#define CREDENTIAL_LEN BW_TOKEN_SECRET_LEN

#define NS_PER_S 1000000000ull

_Static_assert (0 == (CACHE_SETS & (CACHE_SETS - 1)), "sets: a power of two");
_Static_assert (0 == CACHE_SETS % LOCK_STRIPES, "stripes divide the sets");
_Static_assert (sizeof (BW_AGENT_CREDENTIAL_PREFIX) == 5, "a 4-character prefix");

/* One remembered answer. */
struct entry
{
  unsigned char key[BW_SHA256_LEN]; /* SHA-256 of the credential */
  bool used;
  bool negative;                    /* unknown or deleted credential */
  bool disabled;
  char agent_id[BW_UUID_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  char user_id[BW_UUID_LEN + 1];    /* "" when the agent has no user */
  uint64_t expires_ns;              /* CLOCK_MONOTONIC */
  uint64_t touched_ns;              /* last hit, for eviction */
};

static struct entry cache[CACHE_SETS][CACHE_WAYS];
static pthread_mutex_t stripes[LOCK_STRIPES];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* Bumped by every invalidation (see the file comment). */
static atomic_uint_fast64_t epoch;

static void
init_locks (void)
{
  for (size_t i = 0; i < LOCK_STRIPES; i++)
    pthread_mutex_init (&stripes[i], NULL);
}

/* The set of @a key: its first bytes (a SHA-256 output). */
static size_t
set_of (const unsigned char key[BW_SHA256_LEN])
{
  uint32_t v = (uint32_t) key[0] | (uint32_t) key[1] << 8 | (uint32_t) key[2] << 16
               | (uint32_t) key[3] << 24;

  return v & (CACHE_SETS - 1);
}

static pthread_mutex_t *
stripe_of (size_t set)
{
  return &stripes[set % LOCK_STRIPES];
}

/*
 * The agent credential of an Authorization value: a Bearer token
 * (bw_auth_bearer_token) of exactly BW_AGENT_CREDENTIAL_PREFIX and 43
 * base64url characters.  Anything else (an org token included) is no agent
 * credential.  @return the credential or NULL.
 */
static const char *
agent_credential (const char *value)
{
  const char *p;

  if (CREDENTIAL_LEN != bw_auth_bearer_token (value, &p)
      || 0 != strncmp (p, BW_AGENT_CREDENTIAL_PREFIX, strlen (BW_AGENT_CREDENTIAL_PREFIX))
      || !bw_b64url_valid (p + strlen (BW_AGENT_CREDENTIAL_PREFIX),
                           CREDENTIAL_LEN - strlen (BW_AGENT_CREDENTIAL_PREFIX)))
    return NULL;
  return p;
}

/* Copy the answer of @a e into the principal of @a rq. */
static enum bw_agent_auth_result
answer (struct bw_request *rq, const struct entry *e)
{
  struct bw_principal *pr = &rq->principal;

  if (e->negative)
    return BW_AGENT_AUTH_INVALID;
  if (e->disabled)
    return BW_AGENT_AUTH_DISABLED;
  pr->kind = BW_PRINCIPAL_AGENT;
  memcpy (pr->org_id, e->org_id, sizeof (pr->org_id));
  memcpy (pr->agent_id, e->agent_id, sizeof (pr->agent_id));
  pr->agent_has_user = '\0' != e->user_id[0];
  memcpy (pr->subject_id, pr->agent_has_user ? e->user_id : e->agent_id, sizeof (pr->subject_id));
  memcpy (pr->user_id, e->user_id, sizeof (pr->user_id));
  snprintf (pr->actor, sizeof (pr->actor), "agent:%s", e->agent_id);
  return BW_AGENT_AUTH_OK;
}

/* Look @a key up; on a live hit copy it to @a out.  @return whether found. */
static bool
cache_get (const unsigned char key[BW_SHA256_LEN], uint64_t now, struct entry *out)
{
  size_t set = set_of (key);
  bool found = false;

  pthread_mutex_lock (stripe_of (set));
  for (size_t w = 0; w < CACHE_WAYS; w++)
    {
      struct entry *e = &cache[set][w];

      if (e->used && bw_consttime_eq (e->key, key, BW_SHA256_LEN))
        {
          if (e->expires_ns > now)
            {
              e->touched_ns = now;
              *out = *e;
              found = true;
            }
          else
            e->used = false;
          break;
        }
    }
  pthread_mutex_unlock (stripe_of (set));
  return found;
}

/*
 * Remember @a in (its key set), unless an invalidation happened since
 * @a seen_epoch.  The slot: the same key, else a free or expired one, else
 * (for a live agent only) a negative one, else the least recently used
 * live one; a negative answer that finds no such slot is not stored.
 */
static void
cache_put (const struct entry *in, uint64_t now, uint_fast64_t seen_epoch)
{
  size_t set = set_of (in->key);
  struct entry *slot = NULL;
  struct entry *negative = NULL;
  struct entry *oldest = NULL;

  pthread_mutex_lock (stripe_of (set));
  if (atomic_load (&epoch) != seen_epoch)
    goto done;
  for (size_t w = 0; w < CACHE_WAYS; w++)
    {
      struct entry *e = &cache[set][w];

      if (e->used && 0 == memcmp (e->key, in->key, BW_SHA256_LEN))
        {
          slot = e;
          break;
        }
      if (NULL == slot && (!e->used || e->expires_ns <= now))
        slot = e;
      else if (e->used && e->negative)
        negative = e;
      else if (e->used && (NULL == oldest || e->touched_ns < oldest->touched_ns))
        oldest = e;
    }
  if (NULL == slot)
    slot = (NULL != negative) ? negative : (in->negative ? NULL : oldest);
  if (NULL != slot)
    *slot = *in;
done:
  pthread_mutex_unlock (stripe_of (set));
}

/* Drop the entries of @a agent_id, or every entry when it is NULL. */
static void
cache_drop (const char *agent_id)
{
  char org_id[BW_UUID_LEN + 1] = "";

  pthread_once (&init_once, init_locks);
  atomic_fetch_add (&epoch, 1);
  for (size_t s = 0; s < LOCK_STRIPES; s++)
    {
      pthread_mutex_lock (&stripes[s]);
      for (size_t set = s; set < CACHE_SETS; set += LOCK_STRIPES)
        for (size_t w = 0; w < CACHE_WAYS; w++)
          {
            struct entry *e = &cache[set][w];

            if (e->used && (NULL == agent_id || 0 == strcmp (e->agent_id, agent_id)))
              {
                if (!e->negative)
                  memcpy (org_id, e->org_id, sizeof (org_id));
                e->used = false;
              }
          }
      pthread_mutex_unlock (&stripes[s]);
    }
  /* A parked check-in of a revoked or disabled agent is answered now, not at its deadline:
     woken, it authenticates again (api/agent_checkin.c). */
  if (NULL == agent_id)
    bw_longpoll_wake_org (NULL);
  else if ('\0' != org_id[0])
    bw_longpoll_wake_org (org_id);
}

enum bw_agent_auth_result
bw_agent_auth (struct bw_request *rq)
{
  const char *value = bw_request_header (rq, "Authorization");
  const char *credential;
  char hex[BW_SHA256_HEX_LEN + 1];
  struct entry e = { .used = true };
  struct db_agent_auth row;
  uint64_t now;
  uint_fast64_t seen_epoch;
  enum db_qs qs;

  memset (&rq->principal, 0, sizeof (rq->principal));
  if (NULL == value || NULL == (credential = agent_credential (value)))
    return BW_AGENT_AUTH_INVALID;
  pthread_once (&init_once, init_locks);
  bw_sha256 (credential, CREDENTIAL_LEN, e.key);
  now = bw_monotonic_ns ();
  if (cache_get (e.key, now, &e))
    return answer (rq, &e);

  seen_epoch = atomic_load (&epoch);
  bw_hex (e.key, BW_SHA256_LEN, hex);
  qs = db_agent_auth_lookup (hex, &row);
  if (DB_QS_UNAVAILABLE == qs)
    return BW_AGENT_AUTH_DB_UNAVAILABLE;
  if (qs < 0)
    return BW_AGENT_AUTH_ERROR;
  if (0 == qs)
    {
      e.negative = true;
      e.expires_ns = now + NEGATIVE_TTL_S * NS_PER_S;
    }
  else
    {
      e.disabled = row.disabled;
      memcpy (e.agent_id, row.id, sizeof (e.agent_id));
      memcpy (e.org_id, row.org_id, sizeof (e.org_id));
      memcpy (e.user_id, row.user_id, sizeof (e.user_id));
      e.expires_ns = now + BW_AGENT_AUTH_TTL_S * NS_PER_S;
    }
  e.touched_ns = now;
  cache_put (&e, now, seen_epoch);
  return answer (rq, &e);
}

void
bw_agent_auth_forget (const char *agent_id)
{
  if (NULL != agent_id)
    cache_drop (agent_id);
}

enum bw_step
bw_agent_reply_node_invalid (struct bw_request *rq)
{
  return bw_reply_problem_ext (rq, BW_E_AUTH_REQUIRED,
                               "unknown or deleted agent credential: enroll again", NULL,
                               json_pack ("{s:b}", "node_invalid", 1));
}

bool
bw_agent_auth_or_reply (struct bw_request *rq)
{
  switch (bw_agent_auth (rq))
    {
    case BW_AGENT_AUTH_OK:
      return true;
    case BW_AGENT_AUTH_INVALID:
      bw_agent_reply_node_invalid (rq);
      return false;
    case BW_AGENT_AUTH_DISABLED:
      bw_reply_problem (rq, BW_E_AGENT_DISABLED, NULL, NULL);
      return false;
    case BW_AGENT_AUTH_DB_UNAVAILABLE:
      bw_reply_problem (rq, BW_E_DB_UNAVAILABLE, NULL, NULL);
      return false;
    case BW_AGENT_AUTH_ERROR:
      break;
    }
  bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  return false;
}

/* NOTIFY bulwark_agent: payload the agent id, NULL after a reconnect. */
static void
on_notify (void *cls, const char *channel, const char *payload)
{
  (void) cls;
  (void) channel;
  cache_drop (payload);
}

int
bw_agent_auth_start (void)
{
  pthread_once (&init_once, init_locks);
  if (0 != bw_notify_subscribe ("bulwark_agent", on_notify, NULL))
    {
      bw_logf (BW_LOG_ERROR, "agent auth: cannot subscribe to bulwark_agent");
      return -1;
    }
  return 0;
}

void
bw_agent_auth_stop (void)
{
  cache_drop (NULL);
}
