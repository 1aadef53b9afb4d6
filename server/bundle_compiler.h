/**
 * @file server/bundle_compiler.h
 * Internal to the heads module (server/heads.h): compiling an org's
 * bundles and signing, re-signing and storing its heads (DESIGN §6), in
 * transactions under the org's bundle_state row lock.  Called by
 * server/heads.c, from its worker thread and, for a subject without a
 * head, from a request thread; each call runs its own transactions on the
 * calling thread's connection, so never inside db_tx_run.  Every head
 * change NOTIFYs bulwark_heads at commit.  bw_compiler_resign_tx serves key
 * rotation (server/keys.c) inside its transaction.
 */
#ifndef BW_SERVER_BUNDLE_COMPILER_H
#define BW_SERVER_BUNDLE_COMPILER_H

#include <stdint.h>
#include "db/db.h"
#include "server/keys.h"
#include "server/settings.h"

/**
 * Take what bundles and heads carry from @a cfg (borrowed, read here
 * only): the head lifetime (BULWARK_HEAD_TTL), the issuer (the public URL)
 * and the agents' settings.  Once, before any other call here.
 * @return 0, or -1 when the public URL is longer than BW_HEAD_ISS_MAX.
 */
int bw_compiler_configure (const struct bw_config *cfg);

/**
 * Compile org @a org_id (uuid text): every subject when @a only is NULL,
 * and only if the org's policy version moved since its last compilation;
 * else, if subject @a only (a user or agent uuid) has no head yet, every
 * subject without a head (so that a fleet enrolling at once costs one
 * compilation, not one per agent).  Stores new bundles (and caches them,
 * server/bundle_cache.h) and signs new heads with the org's current key.
 * @return heads written (>= 0; 0 also when there was nothing to do, when
 *         @a only got a head meanwhile or has no live agent or active user
 *         behind it, or when the org is gone), or a negative db_qs.
 */
enum db_qs bw_compiler_compile_org (const char *org_id, const char *only);

/**
 * Re-sign the heads of org @a org_id (uuid text) that expire before
 * @a before (unix seconds) or were signed under an older keyset, with a new
 * head serial and the org's current key.
 * @return heads re-signed (>= 0), or a negative db_qs.
 */
enum db_qs bw_compiler_resign_org (const char *org_id, int64_t before);

/**
 * Re-sign every head of org @a org_id with @a signer (a new head_serial,
 * iat now, the configured lifetime) and NOTIFY bulwark_heads: key rotation
 * (server/keys.c).  Only inside db_tx_run, holding the org's bundle_state
 * row lock.  @return the number of heads re-signed, or a negative db_qs.
 */
enum db_qs bw_compiler_resign_tx (const char *org_id, const struct bw_signer *signer);

#endif
