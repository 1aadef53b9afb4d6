/**
 * @file db/enroll_secret.h
 * Enroll secrets (DESIGN §6, migration 0004 `enroll_secrets`): create,
 * read, list, revoke, and the atomic use at enrollment.
 *
 * Secrets never reach this layer: only their hex SHA-256 (stored as
 * bytea) and display prefix.  Timestamps are DB_SQL_TS text (db/db.h);
 * "" stands for SQL NULL.
 */
#ifndef BW_DB_ENROLL_SECRET_H
#define BW_DB_ENROLL_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/db.h"
#include "lib/ident.h"

/** Longest name, in bytes (the schema's CHECK). */
#define DB_ENROLL_SECRET_NAME_MAX 128
/** Longest stored display prefix. */
#define DB_ENROLL_SECRET_PREFIX_MAX 16
/** Longest actor text ("enroll-secret:<uuid>" is 50). */
#define DB_ENROLL_SECRET_ACTOR_MAX 63
/** Longest timestamp text: as DB_TOKEN_TS_MAX (db/token.h), a client's expiry may lie past 9999. */
#define DB_ENROLL_SECRET_TS_MAX 32

/** One enroll secret as the API shows it (never the secret). */
struct db_enroll_secret
{
  char id[BW_UUID_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  char name[DB_ENROLL_SECRET_NAME_MAX + 1];
  char prefix[DB_ENROLL_SECRET_PREFIX_MAX + 1];
  char user_id[BW_UUID_LEN + 1];                   /**< "" when not bound to a user */
  char expires_at[DB_ENROLL_SECRET_TS_MAX + 1];    /**< "" when it never expires */
  bool has_max_uses;
  int64_t max_uses;                                /**< when has_max_uses */
  int64_t uses;
  char created_at[DB_ENROLL_SECRET_TS_MAX + 1];
  char created_by[DB_ENROLL_SECRET_ACTOR_MAX + 1];
  char revoked_at[DB_ENROLL_SECRET_TS_MAX + 1];    /**< "" while live */
};

/** A secret to insert; every string borrowed for the call. */
struct db_enroll_secret_new
{
  const char *org_id;        /**< uuid of the org (locked by the caller) */
  const char *name;          /**< 1..DB_ENROLL_SECRET_NAME_MAX bytes */
  const char *secret_sha256; /**< 64 lowercase hex of the whole secret */
  const char *prefix;        /**< display prefix */
  const char *user_id;       /**< uuid of an active user of the org, or NULL */
  const char *expires_at;    /**< RFC 3339 in the future, or NULL */
  const char *max_uses;      /**< decimal 1..1000000, or NULL for unlimited */
  const char *created_by;    /**< actor */
};

/**
 * Insert @a ns.  Only inside db_tx_run, after db_org_writer_lock.
 * @return DB_QS_ONE_RESULT and *out; DB_QS_CONFLICT if the hash is taken
 *         (2^-256); or a negative db_qs.
 */
enum db_qs db_enroll_secret_create (const struct db_enroll_secret_new *ns,
                                    struct db_enroll_secret *out);

/**
 * Secret @a id of @a org_id, revoked or not.
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_enroll_secret_get (const char *org_id, const char *id, struct db_enroll_secret *out);

/**
 * One page of the live (non-revoked) secrets of @a org_id, ordered by
 * (created_at, id); after_created_at and after_id both NULL for the first.
 * @param[out] items  malloc'd array of *n (caller free()s; NULL when none)
 * @return the row count, or a negative db_qs.
 */
enum db_qs db_enroll_secret_list (const char *org_id, const char *after_created_at,
                                  const char *after_id, unsigned int limit,
                                  struct db_enroll_secret **items, size_t *n);

/**
 * Revoke live secret @a id of @a org_id now, holding the org's row lock
 * first.  Only inside db_tx_run.
 * @return DB_QS_ONE_RESULT and *out (after revocation); DB_QS_NO_RESULTS
 *         (unknown, other org, already revoked, org deleted); or negative.
 */
enum db_qs db_enroll_secret_revoke (const char *org_id, const char *id,
                                    struct db_enroll_secret *out);

/**
 * The org of the secret hashing to @a secret_sha256, if the org is live;
 * says nothing about the secret's validity (db_enroll_secret_use decides).
 * @param[out] org_id  its uuid
 * @return DB_QS_ONE_RESULT, DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_enroll_secret_org (const char *secret_sha256, char org_id[BW_UUID_LEN + 1]);

/** What one use of a secret yields. */
struct db_enroll_use
{
  char secret_id[BW_UUID_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  char org_slug[BW_SLUG_MAX + 1];
  char user_id[BW_UUID_LEN + 1]; /**< "" when the secret is bound to no user */
};

/**
 * Count one use of the secret hashing to @a secret_sha256, atomically:
 * first its live org's row is locked (FOR NO KEY UPDATE, as every writer
 * of the org), then one UPDATE adds 1 to `uses` only while the secret is
 * not revoked, not expired (database clock), under max_uses, and its user
 * (if any) active — so concurrent uses never exceed max_uses.  Only
 * inside db_tx_run, with the agent insert and the audit record after it.
 * @return DB_QS_ONE_RESULT and *out; DB_QS_NO_RESULTS when the secret is
 *         unknown or not usable (one answer for all); or a negative db_qs.
 */
enum db_qs db_enroll_secret_use (const char *secret_sha256, struct db_enroll_use *out);

#endif
