/**
 * @file server/keys.h
 * Each org's ES256 signing key and signed keyset (DESIGN §6), kept in
 * memory once loaded: the private key is opened with the master key
 * (server/master_key.h) when first needed and stays in this process.
 * Thread-safe.
 */
#ifndef BW_SERVER_KEYS_H
#define BW_SERVER_KEYS_H

#include <stdint.h>
#include "db/db.h"
#include "lib/jws.h"

/**
 * Create the org's first key and keyset version 1 inside the caller's
 * transaction (org creation).  @return DB_QS_ONE_RESULT or a negative db_qs.
 */
enum db_qs bw_keys_create_first (const char *org_id);

/**
 * The org's current keyset: its version and the exact document served at
 * GET /api/v1/agent/keysets/{version} (malloc'd into @a doc when non-NULL).
 * Creates key and keyset 1 first for an org that has none (orgs created
 * before keys existed).  Runs its own statements; never inside db_tx_run.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS (no such org), or negative.
 */
enum db_qs bw_keys_current (const char *org_id, uint64_t *version, char **doc);

/** Keyset @a version of the org (malloc'd document).  @return ONE, NO_RESULTS or negative. */
enum db_qs bw_keys_keyset (const char *org_id, uint64_t version, char **doc);

/**
 * The key that signs heads now, and its kid and keyset version.  A signer
 * from bw_keys_signer holds a reference on the cached key; give it back
 * with bw_signer_free as soon as the signing is done.
 */
struct bw_signer
{
  struct bw_es256_key *key;      /**< owned by the signer */
  char kid[BW_KID_LEN + 1];
  uint64_t keyset_version;
};

/** The org's current signer (caller frees with bw_signer_free).  @return ONE or negative. */
enum db_qs bw_keys_signer (const char *org_id, struct bw_signer **out);

/** Free @a s.  NULL-safe. */
void bw_signer_free (struct bw_signer *s);

/**
 * Rotate: a new key; keyset N+1 = {new key} signed by the keys of N and
 * the new key; the old key retired; every head of the org re-signed with
 * the new key (a higher head_serial); NOTIFY bulwark_keys and
 * bulwark_heads.  Only inside db_tx_run, so that the caller's audit record
 * commits with it; the org must have its first key already
 * (bw_keys_current).  After the commit, call bw_keys_invalidate(org_id).
 * @param[out] version  the new keyset version
 * @param[out] kid      the new key's kid
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the org has no key or
 *         bundle_state row; or a negative db_qs.
 */
enum db_qs bw_keys_rotate (const char *org_id, uint64_t *version, char kid[BW_KID_LEN + 1]);

/** Forget cached keys of @a org_id (NULL: all), e.g. on NOTIFY bulwark_keys. */
void bw_keys_invalidate (const char *org_id);

#endif
