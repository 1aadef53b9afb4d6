/**
 * @file db/token.h
 * Org API tokens (DESIGN §3): create, read, list, revoke, the lookup that
 * authenticates a request, and the bulk flush of last-used times.
 *
 * Secrets never reach this layer: only their hex SHA-256 and display
 * prefix.  Timestamps come back in the DB_SQL_TS format of db/db.h (RFC
 * 3339 UTC, six fraction digits: "2026-11-29T12:00:00.123456Z"); an empty
 * string stands for SQL NULL.
 */
#ifndef BW_DB_TOKEN_H
#define BW_DB_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/db.h"

/** Longest token name, in characters (the schema's CHECK). */
#define DB_TOKEN_NAME_MAX 200
/** Bytes that hold the longest name: UTF-8 needs at most 4 per character. */
#define DB_TOKEN_NAME_BYTES (4 * DB_TOKEN_NAME_MAX)
/** Longest role name ("catalog_reviewer"). */
#define DB_TOKEN_ROLE_MAX 16
/** Longest stored display prefix of a secret. */
#define DB_TOKEN_PREFIX_MAX 16
/** Longest actor string ("token:<uuid>" is 42). */
#define DB_TOKEN_ACTOR_MAX 47
/**
 * Longest timestamp text (DB_SQL_TS of db/db.h): 27 for four-digit years;
 * more than DB_TS_SIZE because a client's expires_at may lie beyond 9999
 * once converted to UTC, up to the 29 characters of PostgreSQL's last year.
 */
#define DB_TOKEN_TS_MAX 32
/** Most tokens one db_token_last_used_flush call takes. */
#define DB_TOKEN_FLUSH_MAX 4096

/** One token as the API shows it (never the secret). */
struct db_token
{
  char id[37];                              /**< uuid */
  char org_id[37];                          /**< uuid */
  char name[DB_TOKEN_NAME_BYTES + 1];
  char role[DB_TOKEN_ROLE_MAX + 1];         /**< "owner", "policy_admin", ... */
  char prefix[DB_TOKEN_PREFIX_MAX + 1];     /**< first characters of the secret */
  char created_by[DB_TOKEN_ACTOR_MAX + 1];  /**< "platform-admin" or "token:<uuid>" */
  char created_at[DB_TOKEN_TS_MAX + 1];
  char expires_at[DB_TOKEN_TS_MAX + 1];     /**< "" when it never expires */
  char last_used_at[DB_TOKEN_TS_MAX + 1];   /**< "" when never used (or not flushed yet) */
  char revoked_at[DB_TOKEN_TS_MAX + 1];     /**< "" while live */
  char user_id[37];                         /**< the user it acts as; "" for an automation token */
};

/** A token to insert; every string borrowed for the call. */
struct db_token_new
{
  const char *org_id;        /**< uuid of a live org */
  const char *name;          /**< 1..DB_TOKEN_NAME_MAX characters */
  const char *role;          /**< one of the five role names */
  const char *secret_sha256; /**< lowercase hex SHA-256 of the whole secret */
  const char *prefix;        /**< display prefix of the secret */
  const char *created_by;    /**< actor creating it */
  const char *expires_at;    /**< RFC 3339 text, or NULL for no expiry */
  const char *user_id;       /**< uuid of an active user of the org (checked by the caller
                                  after locking the org), or NULL for an automation token */
};

/**
 * Whether the RFC 3339 timestamp @a ts (already checked for shape) lies
 * after the database's now() (the transaction start inside db_tx_run, so
 * it agrees with the created_at of a row inserted in the same transaction).
 * @param[out] future  the answer.
 * @return DB_QS_ONE_RESULT, or a negative db_qs.
 */
enum db_qs db_token_expiry_future (const char *ts, bool *future);

/**
 * Insert @a nt, holding the org's row lock (FOR NO KEY UPDATE) so that the
 * insert cannot race the org's deletion and so that the later audit
 * append (which locks the same row) cannot deadlock with another writer.
 * Call inside db_tx_run.
 * @param[out] out  the new token.
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when the org does not exist or
 *         is deleted; DB_QS_CONFLICT if the hash is taken (2^-256); or a
 *         negative db_qs.
 */
enum db_qs db_token_create (const struct db_token_new *nt, struct db_token *out);

/**
 * Token @a id of org @a org_id (both uuids), revoked or not.
 * @return DB_QS_ONE_RESULT and *out; DB_QS_NO_RESULTS when it does not
 *         exist in that org; or a negative db_qs.
 */
enum db_qs db_token_get (const char *org_id, const char *id, struct db_token *out);

/**
 * One page of the live (non-revoked) tokens of @a org_id, oldest first,
 * ordered by (created_at, id).
 * @param after_created_at  keyset: only tokens after this RFC 3339 time and
 *                          @a after_id; both NULL for the first page
 * @param limit             at most this many rows (1..BW_PAGE_LIMIT_MAX + 1)
 * @param[out] items        malloc'd array of *n tokens (caller free()s;
 *                          NULL when none)
 * @return the row count (>= 0), or a negative db_qs.
 */
enum db_qs db_token_list (const char *org_id, const char *after_created_at, const char *after_id,
                          unsigned int limit, struct db_token **items, size_t *n);

/**
 * Revoke live token @a id of @a org_id now, holding the org's row lock
 * first (as db_token_create).  Call inside db_tx_run.
 * @param[out] out  the token after revocation.
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when there is no such live
 *         token in a live org (unknown, other org, already revoked); or a
 *         negative db_qs.
 */
enum db_qs db_token_revoke (const char *org_id, const char *id, struct db_token *out);

/** What authentication needs to know about a presented secret. */
struct db_token_auth
{
  char id[37];
  char org_id[37];
  char role[DB_TOKEN_ROLE_MAX + 1];
  char user_id[37]; /**< the user it acts as, or "" */
  bool valid; /**< not revoked and not expired, decided by SQL against now() */
};

/**
 * Find the token whose secret hashes to @a secret_sha256 (64 lowercase hex)
 * in a live org.  Validity is decided in SQL with the database clock so all
 * replicas agree: `revoked_at IS NULL AND (expires_at IS NULL OR
 * expires_at > now())`.
 * @return DB_QS_ONE_RESULT and *out; DB_QS_NO_RESULTS for an unknown hash
 *         or a deleted org; or a negative db_qs.
 */
enum db_qs db_token_lookup (const char *secret_sha256, struct db_token_auth *out);

/** One pending last-used time. */
struct db_token_last_used
{
  char id[37];     /**< token uuid, canonical lowercase */
  int64_t at_us;   /**< microseconds since the Unix epoch (UTC) */
};

/**
 * Store the last-used times of @a n (1..DB_TOKEN_FLUSH_MAX) tokens with ONE
 * statement; a time never moves backwards.  Unknown ids are ignored.
 * @return the number of rows updated, or a negative db_qs
 *         (DB_QS_HARD_ERROR as well for an id that is not a canonical uuid).
 */
enum db_qs db_token_last_used_flush (const struct db_token_last_used *items, size_t n);

#endif
