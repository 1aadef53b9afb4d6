/*
 * Unit tests of the bundle protocol codec (DESIGN §6): ES256 keys and JWS
 * (lib/jws.h), keysets and their rotation chain (lib/keyset.h), heads and
 * the agent's verification order (lib/bundle_head.h), bundle parsing
 * (lib/bundle.h).  Every refusal the agent relies on has a test that
 * builds the offending input — with a valid signature wherever the
 * refusal must not hinge on the signature.
 */
#include "config.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include "lib/bundle.h"
#include "lib/bundle_head.h"
#include "lib/crypto.h"
#include "lib/jws.h"
#include "lib/keyset.h"

#define ORG "0b4ae0c4-4a4e-4a8a-9f55-2d9d2d9d2d9d"
#define ORG2 "1c5bf1d5-5b5f-4b9b-8a66-3e8e3e8e3e8e"
#define SUBJ "2d6c02e6-6c60-4cac-9b77-4f9f4f9f4f9f"
#define SUBJ2 "3e7d13f7-7d71-4dbd-8c88-5a0a5a0a5a0a"
#define NOW ((int64_t) 1760000000)
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define TYP "bulwark-test+jwt"

/* ---- helpers ---- */

/* Two key pairs and their kids, fresh for each test. */
static struct bw_es256_key *k1, *k2, *k3;
static char kid1[BW_KID_LEN + 1], kid2[BW_KID_LEN + 1], kid3[BW_KID_LEN + 1];

static void
keys_setup (void)
{
  k1 = bw_es256_generate ();
  k2 = bw_es256_generate ();
  k3 = bw_es256_generate ();
  ck_assert (NULL != k1 && NULL != k2 && NULL != k3);
  ck_assert_int_eq (bw_es256_kid (k1, kid1), 0);
  ck_assert_int_eq (bw_es256_kid (k2, kid2), 0);
  ck_assert_int_eq (bw_es256_kid (k3, kid3), 0);
}

static void
keys_teardown (void)
{
  bw_es256_free (k1);
  bw_es256_free (k2);
  bw_es256_free (k3);
}

/* Trusts k1 only. */
static const struct bw_es256_key *
lookup_k1 (void *cls, const char *kid)
{
  (void) cls;
  return 0 == strcmp (kid, kid1) ? k1 : NULL;
}

/* Trusts k1 and k2. */
static const struct bw_es256_key *
lookup_k12 (void *cls, const char *kid)
{
  (void) cls;
  if (0 == strcmp (kid, kid1))
    return k1;
  if (0 == strcmp (kid, kid2))
    return k2;
  return NULL;
}

static char *
b64 (const void *data, size_t len)
{
  char *out = malloc ((len + 2) / 3 * 4 + 1);
  ck_assert_ptr_nonnull (out);
  bw_b64url_encode (data, len, out);
  return out;
}

static char *
b64s (const char *s)
{
  return b64 (s, strlen (s));
}

/* The EVP_PKEY of @a key's private part, via its PKCS#8 DER. */
static EVP_PKEY *
evp_private (const struct bw_es256_key *key)
{
  unsigned char *der = NULL;
  size_t len = 0;
  ck_assert_int_eq (bw_es256_private_der (key, &der, &len), 0);
  const unsigned char *p = der;
  EVP_PKEY *pk = d2i_AutoPrivateKey (NULL, &p, (long) len);
  ck_assert_ptr_nonnull (pk);
  OPENSSL_cleanse (der, len);
  free (der);
  return pk;
}

/* DER ECDSA signature of @a input with @a key, straight from OpenSSL. */
static unsigned char *
der_sign (const struct bw_es256_key *key, const char *input, size_t *len)
{
  EVP_PKEY *pk = evp_private (key);
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  ck_assert_int_eq (EVP_DigestSignInit (md, NULL, EVP_sha256 (), NULL, pk), 1);
  ck_assert_int_eq (EVP_DigestSign (md, NULL, len, (const unsigned char *) input, strlen (input)),
                    1);
  unsigned char *der = malloc (*len);
  ck_assert_int_eq (EVP_DigestSign (md, der, len, (const unsigned char *) input, strlen (input)),
                    1);
  EVP_MD_CTX_free (md);
  EVP_PKEY_free (pk);
  return der;
}

/* R || S (RFC 7518 §3.4) of @a input, signed independently of lib/jws.c. */
static void
raw_sign (const struct bw_es256_key *key, const char *input, unsigned char sig[64])
{
  size_t len = 0;
  unsigned char *der = der_sign (key, input, &len);
  const unsigned char *p = der;
  ECDSA_SIG *es = d2i_ECDSA_SIG (NULL, &p, (long) len);
  ck_assert_ptr_nonnull (es);
  const BIGNUM *r, *s;
  ECDSA_SIG_get0 (es, &r, &s);
  ck_assert_int_eq (BN_bn2binpad (r, sig, 32), 32);
  ck_assert_int_eq (BN_bn2binpad (s, sig + 32, 32), 32);
  ECDSA_SIG_free (es);
  free (der);
}

/* "b64(header).b64(payload)" */
static char *
signing_input (const char *header, const char *payload)
{
  char *h = b64s (header), *p = b64s (payload);
  char *out = malloc (strlen (h) + strlen (p) + 2);
  sprintf (out, "%s.%s", h, p);
  free (h);
  free (p);
  return out;
}

/* "input.b64(sig)" */
static char *
with_sig (const char *input, const unsigned char *sig, size_t len)
{
  char *s = b64 (sig, len);
  char *out = malloc (strlen (input) + strlen (s) + 2);
  sprintf (out, "%s.%s", input, s);
  free (s);
  return out;
}

/* Compact JWS with any header, correctly ES256-signed by @a key. */
static char *
forge (const struct bw_es256_key *key, const char *header, const char *payload)
{
  unsigned char sig[64];
  char *input = signing_input (header, payload);
  raw_sign (key, input, sig);
  char *out = with_sig (input, sig, sizeof (sig));
  free (input);
  return out;
}

static char *
header_for (const char *kid, const char *typ)
{
  static char h[256];
  snprintf (h, sizeof (h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}", kid, typ);
  return h;
}

static enum bw_jws_error
verify_k1 (const char *jws, const char *typ)
{
  char *payload = (char *) "sentinel";
  size_t len = 99;
  char kid[BW_KID_LEN + 1] = "";
  enum bw_jws_error e = bw_jws_verify_compact (jws, typ, lookup_k1, NULL, &payload, &len, kid);
  if (BW_JWS_OK == e)
    free (payload);
  else
    {
      ck_assert_ptr_null (payload);
      ck_assert_uint_eq (len, 0);
    }
  return e;
}

/* ---- keys ---- */

START_TEST (test_key_der_roundtrip)
{
  unsigned char *der = NULL, *der2 = NULL;
  size_t len = 0, len2 = 0;
  char kid[BW_KID_LEN + 1];

  ck_assert_int_eq (bw_es256_private_der (k1, &der, &len), 0);
  ck_assert_uint_gt (len, 100);
  struct bw_es256_key *back = bw_es256_from_private_der (der, len);
  ck_assert_ptr_nonnull (back);
  ck_assert_int_eq (bw_es256_kid (back, kid), 0);
  ck_assert_str_eq (kid, kid1);
  ck_assert_int_eq (bw_es256_private_der (back, &der2, &len2), 0);
  ck_assert_mem_eq (der, der2, len);
  /* it signs, and k1's public half verifies that */
  char *jws = bw_jws_sign_compact (back, kid1, TYP, "x", 1);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_OK);
  free (jws);
  /* truncated, trailing garbage, garbage */
  ck_assert_ptr_null (bw_es256_from_private_der (der, len - 1));
  unsigned char *longer = malloc (len + 1);
  memcpy (longer, der, len);
  longer[len] = 0;
  ck_assert_ptr_null (bw_es256_from_private_der (longer, len + 1));
  ck_assert_ptr_null (bw_es256_from_private_der ((const unsigned char *) "nope", 4));
  ck_assert_ptr_null (bw_es256_from_private_der (NULL, 0));
  free (longer);
  bw_es256_free (back);
  OPENSSL_cleanse (der, len);
  free (der);
  free (der2);
}
END_TEST

START_TEST (test_key_not_p256_refused)
{
  /* a P-384 key and an Ed25519 key are not ES256 keys */
  const char *algs[][2] = { { "EC", "P-384" }, { "ED25519", NULL } };
  for (size_t i = 0; i < 2; i++)
    {
      EVP_PKEY *pk = NULL == algs[i][1] ? EVP_PKEY_Q_keygen (NULL, NULL, algs[i][0])
                                        : EVP_PKEY_Q_keygen (NULL, NULL, algs[i][0], algs[i][1]);
      ck_assert_ptr_nonnull (pk);
      unsigned char *der = NULL;
      int n = i2d_PUBKEY (pk, &der);
      ck_assert_int_gt (n, 0);
      ck_assert_ptr_null (bw_es256_from_public_spki (der, (size_t) n));
      OPENSSL_free (der);
      der = NULL;
      PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8 (pk);
      n = i2d_PKCS8_PRIV_KEY_INFO (p8, &der);
      ck_assert_int_gt (n, 0);
      ck_assert_ptr_null (bw_es256_from_private_der (der, (size_t) n));
      OPENSSL_free (der);
      PKCS8_PRIV_KEY_INFO_free (p8);
      EVP_PKEY_free (pk);
    }
}
END_TEST

START_TEST (test_key_spki_roundtrip_and_kid)
{
  unsigned char *spki = NULL;
  size_t len = 0;
  char hex[BW_SHA256_HEX_LEN + 1];

  ck_assert_int_eq (bw_es256_public_spki (k1, &spki, &len), 0);
  ck_assert_uint_eq (len, 91);
  bw_sha256_hex (spki, len, hex);
  ck_assert_str_eq (hex, kid1); /* kid = hex SHA-256 of the SPKI DER */
  struct bw_es256_key *pub = bw_es256_from_public_spki (spki, len);
  ck_assert_ptr_nonnull (pub);
  char kid[BW_KID_LEN + 1];
  ck_assert_int_eq (bw_es256_kid (pub, kid), 0);
  ck_assert_str_eq (kid, kid1);
  /* a public key cannot sign or export a private part */
  unsigned char *der = NULL;
  size_t dlen = 0;
  ck_assert_int_eq (bw_es256_private_der (pub, &der, &dlen), -1);
  ck_assert_ptr_null (der);
  ck_assert_ptr_null (bw_jws_sign_compact (pub, kid1, TYP, "x", 1));
  bw_es256_free (pub);

  /* the same point, compressed: another encoding, another kid — refused */
  EVP_PKEY *pk = evp_private (k1);
  ck_assert_int_eq (EVP_PKEY_set_utf8_string_param (pk, "point-format", "compressed"), 1);
  unsigned char *comp = NULL;
  int n = i2d_PUBKEY (pk, &comp);
  ck_assert_int_eq (n, 59);
  ck_assert_ptr_null (bw_es256_from_public_spki (comp, (size_t) n));
  OPENSSL_free (comp);
  EVP_PKEY_free (pk);

  /* a point off the curve */
  spki[len - 1] ^= 1;
  ck_assert_ptr_null (bw_es256_from_public_spki (spki, len));
  spki[len - 1] ^= 1;
  ck_assert_ptr_null (bw_es256_from_public_spki (spki, len - 1));
  free (spki);
}
END_TEST

