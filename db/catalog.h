/**
 * @file db/catalog.h
 * The MCP catalog (DESIGN §5, migration 0006 `catalog_entries`).
 *
 * Entry documents are validated in lib/catalog.h before they reach this
 * layer; the state machine lives in api/catalog.c.
 */
#ifndef BW_DB_CATALOG_H
#define BW_DB_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "db/db.h"
#include "lib/ident.h"

/**
 * The approved slice of org @a org_id as a bundle carries it (lib/catalog.h
 * "The approved slice"): every entry in state approved whose expires_at is
 * unset or after the database clock (clock_timestamp(), not the
 * transaction's start: a compilation that began just before an expiry and
 * saw the expiry's version bump must not keep the expired entry), sorted
 * by name (bytewise), with
 * only its approved tools.  One statement, so one snapshot.
 * @param[out] slice  a new JSON array (caller owns) on success
 * @return DB_QS_ONE_RESULT (also for an empty catalog), or a negative db_qs.
 */
enum db_qs db_catalog_slice (const char *org_id, json_t **slice);

/* ---- the workflow (api/catalog.c, server/catalog_expiry.c) ---- */

/** Longest request reason and review note, bytes (the schema's CHECKs). */
#define DB_CATALOG_REASON_MAX 2000
#define DB_CATALOG_NOTE_MAX 2000
/** Bytes of a state name with its NUL ("requested", "in_review", ...). */
#define DB_CATALOG_STATE_SIZE 16
/** Longest actor text ("token:<uuid>", "agent:<uuid>", "platform-admin"). */
#define DB_CATALOG_ACTOR_MAX 63
/**
 * Longest timestamp text: a client's expires_at may lie past 9999 in UTC
 * (as DB_TOKEN_TS_MAX in db/token.h).
 */
#define DB_CATALOG_TS_MAX 32

/**
 * One entry as stored.  Timestamps are DB_SQL_TS text; "" stands for SQL
 * NULL.  Clear with db_catalog_entry_clear.
 */
struct db_catalog_entry
{
  char id[BW_UUID_LEN + 1];
  char state[DB_CATALOG_STATE_SIZE];            /**< "requested", "in_review", "approved", ... */
  bool active;                                  /**< approved and expires_at unset or after now() */
  bool lapsed;                                  /**< expires_at set and not after now(): the
                                                     approval, if any, has expired */
  json_t *definition;                           /**< owned: the normalized entry document */
  json_t *source;                               /**< owned: the imported server.json, or NULL */
  char *reason;                                 /**< owned */
  char requested_by[DB_CATALOG_ACTOR_MAX + 1];
  char requested_by_user[BW_UUID_LEN + 1];      /**< "" when unknown */
  char *review_note;                            /**< owned, or NULL */
  char reviewed_by[DB_CATALOG_ACTOR_MAX + 1];   /**< "" before the first review */
  char reviewed_at[DB_CATALOG_TS_MAX + 1];
  char expires_at[DB_CATALOG_TS_MAX + 1];       /**< "" when the approval does not expire */
  char expired_at[DB_CATALOG_TS_MAX + 1];       /**< when the expiry job deprecated it, or "" */
  char supersedes[BW_UUID_LEN + 1];             /**< "" when it supersedes nothing */
  int64_t revision;                             /**< 1 at insert, +1 per change: the ETag */
  char created_at[DB_CATALOG_TS_MAX + 1];
  char updated_at[DB_CATALOG_TS_MAX + 1];
};

/** Free what @a e owns and reset its pointers.  NULL-safe. */
void db_catalog_entry_clear (struct db_catalog_entry *e);

/** A new entry; every string borrowed for the call. */
struct db_catalog_new
{
  const char *org_id;            /**< uuid (locked by the caller) */
  const char *name;              /**< the definition's name */
  const char *version;           /**< the definition's version */
  const char *kind;              /**< the definition's kind */
  const char *pin_sha256;        /**< 64 lowercase hex */
  const char *definition;        /**< compact JSON of the normalized entry document */
  const char *source;            /**< compact JSON of the imported server.json, or NULL */
  const char *reason;            /**< 1..DB_CATALOG_REASON_MAX bytes */
  const char *requested_by;      /**< actor */
  const char *requested_by_user; /**< uuid, or NULL */
  const char *supersedes;        /**< uuid of the live entry of the same name, or NULL */
};

/**
 * Insert @a n in state requested, revision 1.  Only inside db_tx_run,
 * after db_org_writer_lock.
 * @return DB_QS_ONE_RESULT and *out, or a negative db_qs.
 */
enum db_qs db_catalog_insert (const struct db_catalog_new *n, struct db_catalog_entry *out);

/**
 * Entry @a id of org @a org_id.
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS (none, or another org's), or a negative db_qs.
 */
enum db_qs db_catalog_get (const char *org_id, const char *id, struct db_catalog_entry *out);

/**
 * db_catalog_get FOR UPDATE: the row stays locked until the transaction
 * ends.  Only inside db_tx_run, after db_org_writer_lock.
 */
