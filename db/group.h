/**
 * @file db/group.h
 * Directory groups and their members (DESIGN §3), shaped like the SCIM
 * Group resource (RFC 7643 §4.2).  A user's groups decide which policies
 * apply to them.  Every query carries the org id; a group of another org
 * is not found, and the schema refuses a member from another org.
 *
 * Changes run inside db_tx_run after db_directory_lock (db/directory.h).
 * Timestamps are DB_SQL_TS text; "" stands for SQL NULL.
 */
#ifndef BW_DB_GROUP_H
#define BW_DB_GROUP_H

#include <stdint.h>
#include "db/db.h"
#include "lib/ident.h"

/** Longest displayName, in bytes (migration 0002's CHECK). */
#define DB_GROUP_DISPLAY_NAME_MAX 256
/** Longest externalId, in bytes. */
#define DB_GROUP_EXTERNAL_ID_MAX 256

/** One group as stored. */
struct db_group
{
  char id[BW_UUID_LEN + 1];                         /**< canonical lowercase uuid */
  char display_name[DB_GROUP_DISPLAY_NAME_MAX + 1]; /**< unique per org, case-insensitively */
  char external_id[DB_GROUP_EXTERNAL_ID_MAX + 1];   /**< "" when none */
  int64_t member_count;
  int64_t version; /**< 1 at creation, +1 per change, members included: the ETag */
  char created_at[DB_TS_SIZE];
  char updated_at[DB_TS_SIZE]; /**< also moves when members change */
};

/**
 * Create a group of org @a org_id without members (version 1).  Only inside
 * db_tx_run, after db_directory_lock.
 * @param display_name  1..DB_GROUP_DISPLAY_NAME_MAX bytes
 * @param external_id   1..DB_GROUP_EXTERNAL_ID_MAX bytes, or NULL for none
 * @param[out] out      the new group on DB_QS_ONE_RESULT
 * @return DB_QS_ONE_RESULT; DB_QS_CONFLICT when the org has a group of that
 *         displayName in any case; or another negative db_qs.
 */
enum db_qs db_group_insert (const char *org_id, const char *display_name, const char *external_id,
                            struct db_group *out);

/**
 * Group @a id of org @a org_id (both canonical uuids).
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_group_get (const char *org_id, const char *id, struct db_group *out);

/** Like db_group_get, and the row stays locked FOR UPDATE.  Only inside db_tx_run. */
enum db_qs db_group_lock (const char *org_id, const char *id, struct db_group *out);

/**
 * Set the displayName and externalId of group @a id of org @a org_id, bump
 * its version and updated_at.  Only inside db_tx_run, with the group locked.
 * @param external_id  the new value, or NULL for none
 * @return DB_QS_ONE_RESULT and *out; DB_QS_NO_RESULTS; DB_QS_CONFLICT when
 *         another group of the org has that displayName; or another
 *         negative db_qs.
 */
enum db_qs db_group_update (const char *org_id, const char *id, const char *display_name,
                            const char *external_id, struct db_group *out);

/**
 * Delete group @a id of org @a org_id and its memberships (ON DELETE
 * CASCADE).  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_group_delete (const char *org_id, const char *id);

/** Called once per group of a list, in order; @a g is borrowed for the call. */
typedef void (*db_group_cb) (void *cls, const struct db_group *g);

/**
 * Groups of org @a org_id, oldest first (ordered by (created_at, id)).
 * @param display_name      only the group of this displayName in any case, or NULL
 * @param after_created_at  keyset cursor (RFC 3339) with @a after_id, or
 *                          NULL for the first page
 * @param limit             at most this many groups
 * @return the number of groups passed to @a cb, or a negative db_qs (then
 *         @a cb may have seen some rows: discard what it collected).
 */
enum db_qs db_group_list (const char *org_id, const char *display_name,
                          const char *after_created_at, const char *after_id, unsigned int limit,
                          db_group_cb cb, void *cls);

/**
 * The groups user @a user_id of org @a org_id is a member of, ordered by
 * group id.
 * @param after_id  keyset cursor: only groups with a greater id, or NULL
 *                  for the first page
 * @return the number of groups passed to @a cb, or a negative db_qs (then
 *         @a cb may have seen some rows).  An unknown user is in no group:
 *         check it exists first.
 */
enum db_qs db_group_list_of_user (const char *org_id, const char *user_id, const char *after_id,
                                  unsigned int limit, db_group_cb cb, void *cls);

/**
 * Make user @a user_id a member of group @a group_id, both of org
 * @a org_id, unless it is one already.  A new membership bumps the group's
 * member_count, version and updated_at (trigger).  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT when added; DB_QS_NO_RESULTS when it was a
 *         member already; or a negative db_qs (DB_QS_HARD_ERROR when the
 *         group or user does not exist in the org: check both first).
 */
enum db_qs db_group_member_add (const char *org_id, const char *group_id, const char *user_id);

/**
 * End the membership of user @a user_id in group @a group_id of org
 * @a org_id (the trigger updates the group as in db_group_member_add).
 * Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT when removed; DB_QS_NO_RESULTS when there was no
 *         such membership; or a negative db_qs.
 */
enum db_qs db_group_member_remove (const char *org_id, const char *group_id, const char *user_id);

#endif