START_TEST (test_key_jwk_roundtrip)
{
  json_t *jwk = bw_es256_public_jwk (k1);
  ck_assert_ptr_nonnull (jwk);
  ck_assert_uint_eq (json_object_size (jwk), 4);
  ck_assert_str_eq (json_string_value (json_object_get (jwk, "kty")), "EC");
  ck_assert_str_eq (json_string_value (json_object_get (jwk, "crv")), "P-256");
  ck_assert_uint_eq (strlen (json_string_value (json_object_get (jwk, "x"))), 43);
  ck_assert_uint_eq (strlen (json_string_value (json_object_get (jwk, "y"))), 43);
  struct bw_es256_key *pub = bw_es256_from_jwk (jwk);
  ck_assert_ptr_nonnull (pub);
  char kid[BW_KID_LEN + 1];
  bw_es256_kid (pub, kid);
  ck_assert_str_eq (kid, kid1);
  json_t *again = bw_es256_public_jwk (pub);
  ck_assert (json_equal (jwk, again));
  json_decref (again);
  bw_es256_free (pub);

  /* refusals: extra member (a private "d"), wrong crv, short x, padded x, swapped y */
  json_t *bad = json_deep_copy (jwk);
  json_object_set_new (bad, "d", json_string ("AAAA"));
  ck_assert_ptr_null (bw_es256_from_jwk (bad));
  json_decref (bad);
  bad = json_deep_copy (jwk);
  json_object_set_new (bad, "crv", json_string ("P-384"));
  ck_assert_ptr_null (bw_es256_from_jwk (bad));
  json_decref (bad);
  bad = json_deep_copy (jwk);
  json_object_set_new (bad, "x", json_string ("AAAA"));
  ck_assert_ptr_null (bw_es256_from_jwk (bad));
  json_decref (bad);
  bad = json_deep_copy (jwk);
  char padded[64];
  snprintf (padded, sizeof (padded), "%s=", json_string_value (json_object_get (jwk, "x")));
  json_object_set_new (bad, "x", json_string (padded));
  ck_assert_ptr_null (bw_es256_from_jwk (bad));
  json_decref (bad);
  bad = json_deep_copy (jwk);
  json_object_set (bad, "y", json_object_get (jwk, "x")); /* (x, x) is not on the curve */
  ck_assert_ptr_null (bw_es256_from_jwk (bad));
  json_decref (bad);
  ck_assert_ptr_null (bw_es256_from_jwk (NULL));
  json_decref (jwk);
}
END_TEST

/* RFC 7515 Appendix A.3's ES256 key: an independent check of JWK -> SPKI -> kid. */
START_TEST (test_key_rfc7515_jwk)
{
  static const unsigned char prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
  };
  const char *x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
  const char *y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
  json_t *jwk = json_pack ("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
  struct bw_es256_key *k = bw_es256_from_jwk (jwk);
  ck_assert_ptr_nonnull (k);

  unsigned char expect[91];
  size_t n = 0;
  memcpy (expect, prefix, sizeof (prefix));
  expect[26] = 0x04;
  unsigned char *xb = bw_b64url_decode (x, strlen (x), &n);
  ck_assert_uint_eq (n, 32);
  unsigned char *yb = bw_b64url_decode (y, strlen (y), &n);
  ck_assert_uint_eq (n, 32);
  memcpy (expect + 27, xb, 32);
  memcpy (expect + 59, yb, 32);
  unsigned char *spki = NULL;
  size_t len = 0;
  ck_assert_int_eq (bw_es256_public_spki (k, &spki, &len), 0);
  ck_assert_uint_eq (len, 91);
  ck_assert_mem_eq (spki, expect, 91);
  char hex[65], kid[65];
  bw_sha256_hex (expect, 91, hex);
  bw_es256_kid (k, kid);
  ck_assert_str_eq (kid, hex);
  json_t *back = bw_es256_public_jwk (k);
  ck_assert (json_equal (back, jwk));
  json_decref (back);
  free (xb);
  free (yb);
  free (spki);
  bw_es256_free (k);
  json_decref (jwk);
}
END_TEST

/* ---- base64url ---- */

START_TEST (test_b64url_decode_strict)
{
  size_t n = 0;
  unsigned char *d = bw_b64url_decode ("Zm9vYg", 6, &n);
  ck_assert_ptr_nonnull (d);
  ck_assert_uint_eq (n, 4);
  ck_assert_mem_eq (d, "foob", 4);
  ck_assert_int_eq (d[4], 0); /* NUL-terminated */
  free (d);
  d = bw_b64url_decode ("", 0, &n);
  ck_assert_ptr_nonnull (d);
  ck_assert_uint_eq (n, 0);
  free (d);
  d = bw_b64url_decode ("-_8", 3, &n);
  ck_assert_ptr_nonnull (d);
  ck_assert_uint_eq (n, 2);
  ck_assert_int_eq (d[0], 0xfb);
  ck_assert_int_eq (d[1], 0xff);
  free (d);
  const char *bad[]
    = { "Zm9vYg==", "Zm9vYg=", "Zm9v+g", "Zm9v/g",
        "Zm9 vYg",  "Zm9vY",   "Zm9vYh", /* non-zero unused bits: a second spelling of "foob" */
        "Zm\n9v" };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    ck_assert_msg (NULL == bw_b64url_decode (bad[i], strlen (bad[i]), &n), "accepted %s", bad[i]);
  ck_assert_ptr_null (bw_b64url_decode ("Zm\0vYg", 6, &n));
}
END_TEST

/* ---- compact JWS ---- */

START_TEST (test_jws_roundtrip)
{
  const char payload[] = "{\"a\":1}";
  char *jws = bw_jws_sign_compact (k1, kid1, TYP, payload, strlen (payload));
  ck_assert_ptr_nonnull (jws);
  /* header bytes exactly as documented, keys in that order */
  char *expect_header = b64s (header_for (kid1, TYP));
  ck_assert_int_eq (strncmp (jws, expect_header, strlen (expect_header)), 0);
  ck_assert_int_eq (jws[strlen (expect_header)], '.');
  free (expect_header);
  /* signature part: 64 bytes -> 86 characters */
  ck_assert_uint_eq (strlen (strrchr (jws, '.') + 1), 86);

  char *out = NULL;
  size_t len = 0;
  char kid[BW_KID_LEN + 1] = "";
  ck_assert_int_eq (bw_jws_verify_compact (jws, TYP, lookup_k1, NULL, &out, &len, kid), BW_JWS_OK);
  ck_assert_uint_eq (len, strlen (payload));
  ck_assert_str_eq (out, payload);
  ck_assert_str_eq (kid, kid1);
  free (out);
  /* outputs are optional */
  ck_assert_int_eq (bw_jws_verify_compact (jws, TYP, lookup_k1, NULL, NULL, NULL, NULL), BW_JWS_OK);
  free (jws);

  /* a signature made by OpenSSL directly (R || S converted here) verifies too */
  jws = forge (k1, header_for (kid1, TYP), payload);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_OK);
  free (jws);
}
END_TEST

START_TEST (test_jws_error_names)
{
  ck_assert_str_eq (bw_jws_error_name (BW_JWS_OK), "ok");
  ck_assert_str_eq (bw_jws_error_name (BW_JWS_MALFORMED), "malformed");
  ck_assert_str_eq (bw_jws_error_name (BW_JWS_BAD_ALG), "bad_alg");
  ck_assert_str_eq (bw_jws_error_name (BW_JWS_BAD_TYP), "bad_typ");
  ck_assert_str_eq (bw_jws_error_name (BW_JWS_UNKNOWN_KEY), "unknown_key");
  ck_assert_str_eq (bw_jws_error_name (BW_JWS_BAD_SIGNATURE), "bad_signature");
}
END_TEST

START_TEST (test_jws_altered_payload)
{
  char *jws = bw_jws_sign_compact (k1, kid1, TYP, "{\"v\":1}", 7);
  char *other = b64s ("{\"v\":2}");
  char *d1 = strchr (jws, '.'), *d2 = strrchr (jws, '.');
  char *forged = malloc (strlen (jws) + 16);
  sprintf (forged, "%.*s.%s%s", (int) (d1 - jws), jws, other, d2);
  ck_assert_int_eq (verify_k1 (forged, TYP), BW_JWS_BAD_SIGNATURE);
  free (forged);
  free (other);
  free (jws);
}
END_TEST

START_TEST (test_jws_altered_signature)
{
  char *jws = bw_jws_sign_compact (k1, kid1, TYP, "p", 1);
  char *sig64 = strrchr (jws, '.') + 1;
  size_t n = 0;
  unsigned char *sig = bw_b64url_decode (sig64, strlen (sig64), &n);
  ck_assert_uint_eq (n, 64);
  for (size_t bit = 0; bit < 2; bit++)
    {
      size_t at = bit ? 63 : 0; /* in R, in S */
      sig[at] ^= 0x01;
      char input[BW_JWS_MAX];
      snprintf (input, sizeof (input), "%.*s", (int) (sig64 - 1 - jws), jws);
      char *forged = with_sig (input, sig, n);
      ck_assert_int_eq (verify_k1 (forged, TYP), BW_JWS_BAD_SIGNATURE);
      free (forged);
      sig[at] ^= 0x01;
    }
  free (sig);
  free (jws);
}
END_TEST

/* Non-canonical signatures: DER instead of R || S, wrong lengths, R or S out of [1, n-1]. */
START_TEST (test_jws_noncanonical_signature)
{
  char *input = signing_input (header_for (kid1, TYP), "p");
  size_t der_len = 0;
  unsigned char *der = der_sign (k1, input, &der_len);
  char *jws = with_sig (input, der, der_len);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_SIGNATURE);
  free (jws);
  free (der);

  unsigned char sig[66];
  raw_sign (k1, input, sig);
  jws = with_sig (input, sig, 64);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_OK);
  free (jws);
  jws = with_sig (input, sig, 63);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_SIGNATURE);
  free (jws);
  sig[64] = 0;
  jws = with_sig (input, sig, 65);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_SIGNATURE);
  free (jws);
  /* R = 0; S = n */
  unsigned char zero[64];
  memcpy (zero, sig, 64);
  memset (zero, 0, 32);
  jws = with_sig (input, zero, 64);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_SIGNATURE);
  free (jws);
  static const unsigned char order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
  };
  unsigned char atn[64];
  memcpy (atn, sig, 32);
  memcpy (atn + 32, order, 32);
  jws = with_sig (input, atn, 64);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_SIGNATURE);
  free (jws);
  free (input);
}
END_TEST

