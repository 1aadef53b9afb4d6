/**
 * @file db/audit.h
 * The audit log: append inside the caller's transaction, list, and read
 * the whole chain for verification (DESIGN §3).
 */
#ifndef BW_DB_AUDIT_H
#define BW_DB_AUDIT_H

#include <stdint.h>
#include <jansson.h>
#include "db/db.h"
#include "lib/crypto.h"

/** What changed; every string borrowed for the call. */
struct db_audit_record
{
  const char *org_id;        /**< uuid */
  const char *actor;         /**< "platform-admin" or "token:<uuid>" */
  const char *action;        /**< "org.create", "token.revoke", ... */
  const char *target_type;   /**< "org", "token", ... */
  const char *target_id;
  const char *before_sha256; /**< hex digest of the canonical object before, or NULL */
  const char *after_sha256;  /**< after, or NULL */
  const char *request_id;
  const char *source_addr;
};

/**
 * Append @a rec to its org's chain.  Must run inside db_tx_run: it locks
 * the org row (serializing writers of one org), computes seq and hash
 * (api-independent: see db/audit.c for the exact hashed bytes) and inserts.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS if the org does not exist, or
 *         a negative db_qs.
 */
enum db_qs db_audit_append (const struct db_audit_record *rec);

/** prev_hash of the first record of every chain: 64 '0' characters. */
#define DB_AUDIT_GENESIS_HASH \
  "0000000000000000000000000000000000000000000000000000000000000000"

/** Records per page when db_audit_verify walks a chain. */
#define DB_AUDIT_VERIFY_PAGE 1000

/** One stored record of a chain, as hashed and as listed; strings borrowed. */
struct db_audit_entry
{
  int64_t seq;                 /**< 1, 2, ... per org */
  const char *id;              /**< uuid */
  const char *time;            /**< "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, 6 fraction digits) */
  struct db_audit_record rec;  /**< what changed (rec.org_id is not part of the record JSON) */
  const char *prev_hash;       /**< hex hash of record seq-1, DB_AUDIT_GENESIS_HASH for seq 1 */
  const char *hash;            /**< hex hash of this record; not read by the two functions below */
};

/**
 * The record object of @a e WITHOUT "hash" (API contract, "Audit log"):
 * {"seq","id","time","actor","action","target":{"type","id"},
 *  "before_sha256":hex|null,"after_sha256":hex|null,"request_id",
 *  "source_addr","prev_hash"}.  The list endpoint adds "hash" to it.
 * @return a new object (caller owns), or NULL on allocation failure or
 *         invalid UTF-8.
 */
json_t *db_audit_entry_json (const struct db_audit_entry *e);

/**
 * The chain hash of @a e: lowercase hex SHA-256 of
 * `prev_hash + "\n" + bw_json_canonical (db_audit_entry_json (e))`.
 * The one definition used when appending and when verifying.
 * @param[out] out  64 hex chars + NUL
 * @return 0, or -1 on allocation failure or invalid UTF-8.
 */
int db_audit_entry_hash (const struct db_audit_entry *e, char out[BW_SHA256_HEX_LEN + 1]);

/** Which records db_audit_list returns (AND of the non-NULL filters). */
struct db_audit_filter
{
  const char *org_id;  /**< uuid, required */
  int64_t before_seq;  /**< keyset cursor: only seq < before_seq; 0 = from the newest */
  const char *actor;   /**< exact actor, or NULL */
  const char *action;  /**< exact action, or NULL */
  const char *since;   /**< RFC 3339 timestamp already validated by the caller, inclusive, or NULL */
  const char *until;   /**< RFC 3339, exclusive, or NULL */
};

/** Called once per record, in order; @a e and its strings are borrowed for the call. */
typedef void (*db_audit_cb) (void *cls, const struct db_audit_entry *e);

/**
 * Records of one org matching @a f, newest first (seq descending).
 * @param limit  maximum number of records
 * @return the number of records passed to @a cb, or a negative db_qs.
 */
enum db_qs db_audit_list (const struct db_audit_filter *f, unsigned int limit, db_audit_cb cb,
                          void *cls);

/** The first fault db_audit_verify found. */
enum db_audit_fault
{
  DB_AUDIT_CHAIN_OK = 0,
  DB_AUDIT_HASH_MISMATCH,     /**< a stored hash differs from the recomputed one, or the org's head */
  DB_AUDIT_PREV_MISMATCH,     /**< prev_hash differs from the previous record's hash */
  DB_AUDIT_SEQUENCE_GAP,      /**< a seq is missing (also at the end, before the org's head) */
};

/** Outcome of verifying one chain. */
struct db_audit_verdict
{
  enum db_audit_fault fault;
  int64_t records;                      /**< records that verified, in seq order, before any fault */
  int64_t first_bad_seq;                /**< when fault: the first seq that is missing or wrong */
  char head[BW_SHA256_HEX_LEN + 1];     /**< when no fault: hash of the last record */
};

/** Contract string of @a f: "hash mismatch", "prev_hash mismatch", "sequence gap"; NULL when OK. */
const char *db_audit_fault_reason (enum db_audit_fault f);

/**
 * Verify the chain of org @a org_id (deleted orgs included): walk records in
 * seq order, DB_AUDIT_VERIFY_PAGE at a time, checking that seqs run 1, 2, ...
 * without gaps, each prev_hash equals the previous hash, each hash equals
 * db_audit_entry_hash, and the last record matches the org's stored head
 * (audit_seq, audit_head) so that truncation is seen too.  Runs its own
 * REPEATABLE READ transaction (one snapshot for every page): never call it
 * inside db_tx_run.
 * @param[out] out  filled on DB_QS_ONE_RESULT
 * @return DB_QS_ONE_RESULT (whatever the verdict), DB_QS_NO_RESULTS if the
 *         org does not exist, or a negative db_qs.
 */
enum db_qs db_audit_verify (const char *org_id, struct db_audit_verdict *out);

#endif
