/**
 * @file db/policy_version.h
 * The org's policy version (DESIGN §6 `version`: a uint64 per org that only
 * goes up) and its notification to every replica.
 */
#ifndef BW_DB_POLICY_VERSION_H
#define BW_DB_POLICY_VERSION_H

#include "db/db.h"

/** PostgreSQL NOTIFY channel of policy version changes; payload "<org uuid>:<version>". */
#define DB_POLICY_NOTIFY_CHANNEL "bulwark_policy"

/**
 * Bump orgs.policy_version of @a org_id (a canonical uuid) by one and
 * NOTIFY DB_POLICY_NOTIFY_CHANNEL with "<org_id>:<new version>" (one
 * statement).  Call it in the transaction of every change that can alter
 * which policies apply or what they say (policies, group membership, a
 * user's active flag, deleting users and groups); PostgreSQL delivers the
 * notification only if that transaction commits (docs §NOTIFY).  Bumping
 * takes the org row's NO KEY UPDATE lock, like the audit append: lock the
 * org first in such transactions.  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when there is no such org; or
 *         a negative db_qs.
 */
enum db_qs db_policy_version_bump (const char *org_id);

#endif