START_TEST (test_jws_alg_none)
{
  char header[256];
  snprintf (header, sizeof (header), "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"%s\"}", kid1, TYP);
  char *input = signing_input (header, "{\"v\":1}");
  char *jws = malloc (strlen (input) + 2);
  sprintf (jws, "%s.", input);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_ALG);
  free (jws);
  /* even with a valid ES256 signature over it, alg none is refused */
  jws = forge (k1, header, "{\"v\":1}");
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_ALG);
  free (jws);
  free (input);
  /* no alg at all; alg in another case; alg not a string; ES256 with a NUL-free suffix */
  const char *fmts[] = { "{\"kid\":\"%s\",\"typ\":\"%s\"}",
                         "{\"alg\":\"es256\",\"kid\":\"%s\",\"typ\":\"%s\"}",
                         "{\"alg\":null,\"kid\":\"%s\",\"typ\":\"%s\"}",
                         "{\"alg\":[\"ES256\"],\"kid\":\"%s\",\"typ\":\"%s\"}",
                         "{\"alg\":\"ES256 \",\"kid\":\"%s\",\"typ\":\"%s\"}",
                         "{\"alg\":\"ES384\",\"kid\":\"%s\",\"typ\":\"%s\"}" };
  for (size_t i = 0; i < sizeof (fmts) / sizeof (fmts[0]); i++)
    {
      snprintf (header, sizeof (header), fmts[i], kid1, TYP);
      jws = forge (k1, header, "{\"v\":1}");
      ck_assert_msg (BW_JWS_BAD_ALG == verify_k1 (jws, TYP), "accepted %s", header);
      free (jws);
    }
}
END_TEST

/* The classic key-confusion forgery: HS256 keyed with the public key's bytes. */
START_TEST (test_jws_alg_hs256)
{
  char header[256];
  snprintf (header, sizeof (header), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"%s\"}", kid1,
            TYP);
  char *input = signing_input (header, "{\"v\":1}");
  unsigned char *spki = NULL;
  size_t spki_len = 0;
  ck_assert_int_eq (bw_es256_public_spki (k1, &spki, &spki_len), 0);
  json_t *jwk = bw_es256_public_jwk (k1);
  char *jwk_s = json_dumps (jwk, JSON_COMPACT | JSON_SORT_KEYS);
  const struct
  {
    const void *key;
    size_t len;
  } secrets[] = { { spki, spki_len }, { jwk_s, strlen (jwk_s) }, { kid1, strlen (kid1) } };
  for (size_t i = 0; i < 3; i++)
    {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      ck_assert_ptr_nonnull (HMAC (EVP_sha256 (), secrets[i].key, (int) secrets[i].len,
                                   (const unsigned char *) input, strlen (input), mac, &mac_len));
      ck_assert_uint_eq (mac_len, 32);
      char *jws = with_sig (input, mac, mac_len);
      ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_ALG);
      free (jws);
    }
  free (jwk_s);
  json_decref (jwk);
  free (spki);
  free (input);
}
END_TEST

START_TEST (test_jws_kid)
{
  char header[256];
  /* missing kid */
  snprintf (header, sizeof (header), "{\"alg\":\"ES256\",\"typ\":\"%s\"}", TYP);
  char *jws = forge (k1, header, "p");
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_UNKNOWN_KEY);
  free (jws);
  /* kid not a string; uppercase hex (another spelling); short */
  snprintf (header, sizeof (header), "{\"alg\":\"ES256\",\"kid\":7,\"typ\":\"%s\"}", TYP);
  jws = forge (k1, header, "p");
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_UNKNOWN_KEY);
  free (jws);
  char upper[BW_KID_LEN + 1];
  for (size_t i = 0; i <= BW_KID_LEN; i++)
    upper[i] = (kid1[i] >= 'a' && kid1[i] <= 'f') ? (char) (kid1[i] - 32) : kid1[i];
  jws = forge (k1, header_for (upper, TYP), "p");
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_UNKNOWN_KEY);
  free (jws);
  /* unknown kid: k2 signs honestly under its own kid, only k1 is trusted */
  jws = bw_jws_sign_compact (k2, kid2, TYP, "p", 1);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_UNKNOWN_KEY);
  free (jws);
  /* k2 signs but names k1's kid */
  jws = bw_jws_sign_compact (k2, kid1, TYP, "p", 1);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_SIGNATURE);
  free (jws);
}
END_TEST

START_TEST (test_jws_typ)
{
  char *jws = bw_jws_sign_compact (k1, kid1, "JWT", "p", 1);
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_TYP);
  free (jws);
  jws = bw_jws_sign_compact (k1, kid1, TYP, "p", 1);
  ck_assert_int_eq (verify_k1 (jws, BW_HEAD_TYP), BW_JWS_BAD_TYP);
  ck_assert_int_eq (verify_k1 (jws, BW_KEYSET_TYP), BW_JWS_BAD_TYP);
  free (jws);
  char header[256];
  snprintf (header, sizeof (header), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid1);
  jws = forge (k1, header, "p");
  ck_assert_int_eq (verify_k1 (jws, TYP), BW_JWS_BAD_TYP);
  free (jws);
}
END_TEST

/* Validly signed headers that carry what this code does not understand. */
START_TEST (test_jws_header_strict)
{
  char header[512];
  const char *fmts[] = {
    "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\",\"crit\":[\"exp\"],\"exp\":1}",
    "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\",\"jku\":\"https://evil.example/\"}",
    "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\",\"typ\":\"x\"}",
    "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}",
    "[\"ES256\",\"%s\",\"%s\"]",
    "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"} ",
    "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}x",
  };
  for (size_t i = 0; i < sizeof (fmts) / sizeof (fmts[0]); i++)
    {
      snprintf (header, sizeof (header), fmts[i], kid1, TYP);
      char *jws = forge (k1, header, "p");
      enum bw_jws_error e = verify_k1 (jws, TYP);
      /* trailing whitespace is still one JSON object: fine; the rest is not */
      if (5 == i)
        ck_assert_int_eq (e, BW_JWS_OK);
      else
        ck_assert_msg (BW_JWS_MALFORMED == e, "%s gave %s", header, bw_jws_error_name (e));
      free (jws);
    }
}
END_TEST

START_TEST (test_jws_malformed)
{
  char *jws = bw_jws_sign_compact (k1, kid1, TYP, "payload", 7);
  size_t len = strlen (jws);
  char *buf = malloc (len + BW_JWS_MAX + 8);

  /* padding, '+', '/', whitespace in each of the three parts */
  const char *inserts[] = { "=", "+", "/", " ", "\n", "*" };
  char *dots[3] = { strchr (jws, '.'), strrchr (jws, '.'), jws + len };
  for (size_t d = 0; d < 3; d++)
    for (size_t i = 0; i < sizeof (inserts) / sizeof (inserts[0]); i++)
      {
        size_t at = (size_t) (dots[d] - jws);
        sprintf (buf, "%.*s%s%s", (int) at, jws, inserts[i], jws + at);
        ck_assert_msg (BW_JWS_MALFORMED == verify_k1 (buf, TYP), "accepted %s", buf);
      }
  /* two parts, four parts, empty, empty payload, JSON serialization */
  sprintf (buf, "%.*s", (int) (dots[1] - jws), jws);
  ck_assert_int_eq (verify_k1 (buf, TYP), BW_JWS_MALFORMED);
  sprintf (buf, "%s.", jws);
  ck_assert_int_eq (verify_k1 (buf, TYP), BW_JWS_MALFORMED);
  sprintf (buf, "%s.%s", jws, strrchr (jws, '.') + 1);
  ck_assert_int_eq (verify_k1 (buf, TYP), BW_JWS_MALFORMED);
  ck_assert_int_eq (verify_k1 ("", TYP), BW_JWS_MALFORMED);
  ck_assert_int_eq (verify_k1 ("..", TYP), BW_JWS_MALFORMED);
  ck_assert_int_eq (verify_k1 (NULL, TYP), BW_JWS_MALFORMED);
  sprintf (buf, "%.*s.%s", (int) (dots[0] - jws), jws, dots[1]);
  ck_assert_int_eq (verify_k1 (buf, TYP), BW_JWS_MALFORMED);
  /* header not JSON */
  char *input = signing_input ("not json", "p");
  unsigned char sig[64];
  raw_sign (k1, input, sig);
  char *bad = with_sig (input, sig, 64);
  ck_assert_int_eq (verify_k1 (bad, TYP), BW_JWS_MALFORMED);
  free (bad);
  free (input);
  /* too long: BW_JWS_MAX + 1 characters in the payload part */
  size_t at = (size_t) (dots[0] - jws) + 1;
  memcpy (buf, jws, at);
  memset (buf + at, 'A', BW_JWS_MAX);
  strcpy (buf + at + BW_JWS_MAX, dots[1]);
  ck_assert_int_eq (verify_k1 (buf, TYP), BW_JWS_MALFORMED);
  /* signing refuses payloads past the limit too */
  ck_assert_ptr_null (bw_jws_sign_compact (k1, kid1, TYP, buf, BW_JWS_MAX + 1));
  free (buf);
  free (jws);
}
END_TEST

/* ---- JWS JSON serialization ---- */

