/**
 * @file db/directory.h
 * What users and groups (db/user.h, db/group.h) share: the per-org limits
 * and the lock every directory change takes first.
 */
#ifndef BW_DB_DIRECTORY_H
#define BW_DB_DIRECTORY_H

#include <stdint.h>
#include "db/db.h"

/** Most users in one org. */
#define DB_DIRECTORY_USERS_MAX 100000
/** Most groups in one org. */
#define DB_DIRECTORY_GROUPS_MAX 10000
/** Most members of one group. */
#define DB_DIRECTORY_MEMBERS_MAX 100000

/**
 * Keyset start of the first page of a list ordered by (created_at, id): no
 * row is created at -infinity, so every row comes after it, and one
 * statement (whose row comparison stays an index condition) serves every
 * page.
 */
#define DB_DIRECTORY_FIRST_CREATED_AT "-infinity"
/** Keyset start of a list ordered by id: the nil uuid, which gen_random_uuid () never returns. */
#define DB_DIRECTORY_FIRST_ID "00000000-0000-0000-0000-000000000000"

/** The size of an org's directory (orgs.user_count and group_count, kept by triggers). */
struct db_directory_size
{
  int64_t users;
  int64_t groups;
};

/**
 * Lock live org @a org_id's row FOR NO KEY UPDATE — the mode the audit
 * append and the policy version bump take later in the same transaction —
 * and read its directory size.  Every directory change calls this first,
 * so writers of one org queue here instead of deadlocking over rows they
 * lock in different orders, and the limits are checked race-free.  Only
 * inside db_tx_run.
 * @param[out] out  the size, on DB_QS_ONE_RESULT
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the org does not exist or
 *         is deleted; or a negative db_qs.
 */
enum db_qs db_directory_lock (const char *org_id, struct db_directory_size *out);

#endif
