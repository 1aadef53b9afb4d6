/**
 * @file server/master_key.h
 * The server master key that seals the orgs' private signing keys at rest
 * (DESIGN §6: private keys never sit in PostgreSQL in the clear).
 * AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce per seal; the
 * sealed form is nonce || ciphertext || 16-byte tag, with the org id as
 * additional authenticated data so a sealed key cannot be moved to another
 * org.  The key comes from BULWARK_MASTER_KEY (64 hex chars) or
 * BULWARK_MASTER_KEY_FILE; without either, a key is generated once into
 * <data dir>/master.key (mode 0600).
 */
#ifndef BW_SERVER_MASTER_KEY_H
#define BW_SERVER_MASTER_KEY_H

#include <stddef.h>
#include "server/settings.h"

/** Characters of a master key id: hex of the first 8 bytes of SHA-256(key). */
#define BW_MASTER_KEY_ID_LEN 16

/** Load or create the master key per @a cfg.  @return 0, or -1 (logged). */
int bw_master_key_init (const struct bw_config *cfg);

/** Id of the loaded master key (borrowed, static). */
const char *bw_master_key_id (void);

/**
 * Seal @a plain for org @a org_id.  @param[out] out malloc'd sealed bytes.
 * @return 0 or -1.
 */
int bw_master_key_seal (const char *org_id, const unsigned char *plain, size_t len,
                        unsigned char **out, size_t *out_len);

/**
 * Open what bw_master_key_seal produced.  @param[out] out malloc'd plain
 * bytes; the caller wipes and frees them.  @return 0, or -1 when the tag
 * does not verify (wrong key, wrong org, altered).
 */
int bw_master_key_open (const char *org_id, const unsigned char *sealed, size_t len,
                        unsigned char **out, size_t *out_len);

/** Wipe the key at shutdown. */
void bw_master_key_wipe (void);

#endif