START_TEST (test_jws_json)
{
  const struct bw_es256_key *keys[] = { k1, k2 };
  const char *kids[] = { kid1, kid2 };
  json_t *doc = bw_jws_sign_json (keys, kids, 2, TYP, "abc", 3);
  ck_assert_ptr_nonnull (doc);
  ck_assert_uint_eq (json_object_size (doc), 2);
  ck_assert_uint_eq (json_array_size (json_object_get (doc, "signatures")), 2);
  char *payload = NULL;
  size_t len = 0;
  ck_assert_int_eq (bw_jws_verify_json (doc, TYP, kids, 2, lookup_k12, NULL, &payload, &len),
                    BW_JWS_OK);
  ck_assert_uint_eq (len, 3);
  ck_assert_str_eq (payload, "abc");
  free (payload);
  /* requiring only one: the other signature is ignored */
  ck_assert_int_eq (bw_jws_verify_json (doc, TYP, kids + 1, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_OK);
  /* a required kid that did not sign */
  const char *need3[] = { kid1, kid3 };
  ck_assert_int_eq (bw_jws_verify_json (doc, TYP, need3, 2, lookup_k12, NULL, &payload, &len),
                    BW_JWS_BAD_SIGNATURE);
  ck_assert_ptr_null (payload);
  /* required but unknown to the lookup */
  ck_assert_int_eq (bw_jws_verify_json (doc, TYP, kids, 2, lookup_k1, NULL, NULL, NULL),
                    BW_JWS_UNKNOWN_KEY);
  /* nobody required: nothing is verified, so nothing is accepted */
  ck_assert_int_eq (bw_jws_verify_json (doc, TYP, kids, 0, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_BAD_SIGNATURE);
  ck_assert_int_eq (bw_jws_verify_json (doc, "other", kids, 2, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_BAD_TYP);

  /* k2's signature altered: refused when k2 is required, ignored when not */
  json_t *alt = json_deep_copy (doc);
  json_t *e2 = json_array_get (json_object_get (alt, "signatures"), 1);
  const char *s = json_string_value (json_object_get (e2, "signature"));
  char *flipped = strdup (s);
  flipped[0] = 'A' == flipped[0] ? 'B' : 'A';
  json_object_set_new (e2, "signature", json_string (flipped));
  free (flipped);
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 2, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_BAD_SIGNATURE);
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_OK);
  json_decref (alt);

  /* altered payload */
  alt = json_deep_copy (doc);
  json_object_set_new (alt, "payload", json_string ("YWJk"));
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_BAD_SIGNATURE);
  json_decref (alt);

  /* a malformed entry refuses the whole document, even an unrequired one */
  alt = json_deep_copy (doc);
  e2 = json_array_get (json_object_get (alt, "signatures"), 1);
  json_object_set_new (e2, "header", json_pack ("{s:s}", "alg", "none"));
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_MALFORMED);
  json_decref (alt);
  /* an entry with alg none */
  alt = json_deep_copy (doc);
  e2 = json_array_get (json_object_get (alt, "signatures"), 1);
  char header[256];
  snprintf (header, sizeof (header), "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"%s\"}", kid2, TYP);
  char *h64 = b64s (header);
  json_object_set_new (e2, "protected", json_string (h64));
  json_object_set_new (e2, "signature", json_string (""));
  free (h64);
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_BAD_ALG);
  json_decref (alt);
  /* the same kid twice */
  alt = json_deep_copy (doc);
  json_array_append (json_object_get (alt, "signatures"),
                     json_array_get (json_object_get (alt, "signatures"), 0));
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 2, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_MALFORMED);
  json_decref (alt);
  /* extra top-level member; no signatures; payload padded */
  alt = json_deep_copy (doc);
  json_object_set_new (alt, "header", json_object ());
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_MALFORMED);
  json_decref (alt);
  alt = json_deep_copy (doc);
  json_object_set_new (alt, "signatures", json_array ());
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_MALFORMED);
  json_decref (alt);
  alt = json_deep_copy (doc);
  json_object_set_new (alt, "payload", json_string ("YWJj="));
  ck_assert_int_eq (bw_jws_verify_json (alt, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_MALFORMED);
  json_decref (alt);
  ck_assert_int_eq (bw_jws_verify_json (NULL, TYP, kids, 1, lookup_k12, NULL, NULL, NULL),
                    BW_JWS_MALFORMED);
  json_decref (doc);
}
END_TEST

/* ---- keysets ---- */

static json_t *
build (const char *org, uint64_t version, const struct bw_es256_key *head_keyset,
       const struct bw_es256_key *prev)
{
  struct bw_keyset_member m[] = { { head_keyset, true, true } };
  const struct bw_es256_key *p[] = { prev };
  json_t *doc = bw_keyset_build (org, version, NOW, m, 1, p, NULL == prev ? 0 : 1);
  ck_assert_ptr_nonnull (doc);
  return doc;
}

/* The keyset payload of @a doc re-signed by exactly @a keys. */
static json_t *
resign (const json_t *doc, const struct bw_es256_key *const *keys, const char *const *kids,
        size_t n)
{
  const char *p = json_string_value (json_object_get (doc, "payload"));
  size_t len = 0;
  unsigned char *payload = bw_b64url_decode (p, strlen (p), &len);
  json_t *out = bw_jws_sign_json (keys, kids, n, BW_KEYSET_TYP, payload, len);
  free (payload);
  ck_assert_ptr_nonnull (out);
  return out;
}

/* A keyset document with payload @a payload (text), signed by @a key. */
static json_t *
signed_payload (const char *payload, const struct bw_es256_key *key, const char *kid)
{
  const struct bw_es256_key *keys[] = { key };
  const char *kids[] = { kid };
  json_t *out = bw_jws_sign_json (keys, kids, 1, BW_KEYSET_TYP, payload, strlen (payload));
  ck_assert_ptr_nonnull (out);
  return out;
}

START_TEST (test_keyset_trust_first)
{
  struct bw_keyset_member m[] = { { k1, false, true }, { k2, true, false } };
  json_t *doc = bw_keyset_build (ORG, 1, NOW, m, 2, NULL, 0);
  ck_assert_ptr_nonnull (doc);
  /* signed by the keyset-role key only */
  ck_assert_uint_eq (json_array_size (json_object_get (doc, "signatures")), 1);

  /* payload: canonical JSON of the documented shape */
  const char *p = json_string_value (json_object_get (doc, "payload"));
  size_t len = 0;
  char *payload = (char *) bw_b64url_decode (p, strlen (p), &len);
  json_t *pj = json_loads (payload, 0, NULL);
  ck_assert_str_eq (json_string_value (json_object_get (pj, "org")), ORG);
  ck_assert_int_eq (json_integer_value (json_object_get (pj, "version")), 1);
  ck_assert_int_eq (json_integer_value (json_object_get (pj, "iat")), NOW);
  json_t *e1 = json_object_get (json_object_get (pj, "keys"), kid1);
  ck_assert_str_eq (json_string_value (json_object_get (e1, "alg")), "ES256");
  ck_assert_str_eq (json_string_value (json_array_get (json_object_get (e1, "roles"), 0)),
                    "keyset");
  char *canon = json_dumps (pj, JSON_COMPACT | JSON_SORT_KEYS);
  ck_assert_str_eq (canon, payload);
  free (canon);
  json_decref (pj);
  free (payload);

  struct bw_keyset *ks = NULL;
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &ks), BW_KEYSET_OK);
  ck_assert_ptr_nonnull (ks);
  ck_assert_uint_eq (bw_keyset_version (ks), 1);
  ck_assert_str_eq (bw_keyset_org (ks), ORG);
  ck_assert_ptr_nonnull (bw_keyset_key (ks, kid1, BW_KEY_ROLE_KEYSET));
  ck_assert_ptr_null (bw_keyset_key (ks, kid1, BW_KEY_ROLE_HEAD));
  ck_assert_ptr_nonnull (bw_keyset_key (ks, kid2, BW_KEY_ROLE_HEAD));
  ck_assert_ptr_null (bw_keyset_key (ks, kid2, BW_KEY_ROLE_KEYSET));
  ck_assert_ptr_null (bw_keyset_key (ks, kid3, BW_KEY_ROLE_HEAD));
  ck_assert_ptr_null (bw_keyset_key (ks, kid2, "admin"));
  bw_keyset_free (ks);

  /* the server's stored copy loads without re-verification */
  ks = bw_keyset_load_verified (doc);
  ck_assert_ptr_nonnull (ks);
  ck_assert_uint_eq (bw_keyset_version (ks), 1);
  bw_keyset_free (ks);

  /* round trip through text, as the agent receives it */
  char *text = json_dumps (doc, JSON_COMPACT);
  json_t *again = json_loads (text, JSON_REJECT_DUPLICATES, NULL);
  ck_assert_int_eq (bw_keyset_trust_first (again, ORG, &ks), BW_KEYSET_OK);
  bw_keyset_free (ks);
  json_decref (again);
  free (text);

  /* another org's keyset */
  ks = (struct bw_keyset *) 1;
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG2, &ks), BW_KEYSET_WRONG_ORG);
  ck_assert_ptr_null (ks);
  json_decref (doc);
}
END_TEST

START_TEST (test_keyset_self_signature_missing)
{
  struct bw_keyset_member m[] = { { k1, true, true }, { k2, false, true } };
  json_t *doc = bw_keyset_build (ORG, 1, NOW, m, 2, NULL, 0);
  struct bw_keyset *ks = NULL;
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &ks), BW_KEYSET_OK);
  bw_keyset_free (ks);

  /* signed by one of its two keyset-role keys only */
  const struct bw_es256_key *one[] = { k1 };
  const char *one_kid[] = { kid1 };
  json_t *bad = resign (doc, one, one_kid, 1);
  ck_assert_int_eq (bw_keyset_trust_first (bad, ORG, &ks), BW_KEYSET_BAD_SIGNATURE);
  ck_assert_ptr_null (ks);
  json_decref (bad);
  /* signed by an outsider only */
  const struct bw_es256_key *other[] = { k3 };
  const char *other_kid[] = { kid3 };
  bad = resign (doc, other, other_kid, 1);
  ck_assert_int_eq (bw_keyset_trust_first (bad, ORG, &ks), BW_KEYSET_BAD_SIGNATURE);
  json_decref (bad);
  /* no signatures at all */
  bad = json_deep_copy (doc);
  json_object_set_new (bad, "signatures", json_array ());
  ck_assert_int_eq (bw_keyset_trust_first (bad, ORG, &ks), BW_KEYSET_MALFORMED);
  json_decref (bad);
  /* a head-role key alone cannot vouch for a keyset */
  struct bw_keyset_member h[] = { { k1, true, false } };
  ck_assert_ptr_null (bw_keyset_build (ORG, 1, NOW, h, 1, NULL, 0));
  json_decref (doc);
}
END_TEST

START_TEST (test_keyset_advance)
{
  json_t *v1 = build (ORG, 1, k1, NULL);
  json_t *v2 = build (ORG, 2, k2, k1); /* signed by k1 (of N) and k2 (of N+1) */
  json_t *v3 = build (ORG, 3, k3, k2);
  ck_assert_uint_eq (json_array_size (json_object_get (v2, "signatures")), 2);
  struct bw_keyset *ks1 = NULL, *ks2 = NULL, *ks3 = NULL;
  ck_assert_int_eq (bw_keyset_trust_first (v1, ORG, &ks1), BW_KEYSET_OK);
  ck_assert_int_eq (bw_keyset_advance (ks1, v2, &ks2), BW_KEYSET_OK);
  ck_assert_uint_eq (bw_keyset_version (ks2), 2);
  ck_assert_ptr_nonnull (bw_keyset_key (ks2, kid2, BW_KEY_ROLE_HEAD));
  ck_assert_ptr_null (bw_keyset_key (ks2, kid1, BW_KEY_ROLE_HEAD)); /* k1 retired */
  ck_assert_uint_eq (bw_keyset_version (ks1), 1);                   /* untouched */
  ck_assert_int_eq (bw_keyset_advance (ks2, v3, &ks3), BW_KEYSET_OK);
  ck_assert_uint_eq (bw_keyset_version (ks3), 3);

  /* skipping a version; the same version again; going back */
  struct bw_keyset *out = (struct bw_keyset *) 1;
  ck_assert_int_eq (bw_keyset_advance (ks1, v3, &out), BW_KEYSET_BAD_SIGNATURE);
  ck_assert_ptr_null (out);
  json_t *skip = build (ORG, 3, k2, k1); /* signatures fine, version 1 -> 3 */
  ck_assert_int_eq (bw_keyset_advance (ks1, skip, &out), BW_KEYSET_WRONG_VERSION);
  ck_assert_ptr_null (out);
  json_decref (skip);
  ck_assert_int_eq (bw_keyset_advance (ks1, v1, &out), BW_KEYSET_WRONG_VERSION);
  json_t *back = build (ORG, 1, k2, k2);
  ck_assert_int_eq (bw_keyset_advance (ks2, back, &out), BW_KEYSET_WRONG_VERSION);
  json_decref (back);

  /* keeping the same key across versions: one signature serves both roles */
  json_t *same = build (ORG, 2, k1, k1);
  ck_assert_uint_eq (json_array_size (json_object_get (same, "signatures")), 1);
  ck_assert_int_eq (bw_keyset_advance (ks1, same, &out), BW_KEYSET_OK);
  bw_keyset_free (out);
  json_decref (same);

  bw_keyset_free (ks1);
  bw_keyset_free (ks2);
  bw_keyset_free (ks3);
  json_decref (v1);
  json_decref (v2);
  json_decref (v3);
}
END_TEST

