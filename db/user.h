/**
 * @file db/user.h
 * Directory users (DESIGN §3), shaped like the SCIM User resource (RFC 7643
 * §4.1): the admin API writes them now, SCIM provisioning later.  Every
 * query carries the org id; a user of another org is not found.
 *
 * Changes run inside db_tx_run after db_directory_lock (db/directory.h).
 * Timestamps are DB_SQL_TS text; "" stands for SQL NULL in optional
 * strings (none of them may be empty when set).
 */
#ifndef BW_DB_USER_H
#define BW_DB_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "db/db.h"
#include "lib/ident.h"

/** Longest userName, in bytes (migration 0002's CHECK). */
#define DB_USER_NAME_MAX 256
/** Longest displayName, in bytes. */
#define DB_USER_DISPLAY_NAME_MAX 256
/** Longest externalId, in bytes. */
#define DB_USER_EXTERNAL_ID_MAX 256

/** One user as stored. */
struct db_user
{
  char id[BW_UUID_LEN + 1];                        /**< canonical lowercase uuid */
  char user_name[DB_USER_NAME_MAX + 1];            /**< unique per org, case-insensitively */
  char display_name[DB_USER_DISPLAY_NAME_MAX + 1]; /**< "" when none */
  char external_id[DB_USER_EXTERNAL_ID_MAX + 1];   /**< "" when none */
  bool active;
  json_t *emails;  /**< owned: the stored array [{value, type?, primary}] (lib/email.h) */
  int64_t version; /**< 1 at creation, +1 per change: the ETag */
  char created_at[DB_TS_SIZE];
  char updated_at[DB_TS_SIZE];
};

/** Free what @a u owns (its emails) and set it NULL.  NULL-safe. */
void db_user_clear (struct db_user *u);

/** The values a create or an update writes; every string borrowed for the call. */
struct db_user_values
{
  const char *user_name;    /**< 1..DB_USER_NAME_MAX bytes */
  const char *display_name; /**< 1..DB_USER_DISPLAY_NAME_MAX bytes, or NULL for none */
  const char *external_id;  /**< 1..DB_USER_EXTERNAL_ID_MAX bytes, or NULL for none */
  bool active;
  const char *emails; /**< compact JSON text of an array from bw_emails_normalize (lib/email.h) */
};

/**
 * Create a user of org @a org_id (version 1).  Only inside db_tx_run,
 * after db_directory_lock.
 * @param[out] out  the new user on DB_QS_ONE_RESULT (db_user_clear it)
 * @return DB_QS_ONE_RESULT; DB_QS_CONFLICT when the org has a user of that
 *         userName in any case; or another negative db_qs.
 */
enum db_qs db_user_insert (const char *org_id, const struct db_user_values *v, struct db_user *out);

/**
 * User @a id of org @a org_id (both canonical uuids).
 * @param[out] out  filled on DB_QS_ONE_RESULT (db_user_clear it)
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_user_get (const char *org_id, const char *id, struct db_user *out);

/**
 * Whether @a user_id is an active user of @a org_id.  Call after locking
 * the org (db_org_writer_lock), which user changes lock too.
 * @param[out] ok  the answer
 * @return DB_QS_ONE_RESULT (answered), or a negative db_qs.
 */
enum db_qs db_user_active (const char *org_id, const char *user_id, bool *ok);

/** Like db_user_get, and the row stays locked FOR UPDATE.  Only inside db_tx_run. */
enum db_qs db_user_lock (const char *org_id, const char *id, struct db_user *out);

/**
 * Replace every stored value of user @a id of org @a org_id by @a v, bump
 * its version and updated_at.  Only inside db_tx_run, with the user locked.
 * @param[out] out  the user after the change on DB_QS_ONE_RESULT (db_user_clear it)
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS; DB_QS_CONFLICT when another
 *         user of the org has that userName; or another negative db_qs.
 */
enum db_qs db_user_update (const char *org_id, const char *id, const struct db_user_values *v,
                           struct db_user *out);

/**
 * Delete user @a id of org @a org_id; its group memberships go with it (ON
 * DELETE CASCADE, which also updates the groups' member counts).  Only
 * inside db_tx_run.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_user_delete (const char *org_id, const char *id);

/** Called once per user of a list, in order; @a u is borrowed for the call. */
typedef void (*db_user_cb) (void *cls, const struct db_user *u);

/** Which users db_user_list returns (AND of the filters that are set). */
struct db_user_filter
{
  const char *user_name; /**< this userName in any case, or NULL */
  enum
  {
    DB_USER_ANY = 0,
    DB_USER_ACTIVE,
    DB_USER_INACTIVE,
  } active;
  const char
    *after_created_at;  /**< keyset cursor (RFC 3339) with after_id, or NULL for the first page */
  const char *after_id; /**< canonical uuid, with after_created_at */
};

/**
 * Users of org @a org_id matching @a f, oldest first (ordered by
 * (created_at, id)).
 * @param limit  at most this many users
 * @return the number of users passed to @a cb, or a negative db_qs (then
 *         @a cb may have seen some rows: discard what it collected).
 */
enum db_qs db_user_list (const char *org_id, const struct db_user_filter *f, unsigned int limit,
                         db_user_cb cb, void *cls);

/**
 * The members of group @a group_id of org @a org_id, ordered by user id.
 * @param after_id  keyset cursor: only users with a greater id, or NULL
 *                  for the first page
 * @param limit     at most this many users
 * @return the number of users passed to @a cb, or a negative db_qs (then
 *         @a cb may have seen some rows: discard what it collected).  An
 *         unknown group has no members: check it exists first.
 */
enum db_qs db_user_list_in_group (const char *org_id, const char *group_id, const char *after_id,
                                  unsigned int limit, db_user_cb cb, void *cls);

#endif
