/*
 * Bearer authentication (RFC 6750 §2.1) of the platform admin token and
 * org API tokens, and the in-memory last-used table flushed in bulk.
 *
 * Only hashes are compared or stored.  Unknown, expired, revoked and
 * malformed credentials get the same answer, and every well-formed org
 * token takes the same path (platform hash compare, one lookup) whichever
 * of these it is.
 */
#include "config.h"
#include "server/auth.h"
#include "db/platform.h"
#include "db/token.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "server/periodic.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Longest Authorization value looked at; longer ones are refused unread. */
/* Seconds a platform admin hash read from the database is trusted, which
 * bounds how long a rotation by another process takes to apply. */
#define PLATFORM_CACHE_TTL_S 5
/* Prefix of minted platform admin tokens (found by secret scanners). */
#define PLATFORM_TOKEN_PREFIX "bwp_"
/* Distinct tokens remembered between flushes; a full table flushes early. */
#define LAST_USED_MAX DB_TOKEN_FLUSH_MAX
/* Open-addressing slots: a power of two, at most half full. */
#define LAST_USED_SLOTS (2 * LAST_USED_MAX)

#define NS_PER_S 1000000000ull

_Static_assert (sizeof ("Bearer ") - 1 + BW_AUTH_BOOTSTRAP_MAX <= BW_AUTH_HEADER_MAX,
                "a bootstrap token must fit in the Authorization header we read");
_Static_assert (BW_TOKEN_SECRET_LEN < BW_AUTH_BOOTSTRAP_MAX, "minted tokens fit too");
_Static_assert (0 == (LAST_USED_SLOTS & (LAST_USED_SLOTS - 1)), "slots: power of two");
_Static_assert (sizeof (BW_TOKEN_PREFIX) == 5 && sizeof (PLATFORM_TOKEN_PREFIX) == 5,
                "secret prefixes are 4 characters");

int
bw_auth_secret_new (const char *prefix, char out[BW_TOKEN_SECRET_LEN + 1])
{
  unsigned char raw[BW_TOKEN_SECRET_BYTES];
  int rc = -1;

  if (0 != bw_random (raw, sizeof (raw)))
    goto cleanup;
  memcpy (out, prefix, 4);
  bw_b64url_encode (raw, sizeof (raw), out + 4);
  rc = 0;
cleanup:
  OPENSSL_cleanse (raw, sizeof (raw));
  return rc;
}

/* RFC 6750 §2.1 b64token characters, apart from the trailing '=' padding. */
static bool
b64token_char (char c)
{
  return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
         || ('\0' != c && NULL != strchr ("-._~+/", c));
}

/*
 * Length of @a s if all of it is one b64token (1*b64char *"="), else 0.
 * Reads at most @a max + 1 characters.
 */
static size_t
b64token_len (const char *s, size_t max)
{
  size_t n = 0;

  while (n <= max && b64token_char (s[n]))
    n++;
  if (0 == n)
    return 0;
  while (n <= max && '=' == s[n])
    n++;
  if (n > max || '\0' != s[n])
    return 0;
  return n;
}

size_t
bw_auth_bearer_token (const char *value, const char **token)
{
  static const char scheme[] = "Bearer";
  size_t len = strnlen (value, BW_AUTH_HEADER_MAX + 1);
  const char *p;

  if (len > BW_AUTH_HEADER_MAX || 0 != strncasecmp (value, scheme, sizeof (scheme) - 1)
      || ' ' != value[sizeof (scheme) - 1])
    return 0;
  p = value + sizeof (scheme);
  while (' ' == *p)
    p++;
  *token = p;
  return b64token_len (p, BW_AUTH_HEADER_MAX);
}

/* ---- the platform admin hash, cached for PLATFORM_CACHE_TTL_S ---- */