START_TEST (test_keyset_advance_refusals)
{
  json_t *v1 = build (ORG, 1, k1, NULL);
  struct bw_keyset *ks1 = NULL, *out = NULL;
  ck_assert_int_eq (bw_keyset_trust_first (v1, ORG, &ks1), BW_KEYSET_OK);

  /* N+1 not signed by N's key (an attacker's self-signed successor) */
  json_t *v2 = build (ORG, 2, k2, NULL);
  ck_assert_int_eq (bw_keyset_advance (ks1, v2, &out), BW_KEYSET_BAD_SIGNATURE);
  ck_assert_ptr_null (out);
  /* N+1 signed by N's key, not by its own */
  const struct bw_es256_key *old[] = { k1 };
  const char *old_kid[] = { kid1 };
  json_t *v2b = resign (v2, old, old_kid, 1);
  ck_assert_int_eq (bw_keyset_advance (ks1, v2b, &out), BW_KEYSET_BAD_SIGNATURE);
  json_decref (v2b);
  /* properly signed, another org */
  json_t *v2c = build (ORG2, 2, k2, k1);
  ck_assert_int_eq (bw_keyset_advance (ks1, v2c, &out), BW_KEYSET_WRONG_ORG);
  ck_assert_ptr_null (out);
  json_decref (v2c);
  /* the right shape around a signature by N's key for another typ */
  json_t *good = build (ORG, 2, k2, k1);
  json_t *sigs = json_object_get (good, "signatures");
  json_t *e0 = json_array_get (sigs, 0);
  const char *p64 = json_string_value (json_object_get (good, "payload"));
  size_t plen = 0;
  unsigned char *payload = bw_b64url_decode (p64, strlen (p64), &plen);
  const char *kidof = NULL;
  {
    const char *h64 = json_string_value (json_object_get (e0, "protected"));
    size_t hl = 0;
    char *h = (char *) bw_b64url_decode (h64, strlen (h64), &hl);
    kidof = strstr (h, kid1) ? kid1 : kid2;
    free (h);
  }
  char *compact = bw_jws_sign_compact (kidof == kid1 ? k1 : k2, kidof, "JWT", payload, plen);
  char *d1 = strchr (compact, '.');
  *d1 = '\0';
  json_object_set_new (e0, "protected", json_string (compact));
  json_object_set_new (e0, "signature", json_string (strrchr (d1 + 1, '.') + 1));
  ck_assert_int_eq (bw_keyset_advance (ks1, good, &out), BW_KEYSET_BAD_SIGNATURE);
  free (compact);
  free (payload);
  json_decref (good);
  ck_assert_int_eq (bw_keyset_advance (NULL, v2, &out), BW_KEYSET_MALFORMED);

  json_decref (v2);
  json_decref (v1);
  bw_keyset_free (ks1);
}
END_TEST

START_TEST (test_keyset_malformed_payloads)
{
  json_t *jwk1 = bw_es256_public_jwk (k1);
  char *jwk1s = json_dumps (jwk1, JSON_COMPACT | JSON_SORT_KEYS);
  json_t *jwk2 = bw_es256_public_jwk (k2);
  char *jwk2s = json_dumps (jwk2, JSON_COMPACT | JSON_SORT_KEYS);
  char payload[4096];
  struct bw_keyset *ks = NULL;

  /* the control: a hand-written payload of the documented shape */
  snprintf (payload, sizeof (payload),
            "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"head\","
            "\"keyset\"]}},\"org\":\"" ORG "\",\"version\":1}",
            kid1, jwk1s);
  json_t *doc = signed_payload (payload, k1, kid1);
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &ks), BW_KEYSET_OK);
  bw_keyset_free (ks);
  json_decref (doc);

  /* version 0: well-formed and signed, but not a version */
  snprintf (payload, sizeof (payload),
            "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
            "\"org\":\"" ORG "\",\"version\":0}",
            kid1, jwk1s);
  doc = signed_payload (payload, k1, kid1);
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &ks), BW_KEYSET_WRONG_VERSION);
  ck_assert_ptr_null (bw_keyset_load_verified (doc));
  json_decref (doc);

  const char *fmts[] = {
    /* kid that is not the jwk's */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* unknown role */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\",\"root\"]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* repeated role */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\",\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* another alg */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"HS256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* extra member in the payload */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1,\"x\":1}",
    /* duplicate member */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1,\"version\":2}",
    /* version a string; negative; real */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":\"1\"}",
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":-1}",
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1.0}",
    /* beyond int64 */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":18446744073709551616}",
    /* org not a canonical uuid */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"0B4AE0C4-4A4E-4A8A-9F55-2D9D2D9D2D9D\",\"version\":1}",
    /* no keyset-role key */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"head\"]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* no roles */
    "{\"iat\":1,\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* missing iat */
    "{\"keys\":{\"%s\":{\"alg\":\"ES256\",\"jwk\":%s,\"roles\":[\"keyset\"]}},"
    "\"org\":\"" ORG "\",\"version\":1}",
    /* not an object */
    "[\"%s\",%s]",
  };
  for (size_t i = 0; i < sizeof (fmts) / sizeof (fmts[0]); i++)
    {
      snprintf (payload, sizeof (payload), fmts[i], kid1, 0 == i ? jwk2s : jwk1s);
      doc = signed_payload (payload, k1, kid1);
      ks = (struct bw_keyset *) 1;
      ck_assert_msg (BW_KEYSET_MALFORMED == bw_keyset_trust_first (doc, ORG, &ks), "accepted %s",
                     payload);
      ck_assert_ptr_null (ks);
      ck_assert_ptr_null (bw_keyset_load_verified (doc));
      json_decref (doc);
    }

  /* more than BW_KEYSET_KEYS_MAX keys */
  struct bw_es256_key *many[BW_KEYSET_KEYS_MAX + 1];
  struct bw_keyset_member m[BW_KEYSET_KEYS_MAX + 1];
  for (size_t i = 0; i <= BW_KEYSET_KEYS_MAX; i++)
    {
      many[i] = bw_es256_generate ();
      m[i] = (struct bw_keyset_member){ many[i], true, 0 == i };
    }
  ck_assert_ptr_null (bw_keyset_build (ORG, 1, NOW, m, BW_KEYSET_KEYS_MAX + 1, NULL, 0));
  doc = bw_keyset_build (ORG, 1, NOW, m, BW_KEYSET_KEYS_MAX, NULL, 0);
  ck_assert_ptr_nonnull (doc);
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &ks), BW_KEYSET_OK);
  bw_keyset_free (ks);
  json_decref (doc);
  for (size_t i = 0; i <= BW_KEYSET_KEYS_MAX; i++)
    bw_es256_free (many[i]);

  /* not a JWS JSON document */
  doc = json_pack ("{s:s}", "payload", "e30");
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &ks), BW_KEYSET_MALFORMED);
  json_decref (doc);
  ck_assert_int_eq (bw_keyset_trust_first (NULL, ORG, &ks), BW_KEYSET_MALFORMED);
  ck_assert_ptr_null (bw_keyset_load_verified (NULL));

  ck_assert_str_eq (bw_keyset_error_name (BW_KEYSET_OK), "ok");
  ck_assert_str_eq (bw_keyset_error_name (BW_KEYSET_MALFORMED), "malformed");
  ck_assert_str_eq (bw_keyset_error_name (BW_KEYSET_BAD_SIGNATURE), "bad_signature");
  ck_assert_str_eq (bw_keyset_error_name (BW_KEYSET_WRONG_ORG), "wrong_org");
  ck_assert_str_eq (bw_keyset_error_name (BW_KEYSET_WRONG_VERSION), "wrong_version");
  free (jwk1s);
  free (jwk2s);
  json_decref (jwk1);
  json_decref (jwk2);
}
END_TEST

/* ---- heads ---- */

/* keyset v1 of ORG: k1 head+keyset, k2 keyset only. */
static struct bw_keyset *head_ks;

static void
head_setup (void)
{
  keys_setup ();
  struct bw_keyset_member m[] = { { k1, true, true }, { k2, false, true } };
  json_t *doc = bw_keyset_build (ORG, 1, NOW, m, 2, NULL, 0);
  ck_assert_int_eq (bw_keyset_trust_first (doc, ORG, &head_ks), BW_KEYSET_OK);
  json_decref (doc);
}

static void
head_teardown (void)
{
  bw_keyset_free (head_ks);
  keys_teardown ();
}

static struct bw_head_claims
claims (uint64_t version, uint64_t serial, const char *sha)
{
  struct bw_head_claims c;
  memset (&c, 0, sizeof (c));
  strcpy (c.iss, "https://bulwark.example");
  strcpy (c.sub, ORG);
  strcpy (c.aud, SUBJ);
  c.bundle_version = version;
  c.head_serial = serial;
  strcpy (c.sha256, sha);
  c.length = 1234;
  c.iat = NOW - 10;
  c.exp = NOW + 86400;
  c.keyset_version = 1;
  return c;
}

static struct bw_head_expect
expect_none (void)
{
  struct bw_head_expect e = { ORG, SUBJ, NOW, false, 0, 0, NULL };
  return e;
}

static struct bw_head_expect
expect_last (uint64_t version, uint64_t serial, const char *sha)
{
  struct bw_head_expect e = { ORG, SUBJ, NOW, true, version, serial, sha };
  return e;
}

static enum bw_head_error
verify_head (const struct bw_head_claims *c, const struct bw_head_expect *e)
{
  char *jws = bw_head_sign (c, k1, kid1);
  ck_assert_ptr_nonnull (jws);
  struct bw_head_claims out;
  enum bw_jws_error je = BW_JWS_MALFORMED;
  enum bw_head_error rc = bw_head_verify (jws, head_ks, e, &out, &je);
  if (BW_HEAD_OK == rc)
    {
      ck_assert_str_eq (out.iss, c->iss);
      ck_assert_str_eq (out.sub, c->sub);
      ck_assert_str_eq (out.aud, c->aud);
      ck_assert_str_eq (out.sha256, c->sha256);
      ck_assert_uint_eq (out.bundle_version, c->bundle_version);
      ck_assert_uint_eq (out.head_serial, c->head_serial);
      ck_assert_uint_eq (out.length, c->length);
      ck_assert_int_eq (out.iat, c->iat);
      ck_assert_int_eq (out.exp, c->exp);
      ck_assert_uint_eq (out.keyset_version, c->keyset_version);
    }
  if (BW_HEAD_BAD_JWS != rc)
    ck_assert_int_eq (je, BW_JWS_OK);
  free (jws);
  return rc;
}

