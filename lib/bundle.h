/**
 * @file lib/bundle.h
 * The bundle document (DESIGN §6): canonical JSON (lib/canonical_json.h)
 *
 *   {"schema": "bulwark.bundle/v1", "org": "<org id>", "version": V,
 *    "policies": [{"id": "<policy id>", "revision": R, "document": {policy}}],
 *    "catalog": [the org's approved MCP catalog slice, lib/catalog.h
 *                "The approved slice"; the same in every bundle of the org],
 *    "settings": {"checkin_interval_s", "checkin_jitter_s", "stale_limit_s",
 *                 "events_batch_max"}}
 *
 * The server builds it (policies applicable to one subject, oldest first)
 * and signs its exact bytes; the agent parses those bytes here to decide
 * locally with the same evaluator as the server (lib/policy.h).
 */
#ifndef BW_LIB_BUNDLE_H
#define BW_LIB_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lib/policy.h"

/** The `schema` of bundles this code reads and writes. */
#define BW_BUNDLE_SCHEMA "bulwark.bundle/v1"
/** Largest bundle, bytes (100 policies of 400 KB would not fit: the org limit keeps it lower). */
#define BW_BUNDLE_MAX (8u * 1024 * 1024)

/** Agent settings carried in a bundle. */
struct bw_bundle_settings
{
  uint32_t checkin_interval_s; /**< seconds between check-ins without long-poll */
  uint32_t checkin_jitter_s;   /**< up to this many seconds added at random */
  uint32_t stale_limit_s;      /**< after the head expired, seconds until decisions become
                                    deny/policy_error (DESIGN §4 step 7) */
  uint32_t events_batch_max;   /**< events per upload batch (≤ 1000, DESIGN §7) */
};

/** A parsed bundle.  Owns its policies; refs point into it. */
struct bw_bundle
{
  char org[37];
  uint64_t version;
  struct bw_bundle_settings settings;
  size_t n;                         /**< policies */
  struct bw_policy_ref *refs;       /**< for bw_evaluate; a NULL policy if one failed to parse */
  struct bw_catalog *catalog;       /**< the approved MCP catalog slice, for bw_evaluate (owned) */
  json_t *doc;                      /**< the parsed document (owned) */
};

/**
 * Parse bundle bytes.  Unknown schema or a malformed document is an error
 * (the caller keeps its last good bundle), and so is a catalog slice that
 * bw_catalog_parse refuses; a policy that does not parse leaves its ref's
 * policy NULL, so decisions are deny/policy_error.
 * @param[out] why  a short reason on failure
 * @return the bundle (free with bw_bundle_free), or NULL.
 */
struct bw_bundle *bw_bundle_parse (const void *bytes, size_t len, char *why, size_t whylen);

/** Free @a b.  NULL-safe. */
void bw_bundle_free (struct bw_bundle *b);

#endif
