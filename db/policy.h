/**
 * @file db/policy.h
 * Policies and their immutable revisions (DESIGN §4; migration 0003), and
 * the two directory reads that evaluation needs: which scope ids exist,
 * and a subject's state and groups.
 *
 * Documents travel as text: compact JSON into a jsonb parameter, and back
 * as jsonb's text form parsed with jansson (an object, owned by the struct
 * that holds it).  Timestamps are DB_SQL_TS text.  Every function that
 * fills a struct with owned members leaves them NULL on failure; clear the
 * struct with db_policy_clear / db_policy_revision_clear either way.
 */
#ifndef BW_DB_POLICY_H
#define BW_DB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "db/db.h"
#include "db/token.h"
#include "lib/ident.h"

/** Longest revision comment, in bytes. */
#define DB_POLICY_COMMENT_MAX 1000
/** Bytes of a mode name with its NUL ("enforce"). */
#define DB_POLICY_MODE_SIZE 8

/** A policy and its current revision. */
struct db_policy
{
  char id[BW_UUID_LEN + 1];            /**< canonical lowercase uuid */
  char *name;                          /**< owned: the current document's name */
  char mode[DB_POLICY_MODE_SIZE];      /**< "enforce" or "audit" */
  int64_t rule_count;                  /**< rules of the current document */
  int64_t revision;                    /**< the current revision, 1..: the ETag */
  char created_at[DB_TS_SIZE];         /**< of the policy (revision 1) */
  char updated_at[DB_TS_SIZE];         /**< of the current revision */
  char author[DB_TOKEN_ACTOR_MAX + 1]; /**< actor who wrote the current revision */
  char *comment;                       /**< owned: its comment, or NULL */
  json_t *document;                    /**< owned: the current document; NULL in lists */
};

/** Free the owned members of @a p and set them NULL.  NULL-safe. */
void db_policy_clear (struct db_policy *p);

/** One revision of a policy. */
struct db_policy_revision
{
  int64_t revision;
  char author[DB_TOKEN_ACTOR_MAX + 1];
  char *comment; /**< owned, or NULL */
  char created_at[DB_TS_SIZE];
  json_t *document; /**< owned; NULL in lists */
};

/** Free the owned members of @a r and set them NULL.  NULL-safe. */
void db_policy_revision_clear (struct db_policy_revision *r);

/** What a new revision holds; every string borrowed for the call. */
struct db_policy_write
{
  const char *org_id;   /**< uuid */
  const char *document; /**< the validated document as compact JSON text (a JSON object) */
  const char *name;     /**< the document's name */
  const char *mode;     /**< "enforce" or "audit" */
  size_t rule_count;    /**< rules in the document */
  const char *author;   /**< actor */
  const char *comment;  /**< 0..DB_POLICY_COMMENT_MAX bytes, or NULL */
};

/**
 * Lock org @a org_id's row (FOR NO KEY UPDATE, the mode and order of the
 * audit append and the policy version bump, so writers of one org queue
 * instead of deadlocking) and count its live policies.  Every policy
 * change calls this first: it serializes policy writers of one org, which
 * makes the per-org limit and revision numbers race-free.  Only inside
 * db_tx_run.
 * @param[out] live  live (not deleted) policies of the org
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the org does not exist
 *         or is deleted; or a negative db_qs.
 */
enum db_qs db_policy_lock_org (const char *org_id, int64_t *live);

/**
 * Create a policy with revision 1 holding @a w (one statement).  Only
 * inside db_tx_run, after db_policy_lock_org.
 * @param[out] out  the new policy, with its document
 * @return DB_QS_ONE_RESULT, or a negative db_qs.
 */
enum db_qs db_policy_insert (const struct db_policy_write *w, struct db_policy *out);

/**
 * Live policy @a id of @a org_id with its current document, locked FOR
 * UPDATE until the transaction ends.  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_lock (const char *org_id, const char *id, struct db_policy *out);

/**
 * Add revision current+1 holding @a w to live policy @a id and make it
 * current (one statement).  Only inside db_tx_run, with the policy locked.
 * @param[out] out  the policy after the change, with its document
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_revise (const char *id, const struct db_policy_write *w,
                             struct db_policy *out);

/**
 * Soft-delete live policy @a id of @a org_id (its revisions stay).
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_delete (const char *org_id, const char *id);

/**
 * Live policy @a id of @a org_id with its current document.
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_get (const char *org_id, const char *id, struct db_policy *out);

/**
 * The current revision number of live policy @a id of @a org_id.
 * @return DB_QS_ONE_RESULT and *revision, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_current_revision (const char *org_id, const char *id, int64_t *revision);

/**
 * One page of the live policies of @a org_id, oldest first, ordered by
 * (created_at, id), without documents.
 * @param after_created_at  keyset: only policies after this RFC 3339 time
 *                          and @a after_id; both NULL for the first page
 * @param limit             at most this many rows
 * @param[out] items        malloc'd array of *n policies (caller clears each
 *                          and free()s it; NULL when none)
 * @return the row count, or a negative db_qs.
 */
