/*
 * Heads in memory, and the worker that keeps them compiled and signed (see
 * server/heads.h).  Compiling and signing themselves are in
 * server/bundle_compiler.c, bundle bodies in server/bundle_cache.c.
 *
 * Memory.  Every replica keeps the heads of the orgs its agents asked for
 * (HEADS_CACHE_ORGS orgs, HEADS_CACHE_SUBJECTS heads, least recently used
 * org out) in sorted arrays under one rwlock: the check-in hot path is two
 * binary searches and a struct copy, with no SQL and no allocation but the
 * optional JWS copy.  A subject with no head is compiled synchronously by
 * bw_heads_get (bw_compiler_compile_org), then the org is read again.
 * NOTIFY bulwark_heads reloads a loaded org (one query, on the listener
 * thread) and wakes its long-polls.  Loads carry the org's head_serial,
 * read in the same snapshot, and an older load never replaces a newer one.
 *
 * The worker.  NOTIFY bulwark_policy reaches every replica; each queues
 * the org for its worker thread, which compiles it (the first replica to
 * take the org's row lock does the work, server/bundle_compiler.c); a full
 * queue, a NOTIFY without payload and a failed compilation (after
 * COMPILE_RETRY_S) make it sweep every org that is behind.  The worker
 * also runs the re-signing job every min(BW_HEAD_RESIGN_PERIOD_MAX_S,
 * ttl / 4) seconds, when its connection holds the advisory lock
 * BW_HEAD_RESIGN_LOCK_KEY: heads with less than half their lifetime left,
 * or signed under an older keyset, are re-signed.
 */
#include "config.h"
#include "server/heads.h"
#include "db/bundle.h"
#include "db/policy_version.h"
#include "db/signing_key.h"
#include "lib/ident.h"
#include "lib/log.h"
#include "server/bundle_cache.h"
#include "server/bundle_compiler.h"
#include "server/keys.h"
#include "server/longpoll.h"
#include "server/notify.h"

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
/** Orgs waiting for compilation; past it, the worker sweeps every org instead. */
#define COMPILE_QUEUE_MAX 1024
/** Orgs one sweep or one re-signing run takes (the next run takes the rest). */
#define JOB_ORGS_MAX 1000
/** Seconds after a failed compilation before the worker sweeps again. */
#define COMPILE_RETRY_S 5
/** Seconds after start before the first re-signing run. */
#define RESIGN_FIRST_DELAY_S 5

/* ---- configuration ---- */

static struct
{
  int64_t ttl_s;
  unsigned long resign_period_s;
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
          qs = bw_compiler_compile_org (org_id, subject_id);
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
        enum db_qs qs = bw_compiler_resign_org (l.v[i], before);
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
      enum db_qs qs = bw_compiler_compile_org (l->v[i], NULL);
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
  if (0 != bw_compiler_configure (cfg))
    return -1;

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
                          "resign_period_s", (json_int_t) conf.resign_period_s, "iss",
                          cfg->public_url));
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
  bw_bundle_cache_clear ();
  bw_keys_invalidate (NULL);
}
