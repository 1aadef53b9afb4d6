/*
 * ES256 keys and JWS (RFC 7515) for the bundle protocol, on OpenSSL 3 EVP.
 *
 * Keys are P-256 only.  Public keys travel as SubjectPublicKeyInfo DER in
 * the one form OpenSSL writes for a named-curve, uncompressed point (91
 * bytes, a fixed 26-byte prefix and 0x04 || X || Y), so a key has exactly
 * one SPKI and therefore exactly one kid; any other encoding is refused.
 *
 * Signatures are the 64-byte R || S of RFC 7518 §3.4 on the wire; OpenSSL
 * signs and verifies DER ECDSA-Sig-Value, converted here with ECDSA_SIG.
 * R and S must each be in [1, n-1] (n the group order) when verifying.
 *
 * Protected headers are parsed strictly: a JSON object (duplicate keys
 * refused) with only "alg", "kid" and "typ".  Anything else ("crit",
 * "jku", "jwk", "x5u", ...) is malformed: this code understands no
 * extension and never fetches or accepts keys from a header.  `alg` must
 * be exactly BW_JWS_ALG whatever else the header says (RFC 8725 §3.1).
 */
#include "config.h"
#include "lib/jws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/** Bytes of an ES256 signature, R || S (RFC 7518 §3.4). */
#define ES256_SIG_LEN 64
/** Bytes of one P-256 coordinate / scalar. */
#define P256_LEN 32
/** Bytes of the SPKI DER of a P-256 public key, uncompressed point. */
#define P256_SPKI_LEN 91
/** Most entries in a JWS JSON document's "signatures". */
#define JWS_SIGNATURES_MAX 32

struct bw_es256_key
{
  EVP_PKEY *pkey;
  bool has_private;
};

/* SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes, 0 unused) } */
static const unsigned char p256_spki_prefix[] = {
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
  0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

/* The order n of P-256 (FIPS 186-4 §D.1.2.3), big-endian. */
static const unsigned char p256_order[P256_LEN] = {
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* malloc'd base64url of @a len bytes, or NULL. */
static char *
b64url_dup (const void *in, size_t len)
{
  if (len > (SIZE_MAX - 8) / 4 * 3)
    return NULL;
  char *out = malloc ((len + 2) / 3 * 4 + 1);
  if (NULL == out)
    return NULL;
  bw_b64url_encode (in, len, out);
  return out;
}

/* ---- keys ---- */

static struct bw_es256_key *
key_wrap (EVP_PKEY *pkey, bool has_private)
{
  struct bw_es256_key *k = calloc (1, sizeof (*k));
  if (NULL == k)
    {
      EVP_PKEY_free (pkey);
      return NULL;
    }
  k->pkey = pkey;
  k->has_private = has_private;
  return k;
}

/* Whether @a pkey is an EC key on P-256; sets the uncompressed point form for encoding. */
static bool
is_p256 (EVP_PKEY *pkey)
{
  char group[64];
  size_t glen = 0;
  if (!EVP_PKEY_is_a (pkey, "EC"))
    return false;
  if (1
      != EVP_PKEY_get_utf8_string_param (pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof (group),
                                         &glen))
    return false;
  int nid = OBJ_sn2nid (group);
  if (NID_undef == nid)
    nid = EC_curve_nist2nid (group);
  if (NID_X9_62_prime256v1 != nid)
    return false;
  return 1
         == EVP_PKEY_set_utf8_string_param (pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                            OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED);
}

struct bw_es256_key *
bw_es256_generate (void)
{
  EVP_PKEY *pkey = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
  if (NULL == pkey)
    return NULL;
  if (!is_p256 (pkey))
    {
      EVP_PKEY_free (pkey);
      return NULL;
    }
  return key_wrap (pkey, true);
}

int
bw_es256_private_der (const struct bw_es256_key *key, unsigned char **der, size_t *len)
{
  PKCS8_PRIV_KEY_INFO *p8 = NULL;
  unsigned char *buf = NULL;
  int rc = -1;
  int n = 0;

  *der = NULL;
  *len = 0;
  if (NULL == key || !key->has_private)
    return -1;
  p8 = EVP_PKEY2PKCS8 (key->pkey);
  if (NULL == p8)
    goto cleanup;
  n = i2d_PKCS8_PRIV_KEY_INFO (p8, &buf);
  if (n <= 0)
    goto cleanup;
  *der = malloc ((size_t) n);
  if (NULL == *der)
    goto cleanup;
  memcpy (*der, buf, (size_t) n);
  *len = (size_t) n;
  rc = 0;
cleanup:
  if (NULL != buf)
    OPENSSL_clear_free (buf, n > 0 ? (size_t) n : 0);
  PKCS8_PRIV_KEY_INFO_free (p8);
  return rc;
}

struct bw_es256_key *
bw_es256_from_private_der (const unsigned char *der, size_t len)
{
  PKCS8_PRIV_KEY_INFO *p8 = NULL;
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  struct bw_es256_key *k = NULL;
  const unsigned char *p = der;

  if (NULL == der || 0 == len || len > BW_JWS_MAX)
    return NULL;
  p8 = d2i_PKCS8_PRIV_KEY_INFO (NULL, &p, (long) len);
  if (NULL == p8 || p != der + len)
    goto cleanup;
  pkey = EVP_PKCS82PKEY (p8);
  if (NULL == pkey || !is_p256 (pkey))
    goto cleanup;
  /* the private scalar is in range and the public point (given or derived) matches it */
  ctx = EVP_PKEY_CTX_new_from_pkey (NULL, pkey, NULL);
  if (NULL == ctx || 1 != EVP_PKEY_pairwise_check (ctx))
    goto cleanup;
  k = key_wrap (pkey, true);
  pkey = NULL;
cleanup:
  EVP_PKEY_CTX_free (ctx);
  EVP_PKEY_free (pkey);
  PKCS8_PRIV_KEY_INFO_free (p8);
  return k;
}

int
bw_es256_public_spki (const struct bw_es256_key *key, unsigned char **der, size_t *len)
{
  unsigned char *buf = NULL;
  *der = NULL;
  *len = 0;
  if (NULL == key)
    return -1;
  int n = i2d_PUBKEY (key->pkey, &buf);
  /* keys are only made by this file, all P-256 uncompressed: anything else is a bug */
  if (P256_SPKI_LEN != n || 0 != memcmp (buf, p256_spki_prefix, sizeof (p256_spki_prefix)))
    {
      OPENSSL_free (buf);
      return -1;
    }
  *der = malloc ((size_t) n);
  if (NULL == *der)
    {
      OPENSSL_free (buf);
      return -1;
    }
  memcpy (*der, buf, (size_t) n);
  *len = (size_t) n;
  OPENSSL_free (buf);
  return 0;
}

struct bw_es256_key *
bw_es256_from_public_spki (const unsigned char *der, size_t len)
{
  const unsigned char *p = der;
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  struct bw_es256_key *k = NULL;

  if (NULL == der || P256_SPKI_LEN != len
      || 0 != memcmp (der, p256_spki_prefix, sizeof (p256_spki_prefix))
      || 0x04 != der[sizeof (p256_spki_prefix)])
    return NULL;
  pkey = d2i_PUBKEY (NULL, &p, (long) len);
  if (NULL == pkey || p != der + len || !is_p256 (pkey))
    goto cleanup;
  /* on the curve, not the point at infinity */
  ctx = EVP_PKEY_CTX_new_from_pkey (NULL, pkey, NULL);
  if (NULL == ctx || 1 != EVP_PKEY_public_check (ctx))
    goto cleanup;
  k = key_wrap (pkey, false);
  pkey = NULL;
cleanup:
  EVP_PKEY_CTX_free (ctx);
  EVP_PKEY_free (pkey);
  return k;
}

json_t *
bw_es256_public_jwk (const struct bw_es256_key *key)
{
  unsigned char *spki = NULL;
  size_t len = 0;
  char x[(P256_LEN + 2) / 3 * 4 + 1];
  char y[sizeof (x)];

  if (0 != bw_es256_public_spki (key, &spki, &len))
    return NULL;
  const unsigned char *point = spki + sizeof (p256_spki_prefix) + 1;
  bw_b64url_encode (point, P256_LEN, x);
  bw_b64url_encode (point + P256_LEN, P256_LEN, y);
  free (spki);
  return json_pack ("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
}

/* The P256_LEN bytes of base64url coordinate @a v into @a out.  @return 0 or -1. */
static int
jwk_coordinate (const json_t *v, unsigned char out[P256_LEN])
{
  const char *s = json_string_value (v);
  size_t n = 0;
  if (NULL == s || json_string_length (v) != (P256_LEN + 2) / 3 * 4 - 1)
    return -1;
  unsigned char *raw = bw_b64url_decode (s, json_string_length (v), &n);
  if (NULL == raw)
    return -1;
  int rc = (P256_LEN == n) ? 0 : -1;
  if (0 == rc)
    memcpy (out, raw, P256_LEN);
  free (raw);
  return rc;
}

struct bw_es256_key *
bw_es256_from_jwk (const json_t *jwk)
{
  unsigned char spki[P256_SPKI_LEN];
  const size_t at = sizeof (p256_spki_prefix);

  if (!json_is_object (jwk) || 4 != json_object_size (jwk))
    return NULL;
  const char *kty = json_string_value (json_object_get (jwk, "kty"));
  const char *crv = json_string_value (json_object_get (jwk, "crv"));
  if (NULL == kty || NULL == crv || 0 != strcmp (kty, "EC") || 0 != strcmp (crv, "P-256")
      || json_string_length (json_object_get (jwk, "kty")) != 2
      || json_string_length (json_object_get (jwk, "crv")) != 5)
    return NULL;
  memcpy (spki, p256_spki_prefix, at);
  spki[at] = 0x04;
  if (0 != jwk_coordinate (json_object_get (jwk, "x"), spki + at + 1)
      || 0 != jwk_coordinate (json_object_get (jwk, "y"), spki + at + 1 + P256_LEN))
    return NULL;
  return bw_es256_from_public_spki (spki, sizeof (spki));
}

int
bw_es256_kid (const struct bw_es256_key *key, char out[BW_KID_LEN + 1])
{
  unsigned char *spki = NULL;
  size_t len = 0;
  if (0 != bw_es256_public_spki (key, &spki, &len))
    return -1;
  bw_sha256_hex (spki, len, out);
  free (spki);
  return 0;
}

void
bw_es256_free (struct bw_es256_key *key)
{
  if (NULL == key)
    return;
  EVP_PKEY_free (key->pkey);
  free (key);
}

/* ---- ES256 signatures ---- */

/* ES256 signature (R || S) of @a len bytes at @a data into @a sig.  @return 0 or -1. */
static int
es256_sign (const struct bw_es256_key *key, const void *data, size_t len,
            unsigned char sig[ES256_SIG_LEN])
{
  EVP_MD_CTX *md = NULL;
  ECDSA_SIG *es = NULL;
  unsigned char *der = NULL;
  size_t der_len = 0;
  int rc = -1;

  if (NULL == key || !key->has_private)
    return -1;
  md = EVP_MD_CTX_new ();
  if (NULL == md || 1 != EVP_DigestSignInit (md, NULL, EVP_sha256 (), NULL, key->pkey)
      || 1 != EVP_DigestSign (md, NULL, &der_len, data, len))
    goto cleanup;
  der = OPENSSL_malloc (der_len);
  if (NULL == der || 1 != EVP_DigestSign (md, der, &der_len, data, len))
    goto cleanup;
  const unsigned char *p = der;
  es = d2i_ECDSA_SIG (NULL, &p, (long) der_len);
  if (NULL == es || p != der + der_len)
    goto cleanup;
  const BIGNUM *r = NULL, *s = NULL;
  ECDSA_SIG_get0 (es, &r, &s);
  if (P256_LEN != BN_bn2binpad (r, sig, P256_LEN)
      || P256_LEN != BN_bn2binpad (s, sig + P256_LEN, P256_LEN))
    goto cleanup;
  rc = 0;
cleanup:
  ECDSA_SIG_free (es);
  OPENSSL_free (der);
  EVP_MD_CTX_free (md);
  return rc;
}

/* A 32-byte big-endian scalar in [1, n-1]. */
static bool
scalar_in_range (const unsigned char v[P256_LEN])
{
  unsigned char any = 0;
  for (size_t i = 0; i < P256_LEN; i++)
    any |= v[i];
  return 0 != any && memcmp (v, p256_order, P256_LEN) < 0;
}

/* Whether @a sig (exactly ES256_SIG_LEN bytes, R || S) is @a key's signature of @a data. */
static bool
es256_verify (const struct bw_es256_key *key, const void *data, size_t len,
              const unsigned char *sig, size_t sig_len)
{
  ECDSA_SIG *es = NULL;
  BIGNUM *r = NULL, *s = NULL;
  unsigned char *der = NULL;
  EVP_MD_CTX *md = NULL;
  bool ok = false;

  if (NULL == key || ES256_SIG_LEN != sig_len || !scalar_in_range (sig)
      || !scalar_in_range (sig + P256_LEN))
    return false;
  es = ECDSA_SIG_new ();
  r = BN_bin2bn (sig, P256_LEN, NULL);
  s = BN_bin2bn (sig + P256_LEN, P256_LEN, NULL);
  if (NULL == es || NULL == r || NULL == s || 1 != ECDSA_SIG_set0 (es, r, s))
    {
      BN_free (r);
      BN_free (s);
      goto cleanup;
    }
  int der_len = i2d_ECDSA_SIG (es, &der);
  if (der_len <= 0)
    goto cleanup;
  md = EVP_MD_CTX_new ();
  if (NULL == md || 1 != EVP_DigestVerifyInit (md, NULL, EVP_sha256 (), NULL, key->pkey))
    goto cleanup;
  ok = 1 == EVP_DigestVerify (md, der, (size_t) der_len, data, len);
cleanup:
  EVP_MD_CTX_free (md);
  OPENSSL_free (der);
  ECDSA_SIG_free (es);
  return ok;
}

/* ---- JWS ---- */

/* base64url of the protected header {"alg","kid","typ"}, malloc'd, or NULL. */
static char *
protected_header (const char *kid, const char *typ)
{
  if (NULL == kid || NULL == typ)
    return NULL;
  json_t *h = json_pack ("{s:s, s:s, s:s}", "alg", BW_JWS_ALG, "kid", kid, "typ", typ);
  if (NULL == h)
    return NULL;
  char *s = json_dumps (h, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (h);
  if (NULL == s)
    return NULL;
  char *b = b64url_dup (s, strlen (s));
  free (s);
  return b;
}

/* "<a>.<b>", malloc'd. */
static char *
join_dot (const char *a, size_t alen, const char *b, size_t blen)
{
  char *out = malloc (alen + blen + 2);
  if (NULL == out)
    return NULL;
  memcpy (out, a, alen);
  out[alen] = '.';
  memcpy (out + alen + 1, b, blen);
  out[alen + 1 + blen] = '\0';
  return out;
}

/* "<signing input>.<b64url signature>" of @a input, malloc'd; or NULL. */
static char *
sign_input (const struct bw_es256_key *key, const char *input, char **sig_b64)
{
  unsigned char sig[ES256_SIG_LEN];
  *sig_b64 = NULL;
  if (0 != es256_sign (key, input, strlen (input), sig))
    return NULL;
  *sig_b64 = b64url_dup (sig, sizeof (sig));
  return *sig_b64;
}

char *
bw_jws_sign_compact (const struct bw_es256_key *key, const char *kid, const char *typ,
                     const void *payload, size_t payload_len)
{
  char *header = NULL, *body = NULL, *input = NULL, *sig = NULL, *out = NULL;

  if (NULL == payload || 0 == payload_len || payload_len > BW_JWS_MAX)
    return NULL; /* verification refuses an empty payload too */
  header = protected_header (kid, typ);
  body = b64url_dup (payload, payload_len);
  if (NULL == header || NULL == body)
    goto cleanup;
  input = join_dot (header, strlen (header), body, strlen (body));
  if (NULL == input || NULL == sign_input (key, input, &sig))
    goto cleanup;
  out = join_dot (input, strlen (input), sig, strlen (sig));
  if (NULL != out && strlen (out) > BW_JWS_MAX)
    {
      free (out);
      out = NULL;
    }
cleanup:
  free (header);
  free (body);
  free (input);
  free (sig);
  return out;
}

const char *
bw_jws_error_name (enum bw_jws_error e)
{
  switch (e)
    {
    case BW_JWS_OK:
      return "ok";
    case BW_JWS_MALFORMED:
      return "malformed";
    case BW_JWS_BAD_ALG:
      return "bad_alg";
    case BW_JWS_BAD_TYP:
      return "bad_typ";
    case BW_JWS_UNKNOWN_KEY:
      return "unknown_key";
    case BW_JWS_BAD_SIGNATURE:
      return "bad_signature";
    }
  return "unknown";
}

/* A kid as this protocol writes them: 64 lowercase hex characters. */
static bool
kid_valid (const char *kid, size_t len)
{
  if (BW_KID_LEN != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((kid[i] >= '0' && kid[i] <= '9') || (kid[i] >= 'a' && kid[i] <= 'f')))
      return false;
  return true;
}

/*
 * Check the base64url protected header @a b64 (@a len chars): a JSON
 * object with only alg, kid, typ; alg exactly BW_JWS_ALG; typ exactly
 * @a typ; kid a valid kid, copied into @a kid.  In that order, so that a
 * header with a foreign alg is always BAD_ALG.
 */
static enum bw_jws_error
check_header (const char *b64, size_t len, const char *typ, char kid[BW_KID_LEN + 1])
{
  size_t raw_len = 0;
  unsigned char *raw = bw_b64url_decode (b64, len, &raw_len);
  json_t *h = NULL;
  enum bw_jws_error rc = BW_JWS_MALFORMED;
  const char *k;
  json_t *v;

  if (NULL == raw || 0 == raw_len)
    goto cleanup;
  h = json_loadb ((const char *) raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object (h))
    goto cleanup;
  /* crit, jku, jwk, x5u, ...: nothing this code understands or accepts */
  json_object_foreach (h, k, v)
  {
    if (0 != strcmp (k, "alg") && 0 != strcmp (k, "kid") && 0 != strcmp (k, "typ"))
      goto cleanup;
  }
  const json_t *alg = json_object_get (h, "alg");
  if (!json_is_string (alg) || json_string_length (alg) != strlen (BW_JWS_ALG)
      || 0 != strcmp (json_string_value (alg), BW_JWS_ALG))
    {
      rc = BW_JWS_BAD_ALG;
      goto cleanup;
    }
  const json_t *t = json_object_get (h, "typ");
  if (NULL == typ || !json_is_string (t) || json_string_length (t) != strlen (typ)
      || 0 != strcmp (json_string_value (t), typ))
    {
      rc = BW_JWS_BAD_TYP;
      goto cleanup;
    }
  const json_t *kd = json_object_get (h, "kid");
  if (!json_is_string (kd) || !kid_valid (json_string_value (kd), json_string_length (kd)))
    {
      rc = BW_JWS_UNKNOWN_KEY;
      goto cleanup;
    }
  memcpy (kid, json_string_value (kd), BW_KID_LEN + 1);
  rc = BW_JWS_OK;
cleanup:
  json_decref (h);
  free (raw);
  return rc;
}

enum bw_jws_error
bw_jws_verify_compact (const char *jws, const char *typ, bw_jws_key_lookup lookup, void *cls,
                       char **payload, size_t *payload_len, char kid[BW_KID_LEN + 1])
{
  char k[BW_KID_LEN + 1];
  unsigned char *body = NULL, *sig = NULL;
  size_t body_len = 0, sig_len = 0;
  enum bw_jws_error rc = BW_JWS_MALFORMED;

  if (NULL != payload)
    *payload = NULL;
  if (NULL != payload_len)
    *payload_len = 0;
  if (NULL == jws || NULL == lookup)
    return BW_JWS_MALFORMED;
  size_t len = strnlen (jws, BW_JWS_MAX + 1);
  if (len > BW_JWS_MAX)
    return BW_JWS_MALFORMED;
  const char *d1 = memchr (jws, '.', len);
  if (NULL == d1)
    return BW_JWS_MALFORMED;
  const char *d2 = memchr (d1 + 1, '.', len - (size_t) (d1 + 1 - jws));
  if (NULL == d2)
    return BW_JWS_MALFORMED;
  size_t hlen = (size_t) (d1 - jws);
  size_t plen = (size_t) (d2 - d1 - 1);
  const char *s64 = d2 + 1;
  size_t slen = len - (size_t) (s64 - jws);
  /* a third dot, or any character outside the alphabet, is not the compact form */
  if (!bw_b64url_valid (s64, slen) || 0 == plen)
    return BW_JWS_MALFORMED;

  rc = check_header (jws, hlen, typ, k);
  if (BW_JWS_OK != rc)
    goto cleanup;
  rc = BW_JWS_MALFORMED;
  body = bw_b64url_decode (d1 + 1, plen, &body_len);
  sig = bw_b64url_decode (s64, slen, &sig_len);
  if (NULL == body || NULL == sig)
    goto cleanup;
  const struct bw_es256_key *key = lookup (cls, k);
  if (NULL == key)
    {
      rc = BW_JWS_UNKNOWN_KEY;
      goto cleanup;
    }
  if (!es256_verify (key, jws, (size_t) (d2 - jws), sig, sig_len))
    {
      rc = BW_JWS_BAD_SIGNATURE;
      goto cleanup;
    }
  rc = BW_JWS_OK;
  if (NULL != kid)
    memcpy (kid, k, sizeof (k));
  if (NULL != payload)
    {
      *payload = (char *) body; /* bw_b64url_decode NUL-terminates */
      body = NULL;
    }
  if (NULL != payload_len)
    *payload_len = body_len;
cleanup:
  free (body);
  free (sig);
  return rc;
}

json_t *
bw_jws_sign_json (const struct bw_es256_key *const *keys, const char *const *kids, size_t n,
                  const char *typ, const void *payload, size_t payload_len)
{
  json_t *doc = NULL, *sigs = NULL;
  char *body = NULL;

  if (NULL == keys || NULL == kids || 0 == n || n > JWS_SIGNATURES_MAX || NULL == payload
      || 0 == payload_len || payload_len > BW_JWS_MAX)
    return NULL;
  body = b64url_dup (payload, payload_len);
  sigs = json_array ();
  if (NULL == body || NULL == sigs)
    goto fail;
  for (size_t i = 0; i < n; i++)
    {
      char *header = protected_header (kids[i], typ);
      char *input = NULL, *sig = NULL;
      int bad = NULL == header;
      if (!bad)
        input = join_dot (header, strlen (header), body, strlen (body));
      bad = bad || NULL == input || NULL == sign_input (keys[i], input, &sig);
      if (!bad)
        bad = 0
              != json_array_append_new (
                sigs, json_pack ("{s:s, s:s}", "protected", header, "signature", sig));
      free (header);
      free (input);
      free (sig);
      if (bad)
        goto fail;
    }
  doc = json_pack ("{s:s, s:o}", "payload", body, "signatures", sigs);
  sigs = NULL;
fail:
  json_decref (sigs);
  free (body);
  return doc;
}

enum bw_jws_error
bw_jws_verify_json (const json_t *doc, const char *typ, const char *const *required, size_t n,
                    bw_jws_key_lookup lookup, void *cls, char **payload, size_t *payload_len)
{
  char kids[JWS_SIGNATURES_MAX][BW_KID_LEN + 1];
  bool verified[JWS_SIGNATURES_MAX];
  unsigned char *body = NULL;
  size_t body_len = 0;
  enum bw_jws_error rc = BW_JWS_MALFORMED;

  if (NULL != payload)
    *payload = NULL;
  if (NULL != payload_len)
    *payload_len = 0;
  if (NULL == lookup || NULL == required || 0 == n || n > JWS_SIGNATURES_MAX)
    return 0 == n ? BW_JWS_BAD_SIGNATURE : BW_JWS_MALFORMED;
  if (!json_is_object (doc) || 2 != json_object_size (doc))
    return BW_JWS_MALFORMED;
  const json_t *p = json_object_get (doc, "payload");
  const json_t *sigs = json_object_get (doc, "signatures");
  if (!json_is_string (p) || !json_is_array (sigs) || 0 == json_array_size (sigs)
      || json_array_size (sigs) > JWS_SIGNATURES_MAX)
    return BW_JWS_MALFORMED;
  const char *p64 = json_string_value (p);
  size_t plen = json_string_length (p);
  if (0 == plen || plen > BW_JWS_MAX)
    return BW_JWS_MALFORMED;
  body = bw_b64url_decode (p64, plen, &body_len);
  if (NULL == body)
    return BW_JWS_MALFORMED;

  /* First pass: every entry well-formed, pinned alg, right typ, no kid twice. */
  size_t nsigs = json_array_size (sigs);
  for (size_t i = 0; i < nsigs; i++)
    {
      const json_t *e = json_array_get (sigs, i);
      const json_t *h = json_object_get (e, "protected");
      const json_t *s = json_object_get (e, "signature");
      verified[i] = false;
      if (!json_is_object (e) || 2 != json_object_size (e) || !json_is_string (h)
          || !json_is_string (s) || !bw_b64url_valid (json_string_value (s), json_string_length (s)))
        {
          rc = BW_JWS_MALFORMED;
          goto cleanup;
        }
      rc = check_header (json_string_value (h), json_string_length (h), typ, kids[i]);
      if (BW_JWS_OK != rc)
        goto cleanup;
      for (size_t j = 0; j < i; j++)
        if (0 == strcmp (kids[i], kids[j]))
          {
            rc = BW_JWS_MALFORMED;
            goto cleanup;
          }
    }

  /* Second pass: each required kid has an entry whose signature verifies. */
  for (size_t r = 0; r < n; r++)
    {
      size_t i = 0;
      if (NULL == required[r])
        {
          rc = BW_JWS_MALFORMED;
          goto cleanup;
        }
      while (i < nsigs && 0 != strcmp (kids[i], required[r]))
        i++;
      if (i == nsigs)
        {
          rc = BW_JWS_BAD_SIGNATURE; /* a required signature is missing */
          goto cleanup;
        }
      if (verified[i])
        continue;
      const json_t *e = json_array_get (sigs, i);
      const json_t *h = json_object_get (e, "protected");
      const json_t *s = json_object_get (e, "signature");
      const struct bw_es256_key *key = lookup (cls, kids[i]);
      if (NULL == key)
        {
          rc = BW_JWS_UNKNOWN_KEY;
          goto cleanup;
        }
      size_t sig_len = 0;
      unsigned char *sig
        = bw_b64url_decode (json_string_value (s), json_string_length (s), &sig_len);
      char *input = join_dot (json_string_value (h), json_string_length (h), p64, plen);
      bool ok
        = NULL != sig && NULL != input && es256_verify (key, input, strlen (input), sig, sig_len);
      bool oom = NULL == input;
      free (sig);
      free (input);
      if (!ok)
        {
          rc = oom ? BW_JWS_MALFORMED : BW_JWS_BAD_SIGNATURE;
          goto cleanup;
        }
      verified[i] = true;
    }
  rc = BW_JWS_OK;
  if (NULL != payload)
    {
      *payload = (char *) body;
      body = NULL;
    }
  if (NULL != payload_len)
    *payload_len = body_len;
cleanup:
  free (body);
  return rc;
}
