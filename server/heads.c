/*
 * Bundles and heads (see server/heads.h).
 *
 * Compiling.  An org's heads are written only under its bundle_state row
 * lock (FOR UPDATE), in one READ COMMITTED transaction: read the policies
 * and the policy version with one statement (one snapshot), the subjects
 * and their groups, and the current heads; group the subjects by the set of
 * policies that apply to them; build each group's canonical bundle without
 * its `version`; compare it with the content of each subject's current
 * bundle.  Canonical JSON sorts keys, and "version" sorts after every other
 * top-level key, so a bundle is always
 *
 *     <content prefix> ,"version":<V> }
 *
 * and its content key is the SHA-256 of the prefix: no parsing needed to
 * compare an old bundle with a new one.  A subject whose content changed
 * gets the org's next bundle version (one per compilation, shared by every
 * changed subject, so subjects with equal content share one stored
 * bundle); a subject without a head (a new agent) reuses the current
 * bundle of equal content when one exists; every new head takes the org's
 * next head serial.  Then NOTIFY bulwark_heads, delivered at commit.
 *
 * Who compiles.  NOTIFY bulwark_policy reaches every replica; each queues
 * the org for its worker thread, whose transaction waits for the row lock
 * and then skips when compiled_policy_version has caught up: the first
 * replica compiles, the others find nothing to do.  A subject with no head
 * is compiled synchronously by bw_heads_get, together with every other
 * subject still without one; subjects that have a head keep it then.
 *
 * Memory.  Every replica keeps the heads of the orgs its agents asked for
 * (HEADS_CACHE_ORGS orgs, HEADS_CACHE_SUBJECTS heads, least recently used
 * org out) in sorted arrays under one rwlock: the check-in hot path is two
 * binary searches and a struct copy, with no SQL and no allocation but the
 * optional JWS copy.  NOTIFY bulwark_heads reloads a loaded org (one query,
 * on the listener thread) and wakes its long-polls.  Loads carry the org's
 * head_serial, read in the same snapshot, and an older load never replaces
 * a newer one.
 *
 * Re-signing.  The worker also runs the re-signing job every
 * min(BW_HEAD_RESIGN_PERIOD_MAX_S, ttl / 4) seconds, when its connection
 * holds the advisory lock BW_HEAD_RESIGN_LOCK_KEY: heads with less than
 * half their lifetime left, or signed under an older keyset, get a new
 * head serial and signature.
 *
 * Signers.  The org's key comes from server/keys.h; under the row lock the
 * signer's keyset version is compared with bundle_state.keyset_version
 * (which rotation moves under the same lock), and a stale signer is
 * dropped and fetched again, so a head is never signed by a retired key.
 */
#include "config.h"
#include "server/heads.h"
#include "db/bundle.h"
#include "db/policy.h"
#include "db/policy_version.h"
#include "db/signing_key.h"
#include "lib/bundle.h"
#include "lib/bundle_head.h"
#include "lib/canonical_json.h"
#include "lib/ident.h"
#include "lib/log.h"
#include "lib/policy.h"
#include "server/keys.h"
#include "server/longpoll.h"
#include "server/notify.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** Orgs whose heads are kept in memory. */
#define HEADS_CACHE_ORGS 4096
/** Heads kept in memory in all (about 1 KiB each); past it, least recently used orgs go. */
#define HEADS_CACHE_SUBJECTS 100000
/** Bytes of bundle bodies kept in memory for downloads. */
#define BUNDLE_CACHE_BYTES (64u * 1024 * 1024)
/** Largest bundle kept in that cache. */
#define BUNDLE_CACHE_ITEM_MAX (BUNDLE_CACHE_BYTES / 8)
/** Hash buckets of the bundle cache (a power of two). */
#define BUNDLE_CACHE_BUCKETS 1024
/** Orgs waiting for compilation; past it, the worker sweeps every org instead. */
#define COMPILE_QUEUE_MAX 1024
/** Orgs one sweep or one re-signing run takes (the next run takes the rest). */
#define JOB_ORGS_MAX 1000
/** Seconds after a failed compilation before the worker sweeps again. */
#define COMPILE_RETRY_S 5
/** Seconds after start before the first re-signing run. */
#define RESIGN_FIRST_DELAY_S 5
/** Attempts with a fresh signer when rotation raced with a compilation. */
#define SIGNER_ATTEMPTS 3
/** What precedes the version at the end of every bundle. */
#define VERSION_KEY ",\"version\":"
/** Bytes of a decimal uint64 with NUL. */
#define U64_TEXT_SIZE 24

_Static_assert(0 == (BUNDLE_CACHE_BUCKETS & (BUNDLE_CACHE_BUCKETS - 1)), "power of two");

/* ---- configuration ---- */

static struct
{
  int64_t ttl_s;
  unsigned long resign_period_s;
  char iss[BW_HEAD_ISS_MAX + 1];
  struct bw_bundle_settings settings;
} conf;

static uint64_t
mono_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t) ts.tv_sec;
}

/* ---- the in-memory heads ---- */

struct mem_head
{
  char subject[BW_UUID_LEN + 1];
  struct bw_head_info info; /* info.jws owned */
};

struct mem_org
{
  char org_id[BW_UUID_LEN + 1];
  int64_t serial; /* bundle_state.head_serial of the load */
  size_t n;
  struct mem_head *heads;    /* sorted by subject */
  atomic_uint_fast64_t used; /* mono_s of the last lookup */
};

static pthread_rwlock_t mem_lock = PTHREAD_RWLOCK_INITIALIZER;
/* Sorted by org id.  Under mem_lock. */
static struct mem_org *mem_orgs[HEADS_CACHE_ORGS];
static size_t mem_norgs;
static size_t mem_nheads;

static void
mem_org_free (struct mem_org *o)
{
  if (NULL == o)
    return;
  for (size_t i = 0; i < o->n; i++)
    free (o->heads[i].info.jws);
  free (o->heads);
  free (o);
}

/* Index of @a org_id in mem_orgs, or -1 with *at its insertion point.  Under mem_lock. */
static long
mem_find (const char *org_id, size_t *at)
{
  size_t lo = 0;
  size_t hi = mem_norgs;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int c = strcmp (mem_orgs[mid]->org_id, org_id);
      if (0 == c)
        return (long) mid;
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  if (NULL != at)
    *at = lo;
  return -1;
}