/* bw_head_verify of a compact JWS; the JWS reason through @a je. */
static enum bw_head_error
verify_jws (const char *jws, enum bw_jws_error *je)
{
  struct bw_head_expect e = expect_none ();
  struct bw_head_claims out;
  return bw_head_verify (jws, head_ks, &e, &out, je);
}

START_TEST (test_head_roundtrip)
{
  struct bw_head_claims c = claims (100, 200, SHA_A);
  struct bw_head_expect e = expect_none ();
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);

  /* the payload is the canonical JSON of the ten claims */
  char *jws = bw_head_sign (&c, k1, kid1);
  char *d1 = strchr (jws, '.'), *d2 = strrchr (jws, '.');
  size_t n = 0;
  char *payload = (char *) bw_b64url_decode (d1 + 1, (size_t) (d2 - d1 - 1), &n);
  ck_assert_str_eq (payload,
                    "{\"aud\":\"" SUBJ "\",\"bundle_version\":100,\"exp\":1760086400,"
                    "\"head_serial\":200,\"iat\":1759999990,\"iss\":\"https://bulwark.example\","
                    "\"keyset_version\":1,\"length\":1234,\"sha256\":\"" SHA_A "\","
                    "\"sub\":\"" ORG "\"}");
  free (payload);
  size_t hl = 0;
  char *header = (char *) bw_b64url_decode (jws, (size_t) (d1 - jws), &hl);
  char expect_h[256];
  snprintf (expect_h, sizeof (expect_h),
            "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"bulwark-head+jwt\"}", kid1);
  ck_assert_str_eq (header, expect_h);
  free (header);
  free (jws);

  /* a refresh (higher serial, same bundle) and an update */
  e = expect_last (100, 200, SHA_A);
  c = claims (100, 201, SHA_A);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  c = claims (101, 201, SHA_B);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  /* the very same head again */
  c = claims (100, 200, SHA_A);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  /* largest values */
  c = claims (INT64_MAX, INT64_MAX, SHA_A);
  c.exp = INT64_MAX;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  /* signing refuses what verifying would refuse */
  c.bundle_version = (uint64_t) INT64_MAX + 1;
  ck_assert_ptr_null (bw_head_sign (&c, k1, kid1));
  c = claims (1, 1, "AAAA");
  ck_assert_ptr_null (bw_head_sign (&c, k1, kid1));
}
END_TEST

START_TEST (test_head_bad_jws)
{
  struct bw_head_claims c = claims (1, 1, SHA_A);
  char *good = bw_head_sign (&c, k1, kid1);
  char *d1 = strchr (good, '.'), *d2 = strrchr (good, '.');
  size_t n = 0;
  char *payload = (char *) bw_b64url_decode (d1 + 1, (size_t) (d2 - d1 - 1), &n);
  enum bw_jws_error je = BW_JWS_OK;
  char buf[BW_JWS_MAX];

  ck_assert_int_eq (verify_jws (good, &je), BW_HEAD_OK);
  ck_assert_int_eq (je, BW_JWS_OK);

  /* altered payload: another aud, same signature */
  struct bw_head_claims other = claims (1, 1, SHA_A);
  strcpy (other.aud, SUBJ2);
  char *o = bw_head_sign (&other, k1, kid1);
  char *od1 = strchr (o, '.'), *od2 = strrchr (o, '.');
  snprintf (buf, sizeof (buf), "%.*s%.*s%s", (int) (d1 - good), good, (int) (od2 - od1), od1, d2);
  ck_assert_int_eq (verify_jws (buf, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_BAD_SIGNATURE);
  free (o);
  /* altered signature */
  snprintf (buf, sizeof (buf), "%s", good);
  buf[d2 - good + 5] = 'A' == buf[d2 - good + 5] ? 'B' : 'A';
  ck_assert_int_eq (verify_jws (buf, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_BAD_SIGNATURE);
  /* alg none */
  char header[256];
  snprintf (header, sizeof (header),
            "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"bulwark-head+jwt\"}", kid1);
  char *input = signing_input (header, payload);
  snprintf (buf, sizeof (buf), "%s.", input);
  ck_assert_int_eq (verify_jws (buf, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_BAD_ALG);
  free (input);
  /* HS256 keyed with the public key's SPKI DER */
  snprintf (header, sizeof (header),
            "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"bulwark-head+jwt\"}", kid1);
  input = signing_input (header, payload);
  unsigned char *spki = NULL;
  size_t spki_len = 0;
  bw_es256_public_spki (k1, &spki, &spki_len);
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC (EVP_sha256 (), spki, (int) spki_len, (const unsigned char *) input, strlen (input), mac,
        &mac_len);
  char *hs = with_sig (input, mac, mac_len);
  ck_assert_int_eq (verify_jws (hs, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_BAD_ALG);
  free (hs);
  free (spki);
  free (input);
  /* missing kid */
  snprintf (header, sizeof (header), "{\"alg\":\"ES256\",\"typ\":\"bulwark-head+jwt\"}");
  char *f = forge (k1, header, payload);
  ck_assert_int_eq (verify_jws (f, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_UNKNOWN_KEY);
  free (f);
  /* unknown kid: k3 is in no keyset */
  f = bw_head_sign (&c, k3, kid3);
  ck_assert_int_eq (verify_jws (f, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_UNKNOWN_KEY);
  free (f);
  /* k2 is in the keyset but may not sign heads (role keyset only) */
  f = bw_head_sign (&c, k2, kid2);
  ck_assert_int_eq (verify_jws (f, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_UNKNOWN_KEY);
  free (f);
  /* wrong typ: a keyset-typ signature over the same claims */
  f = bw_jws_sign_compact (k1, kid1, BW_KEYSET_TYP, payload, n);
  ck_assert_int_eq (verify_jws (f, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_BAD_TYP);
  free (f);
  /* malformed base64 */
  snprintf (buf, sizeof (buf), "%s=", good);
  ck_assert_int_eq (verify_jws (buf, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_MALFORMED);
  snprintf (buf, sizeof (buf), "%s", good);
  buf[3] = '+';
  ck_assert_int_eq (verify_jws (buf, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_MALFORMED);
  /* jws_error may be NULL */
  struct bw_head_expect e = expect_none ();
  ck_assert_int_eq (bw_head_verify (buf, head_ks, &e, NULL, NULL), BW_HEAD_BAD_JWS);
  free (payload);
  free (good);
}
END_TEST

START_TEST (test_head_bad_claims)
{
  const char *payloads[] = {
    /* a member missing, an extra one, a duplicate */
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\",\"x\":1}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\",\"sub\":\"" ORG "\"}",
    /* a number as a string, negative, real, beyond int64 */
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":\"1\",\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":-1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400.0,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":18446744073709551615,"
    "\"sha256\":\"" SHA_A "\",\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":-5,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    /* a string as a number, null */
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":5,\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    "{\"aud\":null,\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    /* sha256 uppercase, short; iss empty; sub not a uuid; iat after exp */
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"AAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"aa\","
    "\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"acme\"}",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1760086401,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}",
    /* not an object, not JSON, trailing bytes */
    "[1,2,3]",
    "{",
    "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
    "\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A "\","
    "\"sub\":\"" ORG "\"}{}",
  };
  enum bw_jws_error je;
  /* the control: the same shape, well-formed */
  const char *ok = "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,"
                   "\"head_serial\":1,\"iat\":1,\"iss\":\"i\",\"keyset_version\":1,\"length\":1,"
                   "\"sha256\":\"" SHA_A "\",\"sub\":\"" ORG "\"}";
  char *jws = bw_jws_sign_compact (k1, kid1, BW_HEAD_TYP, ok, strlen (ok));
  ck_assert_int_eq (verify_jws (jws, &je), BW_HEAD_OK);
  free (jws);
  for (size_t i = 0; i < sizeof (payloads) / sizeof (payloads[0]); i++)
    {
      jws = bw_jws_sign_compact (k1, kid1, BW_HEAD_TYP, payloads[i], strlen (payloads[i]));
      ck_assert_ptr_nonnull (jws);
      ck_assert_msg (BW_HEAD_BAD_CLAIMS == verify_jws (jws, &je), "accepted %s", payloads[i]);
      ck_assert_int_eq (je, BW_JWS_OK);
      free (jws);
    }
  /* iss at and past its limit */
  struct bw_head_claims c = claims (1, 1, SHA_A);
  memset (c.iss, 'i', BW_HEAD_ISS_MAX);
  c.iss[BW_HEAD_ISS_MAX] = '\0';
  struct bw_head_expect e = expect_none ();
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  char big[BW_HEAD_ISS_MAX + 400];
  memset (big, 'i', BW_HEAD_ISS_MAX + 1);
  big[BW_HEAD_ISS_MAX + 1] = '\0';
  char payload[1024];
  snprintf (payload, sizeof (payload),
            "{\"aud\":\"" SUBJ "\",\"bundle_version\":1,\"exp\":1760086400,\"head_serial\":1,"
            "\"iat\":1,\"iss\":\"%s\",\"keyset_version\":1,\"length\":1,\"sha256\":\"" SHA_A
            "\",\"sub\":\"" ORG "\"}",
            big);
  jws = bw_jws_sign_compact (k1, kid1, BW_HEAD_TYP, payload, strlen (payload));
  ck_assert_int_eq (verify_jws (jws, &je), BW_HEAD_BAD_CLAIMS);
  free (jws);
}
END_TEST

START_TEST (test_head_checks)
{
  struct bw_head_claims c;
  struct bw_head_expect e = expect_none ();

  c = claims (1, 1, SHA_A);
  strcpy (c.sub, ORG2);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_ORG);
  c = claims (1, 1, SHA_A);
  strcpy (c.aud, SUBJ2);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_SUBJECT);
  c = claims (1, 1, SHA_A);
  c.exp = NOW; /* exp <= now */
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_EXPIRED);
  c.exp = NOW - 1;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_EXPIRED);
  c.exp = NOW + 1;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  c = claims (1, 1, SHA_A);
  c.keyset_version = 2;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_KEYSET);
  c.keyset_version = 0;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_KEYSET);

  e = expect_last (100, 200, SHA_A);
  c = claims (100, 199, SHA_A);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_LOWER_SERIAL);
  c = claims (99, 201, SHA_B);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_LOWER_VERSION);
  c = claims (100, 201, SHA_B);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_VERSION_CONFLICT);
  /* equal serial, different content */
  c = claims (101, 200, SHA_B);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_VERSION_CONFLICT);
  c = claims (100, 200, SHA_B);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_VERSION_CONFLICT);

  ck_assert_str_eq (bw_head_error_name (BW_HEAD_OK), "ok");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_BAD_JWS), "bad_jws");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_BAD_CLAIMS), "bad_claims");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_WRONG_ORG), "wrong_org");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_WRONG_SUBJECT), "wrong_subject");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_EXPIRED), "expired");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_WRONG_KEYSET), "wrong_keyset");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_LOWER_SERIAL), "lower_serial");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_LOWER_VERSION), "lower_version");
  ck_assert_str_eq (bw_head_error_name (BW_HEAD_VERSION_CONFLICT), "version_conflict");
}
END_TEST

