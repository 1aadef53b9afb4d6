/**
 * @file db/signing_key.h
 * The orgs' ES256 signing keys and their signed keyset documents (DESIGN
 * §6; migration 0004 tables signing_keys and keysets).  Private keys are
 * stored sealed by the server master key (server/master_key.h): this file
 * never sees them in the clear.  Binary columns travel as bytea hex text.
 */
#ifndef BW_DB_SIGNING_KEY_H
#define BW_DB_SIGNING_KEY_H

#include <stddef.h>
#include <stdint.h>
#include "db/db.h"

/** NOTIFY channel of key rotations; payload the org id (server/keys.c drops its cache). */
#define DB_KEYS_NOTIFY_CHANNEL "bulwark_keys"
/** Bytes of a kid (64 hex chars) with its NUL. */
#define DB_KID_SIZE 65
/** Bytes of a stored master key id with its NUL. */
#define DB_MASTER_KEY_ID_SIZE 65

/** An org's signing key as stored. */
struct db_signing_key
{
  char kid[DB_KID_SIZE];                     /**< hex SHA-256 of the SPKI DER */
  unsigned char *spki;                       /**< owned: SubjectPublicKeyInfo DER */
  size_t spki_len;
  unsigned char *sealed;                     /**< owned: nonce || ciphertext || tag */
  size_t sealed_len;
  char master_key_id[DB_MASTER_KEY_ID_SIZE]; /**< which master key sealed it */
  int64_t keyset_version;                    /**< the org's current keyset (bundle_state) */
};

/** Free the owned members of @a k and set them NULL.  NULL-safe. */
void db_signing_key_clear (struct db_signing_key *k);

/**
 * Store a new (current) signing key of @a org_id.  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT, DB_QS_CONFLICT (same kid), or a negative db_qs.
 */
enum db_qs db_signing_key_insert (const char *org_id, const char *kid, const unsigned char *spki,
                                  size_t spki_len, const unsigned char *sealed, size_t sealed_len,
                                  const char *master_key_id);

/**
 * The org's current (not retired) signing key with the org's keyset
 * version from bundle_state.
 * @param[out] out  filled on DB_QS_ONE_RESULT; clear it with db_signing_key_clear
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the org has no key (or no
 *         bundle_state row); or a negative db_qs.
 */
enum db_qs db_signing_key_current (const char *org_id, struct db_signing_key *out);

/** Retire key @a kid of @a org_id (it signs no more).  @return rows or negative. */
enum db_qs db_signing_key_retire (const char *org_id, const char *kid);

/** Store keyset @a version of @a org_id (@a doc: the exact JSON text).  Only inside db_tx_run. */
enum db_qs db_keyset_insert (const char *org_id, int64_t version, const char *doc);

/**
 * Keyset @a version of @a org_id, exactly as stored.
 * @param[out] doc  malloc'd NUL-terminated text on DB_QS_ONE_RESULT (caller frees)
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_keyset_get (const char *org_id, int64_t version, char **doc);

/**
 * The latest keyset of live org @a org_id.
 * @param[out] version  0 when the org has no keyset yet
 * @param[out] doc      malloc'd text, or NULL when @a version is 0 (may
 *                      be NULL: then the document is not read)
 * @return DB_QS_ONE_RESULT when the org exists; DB_QS_NO_RESULTS when not;
 *         or a negative db_qs.
 */
enum db_qs db_keyset_latest (const char *org_id, int64_t *version, char **doc);

/** NOTIFY DB_KEYS_NOTIFY_CHANNEL '<org_id>' (delivered at commit).  Only inside db_tx_run. */
enum db_qs db_keys_notify (const char *org_id);

#endif
