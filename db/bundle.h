/**
 * @file db/bundle.h
 * Compiled bundles and signed heads (DESIGN §6; migration 0004 tables
 * bundle_state, bundles, heads), and the subjects they are compiled for:
 * every user with a live agent, and every live agent enrolled without a
 * user.
 *
 * Both per-org counters, bundle_version and head_serial, are drawn as
 * GREATEST(last + 1, milliseconds since the epoch): they only go up, and
 * after a restore from an older backup the next number is still above
 * every number issued before (agents refuse a lower one).  Writers of an
 * org's bundles and heads hold its bundle_state row lock
 * (db_bundle_state_lock) for the whole transaction.
 */
#ifndef BW_DB_BUNDLE_H
#define BW_DB_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/db.h"
#include "lib/ident.h"

/** NOTIFY channel of head changes; payload the org id (server/heads.h). */
#define DB_HEADS_NOTIFY_CHANNEL "bulwark_heads"
/** Bytes of a hex SHA-256 with its NUL. */
#define DB_SHA256_SIZE 65

/** An org's bundle counters. */
struct db_bundle_state
{
  int64_t bundle_version;          /**< last bundle version issued */
  int64_t head_serial;             /**< last head serial issued */
  int64_t compiled_policy_version; /**< orgs.policy_version last compiled; -1 never */
  int64_t keyset_version;          /**< the org's current keyset */
};

/**
 * Create org @a org_id's bundle_state row unless it exists (autocommit is
 * fine).  @return rows inserted (0 or 1), or a negative db_qs.
 */
enum db_qs db_bundle_state_ensure (const char *org_id);

/**
 * Lock org @a org_id's bundle_state row FOR UPDATE until the transaction
 * ends.  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS (no row), or negative.
 */
enum db_qs db_bundle_state_lock (const char *org_id, struct db_bundle_state *out);

/** Set the org's keyset version, creating the row if needed.  Only inside db_tx_run. */
enum db_qs db_bundle_state_set_keyset (const char *org_id, int64_t keyset_version);

/** Record that the org's heads were compiled at @a policy_version.  Only inside db_tx_run. */
enum db_qs db_bundle_state_set_compiled (const char *org_id, int64_t policy_version);

/** Draw the org's next bundle version into @a out.  Only inside db_tx_run, row locked. */
enum db_qs db_bundle_next_version (const char *org_id, int64_t *out);

/** Draw the org's next head serial into @a out.  Only inside db_tx_run, row locked. */
enum db_qs db_bundle_next_serial (const char *org_id, int64_t *out);

/**
 * Store bundle @a sha256 (hex SHA-256 of @a body) of @a org_id unless it is
 * stored already (content-addressed: the same bytes are stored once).
 * @return rows inserted (0 or 1), or a negative db_qs.
 */
enum db_qs db_bundle_insert (const char *org_id, const char *sha256, int64_t version,
                             const unsigned char *body, size_t len);

/**
 * Bundle @a sha256 of org @a org_id (another org's is no result).
 * @param[out] body  malloc'd bytes on DB_QS_ONE_RESULT (caller frees)
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_bundle_get (const char *org_id, const char *sha256, unsigned char **body,
                          size_t *len);

/** A subject's head as stored. */
struct db_head
{
  char subject_id[BW_UUID_LEN + 1];
  int64_t bundle_version;
  char sha256[DB_SHA256_SIZE];
  int64_t length;         /**< bundle bytes */
  int64_t head_serial;
  int64_t keyset_version; /**< keyset of the key that signed it */
  int64_t issued_at;      /**< unix seconds */
  int64_t expires_at;     /**< unix seconds */
  const char *jws;        /**< compact JWS; borrowed (callbacks: for the call; NULL when
                               the query did not read it) */
};

/** Called once per head; @a h borrowed for the call. */
typedef void (*db_head_cb) (void *cls, const struct db_head *h);

/**
 * Every head of org @a org_id with its JWS, ordered by subject, and the
 * org's head_serial (0 without a bundle_state row), from one snapshot.
 * @param[out] head_serial  bundle_state.head_serial: orders loads of the org
 * @return the number of heads (0..), or a negative db_qs.
 */
enum db_qs db_heads_load (const char *org_id, int64_t *head_serial, db_head_cb cb, void *cls);

/**
 * Heads of org @a org_id without their JWS: all when @a expiring_before
 * < 0, else those expiring before that unix time or signed under a keyset
 * other than @a keyset_version (to be re-signed).
 * @return the number of heads, or a negative db_qs.
 */
enum db_qs db_heads_list (const char *org_id, int64_t expiring_before, int64_t keyset_version,
                          db_head_cb cb, void *cls);

/** Whether (@a org_id, @a subject_id) has a head.  @return ONE, NO_RESULTS, or negative. */
enum db_qs db_head_exists (const char *org_id, const char *subject_id);

/** Insert or replace the head of (@a org_id, h->subject_id); h->jws required. */
enum db_qs db_head_upsert (const char *org_id, const struct db_head *h);

/**
 * Delete the heads of org @a org_id whose subject is not among @a keep
 * (@a n canonical uuids): subjects without a live agent any more.
 * @return rows deleted, or a negative db_qs.
 */
enum db_qs db_heads_delete_except (const char *org_id, const char *const *keep, size_t n);

/** NOTIFY DB_HEADS_NOTIFY_CHANNEL '<org_id>' (delivered at commit).  Only inside db_tx_run. */
enum db_qs db_heads_notify (const char *org_id);

/** Called once per org id (borrowed for the call). */
typedef void (*db_org_id_cb) (void *cls, const char *org_id);

/**
 * Orgs with heads that expire before unix time @a before, or that were
 * signed under an older keyset than the org's: the re-signing job's work.
 * @return the number of orgs (at most @a limit), or a negative db_qs.
 */
enum db_qs db_heads_orgs_to_resign (int64_t before, unsigned int limit, db_org_id_cb cb,
                                    void *cls);

/**
 * Live orgs with a live agent whose heads were compiled at an older policy
 * version than the org's (or never).
 * @return the number of orgs (at most @a limit), or a negative db_qs.
 */
enum db_qs db_bundle_orgs_to_compile (unsigned int limit, db_org_id_cb cb, void *cls);

/**
 * Take (or keep) the session advisory lock @a key on this thread's
 * connection: the caller is the one replica that runs a singleton job.
 * A session that holds it already does not stack it again.  The lock ends
 * with the connection, so a lost connection hands the job to another
 * replica.
 * @return DB_QS_ONE_RESULT and *held, or a negative db_qs.
 */
enum db_qs db_bundle_try_job_lock (int64_t key, bool *held);

/** A subject as the compiler sees it; strings borrowed for the callback. */
struct db_bundle_subject
{
  const char *id;            /**< user id, or agent id of a userless agent */
  bool is_user;
  size_t ngroups;
  const char *const *groups; /**< the user's group ids, ascending (none for an agent) */
};

/** Called once per subject. */
typedef void (*db_bundle_subject_cb) (void *cls, const struct db_bundle_subject *s);

/**
 * The subjects of org @a org_id, ordered by id: every active user with a
 * live (not deleted) agent, with their groups, and every live agent
 * enrolled without a user.
 * @param only  just this subject (a canonical uuid), or NULL for all
 * @return the number of subjects, or a negative db_qs.
 */
enum db_qs db_bundle_subjects (const char *org_id, const char *only, db_bundle_subject_cb cb,
                               void *cls);

#endif