static const struct mem_head *
org_find_subject (const struct mem_org *o, const char *subject)
{
  size_t lo = 0;
  size_t hi = o->n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int c = strcmp (o->heads[mid].subject, subject);
      if (0 == c)
        return &o->heads[mid];
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

/* Remove mem_orgs[i] and return it.  Under the write lock. */
static struct mem_org *
mem_remove_at (size_t i)
{
  struct mem_org *o = mem_orgs[i];
  memmove (&mem_orgs[i], &mem_orgs[i + 1], (mem_norgs - i - 1) * sizeof (mem_orgs[0]));
  mem_norgs--;
  mem_nheads -= o->n;
  return o;
}

/*
 * Publish a freshly loaded @a o (taken over): it replaces the org's entry
 * unless that one is newer; least recently used other orgs go while the
 * limits are exceeded.
 */
static void
mem_publish (struct mem_org *o)
{
  atomic_store_explicit (&o->used, mono_s (), memory_order_relaxed);
  pthread_rwlock_wrlock (&mem_lock);
  size_t at = 0;
  long i = mem_find (o->org_id, &at);
  struct mem_org *drop = NULL;
  if (i >= 0)
    {
      if (mem_orgs[i]->serial > o->serial)
        drop = o; /* a newer load was published meanwhile */
      else
        {
          drop = mem_orgs[i];
          mem_nheads += o->n - drop->n;
          mem_orgs[i] = o;
        }
    }
  else
    {
      if (mem_norgs == HEADS_CACHE_ORGS)
        {
          /* make room: drop the least recently used org */
          size_t lru = 0;
          for (size_t k = 1; k < mem_norgs; k++)
            if (atomic_load_explicit (&mem_orgs[k]->used, memory_order_relaxed)
                < atomic_load_explicit (&mem_orgs[lru]->used, memory_order_relaxed))
              lru = k;
          mem_org_free (mem_remove_at (lru));
          mem_find (o->org_id, &at);
        }
      memmove (&mem_orgs[at + 1], &mem_orgs[at], (mem_norgs - at) * sizeof (mem_orgs[0]));
      mem_orgs[at] = o;
      mem_norgs++;
      mem_nheads += o->n;
    }
  while (mem_nheads > HEADS_CACHE_SUBJECTS && mem_norgs > 1)
    {
      size_t lru = SIZE_MAX;
      for (size_t k = 0; k < mem_norgs; k++)
        if (mem_orgs[k] != o
            && (SIZE_MAX == lru
                || atomic_load_explicit (&mem_orgs[k]->used, memory_order_relaxed)
                     < atomic_load_explicit (&mem_orgs[lru]->used, memory_order_relaxed)))
          lru = k;
      mem_org_free (mem_remove_at (lru));
    }
  pthread_rwlock_unlock (&mem_lock);
  mem_org_free (drop);
}

static void
mem_drop (const char *org_id)
{
  struct mem_org *o = NULL;
  pthread_rwlock_wrlock (&mem_lock);
  long i = mem_find (org_id, NULL);
  if (i >= 0)
    o = mem_remove_at ((size_t) i);
  pthread_rwlock_unlock (&mem_lock);
  mem_org_free (o);
}

static bool
mem_loaded (const char *org_id)
{
  pthread_rwlock_rdlock (&mem_lock);
  bool loaded = mem_find (org_id, NULL) >= 0;
  pthread_rwlock_unlock (&mem_lock);
  return loaded;
}

/** State of one load of an org's heads. */
struct load_ctx
{
  struct mem_org *o;
  size_t cap;
  bool failed;
};

static void
load_cb (void *cls, const struct db_head *h)
{
  struct load_ctx *lc = cls;
  struct mem_org *o = lc->o;
  if (lc->failed)
    return;
  if (o->n == lc->cap)
    {
      size_t cap = (0 == lc->cap) ? 16 : 2 * lc->cap;
      struct mem_head *g = realloc (o->heads, cap * sizeof (*g));
      if (NULL == g)
        {
          lc->failed = true;
          return;
        }
      o->heads = g;
      lc->cap = cap;
    }
  struct mem_head *m = &o->heads[o->n];
  memset (m, 0, sizeof (*m));
  memcpy (m->subject, h->subject_id, sizeof (m->subject));
  m->info.bundle_version = (uint64_t) h->bundle_version;
  m->info.head_serial = (uint64_t) h->head_serial;
  memcpy (m->info.sha256, h->sha256, sizeof (m->info.sha256));
  m->info.length = (uint64_t) h->length;
  m->info.keyset_version = (uint64_t) h->keyset_version;
  m->info.expires_at = h->expires_at;
  m->info.jws = strdup (h->jws);
  if (NULL == m->info.jws)
    {
      lc->failed = true;
      return;
    }
  o->n++;
}

static int
head_cmp (const void *a, const void *b)
{
  return strcmp (((const struct mem_head *) a)->subject, ((const struct mem_head *) b)->subject);
}

/* Load org @a org_id's heads from the database and publish them.  @return qs (>= 0 ok). */
static enum db_qs
mem_reload (const char *org_id)
{
  struct mem_org *o = calloc (1, sizeof (*o));
  if (NULL == o)
    return DB_QS_HARD_ERROR;
  memcpy (o->org_id, org_id, sizeof (o->org_id));
  struct load_ctx lc = { .o = o };
  enum db_qs qs = db_heads_load (org_id, &o->serial, load_cb, &lc);
  if (qs >= 0 && lc.failed)
    qs = DB_QS_HARD_ERROR;
  if (qs < 0)
    {
      mem_org_free (o);
      return qs;
    }
  if (o->n > 1)
    qsort (o->heads, o->n, sizeof (o->heads[0]), head_cmp);
  mem_publish (o);
  return DB_QS_ONE_RESULT;
}

/*
 * Copy the head of (@a org_id, @a subject) into @a out.
 * @return 1 found, 0 the org is loaded but has no such head, -1 the org is
 *         not loaded, -2 out of memory for the JWS copy.
 */
static int
mem_lookup (const char *org_id, const char *subject, struct bw_head_info *out, bool want_jws)
{
  int rc = -1;
  pthread_rwlock_rdlock (&mem_lock);
  long i = mem_find (org_id, NULL);
  if (i >= 0)
    {
      struct mem_org *o = mem_orgs[i];
      uint64_t now = mono_s ();
      if (atomic_load_explicit (&o->used, memory_order_relaxed) != now)
        atomic_store_explicit (&o->used, now, memory_order_relaxed);
      const struct mem_head *h = org_find_subject (o, subject);
      rc = 0;
      if (NULL != h)
        {
          *out = h->info;
          out->jws = NULL;
          rc = 1;
          if (want_jws && NULL == (out->jws = strdup (h->info.jws)))
            rc = -2;
        }
    }
  pthread_rwlock_unlock (&mem_lock);
  return rc;
}

/* ---- bundle bodies: LRU cache by bytes ---- */

struct bentry
{
  char sha256[BW_SHA256_HEX_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  unsigned char *body;
  size_t len;
  struct bentry *prev, *next; /* LRU list, most recent first */
  struct bentry *hnext;       /* bucket chain */
};

static pthread_mutex_t bcache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bentry *buckets[BUNDLE_CACHE_BUCKETS];
static struct bentry *lru_first, *lru_last;
static size_t bcache_bytes;

static size_t
bucket_of (const char *sha)
{
  size_t h = 0;
  for (int i = 0; i < 8; i++)
    h = h * 16 + (size_t) (('a' <= sha[i]) ? sha[i] - 'a' + 10 : sha[i] - '0');
  return h & (BUNDLE_CACHE_BUCKETS - 1);
}

static void
lru_unlink (struct bentry *e)
{
  if (NULL != e->prev)
    e->prev->next = e->next;
  else
    lru_first = e->next;
  if (NULL != e->next)
    e->next->prev = e->prev;
  else
    lru_last = e->prev;
  e->prev = e->next = NULL;
}

static void
lru_push_front (struct bentry *e)
{
  e->prev = NULL;
  e->next = lru_first;
  if (NULL != lru_first)
    lru_first->prev = e;
  lru_first = e;
  if (NULL == lru_last)
    lru_last = e;
}

/* Remove @a e from the cache and free it.  Under bcache_lock. */
static void
bentry_evict (struct bentry *e)
{
  struct bentry **pp = &buckets[bucket_of (e->sha256)];
  while (*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink (e);
  bcache_bytes -= e->len;
  free (e->body);
  free (e);
}

/* Cache a copy of @a body unless it is there or too large. */
static void
bcache_put (const char *org_id, const char *sha, const unsigned char *body, size_t len)
{
  if (len > BUNDLE_CACHE_ITEM_MAX)
    return;
  struct bentry *e = calloc (1, sizeof (*e));
  if (NULL == e || NULL == (e->body = malloc ((0 == len) ? 1 : len)))
    {
      free (e);
      return;
    }
  memcpy (e->body, body, len);
  e->len = len;
  memcpy (e->sha256, sha, sizeof (e->sha256));
  memcpy (e->org_id, org_id, sizeof (e->org_id));
  size_t b = bucket_of (sha);
  pthread_mutex_lock (&bcache_lock);
  for (struct bentry *x = buckets[b]; NULL != x; x = x->hnext)
    if (0 == strcmp (x->sha256, sha))
      {
        pthread_mutex_unlock (&bcache_lock);
        free (e->body);
        free (e);
        return;
      }
  e->hnext = buckets[b];
  buckets[b] = e;
  lru_push_front (e);
  bcache_bytes += len;
  while (bcache_bytes > BUNDLE_CACHE_BYTES && NULL != lru_last)
    bentry_evict (lru_last);
  pthread_mutex_unlock (&bcache_lock);
}

static void
bcache_clear (void)
{
  pthread_mutex_lock (&bcache_lock);
  while (NULL != lru_last)
    bentry_evict (lru_last);
  pthread_mutex_unlock (&bcache_lock);
}

enum db_qs
bw_bundles_get (const char *org_id, const char *sha256, unsigned char **body, size_t *len)
{
  *body = NULL;
  *len = 0;
  if (NULL == sha256 || !bw_sha256_hex_valid (sha256) || !bw_uuid_valid (org_id))
    return DB_QS_NO_RESULTS;
  pthread_mutex_lock (&bcache_lock);
  for (struct bentry *e = buckets[bucket_of (sha256)]; NULL != e; e = e->hnext)
    if (0 == strcmp (e->sha256, sha256))
      {
        enum db_qs qs = DB_QS_NO_RESULTS;
        if (0 == strcmp (e->org_id, org_id))
          {
            qs = DB_QS_HARD_ERROR;
            *body = malloc ((0 == e->len) ? 1 : e->len);
            if (NULL != *body)
              {
                memcpy (*body, e->body, e->len);
                *len = e->len;
                lru_unlink (e);
                lru_push_front (e);
                qs = DB_QS_ONE_RESULT;
              }
          }
        pthread_mutex_unlock (&bcache_lock);
        return qs;
      }
  pthread_mutex_unlock (&bcache_lock);
  enum db_qs qs = db_bundle_get (org_id, sha256, body, len);
  if (qs > 0)
    bcache_put (org_id, sha256, *body, *len);
  return qs;
}

/* ---- signing ---- */

/* Sign head @a h (its subject, bundle and serial set) of @a org_id and store it. */
static enum db_qs
sign_and_store (const char *org_id, const struct bw_signer *signer, struct db_head *h, int64_t now)
{
  struct bw_head_claims c;
  memset (&c, 0, sizeof (c));
  snprintf (c.iss, sizeof (c.iss), "%s", conf.iss);
  memcpy (c.sub, org_id, sizeof (c.sub));
  memcpy (c.aud, h->subject_id, sizeof (c.aud));
  c.bundle_version = (uint64_t) h->bundle_version;
  c.head_serial = (uint64_t) h->head_serial;
  memcpy (c.sha256, h->sha256, sizeof (c.sha256));
  c.length = (uint64_t) h->length;
  c.iat = now;
  c.exp = now + conf.ttl_s;
  c.keyset_version = signer->keyset_version;
  char *jws = bw_head_sign (&c, signer->key, signer->kid);
  if (NULL == jws)
    {
      bw_log_json (BW_LOG_ERROR, "cannot sign a head",
                   json_pack ("{s:s, s:s}", "org_id", org_id, "subject_id", h->subject_id));
      return DB_QS_HARD_ERROR;
    }
  h->keyset_version = (int64_t) signer->keyset_version;
  h->issued_at = c.iat;
  h->expires_at = c.exp;
  h->jws = jws;
  enum db_qs qs = db_head_upsert (org_id, h);
  h->jws = NULL;
  free (jws);
  return qs;
}

/** Heads collected by collect_cb. */
struct head_list
{
  struct db_head *v;
  size_t n, cap;
  bool failed;
};

static void
collect_cb (void *cls, const struct db_head *h)
{
  struct head_list *l = cls;
  if (l->failed)
    return;
  if (l->n == l->cap)
    {
      size_t cap = (0 == l->cap) ? 16 : 2 * l->cap;
      struct db_head *g = realloc (l->v, cap * sizeof (*g));
      if (NULL == g)
        {
          l->failed = true;
          return;
        }
      l->v = g;
      l->cap = cap;
    }
  l->v[l->n] = *h;
  l->v[l->n].jws = NULL;
  l->n++;
}

/*
 * Re-sign the heads of @a org_id that expire before @a expiring_before or
 * were signed under another keyset than @a signer's (all of them when
 * @a expiring_before < 0) with a new head serial; NOTIFY.  Inside the
 * transaction holding the bundle_state row lock.
 */
static enum db_qs
resign_heads (const char *org_id, const struct bw_signer *signer, int64_t expiring_before)
{
  struct head_list l = { 0 };
  int64_t serial;
  enum db_qs qs
    = db_heads_list (org_id, expiring_before, (int64_t) signer->keyset_version, collect_cb, &l);
  if (qs >= 0 && l.failed)
    qs = DB_QS_HARD_ERROR;
  if (qs > 0)
    qs = db_bundle_next_serial (org_id, &serial);
  if (qs > 0)
    {
      int64_t now = (int64_t) time (NULL);
      for (size_t i = 0; i < l.n && qs >= 0; i++)
        {
          l.v[i].head_serial = serial;
          qs = sign_and_store (org_id, signer, &l.v[i], now);
        }
      if (qs >= 0)
        qs = db_heads_notify (org_id);
      if (qs >= 0)
        qs = (enum db_qs) l.n;
    }
  free (l.v);
  return qs;
}

enum db_qs
bw_heads_resign_tx (const char *org_id, const struct bw_signer *signer)
{
  return resign_heads (org_id, signer, -1);
}

/* ---- compiling ---- */

/** One live policy of the org. */
struct pol
{
  char id[BW_UUID_LEN + 1];
  int64_t revision;
  json_t *doc;              /* the stored document */
  struct bw_policy *parsed; /* NULL: it does not parse (any more): in every bundle, fail closed */
};

/** What a compilation does for one subject. */
enum action
{
  KEEP,       /* same content, head still good */
  RESIGN,     /* same content and bundle, new head */
  NEW_BUNDLE, /* the compilation's new bundle version, new head */
  REUSE,      /* no head yet: the current bundle of its content, new head */
};

struct subj
{
  char id[BW_UUID_LEN + 1];
  bool is_user;
  unsigned char *applies;     /* owned: npol flags, 1 = the policy applies */
  size_t content;             /* index into work.contents */
  const struct db_head *head; /* its current head, or NULL */
  enum action action;
};

/** One distinct bundle content: the bundle without its version. */
struct content
{
  char *prefix; /* canonical JSON without the final '}' */
  size_t prefix_len;
  char key[BW_SHA256_HEX_LEN + 1];
  const struct db_head *cur; /* a head whose bundle has this content (highest version), or NULL */
  bool needs_new;
  char new_sha[BW_SHA256_HEX_LEN + 1];
  size_t new_len;
};

/** Content key of a stored bundle, memoized per sha256. */
struct key_memo
{
  char sha[BW_SHA256_HEX_LEN + 1];
  char key[BW_SHA256_HEX_LEN + 1];
  bool ok; /* the body has the expected shape */
};

/** Everything one compilation holds; freed by work_free. */
struct work
{
  struct pol *pols;
  size_t npol, polcap;
  bool failed;
  struct subj *subs;
  size_t nsub, subcap;
  struct content *contents;
  size_t ncontent;
  struct head_list heads;
  struct key_memo *memo;
  size_t nmemo;
};

static void
work_free (struct work *w)
{
  for (size_t i = 0; i < w->npol; i++)
    {
      json_decref (w->pols[i].doc);
      bw_policy_free (w->pols[i].parsed);
    }
  free (w->pols);
  for (size_t i = 0; i < w->nsub; i++)
    free (w->subs[i].applies);
  free (w->subs);
  for (size_t i = 0; i < w->ncontent; i++)
    free (w->contents[i].prefix);
  free (w->contents);
  free (w->heads.v);
  free (w->memo);
  memset (w, 0, sizeof (*w));
}

/** State of one compilation transaction. */
struct compile_ctx
{
  const char *org_id;
  const char *only; /* a new subject (an agent's first check-in): compile every
                       subject without a head, or NULL for all */
  const struct bw_signer *signer;
  bool stale_signer; /* out: rotation moved the keyset: fetch the signer again */
  struct work w;
};

static void
policy_cb (void *cls, const struct db_policy_current *c)
{
  struct work *w = cls;
  if (w->failed)
    return;
  if (w->npol == w->polcap)
    {
      size_t cap = (0 == w->polcap) ? 16 : 2 * w->polcap;
      struct pol *g = realloc (w->pols, cap * sizeof (*g));
      if (NULL == g)
        {
          w->failed = true;
          return;
        }
      w->pols = g;
      w->polcap = cap;
    }
  struct pol *p = &w->pols[w->npol];
  memset (p, 0, sizeof (*p));
  json_error_t jerr;
  p->doc = json_loadb (c->document, c->document_len, 0, &jerr);
  json_t *errors = json_array ();
  if (NULL == p->doc || NULL == errors)
    {
      json_decref (p->doc);
      json_decref (errors);
      w->failed = true;
      return;
    }
  p->parsed = bw_policy_parse (p->doc, "", errors);
  if (NULL == p->parsed)
    bw_log_json (BW_LOG_ERROR,
                 "stored policy does not parse; it goes into every bundle of "
                 "the org, whose agents then deny",
                 json_pack ("{s:s, s:O}", "policy_id", c->id, "errors", errors));
  json_decref (errors);
  snprintf (p->id, sizeof (p->id), "%s", c->id);
  p->revision = c->revision;
  w->npol++;
}

static void
subject_cb (void *cls, const struct db_bundle_subject *s)
{
  struct work *w = cls;
  if (w->failed)
    return;
  if (w->nsub == w->subcap)
    {
      size_t cap = (0 == w->subcap) ? 16 : 2 * w->subcap;
      struct subj *g = realloc (w->subs, cap * sizeof (*g));
      if (NULL == g)
        {
          w->failed = true;
          return;
        }
      w->subs = g;
      w->subcap = cap;
    }
  struct subj *u = &w->subs[w->nsub];
  memset (u, 0, sizeof (*u));
  u->applies = calloc (w->npol + 1, 1);
  if (NULL == u->applies)
    {
      w->failed = true;
      return;
    }
  snprintf (u->id, sizeof (u->id), "%s", s->id);
  u->is_user = s->is_user;
  for (size_t i = 0; i < w->npol; i++)
    u->applies[i]
      = (NULL == w->pols[i].parsed
         || bw_policy_applies (w->pols[i].parsed, s->is_user ? s->id : NULL, s->groups, s->ngroups))
          ? 1
          : 0;
  w->nsub++;
}

/* qsort_r: subjects by their policy flags. */
static int
applies_cmp (const void *a, const void *b, void *npol)
{
  const struct subj *x = *(struct subj *const *) a;
  const struct subj *y = *(struct subj *const *) b;
  return memcmp (x->applies, y->applies, *(size_t *) npol);
}

/* The content prefix of the bundle holding the policies flagged in @a applies. */
static int
build_content (const char *org_id, const struct work *w, const unsigned char *applies,
               struct content *c)
{
  json_t *pols = json_array ();
  for (size_t i = 0; NULL != pols && i < w->npol; i++)
    if (applies[i]
        && 0
             != json_array_append_new (
               pols, json_pack ("{s:s, s:I, s:O}", "id", w->pols[i].id, "revision",
                                (json_int_t) w->pols[i].revision, "document", w->pols[i].doc)))
      {
        json_decref (pols);
        pols = NULL;
      }
  if (NULL == pols)
    return -1;
  json_t *doc = json_pack ("{s:[], s:s, s:o, s:s, s:{s:I, s:I, s:I, s:I}}", "catalog", "org",
                           org_id, "policies", pols, "schema", BW_BUNDLE_SCHEMA, "settings",
                           "checkin_interval_s", (json_int_t) conf.settings.checkin_interval_s,
                           "checkin_jitter_s", (json_int_t) conf.settings.checkin_jitter_s,
                           "stale_limit_s", (json_int_t) conf.settings.stale_limit_s,
                           "events_batch_max", (json_int_t) conf.settings.events_batch_max);
  char *text = (NULL != doc) ? bw_json_canonical (doc) : NULL;
  json_decref (doc);
  size_t len = (NULL != text) ? strlen (text) : 0;
  if (len < 2 || '}' != text[len - 1])
    {
      bw_log_json (BW_LOG_ERROR, "cannot build a bundle (a policy holds a real number?)",
                   json_pack ("{s:s}", "org_id", org_id));
      free (text);
      return -1;
    }
  text[len - 1] = '\0';
  c->prefix = text;
  c->prefix_len = len - 1;
  bw_sha256_hex (c->prefix, c->prefix_len, c->key);
  return 0;
}

/*
 * Content key of a stored bundle body: SHA-256 of everything before its
 * final `,"version":<digits>}`.  @return 0, or -1 if it is not so shaped.
 */
static int
body_content_key (const unsigned char *b, size_t len, char key[BW_SHA256_HEX_LEN + 1])
{
  const size_t kl = strlen (VERSION_KEY);
  if (len < 2 || '}' != b[len - 1])
    return -1;
  size_t i = len - 1;
  while (i > 0 && b[i - 1] >= '0' && b[i - 1] <= '9')
    i--;
  if (i == len - 1 || i < kl || 0 != memcmp (b + i - kl, VERSION_KEY, kl))
    return -1;
  bw_sha256_hex (b, i - kl, key);
  return 0;
}

/* The content key of the bundle @a sha (memoized).  @return the memo entry, or NULL (qs set). */
static const struct key_memo *
old_content_key (const char *org_id, struct work *w, const char *sha, enum db_qs *qs)
{
  for (size_t i = 0; i < w->nmemo; i++)
    if (0 == strcmp (w->memo[i].sha, sha))
      return &w->memo[i];
  /* at most one entry per head: the array was sized for all of them */
  struct key_memo *m = &w->memo[w->nmemo];
  unsigned char *body = NULL;
  size_t len = 0;
  *qs = bw_bundles_get (org_id, sha, &body, &len);
  if (*qs < 0)
    return NULL;
  memset (m, 0, sizeof (*m));
  memcpy (m->sha, sha, sizeof (m->sha));
  m->ok = *qs > 0 && 0 == body_content_key (body, len, m->key);
  free (body);
  w->nmemo++;
  return m;
}

/*
 * The new bundle of content @a c at @a version: stored, its sha256 and
 * length into @a c.
 */
static enum db_qs
store_new_bundle (const char *org_id, struct content *c, int64_t version)
{
  char tail[sizeof (VERSION_KEY) + U64_TEXT_SIZE + 1];
  int tl = snprintf (tail, sizeof (tail), VERSION_KEY "%" PRId64 "}", version);
  size_t len = c->prefix_len + (size_t) tl;
  if (len > BW_BUNDLE_MAX)
    {
      bw_log_json (BW_LOG_ERROR,
                   "a bundle exceeds the size limit; its subjects keep their "
                   "current bundle",
                   json_pack ("{s:s, s:I, s:I}", "org_id", org_id, "bytes", (json_int_t) len,
                              "limit", (json_int_t) BW_BUNDLE_MAX));
      return DB_QS_HARD_ERROR;
    }
  unsigned char *body = malloc (len);
  if (NULL == body)
    return DB_QS_HARD_ERROR;
  memcpy (body, c->prefix, c->prefix_len);
  memcpy (body + c->prefix_len, tail, (size_t) tl);
  bw_sha256_hex (body, len, c->new_sha);
  c->new_len = len;
  enum db_qs qs = db_bundle_insert (org_id, c->new_sha, version, body, len);
  if (qs >= 0)
    bcache_put (org_id, c->new_sha, body, len);
  free (body);
  return qs;
}

/* bsearch over w->heads.v (sorted by subject). */
static const struct db_head *
find_head (const struct work *w, const char *subject)
{
  size_t lo = 0;
  size_t hi = w->heads.n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int c = strcmp (w->heads.v[mid].subject_id, subject);
      if (0 == c)
        return &w->heads.v[mid];
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

/* Group the subjects by content; build each content.  @return 0, or -1. */
static int
group_contents (const char *org_id, struct work *w)
{
  struct subj **order = malloc ((w->nsub + 1) * sizeof (*order));
  w->contents = calloc (w->nsub + 1, sizeof (*w->contents));
  if (NULL == order || NULL == w->contents)
    {
      free (order);
      return -1;
    }
  for (size_t i = 0; i < w->nsub; i++)
    order[i] = &w->subs[i];
  qsort_r (order, w->nsub, sizeof (*order), applies_cmp, &w->npol);
  int rc = 0;
  for (size_t i = 0; i < w->nsub && 0 == rc; i++)
    {
      if (0 == i || 0 != memcmp (order[i]->applies, order[i - 1]->applies, w->npol))
        {
          rc = build_content (org_id, w, order[i]->applies, &w->contents[w->ncontent]);
          if (0 == rc)
            w->ncontent++;
        }
      order[i]->content = w->ncontent - 1;
    }
  free (order);
  return rc;
}

static enum db_qs
compile_tx (void *cls)
{
  struct compile_ctx *cx = cls;
  const char *org = cx->org_id;
  struct work *w = &cx->w;
  struct db_bundle_state st;
  int64_t policy_version = 0;
  enum db_qs qs;

  work_free (w);
  cx->stale_signer = false;
  if ((qs = db_bundle_state_lock (org, &st)) <= 0)
    return qs;
  if (st.keyset_version != (int64_t) cx->signer->keyset_version)
    {
      cx->stale_signer = true;
      return DB_QS_ABORT;
    }
  /* a new subject whose head another request compiled while this one waited for the lock */
  if (NULL != cx->only && (qs = db_head_exists (org, cx->only)) != 0)
    return (qs > 0) ? DB_QS_NO_RESULTS : qs;
  qs = db_policy_load_current (org, &policy_version, policy_cb, w);
  if (qs <= 0 || w->failed)
    return w->failed ? DB_QS_HARD_ERROR : qs;
  if (NULL == cx->only && st.compiled_policy_version >= policy_version)
    return DB_QS_NO_RESULTS; /* another replica compiled it already */
  if ((qs = db_bundle_subjects (org, NULL, subject_cb, w)) < 0
      || (qs = db_heads_list (org, -1, 0, collect_cb, &w->heads)) < 0)
    return qs;
  if (w->failed || w->heads.failed)
    return DB_QS_HARD_ERROR;
  if (NULL != cx->only)
    {
      bool found = false;
      for (size_t i = 0; i < w->nsub && !found; i++)
        found = 0 == strcmp (w->subs[i].id, cx->only);
      if (!found)
        return DB_QS_NO_RESULTS; /* no live agent or active user behind it */
    }
  if (0 != group_contents (org, w)
      || NULL == (w->memo = calloc (w->heads.n + 1, sizeof (*w->memo))))
    return DB_QS_HARD_ERROR;

  /* the current bundle of each content: the highest version among the heads holding it */
  for (size_t i = 0; i < w->heads.n; i++)
    {
      const struct db_head *h = &w->heads.v[i];
      const struct key_memo *m = old_content_key (org, w, h->sha256, &qs);
      if (NULL == m)
        return qs;
      for (size_t c = 0; m->ok && c < w->ncontent; c++)
        if (0 == strcmp (m->key, w->contents[c].key)
            && (NULL == w->contents[c].cur
                || w->contents[c].cur->bundle_version < h->bundle_version))
          w->contents[c].cur = h;
    }

  int64_t now = (int64_t) time (NULL);
  bool any_new = false;
  bool any_sign = false;
  for (size_t i = 0; i < w->nsub; i++)
    {
      struct subj *u = &w->subs[i];
      struct content *c = &w->contents[u->content];
      u->head = find_head (w, u->id);
      const struct key_memo *m
        = (NULL != u->head) ? old_content_key (org, w, u->head->sha256, &qs) : NULL;
      if (NULL != u->head && NULL == m)
        return qs;
      if (NULL != u->head && NULL != cx->only)
        u->action = KEEP; /* new subjects only: the others wait for their compilation */
      else if (NULL != u->head && m->ok && 0 == strcmp (m->key, c->key))
        u->action = (u->head->expires_at < now + conf.ttl_s / 2
                     || u->head->keyset_version != (int64_t) cx->signer->keyset_version)
                      ? RESIGN
                      : KEEP;
      else if (NULL == u->head && NULL != c->cur)
        u->action = REUSE;
      else
        {
          u->action = NEW_BUNDLE;
          c->needs_new = true;
          any_new = true;
        }
      any_sign = any_sign || KEEP != u->action;
    }

  int64_t version = 0;
  int64_t serial = 0;
  if (any_new && (qs = db_bundle_next_version (org, &version)) <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  for (size_t c = 0; any_new && c < w->ncontent; c++)
    if (w->contents[c].needs_new && (qs = store_new_bundle (org, &w->contents[c], version)) < 0)
      return qs;
  if (any_sign && (qs = db_bundle_next_serial (org, &serial)) <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  size_t written = 0;
  for (size_t i = 0; i < w->nsub; i++)
    {
      const struct subj *u = &w->subs[i];
      const struct content *c = &w->contents[u->content];
      struct db_head h;
      if (KEEP == u->action)
        continue;
      memset (&h, 0, sizeof (h));
      memcpy (h.subject_id, u->id, sizeof (h.subject_id));
      h.head_serial = serial;
      if (NEW_BUNDLE == u->action)
        {
          h.bundle_version = version;
          memcpy (h.sha256, c->new_sha, sizeof (h.sha256));
          h.length = (int64_t) c->new_len;
        }
      else
        {
          const struct db_head *from = (RESIGN == u->action) ? u->head : c->cur;
          h.bundle_version = from->bundle_version;
          memcpy (h.sha256, from->sha256, sizeof (h.sha256));
          h.length = from->length;
        }
      if ((qs = sign_and_store (org, cx->signer, &h, now)) < 0)
        return qs;
      written++;
    }

  size_t deleted = 0;
  if (NULL == cx->only)
    {
      const char **keep = malloc ((w->nsub + 1) * sizeof (*keep));
      if (NULL == keep)
        return DB_QS_HARD_ERROR;
      for (size_t i = 0; i < w->nsub; i++)
        keep[i] = w->subs[i].id;
      qs = db_heads_delete_except (org, keep, w->nsub);
      free (keep);
      if (qs < 0
          || (deleted = (size_t) qs, qs = db_bundle_state_set_compiled (org, policy_version)) < 0)
        return qs;
    }
  if ((written > 0 || deleted > 0) && (qs = db_heads_notify (org)) < 0)
    return qs;
  if (written > 0 || NULL == cx->only)
    bw_log_json (BW_LOG_INFO, "bundles compiled",
                 json_pack ("{s:s, s:I, s:i, s:i, s:I, s:i, s:i}", "org_id", org, "policy_version",
                            (json_int_t) policy_version, "subjects", (int) w->nsub, "heads_written",
                            (int) written, "bundle_version", (json_int_t) version, "contents",
                            (int) w->ncontent, "heads_deleted", (int) deleted));
  return (enum db_qs) written;
}

/*
 * Compile org @a org_id: every subject when @a only is NULL (and only if
 * its policy version moved); else, if subject @a only has no head yet,
 * every subject without a head (so that a fleet enrolling at once costs
 * one compilation, not one per agent).
 * Runs its own transactions.  @return heads written (>= 0) or negative.
 */
static enum db_qs
compile_org (const char *org_id, const char *only)
{
  for (int attempt = 0; attempt < SIGNER_ATTEMPTS; attempt++)
    {
      struct bw_signer *signer = NULL;
      enum db_qs qs = bw_keys_signer (org_id, &signer);
      if (qs <= 0)
        return qs;
      qs = db_bundle_state_ensure (org_id);
      struct compile_ctx cx = { .org_id = org_id, .only = only, .signer = signer };
      if (qs >= 0)
        qs = db_tx_run (DB_READ_COMMITTED, compile_tx, &cx);
      work_free (&cx.w);
      bw_signer_free (signer);
      if (DB_QS_ABORT == qs && cx.stale_signer)
        {
          bw_keys_invalidate (org_id);
          continue;
        }
      return qs;
    }
  return DB_QS_HARD_ERROR;
}

/** State of one re-signing transaction. */
struct resign_ctx
{
  const char *org_id;
  const struct bw_signer *signer;
  int64_t before;
  bool stale_signer;
};

static enum db_qs
resign_tx (void *cls)
{
  struct resign_ctx *rx = cls;
  struct db_bundle_state st;
  rx->stale_signer = false;
  enum db_qs qs = db_bundle_state_lock (rx->org_id, &st);
  if (qs <= 0)
    return qs;
  if (st.keyset_version != (int64_t) rx->signer->keyset_version)
    {
      rx->stale_signer = true;
      return DB_QS_ABORT;
    }
  return resign_heads (rx->org_id, rx->signer, rx->before);
}

static enum db_qs
resign_org (const char *org_id, int64_t before)
{
  for (int attempt = 0; attempt < SIGNER_ATTEMPTS; attempt++)
    {
      struct bw_signer *signer = NULL;
      enum db_qs qs = bw_keys_signer (org_id, &signer);
      if (qs <= 0)
        return qs;
      struct resign_ctx rx = { .org_id = org_id, .signer = signer, .before = before };
      qs = db_tx_run (DB_READ_COMMITTED, resign_tx, &rx);
      bw_signer_free (signer);
      if (DB_QS_ABORT == qs && rx.stale_signer)
        {
          bw_keys_invalidate (org_id);
          continue;
        }
      return qs;
    }
  return DB_QS_HARD_ERROR;
}

/* ---- the hot path ---- */

enum db_qs
bw_heads_get (const char *org_id, const char *subject_id, bool subject_is_user,
              struct bw_head_info *out, bool want_jws)
{
  bool compiled = false;
  memset (out, 0, sizeof (*out));
  if (!bw_uuid_valid (org_id) || !bw_uuid_valid (subject_id))
    return DB_QS_NO_RESULTS;
  for (int attempt = 0; attempt < 3; attempt++)
    {
      int found = mem_lookup (org_id, subject_id, out, want_jws);
      if (1 == found)
        return DB_QS_ONE_RESULT;
      if (-2 == found)
        return DB_QS_HARD_ERROR;
      enum db_qs qs;
      if (0 == found)
        {
          if (compiled)
            break;
          /* a new subject: compile its bundle now, then read the org again */
          compiled = true;
          qs = compile_org (org_id, subject_id);
          if (qs < 0)
            return qs;
        }
      qs = mem_reload (org_id);
      if (qs < 0)
        return qs;
    }
  return DB_QS_NO_RESULTS;
}

/* ---- the worker: compilation queue and re-signing job ---- */

static struct
{
  pthread_mutex_t lock;
  pthread_cond_t wake; /* CLOCK_MONOTONIC */
  char queue[COMPILE_QUEUE_MAX][BW_UUID_LEN + 1];
  size_t n;
  bool sweep; /* compile every org that is behind */
  bool stop;
  bool running;
  pthread_t thread;
} wk = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Queue @a org_id (NULL: sweep every org) for compilation. */
static void
enqueue (const char *org_id)
{
  pthread_mutex_lock (&wk.lock);
  if (NULL == org_id || wk.n == COMPILE_QUEUE_MAX)
    wk.sweep = true;
  else
    {
      bool queued = false;
      for (size_t i = 0; i < wk.n && !queued; i++)
        queued = 0 == strcmp (wk.queue[i], org_id);
      if (!queued)
        memcpy (wk.queue[wk.n++], org_id, BW_UUID_LEN + 1);
    }
  pthread_cond_signal (&wk.wake);
  pthread_mutex_unlock (&wk.lock);
}

/** Org ids collected by a sweep or a re-signing query. */
struct id_list
{
  char (*v)[BW_UUID_LEN + 1];
  size_t n, cap;
};

static void
id_add (void *cls, const char *id)
{
  struct id_list *l = cls;
  if (!bw_uuid_valid (id))
    return;
  if (l->n == l->cap)
    {
      size_t cap = (0 == l->cap) ? 64 : 2 * l->cap;
      char (*g)[BW_UUID_LEN + 1] = realloc (l->v, cap * sizeof (*g));
      if (NULL == g)
        return;
      l->v = g;
      l->cap = cap;
    }
  memcpy (l->v[l->n++], id, BW_UUID_LEN + 1);
}

/* The re-signing job: only on the replica whose worker holds the advisory lock. */
static void
resign_job (void)
{
  bool held = false;
  if (db_bundle_try_job_lock (BW_HEAD_RESIGN_LOCK_KEY, &held) < 0 || !held)
    return;
  int64_t before = (int64_t) time (NULL) + conf.ttl_s / 2;
  struct id_list l = { 0 };
  if (db_heads_orgs_to_resign (before, JOB_ORGS_MAX, id_add, &l) > 0)
    for (size_t i = 0; i < l.n; i++)
      {
        enum db_qs qs = resign_org (l.v[i], before);
        if (qs < 0)
          bw_log_json (BW_LOG_WARN, "re-signing heads failed; retried next run",
                       json_pack ("{s:s, s:i}", "org_id", l.v[i], "qs", (int) qs));
        else if (qs > 0)
          bw_log_json (BW_LOG_INFO, "heads re-signed",
                       json_pack ("{s:s, s:i}", "org_id", l.v[i], "heads", (int) qs));
      }
  free (l.v);
}

/* Compile every org of @a l.  @return false if one failed (retry later). */
static bool
compile_all (const struct id_list *l)
{
  bool ok = true;
  for (size_t i = 0; i < l->n; i++)
    {
      enum db_qs qs = compile_org (l->v[i], NULL);
      if (qs < 0)
        {
          ok = false;
          bw_log_json (BW_LOG_WARN, "bundle compilation failed; retrying shortly",
                       json_pack ("{s:s, s:i}", "org_id", l->v[i], "qs", (int) qs));
        }
    }
  return ok;
}

static void
deadline_after (struct timespec *ts, uint64_t s)
{
  clock_gettime (CLOCK_MONOTONIC, ts);
  ts->tv_sec += (time_t) s;
}

static void *
worker (void *unused)
{
  uint64_t next_resign = mono_s () + RESIGN_FIRST_DELAY_S;
  uint64_t retry_at = 0;
  pthread_mutex_lock (&wk.lock);
  while (!wk.stop)
    {
      uint64_t now = mono_s ();
      if (0 != retry_at && now >= retry_at)
        {
          wk.sweep = true;
          retry_at = 0;
        }
      if (0 == wk.n && !wk.sweep && now < next_resign)
        {
          uint64_t until = next_resign;
          if (0 != retry_at && retry_at < until)
            until = retry_at;
          struct timespec ts;
          deadline_after (&ts, until - now);
          pthread_cond_timedwait (&wk.wake, &wk.lock, &ts);
          continue;
        }
      struct id_list l = { 0 };
      for (size_t i = 0; i < wk.n; i++)
        id_add (&l, wk.queue[i]);
      wk.n = 0;
      bool sweep = wk.sweep;
      wk.sweep = false;
      pthread_mutex_unlock (&wk.lock);

      if (sweep && db_bundle_orgs_to_compile (JOB_ORGS_MAX, id_add, &l) < 0)
        retry_at = mono_s () + COMPILE_RETRY_S;
      if (!compile_all (&l))
        retry_at = mono_s () + COMPILE_RETRY_S;
      free (l.v);
      if (mono_s () >= next_resign)
        {
          resign_job ();
          next_resign = mono_s () + conf.resign_period_s;
        }
      pthread_mutex_lock (&wk.lock);
    }
  pthread_mutex_unlock (&wk.lock);
  db_thread_close (); /* also ends the advisory lock */
  return NULL;
}

/* ---- notifications (on the listener thread) ---- */

/* bulwark_policy "<org>:<version>": compile the org; NULL: sweep. */
static void
on_policy (void *cls, const char *channel, const char *payload)
{
  char org[BW_UUID_LEN + 1];
  if (NULL == payload)
    {
      enqueue (NULL);
      return;
    }
  snprintf (org, sizeof (org), "%s", payload);
  if (bw_uuid_valid (org))
    enqueue (org);
}

/* Reload @a org_id's heads if this replica holds them; on failure drop them (fail closed). */
static void
reload_if_loaded (const char *org_id)
{
  if (!mem_loaded (org_id))
    return;
  if (mem_reload (org_id) < 0)
    {
      bw_log_json (BW_LOG_WARN, "cannot reload an org's heads; dropped from memory",
                   json_pack ("{s:s}", "org_id", org_id));
      mem_drop (org_id);
    }
}

/* bulwark_heads "<org>": reload the org and wake its long-polls; NULL: every org. */
static void
on_heads (void *cls, const char *channel, const char *payload)
{
  if (NULL != payload)
    {
      if (!bw_uuid_valid (payload))
        return;
      reload_if_loaded (payload);
      bw_longpoll_wake_org (payload);
      return;
    }
  struct id_list l = { 0 };
  pthread_rwlock_rdlock (&mem_lock);
  for (size_t i = 0; i < mem_norgs; i++)
    id_add (&l, mem_orgs[i]->org_id);
  pthread_rwlock_unlock (&mem_lock);
  for (size_t i = 0; i < l.n; i++)
    reload_if_loaded (l.v[i]);
  free (l.v);
  bw_longpoll_wake_org (NULL);
}

/* bulwark_keys "<org>": forget the org's cached signer; NULL: all. */
static void
on_keys (void *cls, const char *channel, const char *payload)
{
  if (NULL == payload || bw_uuid_valid (payload))
    bw_keys_invalidate (payload);
}

/* ---- start and stop ---- */

int
bw_heads_start (const struct bw_config *cfg)
{
  conf.ttl_s = (int64_t) cfg->head_ttl_s;
  conf.resign_period_s = cfg->head_ttl_s / 4;
  if (conf.resign_period_s > BW_HEAD_RESIGN_PERIOD_MAX_S)
    conf.resign_period_s = BW_HEAD_RESIGN_PERIOD_MAX_S;
  if (conf.resign_period_s < 1)
    conf.resign_period_s = 1;
  if (strlen (cfg->public_url) > BW_HEAD_ISS_MAX)
    return -1;
  snprintf (conf.iss, sizeof (conf.iss), "%s", cfg->public_url);
  conf.settings.checkin_interval_s = (uint32_t) cfg->checkin_interval_s;
  conf.settings.checkin_jitter_s = (uint32_t) cfg->checkin_jitter_s;
  conf.settings.stale_limit_s = (uint32_t) cfg->stale_limit_s;
  conf.settings.events_batch_max = BW_BUNDLE_EVENTS_BATCH_MAX;

  if (0 != bw_notify_subscribe (DB_POLICY_NOTIFY_CHANNEL, on_policy, NULL)
      || 0 != bw_notify_subscribe (BW_HEADS_NOTIFY_CHANNEL, on_heads, NULL)
      || 0 != bw_notify_subscribe (DB_KEYS_NOTIFY_CHANNEL, on_keys, NULL))
    return -1;

  pthread_condattr_t attr;
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&wk.wake, &attr);
  pthread_condattr_destroy (&attr);
  wk.stop = false;
  wk.n = 0;
  wk.sweep = false;
  if (0 != pthread_create (&wk.thread, NULL, &worker, NULL))
    {
      pthread_cond_destroy (&wk.wake);
      return -1;
    }
  wk.running = true;
  bw_log_json (BW_LOG_INFO, "bundle compiler started",
               json_pack ("{s:I, s:I, s:s}", "head_ttl_s", (json_int_t) conf.ttl_s,
                          "resign_period_s", (json_int_t) conf.resign_period_s, "iss", conf.iss));
  return 0;
}

void
bw_heads_stop (void)
{
  if (wk.running)
    {
      pthread_mutex_lock (&wk.lock);
      wk.stop = true;
      pthread_cond_signal (&wk.wake);
      pthread_mutex_unlock (&wk.lock);
      pthread_join (wk.thread, NULL);
      pthread_cond_destroy (&wk.wake);
      wk.running = false;
    }
  pthread_rwlock_wrlock (&mem_lock);
  while (mem_norgs > 0)
    mem_org_free (mem_remove_at (mem_norgs - 1));
  pthread_rwlock_unlock (&mem_lock);
  bcache_clear ();
  bw_keys_invalidate (NULL);
}
