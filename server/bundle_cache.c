/*
 * Bundle bodies (see server/bundle_cache.h): an LRU cache bounded in bytes
 * in front of db_bundle_get.  Entries hang in a hash table by sha256 (the
 * first eight hex digits pick the bucket) and in one list, most recently
 * used first; one mutex guards both.  Each entry remembers its org, and a
 * hit for another org is "no result", exactly as the database would answer.
 */
#include "config.h"
#include "server/bundle_cache.h"
#include "db/bundle.h"
#include "lib/crypto.h"
#include "lib/ident.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/** Bytes of bundle bodies kept in memory for downloads. */
#define BUNDLE_CACHE_BYTES (64u * 1024 * 1024)
/** Largest bundle kept in that cache. */
#define BUNDLE_CACHE_ITEM_MAX (BUNDLE_CACHE_BYTES / 8)
/** Hash buckets of the bundle cache (a power of two). */
#define BUNDLE_CACHE_BUCKETS 1024

_Static_assert(0 == (BUNDLE_CACHE_BUCKETS & (BUNDLE_CACHE_BUCKETS - 1)), "power of two");

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
void
bw_bundle_cache_put (const char *org_id, const char *sha, const unsigned char *body, size_t len)
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

void
bw_bundle_cache_clear (void)
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
    bw_bundle_cache_put (org_id, sha256, *body, *len);
  return qs;
}
