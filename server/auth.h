/**
 * @file server/auth.h
 * Bearer authentication (RFC 6750) of the platform admin token and org API
 * tokens, and the last-used bookkeeping that avoids a write per request.
 */
#ifndef BW_SERVER_AUTH_H
#define BW_SERVER_AUTH_H

#include "server/request.h"

/** Prefix of every org API token secret. */
#define BW_TOKEN_PREFIX "bwk_"
/** Random bytes in a token secret (base64url-encoded after the prefix). */
#define BW_TOKEN_SECRET_BYTES 32
/** Characters in a minted secret: a 4-char prefix + base64url of the random bytes (47). */
#define BW_TOKEN_SECRET_LEN (4 + (4 * BW_TOKEN_SECRET_BYTES + 2) / 3)
/** Leading characters of a secret shown as its `prefix` (DESIGN §3: displayed, never enough to use). */
#define BW_TOKEN_DISPLAY_PREFIX_LEN 12
/** Shortest and longest accepted BULWARK_BOOTSTRAP_TOKEN, in characters. */
#define BW_AUTH_BOOTSTRAP_MIN 16
#define BW_AUTH_BOOTSTRAP_MAX 256
/** Seconds between bulk flushes of token last-used times. */
#define BW_TOKEN_LAST_USED_FLUSH_S 15

/** Outcome of authenticating a request. */
enum bw_auth_result
{
  BW_AUTH_OK = 0,         /**< rq->principal filled */
  BW_AUTH_INVALID,        /**< no, unknown, expired or revoked credential: 401 */
  BW_AUTH_DB_UNAVAILABLE, /**< could not check: 503 */
  BW_AUTH_ERROR,          /**< internal error: 500 */
};

/** Longest Authorization header value looked at, bytes. */
#define BW_AUTH_HEADER_MAX 512

/**
 * The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1):
 * scheme matched case-insensitively (RFC 7235 §2.1), then 1*SP, then
 * exactly one b64token and nothing after it; at most BW_AUTH_HEADER_MAX
 * bytes in all.
 * @param[out] token  start of the token inside @a value
 * @return its length, or 0 if malformed.
 */
size_t bw_auth_bearer_token (const char *value, const char **token);

/**
 * Authenticate the `Authorization: Bearer` header of @a rq, filling
 * rq->principal.  Compares hashes only; never logs the secret.
 */
enum bw_auth_result bw_auth_authenticate (struct bw_request *rq);

/**
 * Ensure the platform admin credential exists (at start, after
 * migrations).  If @a bootstrap_token is non-NULL its hash becomes the
 * credential.  Otherwise, when none exists yet, a token is generated and
 * written to @a printed (malloc'd, caller frees) so that main can show it
 * once; *printed stays NULL when nothing new was generated.
 * A bootstrap token must be usable in a Bearer header and hard to guess:
 * BW_AUTH_BOOTSTRAP_MIN..BW_AUTH_BOOTSTRAP_MAX characters of RFC 6750
 * b64token syntax (it may look like an org token: it is compared first).
 * @return 0, or -1 on database error or an unusable bootstrap token (both
 *         logged).
 */
int bw_auth_platform_init (const char *bootstrap_token, char **printed);

/**
 * Replace the platform admin credential by a new random token.
 * @param[out] token  malloc'd new token, shown once by the caller.
 * @return 0, or -1 on database error.
 */
int bw_auth_platform_rotate (char **token);

/**
 * Mint a secret: @a prefix (exactly 4 characters, e.g. BW_TOKEN_PREFIX)
 * followed by base64url without padding (RFC 4648 §5) of
 * BW_TOKEN_SECRET_BYTES bytes from the CSPRNG.  The caller wipes @a out
 * with OPENSSL_cleanse after use.
 * @param[out] out  BW_TOKEN_SECRET_LEN characters and NUL.
 * @return 0, or -1 if the CSPRNG failed.
 */
int bw_auth_secret_new (const char *prefix, char out[BW_TOKEN_SECRET_LEN + 1]);

/** Start the background thread that flushes last-used times in bulk. */
int bw_auth_start (void);

/** Flush pending last-used times and stop the background thread. */
void bw_auth_stop (void);

#endif
