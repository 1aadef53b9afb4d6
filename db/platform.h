/**
 * @file db/platform.h
 * The platform admin credential (DESIGN §3): one row holding the hex
 * SHA-256 of the platform admin token.  The token itself is never stored.
 */
#ifndef BW_DB_PLATFORM_H
#define BW_DB_PLATFORM_H

#include "db/db.h"

/**
 * Read the credential's hash.
 * @param[out] sha256  64 lowercase hex digits and NUL.
 * @return DB_QS_ONE_RESULT; DB_QS_NO_RESULTS when no credential exists yet;
 *         or a negative db_qs.
 */
enum db_qs db_platform_get (char sha256[65]);

/**
 * Make @a sha256 (64 lowercase hex) the credential, replacing any other
 * (created_at is reset only when the hash changes).
 * @return DB_QS_ONE_RESULT when written; DB_QS_NO_RESULTS when this hash
 *         was already the credential; or a negative db_qs.
 */
enum db_qs db_platform_set (const char *sha256);

/**
 * Store @a sha256 (64 lowercase hex) only if no credential exists yet, so
 * that of several replicas starting together exactly one wins.
 * @return DB_QS_ONE_RESULT when stored; DB_QS_NO_RESULTS when a credential
 *         already existed (nothing changed); or a negative db_qs.
 */
enum db_qs db_platform_create (const char *sha256);

#endif
