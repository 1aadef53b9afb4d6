/**
 * @file api/policy_cache.h
 * The parsed policies of an org and its approved MCP catalog slice
 * (lib/catalog.h), as /evaluate, /policies/simulate and effective-policy
 * need them, cached in process by (org, policy version).
 *
 * Each request reads the org's policy version with one primary-key lookup
 * (db_policy_org_version); when the cache holds that version the parsed
 * set is shared, otherwise the set is loaded and parsed again (one
 * statement, one snapshot: db_policy_load_current) and replaces the
 * cached one; the catalog slice is read in the same REPEATABLE READ
 * transaction (db_catalog_slice), so policies, slice and version are one
 * snapshot.  Every change to what agents enforce — a policy, or a catalog
 * entry that is or becomes approved, or its expiry — bumps the version in
 * its own transaction (db/policy_version.h), so a cached set is never
 * stale past the lookup, on any replica.  An approval that expires while
 * its set is cached is still refused: the slice carries expires_at and
 * decisions are made at the current time (bw_evaluate's now).  The lookup stays on purpose:
 * /evaluate answers for the version committed at that instant, which a
 * NOTIFY (delivered after commit) could not promise.  Agents, whose hot
 * path must run no SQL, get their policies from bundles (server/heads.h).
 *
 * Sets are immutable once published and reference-counted: a reader keeps
 * its set across a concurrent reload, and the last release frees it.
 * Thread-safe.
 */
#ifndef BW_API_POLICY_CACHE_H
#define BW_API_POLICY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/db.h"
#include "lib/ident.h"
#include "lib/policy.h"

/** Orgs whose sets are cached at once; the least recently used is dropped first. */
#define API_POLICY_CACHE_ORGS 256

/** One live policy of a set. */
struct api_policy_entry
{
  struct bw_policy *policy; /**< parsed current revision, owned by the set */
  char id[BW_UUID_LEN + 1]; /**< the policy's id */
  int64_t revision;         /**< its current revision */
};

/** The live policies of an org at one policy version.  Read-only for holders. */
struct api_policy_set
{
  char org_id[BW_UUID_LEN + 1];
  int64_t version; /**< orgs.policy_version the set was read at */
  size_t n;        /**< entries, oldest policy first */
  struct api_policy_entry *entries;
  struct bw_catalog *catalog; /**< the approved slice at that version, owned by the set */
  bool broken;                /**< a stored policy or the catalog slice no longer parses
                                   (logged): every decision is deny, reason policy_error */
  unsigned int refs;          /**< private to api/policy_cache.c */
  uint64_t used;              /**< private: last use, for eviction */
};

/**
 * The current policy set of org @a org_id (a canonical uuid), from the
 * cache or freshly loaded.  Runs its own statements: never inside
 * db_tx_run.
 * @param[out] out  the set on DB_QS_ONE_RESULT; release it with
 *                  api_policy_set_release
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the org does not exist;
 *         or a negative db_qs (DB_QS_HARD_ERROR also on allocation failure).
 */
enum db_qs api_policy_set_get (const char *org_id, struct api_policy_set **out);

/** Give back a set from api_policy_set_get.  NULL-safe. */
void api_policy_set_release (struct api_policy_set *set);

/** Drop every cached set (at shutdown, after the last request). */
void api_policy_cache_clear (void);

#endif