static struct
{
  pthread_mutex_t lock;
  bool loaded;        /* a value (or its absence) has been read */
  uint64_t read_ns;   /* CLOCK_MONOTONIC when that read began */
  bool exists;        /* a credential exists */
  char sha256[BW_SHA256_HEX_LEN + 1];
} platform = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Remember what the database said at @a read_ns unless something newer is known. */
static void
platform_store (uint64_t read_ns, bool exists, const char *sha256)
{
  pthread_mutex_lock (&platform.lock);
  if (!platform.loaded || read_ns >= platform.read_ns)
    {
      platform.loaded = true;
      platform.read_ns = read_ns;
      platform.exists = exists;
      if (exists)
        memcpy (platform.sha256, sha256, sizeof (platform.sha256));
    }
  pthread_mutex_unlock (&platform.lock);
}

/*
 * The current platform admin hash into @a out, from the cache when it is
 * younger than PLATFORM_CACHE_TTL_S, else from the database (queried
 * outside the lock so a slow database stalls only the callers that need it).
 */
static enum bw_auth_result
platform_hash (bool *exists, char out[BW_SHA256_HEX_LEN + 1])
{
  uint64_t now = bw_monotonic_ns ();
  enum db_qs qs;

  pthread_mutex_lock (&platform.lock);
  if (platform.loaded && now - platform.read_ns < PLATFORM_CACHE_TTL_S * NS_PER_S)
    {
      *exists = platform.exists;
      memcpy (out, platform.sha256, BW_SHA256_HEX_LEN + 1);
      pthread_mutex_unlock (&platform.lock);
      return BW_AUTH_OK;
    }
  pthread_mutex_unlock (&platform.lock);

  qs = db_platform_get (out);
  if (DB_QS_UNAVAILABLE == qs)
    return BW_AUTH_DB_UNAVAILABLE;
  if (qs < 0)
    return BW_AUTH_ERROR;
  *exists = qs > 0;
  platform_store (now, *exists, out);
  return BW_AUTH_OK;
}

/* ---- last-used times: latest per token, in memory until flushed ---- */

struct lu_slot
{
  char id[37];   /* "" when free */
  int64_t at_us;
};

static struct
{
  pthread_mutex_t lock;
  struct lu_slot slots[LAST_USED_SLOTS];
  size_t used;
} lu = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* FNV-1a (the ids are database uuids, not attacker-chosen). */
static size_t
lu_hash (const char *id)
{
  uint32_t h = 2166136261u;

  for (; '\0' != *id; id++)
    h = (h ^ (unsigned char) *id) * 16777619u;
  return h & (LAST_USED_SLOTS - 1);
}

/* Keep the later of @a at_us and the known time of @a id.  @return -1 when full. */
static int
lu_put_locked (const char *id, int64_t at_us)
{
  size_t i = lu_hash (id);

  while ('\0' != lu.slots[i].id[0])
    {
      if (0 == strcmp (lu.slots[i].id, id))
        {
          if (at_us > lu.slots[i].at_us)
            lu.slots[i].at_us = at_us;
          return 0;
        }
      i = (i + 1) & (LAST_USED_SLOTS - 1);
    }
  if (lu.used >= LAST_USED_MAX)
    return -1;
  memcpy (lu.slots[i].id, id, sizeof (lu.slots[i].id));
  lu.slots[i].at_us = at_us;
  lu.used++;
  return 0;
}

struct flush_ctx
{
  const struct db_token_last_used *items;
  size_t n;
};

static enum db_qs
flush_tx (void *cls)
{
  const struct flush_ctx *fc = cls;

  return db_token_last_used_flush (fc->items, fc->n);
}

/*
 * Move everything pending into one bulk UPDATE on this thread's
 * connection.  The table is emptied under the lock and the statement runs
 * outside it; if the statement fails the times go back into the table for
 * the next flush (those that no longer fit are counted in the log).
 */
