/**
 * @file api/policies.h
 * What api/policies.c shares with api/evaluate.c (simulate checks a
 * draft's scope the way publishing it would).
 */
#ifndef BW_API_POLICIES_H
#define BW_API_POLICIES_H

#include <jansson.h>
#include "db/db.h"
#include "lib/policy.h"

/** "enforce" or "audit". */
const char *api_policy_mode_name (enum bw_policy_mode m);

/**
 * Check that every group id and user id in the scope of parsed policy @a p
 * (borrowed; its scope lists keep the document's order) names a group or
 * a user of org @a org_id.  For each that does not, append
 * {"pointer": @a prefix "/scope/groups/<i>" (or users), "message"} to
 * @a errors (borrowed array).  Runs one statement; inside or outside
 * db_tx_run (inside, after locking the org row, the answer holds until
 * the commit: directory writers lock that row first too).
 * @return the number of ids missing (>= 0), or a negative db_qs.
 */
enum db_qs api_policy_scope_check (const char *org_id, const struct bw_policy *p,
                                   const char *prefix, json_t *errors);

#endif
