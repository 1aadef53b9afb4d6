/*
 * The orgs' signing keys and keysets (see server/keys.h).
 *
 * Keys are generated here, sealed with the master key (server/master_key.h)
 * and stored; the keyset documents are built and signed by lib/keyset.h
 * and stored as the exact text served.  The opened private key of each
 * org's current signer is cached (KEYS_CACHE_ORGS, least recently used
 * out): a signer handed out holds a reference, so eviction or rotation
 * never frees a key that another thread is signing with.  Rotation by any
 * replica announces itself on NOTIFY bulwark_keys; independently, every
 * writer of heads compares its signer's keyset version with the org's
 * under the bundle_state row lock (server/heads.c), so a stale cache entry
 * can never sign a head.
 */
#include "config.h"
#include "server/keys.h"
#include "db/org.h"
#include "db/bundle.h"
#include "db/signing_key.h"
#include "server/bundle_compiler.h"
#include "lib/keyset.h"
#include "lib/log.h"
#include "server/heads.h"
#include "server/master_key.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** Orgs whose opened signing key is kept in memory. */
#define KEYS_CACHE_ORGS 1024

/** A cached signer: the public struct and its reference count. */
struct signer_entry
{
  struct bw_signer pub; /* first: bw_signer_free finds the entry from it */
  char org_id[BW_UUID_LEN + 1];
  unsigned int refs; /* one for the cache slot, one per holder */
  uint64_t used;     /* last use, for eviction */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct signer_entry *cache[KEYS_CACHE_ORGS];
static uint64_t use_clock;

static void
entry_unref_locked (struct signer_entry *e)
{
  if (0 == --e->refs)
    {
      bw_es256_free (e->pub.key);
      OPENSSL_cleanse (e, sizeof (*e));
      free (e);
    }
}

void
bw_signer_free (struct bw_signer *s)
{
  if (NULL == s)
    return;
  struct signer_entry *e
    = (struct signer_entry *) ((char *) s - offsetof (struct signer_entry, pub));
  pthread_mutex_lock (&cache_lock);
  entry_unref_locked (e);
  pthread_mutex_unlock (&cache_lock);
}

void
bw_keys_invalidate (const char *org_id)
{
  pthread_mutex_lock (&cache_lock);
  for (size_t i = 0; i < KEYS_CACHE_ORGS; i++)
    if (NULL != cache[i] && (NULL == org_id || 0 == strcmp (cache[i]->org_id, org_id)))
      {
        entry_unref_locked (cache[i]);
        cache[i] = NULL;
      }
  pthread_mutex_unlock (&cache_lock);
}

/* ---- key material ---- */

/** A new key with its kid, public SPKI and sealed private key, ready to store. */
struct new_key
{
  struct bw_es256_key *key;
  char kid[BW_KID_LEN + 1];
  unsigned char *spki;
  size_t spki_len;
  unsigned char *sealed;
  size_t sealed_len;
};

static void
new_key_clear (struct new_key *k)
{
  bw_es256_free (k->key);
  free (k->spki);
  free (k->sealed);
  memset (k, 0, sizeof (*k));
}

/* Generate and seal a key for @a org_id.  @return 0, or -1 (logged). */
static int
new_key_make (const char *org_id, struct new_key *k)
{
  unsigned char *der = NULL;
  size_t der_len = 0;
  int rc = -1;
  memset (k, 0, sizeof (*k));
  k->key = bw_es256_generate ();
  if (NULL == k->key || 0 != bw_es256_kid (k->key, k->kid)
      || 0 != bw_es256_public_spki (k->key, &k->spki, &k->spki_len)
      || 0 != bw_es256_private_der (k->key, &der, &der_len)
      || 0 != bw_master_key_seal (org_id, der, der_len, &k->sealed, &k->sealed_len))
    goto cleanup;
  rc = 0;
cleanup:
  if (NULL != der)
    OPENSSL_cleanse (der, der_len);
  free (der);
  if (0 != rc)
    {
      bw_logf (BW_LOG_ERROR, "keys: cannot generate a signing key");
      new_key_clear (k);
    }
  return rc;
}

/* Store @a k as the org's current key.  Inside db_tx_run. */
static enum db_qs
new_key_store (const char *org_id, const struct new_key *k)
{
  return db_signing_key_insert (org_id, k->kid, k->spki, k->spki_len, k->sealed, k->sealed_len,
                                bw_master_key_id ());
}

/*
 * Open stored key @a sk of @a org_id.  Checks that the master key is the
 * one that sealed it and that the opened key is the one its kid names.
 * @return the key pair, or NULL (logged).
 */
static struct bw_es256_key *
open_key (const char *org_id, const struct db_signing_key *sk)
{
  unsigned char *der = NULL;
  size_t der_len = 0;
  struct bw_es256_key *key = NULL;
  char kid[BW_KID_LEN + 1];
  if (0 != strcmp (sk->master_key_id, bw_master_key_id ()))
    {
      bw_log_json (BW_LOG_ERROR,
                   "the org's signing key was sealed under another master key; "
                   "start bulwarkd with that master key",
                   json_pack ("{s:s, s:s, s:s}", "org_id", org_id, "sealed_by", sk->master_key_id,
                              "master_key_id", bw_master_key_id ()));
      return NULL;
    }
  if (0 != bw_master_key_open (org_id, sk->sealed, sk->sealed_len, &der, &der_len))
    {
      bw_log_json (BW_LOG_ERROR,
                   "the org's signing key does not open (altered, or moved "
                   "from another org)",
                   json_pack ("{s:s, s:s}", "org_id", org_id, "kid", sk->kid));
      return NULL;
    }
  key = bw_es256_from_private_der (der, der_len);
  OPENSSL_cleanse (der, der_len);
  free (der);
  if (NULL == key || 0 != bw_es256_kid (key, kid) || 0 != strcmp (kid, sk->kid))
    {
      bw_log_json (BW_LOG_ERROR, "the org's signing key is not the key its kid names",
                   json_pack ("{s:s, s:s}", "org_id", org_id, "kid", sk->kid));
      bw_es256_free (key);
      return NULL;
    }
  return key;
}

/* The keyset document @a doc (stolen) as the exact text to store.  @return malloc'd, or NULL. */
static char *
keyset_text_steal (json_t *doc)
{
  char *text = (NULL != doc) ? json_dumps (doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref (doc);
  return text;
}

/* ---- first key ---- */

enum db_qs
bw_keys_create_first (const char *org_id)
{
  struct new_key k;
  if (0 != new_key_make (org_id, &k))
    return DB_QS_HARD_ERROR;
  struct bw_keyset_member m = { .key = k.key, .head = true, .keyset = true };
  char *doc
    = keyset_text_steal (bw_keyset_build (org_id, 1, (int64_t) time (NULL), &m, 1, NULL, 0));
  enum db_qs qs = DB_QS_HARD_ERROR;
  if (NULL == doc)
    bw_logf (BW_LOG_ERROR, "keys: cannot build keyset 1");
  else if ((qs = new_key_store (org_id, &k)) >= 0 && (qs = db_keyset_insert (org_id, 1, doc)) >= 0
           && (qs = db_bundle_state_set_keyset (org_id, 1)) >= 0)
    qs = DB_QS_ONE_RESULT;
  free (doc);
  new_key_clear (&k);
  return qs;
}

/* Lazy creation for an org made before keys existed: once, under the org row lock. */
static enum db_qs
create_lazily_tx (void *cls)
{
  const char *org_id = cls;
  int64_t version;
  enum db_qs qs = db_org_writer_lock (org_id);
  if (qs <= 0)
    return qs;
  qs = db_keyset_latest (org_id, &version, NULL);
  if (qs <= 0 || version > 0)
    return qs;
  return bw_keys_create_first (org_id);
}

enum db_qs
bw_keys_current (const char *org_id, uint64_t *version, char **doc)
{
  int64_t v = 0;
  if (NULL != doc)
    *doc = NULL;
  enum db_qs qs = db_keyset_latest (org_id, &v, doc);
  if (qs > 0 && 0 == v)
    {
      qs = db_tx_run (DB_READ_COMMITTED, create_lazily_tx, (void *) org_id);
      if (qs > 0)
        qs = db_keyset_latest (org_id, &v, doc);
      if (qs > 0 && 0 == v)
        qs = DB_QS_HARD_ERROR;
    }
  if (NULL != version)
    *version = (qs > 0) ? (uint64_t) v : 0;
  return qs;
}

enum db_qs
bw_keys_keyset (const char *org_id, uint64_t version, char **doc)
{
  *doc = NULL;
  if (0 == version || version > INT64_MAX)
    return DB_QS_NO_RESULTS;
  enum db_qs qs = db_keyset_get (org_id, (int64_t) version, doc);
  if (DB_QS_NO_RESULTS == qs && 1 == version)
    {
      /* an org from before keys existed gets its keyset 1 on first ask */
      qs = bw_keys_current (org_id, NULL, NULL);
      if (qs > 0)
        qs = db_keyset_get (org_id, 1, doc);
    }
  return qs;
}

/* ---- signer cache ---- */

/* Publish @a e (one reference for the slot), replacing the org's older entry.  Under the lock. */
static void
publish_locked (struct signer_entry *e)
{
  size_t slot = KEYS_CACHE_ORGS;
  for (size_t i = 0; i < KEYS_CACHE_ORGS && KEYS_CACHE_ORGS == slot; i++)
    if (NULL != cache[i] && 0 == strcmp (cache[i]->org_id, e->org_id))
      slot = i;
  for (size_t i = 0; i < KEYS_CACHE_ORGS && KEYS_CACHE_ORGS == slot; i++)
    if (NULL == cache[i])
      slot = i;
  if (KEYS_CACHE_ORGS == slot)
    {
      slot = 0;
      for (size_t i = 1; i < KEYS_CACHE_ORGS; i++)
        if (cache[i]->used < cache[slot]->used)
          slot = i;
    }
  if (NULL != cache[slot])
    entry_unref_locked (cache[slot]);
  e->refs++;
  e->used = ++use_clock;
  cache[slot] = e;
}

/* Load the org's current key from the database into a new entry (refs 0).  @return qs. */
static enum db_qs
load_signer (const char *org_id, struct signer_entry **out)
{
  struct db_signing_key sk;
  enum db_qs qs = db_signing_key_current (org_id, &sk);
  if (DB_QS_NO_RESULTS == qs)
    {
      qs = bw_keys_current (org_id, NULL, NULL);
      if (qs <= 0)
        return qs;
      qs = db_signing_key_current (org_id, &sk);
    }
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  struct signer_entry *e = calloc (1, sizeof (*e));
  if (NULL != e)
    e->pub.key = open_key (org_id, &sk);
  if (NULL == e || NULL == e->pub.key)
    {
      free (e);
      db_signing_key_clear (&sk);
      return DB_QS_HARD_ERROR;
    }
  memcpy (e->pub.kid, sk.kid, sizeof (e->pub.kid));
  e->pub.keyset_version = (uint64_t) sk.keyset_version;
  memcpy (e->org_id, org_id, sizeof (e->org_id));
  db_signing_key_clear (&sk);
  *out = e;
  return DB_QS_ONE_RESULT;
}

enum db_qs
bw_keys_signer (const char *org_id, struct bw_signer **out)
{
  *out = NULL;
  if (!bw_uuid_valid (org_id))
    return DB_QS_HARD_ERROR;
  pthread_mutex_lock (&cache_lock);
  for (size_t i = 0; i < KEYS_CACHE_ORGS; i++)
    if (NULL != cache[i] && 0 == strcmp (cache[i]->org_id, org_id))
      {
        cache[i]->refs++;
        cache[i]->used = ++use_clock;
        *out = &cache[i]->pub;
        pthread_mutex_unlock (&cache_lock);
        return DB_QS_ONE_RESULT;
      }
  pthread_mutex_unlock (&cache_lock);

  struct signer_entry *e = NULL;
  enum db_qs qs = load_signer (org_id, &e);
  if (qs <= 0)
    return qs;
  pthread_mutex_lock (&cache_lock);
  e->refs = 1; /* the caller's */
  publish_locked (e);
  pthread_mutex_unlock (&cache_lock);
  *out = &e->pub;
  return DB_QS_ONE_RESULT;
}

/* ---- rotation ---- */

enum db_qs
bw_keys_rotate (const char *org_id, uint64_t *version, char kid[BW_KID_LEN + 1])
{
  struct db_bundle_state st;
  struct db_signing_key sk;
  struct new_key k;
  struct bw_es256_key *old = NULL;
  char *doc = NULL;
  enum db_qs qs;

  memset (&k, 0, sizeof (k));
  memset (&sk, 0, sizeof (sk));
  /* the bundle_state row lock orders rotation with every writer of heads */
  if ((qs = db_bundle_state_lock (org_id, &st)) <= 0
      || (qs = db_signing_key_current (org_id, &sk)) <= 0)
    goto cleanup;
  qs = DB_QS_HARD_ERROR;
  if (sk.keyset_version != st.keyset_version || st.keyset_version < 1
      || st.keyset_version >= INT64_MAX)
    goto cleanup;
  if (NULL == (old = open_key (org_id, &sk)) || 0 != new_key_make (org_id, &k))
    goto cleanup;
  {
    const uint64_t next = (uint64_t) st.keyset_version + 1;
    const struct bw_es256_key *prev[] = { old };
    struct bw_keyset_member m = { .key = k.key, .head = true, .keyset = true };
    doc = keyset_text_steal (bw_keyset_build (org_id, next, (int64_t) time (NULL), &m, 1, prev, 1));
    if (NULL == doc)
      {
        bw_logf (BW_LOG_ERROR, "keys: cannot build keyset %llu", (unsigned long long) next);
        goto cleanup;
      }
    struct bw_signer signer = { .key = k.key, .keyset_version = next };
    memcpy (signer.kid, k.kid, sizeof (signer.kid));
    if ((qs = new_key_store (org_id, &k)) < 0 || (qs = db_signing_key_retire (org_id, sk.kid)) < 0
        || (qs = db_keyset_insert (org_id, (int64_t) next, doc)) < 0
        || (qs = db_bundle_state_set_keyset (org_id, (int64_t) next)) < 0
        || (qs = bw_compiler_resign_tx (org_id, &signer)) < 0 || (qs = db_keys_notify (org_id)) < 0)
      goto cleanup;
    *version = next;
    memcpy (kid, k.kid, BW_KID_LEN + 1);
    qs = DB_QS_ONE_RESULT;
  }
cleanup:
  free (doc);
  bw_es256_free (old);
  new_key_clear (&k);
  db_signing_key_clear (&sk);
  return qs;
}