static void
lu_flush (void)
{
  struct db_token_last_used *batch;
  struct flush_ctx fc = { 0 };
  size_t dropped = 0;
  enum db_qs qs;

  pthread_mutex_lock (&lu.lock);
  if (0 == lu.used)
    {
      pthread_mutex_unlock (&lu.lock);
      return;
    }
  batch = malloc (lu.used * sizeof (*batch));
  if (NULL == batch)
    {
      pthread_mutex_unlock (&lu.lock);
      bw_logf (BW_LOG_ERROR, "last-used flush: out of memory");
      return;
    }
  for (size_t i = 0; i < LAST_USED_SLOTS; i++)
    if ('\0' != lu.slots[i].id[0])
      {
        memcpy (batch[fc.n].id, lu.slots[i].id, sizeof (batch[fc.n].id));
        batch[fc.n].at_us = lu.slots[i].at_us;
        fc.n++;
        lu.slots[i].id[0] = '\0';
      }
  lu.used = 0;
  pthread_mutex_unlock (&lu.lock);

  fc.items = batch;
  /* a transaction, so a deadlock with a concurrent revocation is retried */
  qs = db_tx_run (DB_READ_COMMITTED, flush_tx, &fc);
  if (qs < 0)
    {
      pthread_mutex_lock (&lu.lock);
      for (size_t i = 0; i < fc.n; i++)
        if (0 != lu_put_locked (batch[i].id, batch[i].at_us))
          dropped++;
      pthread_mutex_unlock (&lu.lock);
      bw_log_json (BW_LOG_WARN, "token last-used flush failed",
                   json_pack ("{s:i, s:I, s:I}", "db_qs", (int) qs,
                              "kept", (json_int_t) (fc.n - dropped),
                              "dropped", (json_int_t) dropped));
    }
  free (batch);
}

/* Note that token @a id authenticated now; flushes early when the table is full. */
static void
lu_record (const char *id)
{
  int64_t at = bw_realtime_us ();
  int rc;

  pthread_mutex_lock (&lu.lock);
  rc = lu_put_locked (id, at);
  pthread_mutex_unlock (&lu.lock);
  if (0 == rc)
    return;
  lu_flush ();
  pthread_mutex_lock (&lu.lock);
  rc = lu_put_locked (id, at);
  pthread_mutex_unlock (&lu.lock);
  if (0 != rc)
    bw_logf (BW_LOG_WARN, "token last-used table full, one use not recorded");
}

/* Its last run, at stop, flushes what is pending. */
static struct bw_periodic lu_flusher = {
  .period_s = BW_TOKEN_LAST_USED_FLUSH_S, .run_at_stop = true, .run = lu_flush
};

int
bw_auth_start (void)
{
  return bw_periodic_start (&lu_flusher);
}

void
bw_auth_stop (void)
{
  bw_periodic_stop (&lu_flusher); /* flushes, on the caller's connection if never started */
}

/* ---- authentication ---- */

static enum bw_auth_result
auth_org_token (struct bw_request *rq, const char *sha256)
{
  struct db_token_auth ta;
  enum bw_role role;
  enum db_qs qs = db_token_lookup (sha256, &ta);

  if (DB_QS_UNAVAILABLE == qs)
    return BW_AUTH_DB_UNAVAILABLE;
  if (qs < 0)
    return BW_AUTH_ERROR;
  if (0 == qs || !ta.valid)
    return BW_AUTH_INVALID;
  if (0 != bw_role_parse (ta.role, &role))
    {
      bw_logf (BW_LOG_ERROR, "token %s has unknown role", ta.id);
      return BW_AUTH_ERROR;
    }
  rq->principal.kind = BW_PRINCIPAL_ORG_TOKEN;
  memcpy (rq->principal.org_id, ta.org_id, sizeof (rq->principal.org_id));
  memcpy (rq->principal.token_id, ta.id, sizeof (rq->principal.token_id));
  memcpy (rq->principal.user_id, ta.user_id, sizeof (rq->principal.user_id));
  rq->principal.role = role;
  snprintf (rq->principal.actor, sizeof (rq->principal.actor), "token:%s", ta.id);
  lu_record (ta.id);
  return BW_AUTH_OK;
}

/*
 * The platform admin token is whatever BULWARK_BOOTSTRAP_TOKEN says, which
 * may itself look like an org token, so every credential is first compared
 * (in constant time, against the cached hash) with the platform admin's;
 * `bwk_` tokens that are not it are then looked up.  Every org token thus
 * takes the same path whether it is unknown, expired or revoked.
 */