enum db_qs db_catalog_lock (const char *org_id, const char *id, struct db_catalog_entry *out);

/** Which entries db_catalog_list returns (AND of the non-NULL filters); strings borrowed. */
struct db_catalog_filter
{
  const char *org_id;           /**< uuid, required */
  const char *state;            /**< exact state, or NULL */
  const char *name;             /**< exact server name, or NULL */
  bool queue;                   /**< only requested and in_review (the review queue) */
  const char *after_created_at; /**< keyset cursor (created_at, id), or NULL for the first page */
  const char *after_id;
};

/**
 * Entries of @a f, oldest first (created_at, id), at most @a limit.
 * @param[out] items  a malloc'd array (clear each, then free), NULL when none
 * @param[out] n      its length
 * @return the row count, or a negative db_qs.
 */
enum db_qs db_catalog_list (const struct db_catalog_filter *f, unsigned int limit,
                            struct db_catalog_entry **items, size_t *n);

/** A change of one entry; NULL members keep the stored value.  Strings borrowed. */
struct db_catalog_change
{
  const char *org_id;
  const char *id;
  const char *state;        /**< the new state, or NULL */
  const char *definition;   /**< compact JSON of the new normalized document, or NULL */
  const char *pin_sha256;   /**< with @a definition: its pin */
  bool set_note;            /**< replace review_note by @a note */
  const char *note;         /**< may be NULL (clears it) when set_note */
  const char *reviewed_by;  /**< actor: sets reviewed_by and reviewed_at = now(), or NULL */
  bool set_expires;         /**< replace expires_at by @a expires_at */
  const char *expires_at;   /**< RFC 3339, or NULL (no expiry) when set_expires */
  const char *supersedes;   /**< uuid, or NULL */
};

/**
 * Apply @a c to the entry, bump its revision and updated_at.  Only inside
 * db_tx_run, with the entry locked (db_catalog_lock).
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, DB_QS_CONFLICT (a
 *         second approved or suspended entry of the name), or a negative db_qs.
 */
enum db_qs db_catalog_update (const struct db_catalog_change *c, struct db_catalog_entry *out);

/**
 * The entries of org @a org_id named @a name at @a version in requested,
 * in_review, approved or suspended: the candidates for a pin equal to a
 * new definition's (the caller compares with bw_catalog_same_pin, which
 * ignores what pin_sha256 covers beyond the pin: title, inputs, ...).
 * Output as db_catalog_list.
 */
enum db_qs db_catalog_pin_candidates (const char *org_id, const char *name, const char *version,
                                      struct db_catalog_entry **items, size_t *n);

/**
 * The live (approved or suspended) entry of org @a org_id named @a name;
 * there is at most one (index catalog_entries_live).
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_catalog_live (const char *org_id, const char *name, struct db_catalog_entry *out);

/**
 * Lock FOR UPDATE every pending successor of entry @a id of org @a org_id:
 * the entries in requested or in_review whose supersedes is @a id, oldest
 * first (created_at, id).  No limit: a revoke must reach each of them
 * (they are few: one per pin, and the review queue holds them).  Only
 * inside db_tx_run, after db_org_writer_lock.  Output as db_catalog_list.
 */
enum db_qs db_catalog_pending_successors (const char *org_id, const char *id,
                                          struct db_catalog_entry **items, size_t *n);

/** Most orgs one db_catalog_expiry_orgs call returns; most entries one db_catalog_expiry_due locks. */
#define DB_CATALOG_EXPIRY_BATCH 100

/**
 * Across every org: the distinct orgs that have a live (approved or
 * suspended) entry whose expires_at has passed (<= now()), at most
 * DB_CATALOG_EXPIRY_BATCH of them.  The one statement of this file without
 * an org: it finds the orgs.
 * @param[out] org_ids  room for DB_CATALOG_EXPIRY_BATCH uuids; filled with @a *n of them
 * @return the count, or a negative db_qs.
 */
enum db_qs db_catalog_expiry_orgs (char org_ids[][BW_UUID_LEN + 1], size_t *n);

/**
 * Lock the due entries (as above) of org @a org_id FOR UPDATE, at most
 * DB_CATALOG_EXPIRY_BATCH, oldest expiry first.  Only inside db_tx_run,
 * after db_org_writer_lock.  Output as db_catalog_list.
 */
enum db_qs db_catalog_expiry_due (const char *org_id, struct db_catalog_entry **items,
                                  size_t *n);

/**
 * Retire due entry @a id of @a org_id for good (DESIGN §5): state
 * deprecated, expired_at = now(), revision and updated_at bumped (review
 * fields untouched: the expiry is no review).  A final state, so the pin
 * and the name are free for a new request.  Only inside db_tx_run, the
 * row locked.
 * @return DB_QS_ONE_RESULT and *out, DB_QS_NO_RESULTS (not due: not live,
 *         or its expires_at moved), or a negative db_qs.
 */
enum db_qs db_catalog_expire_mark (const char *org_id, const char *id,
                                   struct db_catalog_entry *out);

#endif
