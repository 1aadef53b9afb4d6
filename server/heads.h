/**
 * @file server/heads.h
 * Compiled bundles and signed heads (DESIGN §6), and the in-memory copy of
 * every subject's current head that answers the agents' nothing-changed
 * check-in without SQL.
 *
 * Compilation: when orgs.policy_version moves (NOTIFY bulwark_policy), one
 * replica (row lock on bundle_state) compiles the bundle of every subject
 * with an agent — a user's applicable policies, or the org-wide ones for a
 * userless agent — as canonical JSON (lib/bundle.h); bundles are stored
 * content-addressed and shared by subjects with identical content.  A
 * subject whose content changed gets the next org bundle version and a new
 * head; the others keep theirs.  Heads are re-signed before they expire by
 * a job on the replica holding an advisory lock.  Every head change
 * commits, then NOTIFY bulwark_heads '<org id>' makes every replica reload
 * the org's heads and wake its long-polls (server/longpoll.h).
 *
 * Implemented in server/heads.c (the heads in memory, the worker, the
 * notifications) and server/bundle_compiler.c (compiling and signing); the bundle bodies the heads name are
 * served by server/bundle_cache.h.
 */
#ifndef BW_SERVER_HEADS_H
#define BW_SERVER_HEADS_H

#include <stdbool.h>
#include <stdint.h>
#include "db/db.h"
#include "lib/crypto.h"
#include "server/settings.h"

/** NOTIFY channel of head changes; payload the org id. */
#define BW_HEADS_NOTIFY_CHANNEL "bulwark_heads"
/** Longest pause between two runs of the re-signing job, seconds; shorter heads
 *  (BULWARK_HEAD_TTL) make it run every quarter of their lifetime. */
#define BW_HEAD_RESIGN_PERIOD_MAX_S 300
/** pg_try_advisory_lock key of the re-signing job: the replica holding it re-signs. */
#define BW_HEAD_RESIGN_LOCK_KEY 0x4257484553494731LL /* "BWHESIG1" */
/** Events per upload batch told to agents in the bundle settings (DESIGN §7). */
#define BW_BUNDLE_EVENTS_BATCH_MAX 1000

/** A subject's current head as check-in needs it. */
struct bw_head_info
{
  uint64_t bundle_version;
  uint64_t head_serial;
  char sha256[BW_SHA256_HEX_LEN + 1];
  uint64_t length;           /**< bundle bytes */
  uint64_t keyset_version;   /**< keyset that signed the head: the org's latest */
  int64_t expires_at;        /**< unix seconds */
  char *jws;                 /**< malloc'd compact JWS when asked for, else NULL */
};

/**
 * The current head of (@a org_id, @a subject_id) — a user id when
 * @a subject_is_user, else an agent id.  From memory; on a miss, loads the
 * org's heads, compiling the subject's bundle first if it has none (a new
 * agent).  Never inside db_tx_run.
 * @param want_jws  also copy the JWS into out->jws (caller frees)
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the subject has no head
 *         and none can be compiled (no live agent or active user behind
 *         it, or the org is gone); or negative (DB unavailable: answer 503).
 */
enum db_qs bw_heads_get (const char *org_id, const char *subject_id, bool subject_is_user,
                         struct bw_head_info *out, bool want_jws);

/**
 * Start: subscribe to bulwark_policy / bulwark_heads (server/notify.h),
 * start the compile worker and the re-signing job.  Before bw_notify_start.
 */
int bw_heads_start (const struct bw_config *cfg);

/** Stop the worker and the job; drop the caches. */
void bw_heads_stop (void);

#endif