/* The first failing check in DESIGN §6 order is the one reported. */
START_TEST (test_head_order)
{
  struct bw_head_expect e = expect_last (100, 200, SHA_A);
  struct bw_head_claims c = claims (1, 1, SHA_B); /* lower serial, lower version */
  strcpy (c.sub, ORG2);
  strcpy (c.aud, SUBJ2);
  c.exp = NOW - 1;
  c.iat = NOW - 100;
  c.keyset_version = 9;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_ORG);
  strcpy (c.sub, ORG);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_SUBJECT);
  strcpy (c.aud, SUBJ);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_EXPIRED);
  c.exp = NOW + 100;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_WRONG_KEYSET);
  c.keyset_version = 1;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_LOWER_SERIAL);
  c.head_serial = 300;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_LOWER_VERSION);
  c.bundle_version = 100;
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_VERSION_CONFLICT);
  strcpy (c.sha256, SHA_A);
  ck_assert_int_eq (verify_head (&c, &e), BW_HEAD_OK);
  /* a bad signature hides everything else */
  c.exp = NOW - 1;
  char *jws = bw_head_sign (&c, k3, kid1);
  enum bw_jws_error je;
  ck_assert_int_eq (bw_head_verify (jws, head_ks, &e, NULL, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_BAD_SIGNATURE);
  free (jws);
}
END_TEST

/* A head signed under keyset 1 is refused once the agent moved to keyset 2, and vice versa. */
START_TEST (test_head_after_rotation)
{
  /* keyset 2 (k3) signed by both keyset-role keys of 1 (k1, k2) and by k3 */
  struct bw_keyset_member m[] = { { k3, true, true } };
  const struct bw_es256_key *prev[] = { k1, k2 };
  json_t *v2doc = bw_keyset_build (ORG, 2, NOW, m, 1, prev, 2);
  ck_assert_uint_eq (json_array_size (json_object_get (v2doc, "signatures")), 3);
  struct bw_keyset *ks2 = NULL;
  ck_assert_int_eq (bw_keyset_advance (head_ks, v2doc, &ks2), BW_KEYSET_OK);
  json_decref (v2doc);
  struct bw_head_expect e = expect_none ();
  struct bw_head_claims c = claims (1, 1, SHA_A);
  c.keyset_version = 2;
  char *jws = bw_head_sign (&c, k3, kid3);
  enum bw_jws_error je;
  ck_assert_int_eq (bw_head_verify (jws, ks2, &e, NULL, &je), BW_HEAD_OK);
  ck_assert_int_eq (bw_head_verify (jws, head_ks, &e, NULL, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_UNKNOWN_KEY);
  free (jws);
  c.keyset_version = 1;
  jws = bw_head_sign (&c, k1, kid1);
  ck_assert_int_eq (bw_head_verify (jws, ks2, &e, NULL, &je), BW_HEAD_BAD_JWS);
  ck_assert_int_eq (je, BW_JWS_UNKNOWN_KEY);
  free (jws);
  bw_keyset_free (ks2);
}
END_TEST

/* ---- bundles ---- */

#define POLICY_OK                                                                    \
  "{\"schema\":\"bulwark.policy/v1\",\"name\":\"t\",\"mode\":\"enforce\","           \
  "\"scope\":{\"org_wide\":true},\"network\":[{\"id\":\"a\",\"decision\":\"allow\"," \
  "\"hosts\":[\"example.com\"]}]}"
#define POLICY_BAD "{\"schema\":\"bulwark.policy/v1\",\"name\":\"t\",\"surprise\":1}"
#define PID1 "4f8e24a8-8e82-4ece-9d99-6b1b6b1b6b1b"
#define PID2 "5a9f35b9-9f93-4fdf-8eaa-7c2c7c2c7c2c"
#define SETTINGS                                                                 \
  "{\"checkin_interval_s\":60,\"checkin_jitter_s\":10,\"events_batch_max\":500," \
  "\"stale_limit_s\":604800}"

static struct bw_bundle *
parse (const char *text, char *why)
{
  return bw_bundle_parse (text, strlen (text), why, 64);
}

START_TEST (test_bundle_parse_ok)
{
  const char *text = "{\"catalog\":[],\"org\":\"" ORG "\",\"policies\":["
                     "{\"document\":" POLICY_OK ",\"id\":\"" PID1 "\",\"revision\":3},"
                     "{\"document\":" POLICY_BAD ",\"id\":\"" PID2 "\",\"revision\":1}],"
                     "\"schema\":\"bulwark.bundle/v1\",\"settings\":" SETTINGS ",\"version\":42}";
  char why[64] = "x";
  struct bw_bundle *b = parse (text, why);
  ck_assert_msg (NULL != b, "%s", why);
  ck_assert_str_eq (b->org, ORG);
  ck_assert_uint_eq (b->version, 42);
  ck_assert_uint_eq (b->settings.checkin_interval_s, 60);
  ck_assert_uint_eq (b->settings.checkin_jitter_s, 10);
  ck_assert_uint_eq (b->settings.stale_limit_s, 604800);
  ck_assert_uint_eq (b->settings.events_batch_max, 500);
  ck_assert_uint_eq (b->n, 2);
  ck_assert_ptr_nonnull (b->refs[0].policy);
  ck_assert_str_eq (b->refs[0].policy_id, PID1);
  ck_assert_int_eq (b->refs[0].revision, 3);
  ck_assert_str_eq (bw_policy_name (b->refs[0].policy), "t");
  ck_assert_ptr_null (b->refs[1].policy); /* kept, fails closed */
  ck_assert_str_eq (b->refs[1].policy_id, PID2);
  ck_assert_ptr_nonnull (b->doc);

  /* the unparseable policy makes every decision deny / policy_error */
  json_t *errors = json_array ();
  json_t *rq = json_pack ("{s:s, s:s, s:{s:s, s:i}}", "surface", "network", "action", "connect",
                          "resource", "host", "example.com", "port", 443);
  struct bw_decision_request *req = bw_decision_request_parse (rq, "", errors);
  ck_assert_ptr_nonnull (req);
  struct bw_decision_result r;
  bw_evaluate (b->refs, 1, NULL, 0, req, &r);
  ck_assert_int_eq (r.decision, BW_DECISION_ALLOW);
  bw_evaluate (b->refs, b->n, NULL, 0, req, &r);
  ck_assert_int_eq (r.decision, BW_DECISION_DENY);
  ck_assert_int_eq (r.reason, BW_REASON_POLICY_ERROR);
  bw_decision_request_free (req);
  json_decref (rq);
  json_decref (errors);
  bw_bundle_free (b);

  /* no policies */
  b = parse ("{\"catalog\":[],\"org\":\"" ORG "\",\"policies\":[],"
             "\"schema\":\"bulwark.bundle/v1\",\"settings\":" SETTINGS ",\"version\":1}",
             why);
  ck_assert_ptr_nonnull (b);
  ck_assert_uint_eq (b->n, 0);
  bw_bundle_free (b);
  bw_bundle_free (NULL);
}
END_TEST

/* Exactly BW_POLICIES_PER_ORG_MAX policies parse; one more is refused. */
START_TEST (test_bundle_policy_limit)
{
  for (size_t count = BW_POLICIES_PER_ORG_MAX; count <= BW_POLICIES_PER_ORG_MAX + 1; count++)
    {
      json_t *pol = json_loads (POLICY_OK, 0, NULL);
      json_t *policies = json_array ();
      for (size_t i = 0; i < count; i++)
        {
          char id[37];
          snprintf (id, sizeof (id), "4f8e24a8-8e82-4ece-9d99-%012zx", i);
          json_array_append_new (
            policies, json_pack ("{s:s, s:i, s:O}", "id", id, "revision", 1, "document", pol));
        }
      json_t *doc = json_pack ("{s:s, s:s, s:I, s:o, s:[], s:o}", "schema", BW_BUNDLE_SCHEMA, "org",
                               ORG, "version", (json_int_t) 7, "policies", policies, "catalog",
                               "settings", json_loads (SETTINGS, 0, NULL));
      char *text = json_dumps (doc, JSON_COMPACT | JSON_SORT_KEYS);
      char why[64] = "";
      struct bw_bundle *b = parse (text, why);
      if (BW_POLICIES_PER_ORG_MAX == count)
        {
          ck_assert_msg (NULL != b, "%s", why);
          ck_assert_uint_eq (b->n, count);
          ck_assert_ptr_nonnull (b->refs[count - 1].policy);
        }
      else
        {
          ck_assert_ptr_null (b);
          ck_assert_str_eq (why, "too many policies");
        }
      bw_bundle_free (b);
      free (text);
      json_decref (doc);
      json_decref (pol);
    }
}
END_TEST

/* The bundle's approved catalog slice (lib/catalog.h) is parsed with it and
   decides MCP requests; a malformed slice refuses the whole bundle. */
#define CAT_DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CAT_SHA "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define CAT_ENTRY(name)                                                                           \
  "{\"id\":\"" PID2 "\",\"identity\":{\"image\":\"ghcr.io/o/n\",\"image_digest\":\"" CAT_DIGEST \
  "\"},\"inputs\":[],\"kind\":\"image\",\"name\":\"" name "\",\"tools\":[{\"annotations\":{\"" \
  "readOnlyHint\":true},\"description_sha256\":\"" CAT_SHA "\",\"name\":\"get\"}],"              \
  "\"version\":\"1.0.0\"}"
#define POLICY_MCP                                                                             \
  "{\"mcp\":[{\"actions\":[\"invoke_tool\"],\"decision\":\"allow\",\"id\":\"ro\",\"server\":" \
  "\"*\",\"when\":{\"read_only\":true}}],\"mode\":\"enforce\",\"name\":\"t\",\"schema\":"    \
  "\"bulwark.policy/v1\",\"scope\":{\"org_wide\":true}}"
#define CAT_BUNDLE(catalog)                                                                     \
  "{\"catalog\":" catalog ",\"org\":\"" ORG "\",\"policies\":[{\"document\":" POLICY_MCP         \
  ",\"id\":\"" PID1 "\",\"revision\":1}],\"schema\":\"bulwark.bundle/v1\",\"settings\":" SETTINGS \
  ",\"version\":3}"

START_TEST (test_bundle_catalog)
{
  char why[96] = "x";
  struct bw_bundle *b = parse (CAT_BUNDLE ("[" CAT_ENTRY ("io.example/srv") "]"), why);
  ck_assert_msg (NULL != b, "%s", why);
  ck_assert_ptr_nonnull (b->catalog);
  ck_assert_uint_eq (bw_catalog_size (b->catalog), 1);

  const char *const reqs[] = {
    "{\"surface\":\"mcp\",\"action\":\"invoke_tool\",\"resource\":{\"server\":\"io.example/srv\","
    "\"tool\":\"get\",\"identity\":{\"image_digest\":\"" CAT_DIGEST "\"},\"description_sha256\":\""
    CAT_SHA "\"}}",
    "{\"surface\":\"mcp\",\"action\":\"invoke_tool\",\"resource\":{\"server\":\"io.example/srv\","
    "\"tool\":\"get\",\"identity\":{\"image_digest\":\"sha256:" CAT_SHA "\"},"
    "\"description_sha256\":\"" CAT_SHA "\"}}",
    "{\"surface\":\"mcp\",\"action\":\"invoke_tool\",\"resource\":{\"server\":\"io.example/other\","
    "\"tool\":\"get\",\"identity\":{\"image_digest\":\"" CAT_DIGEST "\"},\"description_sha256\":\""
    CAT_SHA "\"}}",
  };
  const enum bw_catalog_check checks[]
    = { BW_CATALOG_APPROVED, BW_CATALOG_IDENTITY_MISMATCH, BW_CATALOG_NOT_APPROVED };
  for (size_t i = 0; i < sizeof (reqs) / sizeof (reqs[0]); i++)
    {
      json_t *errors = json_array ();
      json_t *rq = json_loads (reqs[i], 0, NULL);
      struct bw_decision_request *req = bw_decision_request_parse (rq, "", errors);
      struct bw_decision_result r;
      ck_assert_ptr_nonnull (req);
      bw_evaluate (b->refs, b->n, b->catalog, 1767225600, req, &r);
      ck_assert_int_eq (r.catalog, checks[i]);
      ck_assert_int_eq (r.decision, 0 == i ? BW_DECISION_ALLOW : BW_DECISION_DENY);
      ck_assert_int_eq (r.reason, 0 == i ? BW_REASON_RULE : BW_REASON_CATALOG);
      bw_decision_request_free (req);
      json_decref (rq);
      json_decref (errors);
    }
  bw_bundle_free (b);

  /* empty: a catalog all the same, every MCP server unapproved */
  b = parse (CAT_BUNDLE ("[]"), why);
  ck_assert_msg (NULL != b, "%s", why);
  ck_assert_ptr_nonnull (b->catalog);
  ck_assert_uint_eq (bw_catalog_size (b->catalog), 0);
  bw_bundle_free (b);

  /* malformed slices refuse the bundle */
  const char *const bad[] = {
    CAT_BUNDLE ("[{}]"),
    CAT_BUNDLE ("[5]"),
    CAT_BUNDLE ("[" CAT_ENTRY ("io.example/b") "," CAT_ENTRY ("io.example/a") "]"),
    CAT_BUNDLE ("[" CAT_ENTRY ("srv") "]"),
  };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      b = parse (bad[i], why);
      ck_assert_msg (NULL == b, "accepted %s", bad[i]);
      ck_assert_msg (0 == strncmp (why, "catalog entry ", 14), "%s: %s", bad[i], why);
    }
}
END_TEST