enum bw_auth_result
bw_auth_authenticate (struct bw_request *rq)
{
  const char *value = bw_request_header (rq, "Authorization");
  const char *token = NULL;
  char sha256[BW_SHA256_HEX_LEN + 1];
  char platform_sha256[BW_SHA256_HEX_LEN + 1];
  bool platform_exists = false;
  enum bw_auth_result r;
  size_t len;

  memset (&rq->principal, 0, sizeof (rq->principal));
  if (NULL == value)
    return BW_AUTH_INVALID;
  len = bw_auth_bearer_token (value, &token);
  if (0 == len)
    return BW_AUTH_INVALID;
  bw_sha256_hex (token, len, sha256);
  r = platform_hash (&platform_exists, platform_sha256);
  if (BW_AUTH_OK != r)
    return r;
  if (platform_exists && bw_consttime_eq (sha256, platform_sha256, BW_SHA256_HEX_LEN))
    {
      rq->principal.kind = BW_PRINCIPAL_PLATFORM;
      snprintf (rq->principal.actor, sizeof (rq->principal.actor), "platform-admin");
      return BW_AUTH_OK;
    }
  if (len < 4 || 0 != memcmp (token, BW_TOKEN_PREFIX, 4))
    return BW_AUTH_INVALID;
  return auth_org_token (rq, sha256);
}

/* ---- the platform admin credential ---- */

static bool
bootstrap_usable (const char *token)
{
  size_t len = b64token_len (token, BW_AUTH_BOOTSTRAP_MAX);

  return len >= BW_AUTH_BOOTSTRAP_MIN;
}

/*
 * Mint a platform admin token, store its hash with @a store and, when
 * stored, hand a copy to *out and cache the hash.  @return 1 when stored,
 * 0 when @a store changed nothing, -1 on error.
 */
static int
platform_mint (enum db_qs (*store) (const char *sha256), char **out)
{
  char token[BW_TOKEN_SECRET_LEN + 1];
  char sha256[BW_SHA256_HEX_LEN + 1];
  uint64_t now = bw_monotonic_ns ();
  enum db_qs qs;
  int rc = -1;

  if (0 != bw_auth_secret_new (PLATFORM_TOKEN_PREFIX, token))
    {
      bw_logf (BW_LOG_ERROR, "no random bytes for a platform admin token");
      goto cleanup;
    }
  bw_sha256_hex (token, BW_TOKEN_SECRET_LEN, sha256);
  qs = store (sha256);
  if (qs < 0)
    {
      bw_logf (BW_LOG_ERROR, "cannot store the platform admin credential (db_qs %d)", (int) qs);
      goto cleanup;
    }
  rc = 0;
  if (0 == qs)
    goto cleanup;
  *out = strdup (token);
  if (NULL == *out)
    {
      /* stored but cannot be shown: the operator must run admin-token */
      bw_logf (BW_LOG_ERROR, "out of memory showing the platform admin token");
      rc = -1;
      goto cleanup;
    }
  platform_store (now, true, sha256);
  rc = 1;
cleanup:
  OPENSSL_cleanse (token, sizeof (token));
  return rc;
}

int
bw_auth_platform_init (const char *bootstrap_token, char **printed)
{
  char sha256[BW_SHA256_HEX_LEN + 1];
  uint64_t now = bw_monotonic_ns ();
  enum db_qs qs;

  *printed = NULL;
  if (NULL == bootstrap_token)
    return platform_mint (db_platform_create, printed) < 0 ? -1 : 0;
  if (!bootstrap_usable (bootstrap_token))
    {
      bw_logf (BW_LOG_ERROR,
               "BULWARK_BOOTSTRAP_TOKEN must be %d..%d characters of [A-Za-z0-9-._~+/] "
               "(then '=' padding)",
               BW_AUTH_BOOTSTRAP_MIN, BW_AUTH_BOOTSTRAP_MAX);
      return -1;
    }
  bw_sha256_hex (bootstrap_token, strlen (bootstrap_token), sha256);
  qs = db_platform_set (sha256);
  if (qs < 0)
    {
      bw_logf (BW_LOG_ERROR, "cannot store the platform admin credential (db_qs %d)", (int) qs);
      return -1;
    }
  platform_store (now, true, sha256);
  return 0;
}

int
bw_auth_platform_rotate (char **token)
{
  *token = NULL;
  return 1 == platform_mint (db_platform_set, token) ? 0 : -1;
}
