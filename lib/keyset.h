/**
 * @file lib/keyset.h
 * The org keyset (DESIGN §6): a document, signed with the JWS JSON
 * serialization (lib/jws.h) and header typ BW_KEYSET_TYP, whose payload is
 *
 *   {"org": "<org id>", "version": N, "iat": <unix seconds>,
 *    "keys": {"<kid>": {"alg": "ES256", "roles": ["head", "keyset"],
 *                       "jwk": {"kty": "EC", "crv": "P-256", "x", "y"}}}}
 *
 * in canonical JSON.  Role "head" may sign heads; role "keyset" must sign
 * the next keyset.  Trust follows TUF's root rotation: the org's current
 * keyset reaches the agent at enrollment (trust on first use, over TLS) and
 * must be signed by each of its own keyset-role keys; version N+1 is
 * accepted only when signed by every keyset-role key of N *and* every
 * keyset-role key of N+1, for the same org, with version exactly N+1.
 * Agents walk versions one at a time.
 */
#ifndef BW_LIB_KEYSET_H
#define BW_LIB_KEYSET_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "lib/jws.h"

/** Header typ of keyset signatures. */
#define BW_KEYSET_TYP "bulwark-keyset+jwt"
/** Most keys in one keyset. */
#define BW_KEYSET_KEYS_MAX 8
/** Key roles. */
#define BW_KEY_ROLE_HEAD "head"
#define BW_KEY_ROLE_KEYSET "keyset"

/** A verified keyset.  Opaque; immutable. */
struct bw_keyset;

/** Why a keyset was refused. */
enum bw_keyset_error
{
  BW_KEYSET_OK = 0,
  BW_KEYSET_MALFORMED,     /**< not a JWS JSON document, or payload not of the shape above */
  BW_KEYSET_BAD_SIGNATURE, /**< a required signature is missing or does not verify (incl. alg) */
  BW_KEYSET_WRONG_ORG,     /**< payload org differs from the expected org */
  BW_KEYSET_WRONG_VERSION, /**< version 0, or (advance) not exactly N+1 */
};

/** "ok", "malformed", "bad_signature", "wrong_org", "wrong_version". */
const char *bw_keyset_error_name (enum bw_keyset_error e);

/**
 * Accept the keyset of org @a org_id received at enrollment (trust on
 * first use over TLS): self-signed by each of its keyset-role keys.
 * @param[out] out  the keyset (free with bw_keyset_free) on BW_KEYSET_OK
 */
enum bw_keyset_error bw_keyset_trust_first (const json_t *doc, const char *org_id,
                                            struct bw_keyset **out);

/**
 * Accept keyset N+1 after @a current (version N): see the file comment.
 * @param[out] out  the new keyset on BW_KEYSET_OK; @a current is untouched
 */
enum bw_keyset_error bw_keyset_advance (const struct bw_keyset *current, const json_t *doc,
                                        struct bw_keyset **out);

/**
 * Load a keyset the caller already verified (from its own storage) without
 * checking signatures again.  @return NULL if malformed.
 */
struct bw_keyset *bw_keyset_load_verified (const json_t *doc);

/** The keyset's version. */
uint64_t bw_keyset_version (const struct bw_keyset *ks);

/** The keyset's org id (borrowed). */
const char *bw_keyset_org (const struct bw_keyset *ks);

/** The public key @a kid when it holds @a role, else NULL (borrowed from @a ks). */
const struct bw_es256_key *bw_keyset_key (const struct bw_keyset *ks, const char *kid,
                                          const char *role);

/** Free @a ks.  NULL-safe. */
void bw_keyset_free (struct bw_keyset *ks);

/** One key of a keyset being built: the key pair (signs) and its roles. */
struct bw_keyset_member
{
  const struct bw_es256_key *key; /**< borrowed; needs its private part to sign */
  bool head;                      /**< role "head" */
  bool keyset;                    /**< role "keyset" */
};

/**
 * Build and sign keyset @a version of org @a org_id listing @a members,
 * signed by every keyset-role member and by every keyset-role key in
 * @a previous (n_previous; the keys of version-1; none for version 1).
 * @return the JWS JSON document (new reference), or NULL.
 */
json_t *bw_keyset_build (const char *org_id, uint64_t version, int64_t iat,
                         const struct bw_keyset_member *members, size_t n,
                         const struct bw_es256_key *const *previous, size_t n_previous);

#endif