START_TEST (test_bundle_refusals)
{
#define B(schema, org, version, policies, catalog, settings, extra)                       \
  "{\"catalog\":" catalog ",\"org\":" org ",\"policies\":" policies ",\"schema\":" schema \
  ",\"settings\":" settings ",\"version\":" version extra "}"
#define S "\"bulwark.bundle/v1\""
#define O "\"" ORG "\""
#define P "[{\"document\":" POLICY_OK ",\"id\":\"" PID1 "\",\"revision\":1}]"
  const struct
  {
    const char *text;
    const char *why;
  } cases[] = {
    { B ("\"bulwark.bundle/v2\"", O, "1", P, "[]", SETTINGS, ""), "unknown schema" },
    { B ("1", O, "1", P, "[]", SETTINGS, ""), "unknown schema" },
    { B (S, O, "1", P, "[]", SETTINGS, ",\"extra\":1"), "malformed bundle" },
    { B (S, O, "1", P, "[]", SETTINGS, ",\"version\":2"), "invalid JSON" },
    { B (S, "\"acme\"", "1", P, "[]", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "\"1\"", P, "[]", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "-1", P, "[]", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "0", P, "[]", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "1.5", P, "[]", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "18446744073709551616", P, "[]", SETTINGS, ""), "invalid JSON" },
    { B (S, O, "1", "{}", "[]", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "1", P, "{}", SETTINGS, ""), "malformed bundle" },
    { B (S, O, "1", P, "[]", "[]", ""), "malformed settings" },
    { B (S, O, "1", P, "[]",
         "{\"checkin_interval_s\":60,\"checkin_jitter_s\":10,\"events_batch_max\":1001,"
         "\"stale_limit_s\":1}",
         ""),
      "malformed settings" },
    { B (S, O, "1", P, "[]",
         "{\"checkin_interval_s\":0,\"checkin_jitter_s\":10,\"events_batch_max\":1,"
         "\"stale_limit_s\":1}",
         ""),
      "malformed settings" },
    { B (S, O, "1", P, "[]",
         "{\"checkin_interval_s\":4294967296,\"checkin_jitter_s\":10,\"events_batch_max\":1,"
         "\"stale_limit_s\":1}",
         ""),
      "malformed settings" },
    { B (S, O, "1", P, "[]",
         "{\"checkin_interval_s\":60,\"checkin_jitter_s\":10,\"events_batch_max\":1}", ""),
      "malformed settings" },
    { B (S, O, "1", P, "[]",
         "{\"checkin_interval_s\":60,\"checkin_jitter_s\":10,\"events_batch_max\":1,"
         "\"stale_limit_s\":1,\"x\":1}",
         ""),
      "malformed settings" },
    { B (S, O, "1", "[{\"document\":" POLICY_OK ",\"id\":\"" PID1 "\",\"revision\":0}]", "[]",
         SETTINGS, ""),
      "malformed policy entry" },
    { B (S, O, "1", "[{\"document\":" POLICY_OK ",\"id\":\"p1\",\"revision\":1}]", "[]", SETTINGS,
         ""),
      "malformed policy entry" },
    { B (S, O, "1", "[{\"document\":[],\"id\":\"" PID1 "\",\"revision\":1}]", "[]", SETTINGS, ""),
      "malformed policy entry" },
    { B (S, O, "1", "[{\"document\":" POLICY_OK ",\"id\":\"" PID1 "\",\"revision\":1,\"x\":true}]",
         "[]", SETTINGS, ""),
      "malformed policy entry" },
    { B (S, O, "1", "[" P "]", "[]", SETTINGS, ""), "malformed policy entry" },
    { B (S, O, "1",
         "[{\"document\":" POLICY_OK ",\"id\":\"" PID1 "\",\"revision\":1},"
         "{\"document\":" POLICY_OK ",\"id\":\"" PID1 "\",\"revision\":2}]",
         "[]", SETTINGS, ""),
      "duplicate policy id" },
    { "[]", "not a JSON object" },
    { "", "invalid JSON" },
    { "{\"schema\":\"bulwark.bundle/v1\"} x", "invalid JSON" },
  };
#undef B
#undef S
#undef O
#undef P
  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      char why[64] = "";
      struct bw_bundle *b = parse (cases[i].text, why);
      ck_assert_msg (NULL == b, "accepted %s", cases[i].text);
      ck_assert_msg (0 == strcmp (why, cases[i].why), "%s: %s", cases[i].text, why);
    }

  /* larger than BW_BUNDLE_MAX, whatever it holds */
  char *huge = malloc (BW_BUNDLE_MAX + 1);
  memset (huge, ' ', BW_BUNDLE_MAX + 1);
  char why[64];
  ck_assert_ptr_null (bw_bundle_parse (huge, BW_BUNDLE_MAX + 1, why, sizeof (why)));
  ck_assert_str_eq (why, "bundle too large");
  free (huge);
  ck_assert_ptr_null (bw_bundle_parse (NULL, 0, why, sizeof (why)));
  ck_assert_ptr_null (bw_bundle_parse ("{}", 2, NULL, 0)); /* why is optional */
}
END_TEST

static Suite *
bundle_protocol_suite (void)
{
  Suite *s = suite_create ("bundle_protocol");
  TCase *tc = tcase_create ("keys");
  tcase_add_checked_fixture (tc, keys_setup, keys_teardown);
  tcase_add_test (tc, test_key_der_roundtrip);
  tcase_add_test (tc, test_key_not_p256_refused);
  tcase_add_test (tc, test_key_spki_roundtrip_and_kid);
  tcase_add_test (tc, test_key_jwk_roundtrip);
  tcase_add_test (tc, test_key_rfc7515_jwk);
  tcase_add_test (tc, test_b64url_decode_strict);
  suite_add_tcase (s, tc);

  tc = tcase_create ("jws");
  tcase_add_checked_fixture (tc, keys_setup, keys_teardown);
  tcase_add_test (tc, test_jws_roundtrip);
  tcase_add_test (tc, test_jws_error_names);
  tcase_add_test (tc, test_jws_altered_payload);
  tcase_add_test (tc, test_jws_altered_signature);
  tcase_add_test (tc, test_jws_noncanonical_signature);
  tcase_add_test (tc, test_jws_alg_none);
  tcase_add_test (tc, test_jws_alg_hs256);
  tcase_add_test (tc, test_jws_kid);
  tcase_add_test (tc, test_jws_typ);
  tcase_add_test (tc, test_jws_header_strict);
  tcase_add_test (tc, test_jws_malformed);
  tcase_add_test (tc, test_jws_json);
  suite_add_tcase (s, tc);

  tc = tcase_create ("keyset");
  tcase_add_checked_fixture (tc, keys_setup, keys_teardown);
  tcase_add_test (tc, test_keyset_trust_first);
  tcase_add_test (tc, test_keyset_self_signature_missing);
  tcase_add_test (tc, test_keyset_advance);
  tcase_add_test (tc, test_keyset_advance_refusals);
  tcase_add_test (tc, test_keyset_malformed_payloads);
  suite_add_tcase (s, tc);

  tc = tcase_create ("head");
  tcase_add_checked_fixture (tc, head_setup, head_teardown);
  tcase_add_test (tc, test_head_roundtrip);
  tcase_add_test (tc, test_head_bad_jws);
  tcase_add_test (tc, test_head_bad_claims);
  tcase_add_test (tc, test_head_checks);
  tcase_add_test (tc, test_head_order);
  tcase_add_test (tc, test_head_after_rotation);
  suite_add_tcase (s, tc);

  tc = tcase_create ("bundle");
  tcase_add_test (tc, test_bundle_parse_ok);
  tcase_add_test (tc, test_bundle_policy_limit);
  tcase_add_test (tc, test_bundle_refusals);
  tcase_add_test (tc, test_bundle_catalog);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (bundle_protocol_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return 0 == failed ? EXIT_SUCCESS : EXIT_FAILURE;
}
