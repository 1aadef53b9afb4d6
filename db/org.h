/**
 * @file db/org.h
 * Organizations (DESIGN §3): the tenant root.  Every query here copies its
 * results out before returning; strings in the structs are NUL-terminated
 * arrays owned by the struct.
 */
#ifndef BW_DB_ORG_H
#define BW_DB_ORG_H

#include <stdbool.h>
#include <stdint.h>
#include "db/db.h"
#include "lib/ident.h"

/** Longest org display name, in bytes (migration 0001's CHECK). */
#define DB_ORG_NAME_MAX 200

/** The identity of an org, as the router resolves a `{org}` path parameter. */
struct db_org_ref
{
  char id[BW_UUID_LEN + 1];   /**< canonical lowercase uuid */
  char slug[BW_SLUG_MAX + 1];
};

/** One org as stored. */
struct db_org
{
  char id[BW_UUID_LEN + 1];          /**< canonical lowercase uuid */
  char slug[BW_SLUG_MAX + 1];
  char name[DB_ORG_NAME_MAX + 1];    /**< UTF-8, 1..DB_ORG_NAME_MAX bytes */
  int64_t version;                   /**< 1 at creation, +1 per change: the ETag */
  char created_at[DB_TS_SIZE];       /**< DB_SQL_TS format */
  char updated_at[DB_TS_SIZE];       /**< DB_SQL_TS format */
};

/**
 * Resolve a `{org}` path parameter: a canonical uuid is looked up by id,
 * anything else by slug; only live orgs (not soft-deleted) count.  Strings
 * that are neither a uuid nor a slug (lib/ident.h) are answered without a
 * query.
 * @param id_or_slug  NUL-terminated, borrowed for the call
 * @param[out] out    filled on DB_QS_ONE_RESULT
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_org_resolve (const char *id_or_slug, struct db_org_ref *out);

/**
 * Create a live org with version 1.  Run inside db_tx_run (together with
 * its audit record).
 * @param slug  valid per bw_slug_valid()
 * @param name  1..DB_ORG_NAME_MAX bytes of UTF-8
 * @param[out] out  the new org on DB_QS_ONE_RESULT
 * @return DB_QS_ONE_RESULT; DB_QS_CONFLICT when a live org has @a slug; or
 *         another negative db_qs.
 */
enum db_qs db_org_insert (const char *slug, const char *name, struct db_org *out);

/**
 * Read live org @a org_id (a canonical uuid).
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_org_get (const char *org_id, struct db_org *out);

/**
 * Like db_org_get but `FOR UPDATE`: the row stays locked until the caller's
 * transaction ends.  Only inside db_tx_run.
 */
enum db_qs db_org_lock (const char *org_id, struct db_org *out);

/**
 * Lock live org @a org_id FOR NO KEY UPDATE, the mode of the audit append
 * and db_policy_version_bump: writers of one org queue here instead of
 * deadlocking, and a concurrent org deletion or user deactivation (which
 * lock the same row) is ordered before or after the caller's change, so
 * checks made after it hold until commit.  Only inside db_tx_run, first in
 * the transaction.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS (no such live org), or a negative db_qs.
 */
enum db_qs db_org_writer_lock (const char *org_id);

/**
 * Change the slug and/or name of live org @a org_id, bump its version and
 * updated_at.  Only inside db_tx_run.
 * @param slug  new slug, or NULL to keep it
 * @param name  new name, or NULL to keep it
 * @param[out] out  the org after the change on DB_QS_ONE_RESULT
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS (no such live org),
 *         DB_QS_CONFLICT (slug taken by another live org), or a negative db_qs.
 */
enum db_qs db_org_update (const char *org_id, const char *slug, const char *name,
                          struct db_org *out);

/**
 * Soft-delete live org @a org_id (its slug becomes reusable, its audit chain
 * stays) and revoke every API token of it that is not yet revoked.  Two
 * statements: only inside db_tx_run, so they commit together.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS (no such live org), or a
 *         negative db_qs.
 */
enum db_qs db_org_delete (const char *org_id);

/** Called once per org of a list, in order; @a org is borrowed for the call. */
typedef void (*db_org_cb) (void *cls, const struct db_org *org);

/**
 * Live orgs, oldest first (keyset on (created_at, id)).
 * @param only_id   restrict to this org id (an org token sees only its own), or NULL
 * @param after_id  keyset cursor: only orgs after the org with this id
 *                  (which may since have been deleted), or NULL from the start
 * @param limit     maximum number of orgs
 * @return the number of orgs passed to @a cb, or a negative db_qs (then
 *         @a cb was not called).
 */
enum db_qs db_org_list (const char *only_id, const char *after_id, unsigned int limit,
                        db_org_cb cb, void *cls);

#endif