enum db_qs db_policy_list (const char *org_id, const char *after_created_at, const char *after_id,
                           unsigned int limit, struct db_policy **items, size_t *n);

/**
 * Revision @a revision of live policy @a id of @a org_id, with its document.
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_revision_get (const char *org_id, const char *id, int64_t revision,
                                   struct db_policy_revision *out);

/**
 * One page of the revisions of live policy @a id of @a org_id, newest
 * first, without documents.
 * @param before  only revisions below this one; 0 from the newest
 * @param[out] items  malloc'd array of *n revisions (caller clears each and
 *                    free()s it; NULL when none)
 * @return the row count, or a negative db_qs.
 */
enum db_qs db_policy_revision_list (const char *org_id, const char *id, int64_t before,
                                    unsigned int limit, struct db_policy_revision **items,
                                    size_t *n);

/** Which kind of scope entry db_policy_scope_missing reports. */
enum db_policy_scope_kind
{
  DB_POLICY_SCOPE_GROUP,
  DB_POLICY_SCOPE_USER,
};

/** Called for each scope id that names nothing in the org; @a index is its position in its list. */
typedef void (*db_policy_scope_cb) (void *cls, enum db_policy_scope_kind kind, size_t index);

/**
 * Which of the group ids @a groups (@a ngroups) and user ids @a users
 * (@a nusers), all canonical lowercase uuids, do not name a group or a
 * user of org @a org_id (one statement).  @a cb is called for each, groups
 * first, in list order.
 * @return the number of missing ids, or a negative db_qs (DB_QS_HARD_ERROR
 *         as well for an id that is not a canonical uuid).
 */
enum db_qs db_policy_scope_missing (const char *org_id, const char *const *groups, size_t ngroups,
                                    const char *const *users, size_t nusers, db_policy_scope_cb cb,
                                    void *cls);

/** A user as evaluation sees it; strings borrowed for the callback. */
struct db_policy_subject
{
  const char *id; /**< user uuid */
  bool active;
  size_t ngroups;
  const char *const *groups; /**< group uuids, ascending */
};

/** Called once per user found. */
typedef void (*db_policy_subject_cb) (void *cls, const struct db_policy_subject *s);

/**
 * The users among @a ids (@a n canonical lowercase uuids, duplicates
 * allowed) that exist in org @a org_id, with their active flag and groups
 * (one statement).
 * @return the number of users found, or a negative db_qs (DB_QS_HARD_ERROR
 *         as well for an id that is not a canonical uuid).
 */
enum db_qs db_policy_subjects (const char *org_id, const char *const *ids, size_t n,
                               db_policy_subject_cb cb, void *cls);

/**
 * The policy version of org @a org_id (orgs.policy_version, bumped by
 * db_policy_version_bump): one primary-key lookup, for deciding whether
 * cached policies are current.
 * @return DB_QS_ONE_RESULT and *version, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_policy_org_version (const char *org_id, int64_t *version);

/** One live policy's current revision as evaluation loads it; borrowed for the callback. */
struct db_policy_current
{
  const char *id; /**< policy uuid */
  int64_t revision;
  const char *document; /**< its document as JSON text */
  size_t document_len;
};

/** Called once per live policy. */
typedef void (*db_policy_current_cb) (void *cls, const struct db_policy_current *c);

/**
 * The org's policy version and the current revision of every live policy,
 * oldest policy first, read by ONE statement so that both come from the
 * same snapshot: the version names exactly this set.
 * @param[out] version  orgs.policy_version
 * @return DB_QS_ONE_RESULT when the org exists (then @a cb was called once
 *         per live policy, perhaps never); DB_QS_NO_RESULTS when it does
 *         not; or a negative db_qs.
 */
enum db_qs db_policy_load_current (const char *org_id, int64_t *version, db_policy_current_cb cb,
                                   void *cls);

#endif
