/*
 * The per-process cache of parsed policy sets (see api/policy_cache.h).
 * One mutex guards the slots and every reference count; loading and
 * parsing happen outside it.  A set holds one reference for its cache slot
 * and one per reader.
 */
#include "config.h"
#include "api/policy_cache.h"
#include "db/catalog.h"
#include "db/policy.h"
#include "lib/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
/** Cached sets, at most one per org; NULL slots are free.  Under cache_lock. */
static struct api_policy_set *slots[API_POLICY_CACHE_ORGS];
/** Logical clock of uses, for least-recently-used eviction.  Under cache_lock. */
static uint64_t use_clock;

/* Free what @a s holds, keeping its entries array: an empty set again. */
static void
set_clear (struct api_policy_set *s)
{
  for (size_t i = 0; i < s->n; i++)
    bw_policy_free (s->entries[i].policy);
  s->n = 0;
  s->version = 0;
  s->broken = false;
  bw_catalog_free (s->catalog);
  s->catalog = NULL;
}

static void
set_free (struct api_policy_set *s)
{
  set_clear (s);
  free (s->entries);
  free (s);
}

/** Drop one reference of @a s; the last frees it.  Under cache_lock. */
static void
unref_locked (struct api_policy_set *s)
{
  if (0 == --s->refs)
    set_free (s);
}

/** The slot holding @a org_id's set, or -1.  Under cache_lock. */
static int
find_slot (const char *org_id)
{
  for (int i = 0; i < API_POLICY_CACHE_ORGS; i++)
    if (NULL != slots[i] && 0 == strcmp (slots[i]->org_id, org_id))
      return i;
  return -1;
}

/** A free slot, else the least recently used one.  Under cache_lock. */
static int
victim_slot (void)
{
  int victim = 0;
  for (int i = 0; i < API_POLICY_CACHE_ORGS; i++)
    {
      if (NULL == slots[i])
        return i;
      if (slots[i]->used < slots[victim]->used)
        victim = i;
    }
  return victim;
}

/** State of one load. */
struct load_ctx
{
  struct api_policy_set *set;
  size_t cap;  /**< entries allocated */
  bool failed; /**< allocation failure */
};

/* Parse one stored policy into the set being loaded. */
static void
load_cb (void *cls, const struct db_policy_current *c)
{
  struct load_ctx *lc = cls;
  struct api_policy_set *s = lc->set;
  if (lc->failed)
    return;
  if (s->n == lc->cap)
    {
      size_t cap = (0 == lc->cap) ? 16 : 2 * lc->cap;
      struct api_policy_entry *e = realloc (s->entries, cap * sizeof (*e));
      if (NULL == e)
        {
          lc->failed = true;
          return;
        }
      s->entries = e;
      lc->cap = cap;
    }
  json_error_t jerr;
  json_t *doc = json_loadb (c->document, c->document_len, 0, &jerr);
  json_t *errors = json_array ();
  struct bw_policy *p = (NULL != doc && NULL != errors) ? bw_policy_parse (doc, "", errors) : NULL;
  if (NULL == p)
    {
      if (NULL == doc || NULL == errors || 0 == json_array_size (errors))
        lc->failed = true; /* no memory (a stored document is always JSON) */
      else
        {
          /* stored under an older parser, refused by this one: fail closed */
          s->broken = true;
          bw_log_json (BW_LOG_ERROR, "stored policy does not parse; the org's decisions are deny",
                       json_pack ("{s:s, s:s, s:I, s:O}", "org_id", s->org_id, "policy_id", c->id,
                                  "revision", (json_int_t) c->revision, "errors", errors));
        }
    }
  else
    {
      struct api_policy_entry *e = &s->entries[s->n++];
      e->policy = p;
      e->revision = c->revision;
      snprintf (e->id, sizeof (e->id), "%s", c->id);
    }
  json_decref (errors);
  json_decref (doc);
}

/** Bytes of the reason bw_catalog_parse gives. */
#define WHY_MAX 160

/* The policies, the version and the catalog slice: one snapshot (REPEATABLE READ). */
static enum db_qs
load_tx (void *cls)
{
  struct load_ctx *lc = cls;
  struct api_policy_set *s = lc->set;
  set_clear (s); /* a transaction attempt starts afresh */
  lc->failed = false;
  enum db_qs qs = db_policy_load_current (s->org_id, &s->version, load_cb, lc);
  if (qs <= 0)
    return qs;
  if (lc->failed)
    return DB_QS_HARD_ERROR;
  json_t *slice = NULL;
  if ((qs = db_catalog_slice (s->org_id, &slice)) <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  char why[WHY_MAX] = "";
  s->catalog = bw_catalog_parse (slice, why, sizeof (why));
  json_decref (slice);
  if (NULL == s->catalog)
    {
      /* written by this server, refused by this lib/: fail closed, as for a policy */
      s->broken = true;
      bw_log_json (BW_LOG_ERROR,
                   "the approved catalog slice does not parse; the org's decisions are deny",
                   json_pack ("{s:s, s:s}", "org_id", s->org_id, "why", why));
    }
  return DB_QS_ONE_RESULT;
}

/** Load and parse @a org_id's set.  @return as api_policy_set_get. */
static enum db_qs
load (const char *org_id, struct api_policy_set **out)
{
  struct api_policy_set *s = calloc (1, sizeof (*s));
  if (NULL == s)
    return DB_QS_HARD_ERROR;
  snprintf (s->org_id, sizeof (s->org_id), "%s", org_id);
  struct load_ctx lc = { .set = s };
  enum db_qs qs = db_tx_run (DB_REPEATABLE_READ, load_tx, &lc);
  if (qs <= 0)
    {
      set_free (s);
      return qs;
    }
  s->refs = 1;
  *out = s;
  return DB_QS_ONE_RESULT;
}

enum db_qs
api_policy_set_get (const char *org_id, struct api_policy_set **out)
{
  int64_t version;
  enum db_qs qs = db_policy_org_version (org_id, &version);
  if (qs <= 0)
    return qs;

  pthread_mutex_lock (&cache_lock);
  int i = find_slot (org_id);
  if (i >= 0 && slots[i]->version == version)
    {
      slots[i]->refs++;
      slots[i]->used = ++use_clock;
      *out = slots[i];
      pthread_mutex_unlock (&cache_lock);
      return DB_QS_ONE_RESULT;
    }
  pthread_mutex_unlock (&cache_lock);

  struct api_policy_set *s;
  qs = load (org_id, &s);
  if (qs <= 0)
    return qs;

  /* Publish it unless another thread has meanwhile cached a newer version. */
  pthread_mutex_lock (&cache_lock);
  i = find_slot (org_id);
  if (i < 0 || slots[i]->version < s->version)
    {
      if (i < 0)
        i = victim_slot ();
      if (NULL != slots[i])
        unref_locked (slots[i]);
      s->refs++;
      s->used = ++use_clock;
      slots[i] = s;
    }
  pthread_mutex_unlock (&cache_lock);
  *out = s;
  return DB_QS_ONE_RESULT;
}

void
api_policy_set_release (struct api_policy_set *set)
{
  if (NULL == set)
    return;
  pthread_mutex_lock (&cache_lock);
  unref_locked (set);
  pthread_mutex_unlock (&cache_lock);
}

void
api_policy_cache_clear (void)
{
  pthread_mutex_lock (&cache_lock);
  for (int i = 0; i < API_POLICY_CACHE_ORGS; i++)
    if (NULL != slots[i])
      {
        unref_locked (slots[i]);
        slots[i] = NULL;
      }
  pthread_mutex_unlock (&cache_lock);
}
