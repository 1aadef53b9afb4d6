/**
 * @file lib/jws.h
 * ES256 keys and JSON Web Signatures, as the bundle protocol uses them
 * (DESIGN §6): compact serialization for heads (RFC 7515 §7.1) and the
 * general JSON serialization for keysets, which carry several signatures
 * (RFC 7515 §7.2.1).  ES256 is ECDSA P-256 with SHA-256, signatures as
 * the 64-byte R || S of RFC 7518 §3.4.
 *
 * Verification never trusts the header's `alg`: the caller says which
 * algorithm the key is pinned to, and a header naming anything else
 * (`none`, `HS256`, ...) is refused before any signature check.
 *
 * Built on OpenSSL 3 EVP.  libjwt 1.10 is not used here because it picks
 * the verification algorithm from the header, which DESIGN §6 forbids.
 */
#ifndef BW_LIB_JWS_H
#define BW_LIB_JWS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "lib/crypto.h"

/** The one algorithm of the bundle protocol. */
#define BW_JWS_ALG "ES256"
/** Longest compact JWS or JWS JSON document accepted for parsing, bytes. */
#define BW_JWS_MAX 16384
/** Characters of a kid: hex SHA-256 of the public key's SPKI DER. */
#define BW_KID_LEN BW_SHA256_HEX_LEN

/** An ES256 key pair, or a public key alone.  Opaque. */
struct bw_es256_key;

/** A new random P-256 key pair.  @return NULL on failure. */
struct bw_es256_key *bw_es256_generate (void);

/**
 * The private key as PKCS#8 DER (RFC 5208).  @param[out] der malloc'd,
 * the caller wipes (OPENSSL_cleanse) and frees it.  @return 0, or -1 if
 * @a key has no private part or on failure.
 */
int bw_es256_private_der (const struct bw_es256_key *key, unsigned char **der, size_t *len);

/** A key pair from PKCS#8 DER (copied).  @return NULL if it is not a P-256 private key. */
struct bw_es256_key *bw_es256_from_private_der (const unsigned char *der, size_t len);

/** The public key as SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7); malloc'd into @a der. */
int bw_es256_public_spki (const struct bw_es256_key *key, unsigned char **der, size_t *len);

/** A public key from SPKI DER.  @return NULL if it is not a P-256 public key. */
struct bw_es256_key *bw_es256_from_public_spki (const unsigned char *der, size_t len);

/**
 * The public key as a JWK (RFC 7517, RFC 7518 §6.2): {"kty":"EC","crv":"P-256","x","y"}.
 * @return a new reference, or NULL.
 */
json_t *bw_es256_public_jwk (const struct bw_es256_key *key);

/** A public key from a JWK of that shape.  @return NULL if it is not one. */
struct bw_es256_key *bw_es256_from_jwk (const json_t *jwk);

/** kid of @a key: hex SHA-256 of its SPKI DER into @a out.  @return 0 or -1. */
int bw_es256_kid (const struct bw_es256_key *key, char out[BW_KID_LEN + 1]);

/** Free @a key (private parts are wiped by OpenSSL).  NULL-safe. */
void bw_es256_free (struct bw_es256_key *key);

/**
 * Sign @a payload (exact bytes) as a compact JWS with protected header
 * {"alg":"ES256","kid":@a kid,"typ":@a typ} (keys in that order).
 * @return malloc'd NUL-terminated `header.payload.signature`, or NULL (also
 *         for an empty payload, or a result longer than BW_JWS_MAX).
 */
char *bw_jws_sign_compact (const struct bw_es256_key *key, const char *kid, const char *typ,
                           const void *payload, size_t payload_len);

/** Why a JWS was refused; bw_jws_error_name gives a stable string for logs and check-ins. */
enum bw_jws_error
{
  BW_JWS_OK = 0,
  BW_JWS_MALFORMED,     /**< not three base64url parts, bad JSON header, too long */
  BW_JWS_BAD_ALG,       /**< header alg is not the pinned algorithm (none, HS256, ...) */
  BW_JWS_BAD_TYP,       /**< header typ is not the expected one */
  BW_JWS_UNKNOWN_KEY,   /**< header kid names no key the caller trusts */
  BW_JWS_BAD_SIGNATURE, /**< the signature does not verify */
};

/** "ok", "malformed", "bad_alg", "bad_typ", "unknown_key", "bad_signature". */
const char *bw_jws_error_name (enum bw_jws_error e);

/** Finds the trusted public key for a kid; NULL when there is none.  Borrowed result. */
typedef const struct bw_es256_key *(*bw_jws_key_lookup) (void *cls, const char *kid);

/**
 * Verify a compact JWS.  Checks, in order: shape and length
 * (BW_JWS_MAX), header is a JSON object whose alg is exactly BW_JWS_ALG
 * and whose typ is exactly @a typ, kid known to @a lookup, signature.
 * @param[out] payload  on BW_JWS_OK, the decoded payload bytes, malloc'd,
 *                      NUL-terminated (caller frees); NULL otherwise
 * @param[out] kid      on BW_JWS_OK, the kid that signed (may be NULL)
 */
enum bw_jws_error bw_jws_verify_compact (const char *jws, const char *typ,
                                         bw_jws_key_lookup lookup, void *cls, char **payload,
                                         size_t *payload_len, char kid[BW_KID_LEN + 1]);

/**
 * Sign @a payload with every key of @a keys (n ≥ 1), giving the general
 * JWS JSON serialization {"payload": b64url, "signatures": [{"protected":
 * b64url(header), "signature": b64url}]} with headers as in
 * bw_jws_sign_compact.  @return a new reference, or NULL.
 */
json_t *bw_jws_sign_json (const struct bw_es256_key *const *keys, const char *const *kids,
                          size_t n, const char *typ, const void *payload, size_t payload_len);

/**
 * Verify that @a doc (general JWS JSON serialization) carries a valid
 * signature (pinned alg, header typ @a typ) by each of the @a n kids in
 * @a required; signatures by other keys are ignored; any malformed entry
 * refuses the whole document.
 * @param[out] payload  as for bw_jws_verify_compact
 */
enum bw_jws_error bw_jws_verify_json (const json_t *doc, const char *typ,
                                      const char *const *required, size_t n,
                                      bw_jws_key_lookup lookup, void *cls, char **payload,
                                      size_t *payload_len);

#endif
