/**
 * @file db/agent.h
 * Enrolled agents (DESIGN §6, migration 0004 `agents`): the credential
 * lookup that authenticates agent requests, the insert at enrollment, and
 * the fleet view's reads and admin changes.
 *
 * Credentials never reach this layer: only their hex SHA-256.  Timestamps
 * are DB_SQL_TS text (db/db.h); "" stands for SQL NULL.  Every read joins
 * the agent's current head (`heads` of its subject: its user, or the agent
 * itself when it has none), which is what the agent should be running.
 */
#ifndef BW_DB_AGENT_H
#define BW_DB_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/db.h"
#include "lib/crypto.h"
#include "lib/ident.h"

/** Longest hostname, platform and agent version, in bytes (the schema's CHECKs). */
#define DB_AGENT_HOSTNAME_MAX 253
#define DB_AGENT_PLATFORM_MAX 64
#define DB_AGENT_VERSION_MAX 64
/** Longest last_error an agent reports, in bytes (the schema's CHECK). */
#define DB_AGENT_LAST_ERROR_MAX 1024

/** What authenticating a credential needs to know. */
struct db_agent_auth
{
  char id[BW_UUID_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  char user_id[BW_UUID_LEN + 1]; /**< "" for an agent enrolled without a user */
  bool disabled;                 /**< disabled by an admin (403, not 401) */
};

/**
 * Find the live agent whose credential hashes to @a credential_sha256
 * (64 lowercase hex) in a live org: one probe of the unique index.
 * @return DB_QS_ONE_RESULT and *out; DB_QS_NO_RESULTS for an unknown or
 *         deleted credential or a deleted org; or a negative db_qs.
 */
enum db_qs db_agent_auth_lookup (const char *credential_sha256, struct db_agent_auth *out);


/** A bundle as the fleet view shows it: desired (the subject's head) or active (reported). */
struct db_agent_bundle
{
  bool present;               /**< false: JSON null */
  int64_t bundle_version;
  char sha256[BW_SHA256_HEX_LEN + 1];
  int64_t head_serial;
};

/** One agent as the admin API shows it. */
struct db_agent
{
  char id[BW_UUID_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  char user_id[BW_UUID_LEN + 1];                    /**< "" when enrolled without a user */
  char hostname[DB_AGENT_HOSTNAME_MAX + 1];
  char platform[DB_AGENT_PLATFORM_MAX + 1];
  char agent_version[DB_AGENT_VERSION_MAX + 1];
  char enrolled_at[DB_TS_SIZE];
  char last_seen_at[DB_TS_SIZE];                    /**< "" when never seen */
  char disabled_at[DB_TS_SIZE];                     /**< "" unless disabled */
  bool online;     /**< last seen within the online window, by the database clock */
  bool disabled;
  struct db_agent_bundle desired;                   /**< the subject's current head */
  struct db_agent_bundle active;                    /**< what the agent last reported */
  bool drift;      /**< a head exists and the active version or sha256 differ from it */
  bool stale;      /**< the agent reported it is running past its head's expiry */
  char last_error[DB_AGENT_LAST_ERROR_MAX + 1];     /**< "" when none */
  bool has_keyset_version;
  int64_t keyset_version;
  int64_t events_spooled;
  int64_t events_dropped;
  int64_t last_event_seq;
};

/** An agent to insert at enrollment; every string borrowed for the call. */
struct db_agent_new
{
  const char *org_id;            /**< uuid of the org (locked by the caller) */
  const char *user_id;           /**< uuid of the user the secret is bound to, or NULL */
  const char *enroll_secret_id;  /**< uuid of the secret used */
  const char *credential_sha256; /**< 64 lowercase hex */
  const char *hostname;          /**< 1..DB_AGENT_HOSTNAME_MAX bytes */
  const char *platform;          /**< 1..DB_AGENT_PLATFORM_MAX bytes */
  const char *agent_version;     /**< 1..DB_AGENT_VERSION_MAX bytes */
};

/**
 * Insert @a na and read it back.  Only inside db_tx_run, after the org
 * lock (db_org_writer_lock or the enroll secret's use).
 * @param online_window_s  seconds of the online window (for out->online)
 * @return DB_QS_ONE_RESULT and *out; DB_QS_CONFLICT if the credential hash
 *         is taken (2^-256); or a negative db_qs.
 */
enum db_qs db_agent_insert (const struct db_agent_new *na, unsigned int online_window_s,
                            struct db_agent *out);

/**
 * Live (not deleted) agent @a id of org @a org_id.
 * @param online_window_s  an agent last seen within this many seconds is online
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_agent_get (const char *org_id, const char *id, unsigned int online_window_s,
                         struct db_agent *out);

/** db_agent_get, locking the agent row FOR UPDATE.  Only inside db_tx_run. */
enum db_qs db_agent_lock (const char *org_id, const char *id, unsigned int online_window_s,
                          struct db_agent *out);

/** Status filter of the fleet list. */
enum db_agent_status
{
  DB_AGENT_STATUS_ANY = 0,
  DB_AGENT_STATUS_ONLINE,
  DB_AGENT_STATUS_OFFLINE,  /**< not online (also never seen) */
  DB_AGENT_STATUS_STALE,
  DB_AGENT_STATUS_DRIFT,
  DB_AGENT_STATUS_DISABLED,
};

/** Which agents db_agent_list returns (AND of the filters). */
struct db_agent_filter
{
  enum db_agent_status status;
  const char *user_id;          /**< uuid, or NULL for any */
  const char *after_enrolled_at; /**< keyset cursor: after this RFC 3339 time and after_id; */
  const char *after_id;          /**< both NULL for the first page */
};

/**
 * One page of the live agents of @a org_id matching @a f, ordered by
 * (enrolled_at, id).
 * @param limit  at most this many rows (1..BW_PAGE_LIMIT_MAX + 1)
 * @param[out] items  malloc'd array of *n agents (caller free()s; NULL when none)
 * @return the row count (>= 0), or a negative db_qs.
 */
enum db_qs db_agent_list (const char *org_id, const struct db_agent_filter *f,
                          unsigned int online_window_s, unsigned int limit,
                          struct db_agent **items, size_t *n);

/**
 * Disable (now, unless already disabled) or enable live agent @a id of
 * @a org_id.  The agents_notify trigger announces it on bulwark_agent.
 * Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS (no such live agent), or negative.
 */
enum db_qs db_agent_set_disabled (const char *org_id, const char *id, bool disabled);

/**
 * Soft-delete live agent @a id of @a org_id (deleted_at = now()): its
 * credential authenticates no more (announced by the trigger).  Only
 * inside db_tx_run.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or negative.
 */
enum db_qs db_agent_delete (const char *org_id, const char *id);

/** Counts of the fleet summary (live agents of one org). */
struct db_fleet_summary
{
  int64_t agents;
  int64_t online;
  int64_t stale;
  int64_t drift;
  int64_t disabled;
  int64_t on_latest;           /**< active sha256 equals the subject's head's */
  bool has_latest;             /**< false: the org has no head yet */
  int64_t latest_bundle_version; /**< highest bundle_version among the org's heads */
};

/**
 * The fleet summary of @a org_id, in one statement (one snapshot).
 * @return DB_QS_ONE_RESULT and *out, or a negative db_qs.
 */
enum db_qs db_agent_fleet_summary (const char *org_id, unsigned int online_window_s,
                                   struct db_fleet_summary *out);

#endif
