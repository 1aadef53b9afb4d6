/*
 * Compiling bundles and signing heads (see server/bundle_compiler.h).
 *
 * Compiling.  An org's heads are written only under its bundle_state row
 * lock (FOR UPDATE), in one READ COMMITTED transaction: read the policies
 * and the policy version with one statement (one snapshot), then the
 * approved catalog slice, the subjects and their groups, and the current
 * heads; group the subjects by the set of
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
 * The catalog.  Every bundle of the org carries the same approved slice
 * (db_catalog_slice, lib/catalog.h), and every change to it bumps the
 * policy version in its own transaction (api/catalog.c, the expiry job of
 * server/catalog_expiry.c), so "compiled_policy_version caught up" covers
 * the catalog too.  The slice is read after the version, never before: in
 * READ COMMITTED each statement sees the commits made before it, so the
 * slice is at least as new as the version recorded as compiled; read the
 * other way round, a catalog change committed between the two statements
 * would be marked compiled without being in any bundle.  (An expired
 * approval is out of the slice by the database clock, db/catalog.h; agents
 * deny it by its expires_at anyway.)  A slice
 * that lib/ refuses is logged and replaced by the empty one: every MCP
 * server is then denied, rather than agents refusing the bundle and
 * keeping an older one that may still hold a revoked server.
 *
 * Who compiles.  Every replica's worker (server/heads.c) asks for the orgs
 * NOTIFY bulwark_policy named; the transaction waits for the row lock and
 * then skips when compiled_policy_version has caught up: the first replica
 * compiles, the others find nothing to do.  A subject with no head is
 * compiled at once for bw_heads_get, together with every other subject
 * still without one; subjects that have a head keep it then.
 *
 * Re-signing.  Heads with less than half their lifetime left, or signed
 * under an older keyset, get a new head serial and signature, when the
 * worker's re-signing job asks (server/heads.c) and, for every head of
 * the org, on key rotation (bw_compiler_resign_tx).
 *
 * Signers.  The org's key comes from server/keys.h; under the row lock the
 * signer's keyset version is compared with bundle_state.keyset_version
 * (which rotation moves under the same lock), and a stale signer is
 * dropped and fetched again, so a head is never signed by a retired key.
 */
#include "config.h"
#include "server/bundle_compiler.h"
#include "db/bundle.h"
#include "db/catalog.h"
#include "db/policy.h"
#include "lib/bundle.h"
#include "lib/bundle_head.h"
#include "lib/canonical_json.h"
#include "lib/catalog.h"
#include "lib/ident.h"
#include "lib/log.h"
#include "lib/policy.h"
#include "server/bundle_cache.h"
#include "server/heads.h"
#include "server/keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** Attempts with a fresh signer when rotation raced with a compilation. */
#define SIGNER_ATTEMPTS 3
/** What precedes the version at the end of every bundle. */
#define VERSION_KEY ",\"version\":"
/** Bytes of a decimal uint64 with NUL. */
#define U64_TEXT_SIZE 24
/** Bytes of the reason bw_catalog_parse gives. */
#define WHY_MAX 160

/* ---- configuration ---- */

static struct
{
  int64_t ttl_s;
  char iss[BW_HEAD_ISS_MAX + 1];
  struct bw_bundle_settings settings;
} conf;

int
bw_compiler_configure (const struct bw_config *cfg)
{
  conf.ttl_s = (int64_t) cfg->head_ttl_s;
  if (strlen (cfg->public_url) > BW_HEAD_ISS_MAX)
    return -1;
  snprintf (conf.iss, sizeof (conf.iss), "%s", cfg->public_url);
  conf.settings.checkin_interval_s = (uint32_t) cfg->checkin_interval_s;
  conf.settings.checkin_jitter_s = (uint32_t) cfg->checkin_jitter_s;
  conf.settings.stale_limit_s = (uint32_t) cfg->stale_limit_s;
  conf.settings.events_batch_max = BW_BUNDLE_EVENTS_BATCH_MAX;
  return 0;
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
bw_compiler_resign_tx (const char *org_id, const struct bw_signer *signer)
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
  json_t *catalog; /* the approved slice every bundle carries (owned) */
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
  json_decref (w->catalog);
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
  json_t *doc = json_pack ("{s:O, s:s, s:o, s:s, s:{s:I, s:I, s:I, s:I}}", "catalog", w->catalog,
                           "org", org_id, "policies", pols, "schema", BW_BUNDLE_SCHEMA, "settings",
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
    bw_bundle_cache_put (org_id, c->new_sha, body, len);
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

/*
 * The approved catalog slice of @a org_id into w->catalog.  A slice lib/
 * refuses becomes [] (logged): see the top of this file.
 */
static enum db_qs
load_catalog (const char *org_id, struct work *w)
{
  json_t *slice = NULL;
  enum db_qs qs = db_catalog_slice (org_id, &slice);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  char why[WHY_MAX] = "";
  struct bw_catalog *parsed = bw_catalog_parse (slice, why, sizeof (why));
  if (NULL == parsed)
    {
      bw_log_json (BW_LOG_ERROR,
                   "the approved catalog slice does not parse; bundles carry an empty "
                   "catalog (every MCP server denied) until it does",
                   json_pack ("{s:s, s:s}", "org_id", org_id, "why", why));
      json_decref (slice);
      slice = json_array ();
      if (NULL == slice)
        return DB_QS_HARD_ERROR;
    }
  bw_catalog_free (parsed);
  w->catalog = slice;
  return DB_QS_ONE_RESULT;
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
  /* after the version, never before it: see the top of this file */
  if ((qs = load_catalog (org, w)) < 0)
    return qs;
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
enum db_qs
bw_compiler_compile_org (const char *org_id, const char *only)
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

enum db_qs
bw_compiler_resign_org (const char *org_id, int64_t before)
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
