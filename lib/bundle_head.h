/**
 * @file lib/bundle_head.h
 * The signed bundle head (DESIGN §6): a compact JWS (lib/jws.h), header
 * {"alg":"ES256","kid","typ":"bulwark-head+jwt"}, over the canonical JSON
 * of the claims below; and the agent's verification order for it.
 */
#ifndef BW_LIB_BUNDLE_HEAD_H
#define BW_LIB_BUNDLE_HEAD_H

#include <stdbool.h>
#include <stdint.h>
#include "lib/jws.h"
#include "lib/keyset.h"

/** Header typ of heads. */
#define BW_HEAD_TYP "bulwark-head+jwt"
/** Longest `iss` accepted, bytes. */
#define BW_HEAD_ISS_MAX 255

/** Claims of a head.  All fields are required in the JWS payload. */
struct bw_head_claims
{
  char iss[BW_HEAD_ISS_MAX + 1]; /**< the issuing server (its public URL) */
  char sub[37];                  /**< org id */
  char aud[37];                  /**< subject: user id, or agent id for a userless agent */
  uint64_t bundle_version;       /**< the org's bundle version of this bundle */
  uint64_t head_serial;          /**< goes up with every re-signing */
  char sha256[BW_SHA256_HEX_LEN + 1]; /**< hex SHA-256 of the bundle bytes */
  uint64_t length;               /**< bundle bytes */
  int64_t iat;                   /**< issued at, unix seconds */
  int64_t exp;                   /**< expires at, unix seconds */
  uint64_t keyset_version;       /**< keyset whose key signed this head */
};

/**
 * Sign @a claims with @a key (kid @a kid, which must hold role "head").
 * @return malloc'd compact JWS, or NULL.
 */
char *bw_head_sign (const struct bw_head_claims *claims, const struct bw_es256_key *key,
                    const char *kid);

/** What the agent expects of a head; the last accepted head, if any. */
struct bw_head_expect
{
  const char *org_id;     /**< required `sub` */
  const char *subject_id; /**< required `aud` */
  int64_t now;            /**< fixed once, unix seconds, before anything else */
  bool have_last;         /**< a head was accepted before: the fields below are set */
  uint64_t last_bundle_version;
  uint64_t last_head_serial;
  const char *last_sha256;
};

/** Why a head was refused (stable names for check-in `last_error`). */
enum bw_head_error
{
  BW_HEAD_OK = 0,
  BW_HEAD_BAD_JWS,          /**< see jws_error: malformed, alg, typ, unknown key, signature */
  BW_HEAD_BAD_CLAIMS,       /**< payload not the claims object, or a field missing/mistyped */
  BW_HEAD_WRONG_ORG,        /**< sub is not the expected org */
  BW_HEAD_WRONG_SUBJECT,    /**< aud is not the expected subject */
  BW_HEAD_EXPIRED,          /**< exp <= now */
  BW_HEAD_WRONG_KEYSET,     /**< keyset_version is not the agent's keyset version */
  BW_HEAD_LOWER_SERIAL,     /**< head_serial below the last accepted one */
  BW_HEAD_LOWER_VERSION,    /**< bundle_version below the last accepted one */
  BW_HEAD_VERSION_CONFLICT, /**< same bundle_version as the last, another sha256 */
};

/** "ok", "bad_jws:<jws error>" is not used: "bad_jws", "bad_claims", "wrong_org", ... */
const char *bw_head_error_name (enum bw_head_error e);

/**
 * Verify @a jws against keyset @a ks (kid must hold role "head"; alg
 * pinned to ES256) and @a expect, in DESIGN §6 order: signature, sub,
 * aud, exp, keyset_version, head_serial, bundle_version, same-version hash.
 * A head equal in serial to the last one must also equal it in version and
 * hash.
 * @param[out] out        the claims on BW_HEAD_OK
 * @param[out] jws_error  the JWS reason on BW_HEAD_BAD_JWS (may be NULL)
 */
enum bw_head_error bw_head_verify (const char *jws, const struct bw_keyset *ks,
                                   const struct bw_head_expect *expect,
                                   struct bw_head_claims *out, enum bw_jws_error *jws_error);

#endif
