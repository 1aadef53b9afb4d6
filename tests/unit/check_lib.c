/*
 * Unit tests of lib/: crypto (FIPS 180-4 SHA-256 vectors, hex, RFC 4648
 * base64url vectors, random, constant-time comparison), ident (slug and
 * uuid tables with look-alikes), canonical JSON.
 */
#include "config.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/canonical_json.h"
#include "lib/crypto.h"
#include "lib/ident.h"

#define ARRAY_LEN(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- crypto ---- */

/* FIPS 180-4 / NIST CSRC example vectors. */
static const struct
{
  const char *in;
  const char *hex;
} sha256_vectors[] = {
  { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
  { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
  { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

START_TEST (test_sha256_vectors)
{
  char hex[BW_SHA256_HEX_LEN + 1];
  unsigned char raw[BW_SHA256_LEN];
  char rawhex[BW_SHA256_HEX_LEN + 1];

  bw_sha256_hex (sha256_vectors[_i].in, strlen (sha256_vectors[_i].in), hex);
  ck_assert_str_eq (hex, sha256_vectors[_i].hex);
  /* the raw digest, hexed, is the same */
  bw_sha256 (sha256_vectors[_i].in, strlen (sha256_vectors[_i].in), raw);
  bw_hex (raw, sizeof (raw), rawhex);
  ck_assert_str_eq (rawhex, sha256_vectors[_i].hex);
}
END_TEST

START_TEST (test_sha256_million_a)
{
  size_t n = 1000000;
  char *a = malloc (n);
  char hex[BW_SHA256_HEX_LEN + 1];

  ck_assert_ptr_nonnull (a);
  memset (a, 'a', n);
  bw_sha256_hex (a, n, hex);
  ck_assert_str_eq (hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free (a);
}
END_TEST

START_TEST (test_hex)
{
  const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
  char out[2 * sizeof (in) + 1];
  char empty[1] = { 'x' };

  bw_hex (in, sizeof (in), out);
  ck_assert_str_eq (out, "00017f80abff");
  bw_hex (in, 0, empty);
  ck_assert_str_eq (empty, "");
}
END_TEST

/* RFC 4648 §10 test vectors, without the padding §5 lets base64url drop. */
static const struct
{
  const char *in;
  const char *out;
} b64url_vectors[] = {
  { "", "" },
  { "f", "Zg" },
  { "fo", "Zm8" },
  { "foo", "Zm9v" },
  { "foob", "Zm9vYg" },
  { "fooba", "Zm9vYmE" },
  { "foobar", "Zm9vYmFy" },
};

START_TEST (test_b64url_vectors)
{
  char out[16];
  size_t n = bw_b64url_encode ((const unsigned char *) b64url_vectors[_i].in,
                               strlen (b64url_vectors[_i].in), out);

  ck_assert_str_eq (out, b64url_vectors[_i].out);
  ck_assert_uint_eq (n, strlen (b64url_vectors[_i].out));
}
END_TEST

/* The two characters where base64url differs from base64 (RFC 4648 §5). */
START_TEST (test_b64url_alphabet)
{
  const unsigned char in[] = { 0xfb, 0xff, 0xbf }; /* base64 "+/+/" */
  const unsigned char zeros[] = { 0x00, 0x00, 0x00 };
  unsigned char all[48];
  char out[4 * 16 + 1];

  bw_b64url_encode (in, sizeof (in), out);
  ck_assert_str_eq (out, "-_-_");
  bw_b64url_encode (zeros, sizeof (zeros), out);
  ck_assert_str_eq (out, "AAAA");
  /* every 6-bit value once, in order: the whole alphabet */
  for (size_t i = 0; i < sizeof (all); i += 3)
    {
      unsigned int v = (unsigned int) (i / 3 * 4);
      unsigned int w = (v << 18) | ((v + 1) << 12) | ((v + 2) << 6) | (v + 3);

      all[i] = (unsigned char) (w >> 16);
      all[i + 1] = (unsigned char) (w >> 8);
      all[i + 2] = (unsigned char) w;
    }
  ck_assert_uint_eq (bw_b64url_encode (all, sizeof (all), out), 64);
  ck_assert_str_eq (out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
}
END_TEST

/* A token secret's shape: 32 random bytes are 43 characters. */
START_TEST (test_b64url_32_bytes)
{
  unsigned char raw[32];
  char out[4 * 11 + 1];

  memset (raw, 0xff, sizeof (raw));
  ck_assert_uint_eq (bw_b64url_encode (raw, sizeof (raw), out), 43);
  ck_assert_str_eq (out, "__________________________________________8");
}
END_TEST

START_TEST (test_random)
{
  unsigned char a[32];
  unsigned char b[32];
  unsigned char zero[32] = { 0 };

  ck_assert_int_eq (bw_random (a, sizeof (a)), 0);
  ck_assert_int_eq (bw_random (b, sizeof (b)), 0);
  ck_assert (0 != memcmp (a, b, sizeof (a)));
  ck_assert (0 != memcmp (a, zero, sizeof (a)));
  ck_assert_int_eq (bw_random (a, 0), 0);
}
END_TEST

START_TEST (test_consttime_eq)
{
  const char x[] = "0123456789abcdef0123456789abcdef";
  char y[sizeof (x)];

  memcpy (y, x, sizeof (x));
  ck_assert (bw_consttime_eq (x, y, sizeof (x)));
  y[0] ^= 1;
  ck_assert (!bw_consttime_eq (x, y, sizeof (x)));
  y[0] ^= 1;
  y[sizeof (x) - 2] ^= 0x80;
  ck_assert (!bw_consttime_eq (x, y, sizeof (x)));
  /* only @a len bytes count */
  ck_assert (bw_consttime_eq (x, y, sizeof (x) - 2));
  ck_assert (bw_consttime_eq (x, "zzz", 0));
}
END_TEST

/* ---- ident ---- */

/* 63 and 64 characters. */
#define SLUG_63 "a12345678901234567890123456789012345678901234567890123456789012"
#define SLUG_64 SLUG_63 "3"

static const struct
{
  const char *s;
  bool ok;
} slug_table[] = {
  { "ab", true },
  { "acme", true },
  { "a1", true },
  { "a0b", true },
  { "acme-corp", true },
  { "a-b-c-1", true },
  { "z9", true },
  { SLUG_63, true },
  { "", false },
  { "a", false },             /* 1 char */
  { "-", false },
  { "Acme", false },          /* upper case */
  { "acmE", false },
  { "ACME", false },
  { "1acme", false },         /* leading digit */
  { "9-lives", false },
  { "-acme", false },         /* leading '-' */
  { "acme-", false },         /* trailing '-' */
  { "ab-", false },
  { "acme--corp", false },    /* "--" */
  { "a--b", false },
  { "acme_corp", false },
  { "acme.corp", false },
  { "acme corp", false },
  { " acme", false },
  { "acme\n", false },
  { "acm\xc3\xa9", false },   /* "acmé" in UTF-8 */
  { "\xd0\xb0" "cme", false },   /* Cyrillic 'а' look-alike */
  { "acme/x", false },
  { "acme%20", false },
  { SLUG_64, false },         /* 64 chars */
  /* a uuid is never a slug (lib/ident.h), whether it starts with a digit or a letter */
  { "123e4567-e89b-12d3-a456-426614174000", false },
  { "deadbeef-dead-4eef-8ead-beefdeadbeef", false },
  { "a23e4567-e89b-12d3-a456-426614174000", false },
};

START_TEST (test_slug_table)
{
  ck_assert_msg (slug_table[_i].ok == bw_slug_valid (slug_table[_i].s), "slug \"%s\": want %s",
                 slug_table[_i].s, slug_table[_i].ok ? "valid" : "invalid");
}
END_TEST

static const struct
{
  const char *s;
  bool ok;
} uuid_table[] = {
  { "123e4567-e89b-12d3-a456-426614174000", true },
  { "00000000-0000-0000-0000-000000000000", true },
  { "ffffffff-ffff-ffff-ffff-ffffffffffff", true },
  { "018f3c1e-7b2a-7c3d-8e4f-0123456789ab", true },
  { "", false },
  { "123E4567-E89B-12D3-A456-426614174000", false }, /* upper case */
  { "123e4567-e89b-12d3-a456-42661417400A", false }, /* one upper-case digit */
  { "123e4567e89b-12d3-a456-426614174000", false },  /* missing dash */
  { "123e4567e89b12d3a456426614174000", false },     /* no dashes */
  { "123e4567-e89b-12d3-a456-42661417400", false },  /* 35 chars */
  { "123e4567-e89b-12d3-a456-4266141740000", false }, /* 37 chars */
  { "123e4567-e89b-12d3-a456_426614174000", false }, /* '_' for '-' */
  { "123e456-7e89b-12d3-a456-426614174000", false }, /* dash moved */
  { "123e4567-e89b-12d3-a456-42661417400g", false }, /* not hex */
  { "{123e4567-e89b-12d3-a456-426614174000}", false },
  { "urn:uuid:123e4567-e89b-12d3-a456-426614174000", false },
  { " 123e4567-e89b-12d3-a456-42661417400", false },
  { "123e4567-e89b-12d3-a456-426614174000\n", false },
  { "acme", false },
};

START_TEST (test_uuid_table)
{
  ck_assert_msg (uuid_table[_i].ok == bw_uuid_valid (uuid_table[_i].s), "uuid \"%s\": want %s",
                 uuid_table[_i].s, uuid_table[_i].ok ? "valid" : "invalid");
}
END_TEST

START_TEST (test_uuid_canonicalize)
{
  char upper[] = "6F1C3A52-9D0E-4B8A-A7F3-2C5E8D9B1A40";
  char slug[] = "Not-A-Uuid";
  char almost[] = "6F1C3A52-9D0E-4B8A-A7F3-2C5E8D9B1A4G";
  bw_uuid_canonicalize (upper);
  ck_assert_str_eq (upper, "6f1c3a52-9d0e-4b8a-a7f3-2c5e8d9b1a40");
  bw_uuid_canonicalize (slug);
  ck_assert_str_eq (slug, "Not-A-Uuid");
  bw_uuid_canonicalize (almost);
  ck_assert_str_eq (almost, "6F1C3A52-9D0E-4B8A-A7F3-2C5E8D9B1A4G");
}
END_TEST

/* ---- canonical JSON ---- */

/* Parse @a in, canonicalize, compare with @a want (NULL: must be refused). */
static void
canon_eq (const char *in, const char *want)
{
  json_error_t err;
  json_t *v = json_loads (in, JSON_DECODE_ANY, &err);
  char *out;

  ck_assert_msg (NULL != v, "test input %s: %s", in, err.text);
  out = bw_json_canonical (v);
  if (NULL == want)
    ck_assert_msg (NULL == out, "%s: want refusal, got %s", in, out);
  else
    {
      ck_assert_msg (NULL != out, "%s: refused", in);
      ck_assert_str_eq (out, want);
    }
  free (out);
  json_decref (v);
}

START_TEST (test_canonical_sorted_keys)
{
  canon_eq ("{\"b\": 1, \"a\": 2}", "{\"a\":2,\"b\":1}");
  canon_eq ("{\"b\":1,\"aa\":2,\"a\":3,\"B\":4,\"_\":5,\"0\":6}",
            "{\"0\":6,\"B\":4,\"_\":5,\"a\":3,\"aa\":2,\"b\":1}");
  canon_eq ("{}", "{}");
  canon_eq ("[]", "[]");
  /* insertion order does not matter */
  canon_eq ("{\"z\":1,\"y\":2,\"x\":3}", "{\"x\":3,\"y\":2,\"z\":1}");
}
END_TEST

START_TEST (test_canonical_nested)
{
  canon_eq ("{ \"z\" : { \"y\" : [ 3, 1, { \"b\" : true, \"a\" : null } ], \"x\" : \"s\" },\n"
            "  \"a\" : [ ] }",
            "{\"a\":[],\"z\":{\"x\":\"s\",\"y\":[3,1,{\"a\":null,\"b\":true}]}}");
  /* arrays keep their order */
  canon_eq ("[3,2,1]", "[3,2,1]");
  /* integers exactly, including ones a double cannot hold */
  canon_eq ("{\"n\":-5,\"m\":0,\"big\":9007199254740993}",
            "{\"big\":9007199254740993,\"m\":0,\"n\":-5}");
  /* a bare scalar */
  canon_eq ("\"x\"", "\"x\"");
}
END_TEST

START_TEST (test_canonical_strings)
{
  /* UTF-8 stays UTF-8, whether it arrived raw or escaped */
  canon_eq ("{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", "{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80\"}");
  canon_eq ("{\"k\":\"\\u00e9\\ud83d\\ude00\"}", "{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80\"}");
  canon_eq ("{\"\xc3\xa9\":1,\"e\":2}", "{\"e\":2,\"\xc3\xa9\":1}");
  /* the escapes JSON requires, and '/' left alone */
  canon_eq ("[\"a\\\"b\\\\c\\nd/e\"]", "[\"a\\\"b\\\\c\\nd/e\"]");
}
END_TEST

START_TEST (test_canonical_refuses_reals)
{
  char hex[65];
  json_t *v;

  canon_eq ("1.5", NULL);
  canon_eq ("{\"a\":1,\"b\":{\"c\":[1,2.0]}}", NULL);
  canon_eq ("[1e3]", NULL);
  v = json_pack ("{s:f}", "x", 0.25);
  ck_assert_int_eq (bw_json_digest (v, hex), -1);
  json_decref (v);
}
END_TEST

START_TEST (test_canonical_digest)
{
  char hex[65];
  json_t *v = json_pack ("{s:[i,{s:b,s:n}],s:s}", "a", 1, "c", 1, "b", "z", "\xc3\xa9");

  /* sha256sum of the canonical bytes {"a":[1,{"b":null,"c":true}],"z":"é"} */
  ck_assert_int_eq (bw_json_digest (v, hex), 0);
  ck_assert_str_eq (hex, "4721a353a50cf4b0414dec3787956f5c735ce328ebfd23ca4480052adae4e2ac");
  json_decref (v);
  v = json_pack ("{s:i}", "a", 1);
  ck_assert_int_eq (bw_json_digest (v, hex), 0);
  ck_assert_str_eq (hex, "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862");
  json_decref (v);
}
END_TEST

static Suite *
lib_suite (void)
{
  Suite *s = suite_create ("lib");
  TCase *tc = tcase_create ("crypto");

  tcase_add_loop_test (tc, test_sha256_vectors, 0, (int) ARRAY_LEN (sha256_vectors));
  tcase_add_test (tc, test_sha256_million_a);
  tcase_add_test (tc, test_hex);
  tcase_add_loop_test (tc, test_b64url_vectors, 0, (int) ARRAY_LEN (b64url_vectors));
  tcase_add_test (tc, test_b64url_alphabet);
  tcase_add_test (tc, test_b64url_32_bytes);
  tcase_add_test (tc, test_random);
  tcase_add_test (tc, test_consttime_eq);
  suite_add_tcase (s, tc);

  tc = tcase_create ("ident");
  tcase_add_loop_test (tc, test_slug_table, 0, (int) ARRAY_LEN (slug_table));
  tcase_add_loop_test (tc, test_uuid_table, 0, (int) ARRAY_LEN (uuid_table));
  tcase_add_test (tc, test_uuid_canonicalize);
  suite_add_tcase (s, tc);

  tc = tcase_create ("canonical_json");
  tcase_add_test (tc, test_canonical_sorted_keys);
  tcase_add_test (tc, test_canonical_nested);
  tcase_add_test (tc, test_canonical_strings);
  tcase_add_test (tc, test_canonical_refuses_reals);
  tcase_add_test (tc, test_canonical_digest);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (lib_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return 0 == failed ? EXIT_SUCCESS : EXIT_FAILURE;
}
