/**
 * @file server/bundle_cache.h
 * Compiled bundle bodies by sha256 (DESIGN §6), as the agents download
 * them: from an in-memory LRU cache bounded in bytes, else from the
 * database (db/bundle.h).  Bundles are content-addressed and immutable, so
 * a cached body never goes stale; the cache only forgets for room.
 * Thread-safe.
 */
#ifndef BW_SERVER_BUNDLE_CACHE_H
#define BW_SERVER_BUNDLE_CACHE_H

#include <stddef.h>
#include "db/db.h"

/**
 * Bundle bytes by hex sha256, for the org @a org_id only (another org's
 * bundle is "no result").  Cached in memory (LRU by bytes).
 * @param org_id  org uuid (text); not a uuid: no result
 * @param sha256  64 lowercase hex digits; NULL or malformed: no result
 * @param[out] body  malloc'd bytes (caller frees), NULL unless ONE
 * @param[out] len   bytes in *body, 0 unless ONE
 * @return ONE, NO_RESULTS or negative (DB unavailable, out of memory).
 */
enum db_qs bw_bundles_get (const char *org_id, const char *sha256, unsigned char **body,
                           size_t *len);

/**
 * Cache a copy of a bundle body just stored by the compiler
 * (server/bundle_compiler.h), so that the agents' downloads after the next
 * head change find it in memory.  Nothing happens when @a sha256 is cached
 * already, when the body is larger than the cache's item limit, or when out
 * of memory: the cache is only an optimisation.
 * @param org_id  org uuid (text), BW_UUID_LEN chars
 * @param sha256  hex sha256 of @a body, BW_SHA256_HEX_LEN chars
 * @param body    @a len bytes, borrowed (copied)
 */
void bw_bundle_cache_put (const char *org_id, const char *sha256, const unsigned char *body,
                          size_t len);

/** Empty the cache (at shutdown, from bw_heads_stop). */
void bw_bundle_cache_clear (void);

#endif
