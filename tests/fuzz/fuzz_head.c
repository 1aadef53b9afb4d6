/*
 * libFuzzer target over the bundle protocol codec (lib/jws.h,
 * lib/keyset.h, lib/bundle_head.h, lib/bundle.h): everything an agent
 * parses from the network before it trusts it.
 *
 * Each input is used five ways:
 *   1. as a compact JWS, verified as a head (bw_head_verify) against a fixed
 *      keyset (version 1 of org FUZZ_ORG, one head+keyset key);
 *   2. as head claims, signed with that key and verified, to reach the
 *      claims parser and the DESIGN §6 checks behind the signature;
 *   3. as a keyset document (JSON), for bw_keyset_trust_first,
 *      bw_keyset_advance (from the fixed keyset) and bw_keyset_load_verified;
 *   4. as a keyset payload, signed with the fixed key, for the same;
 *   5. as bundle bytes, for bw_bundle_parse.
 * Invariants: whatever is accepted satisfies what acceptance promises
 * (org, subject, expiry, versions, limits); a validly signed head is never
 * refused as a bad JWS; an accepted head re-signs to an accepted head with
 * the same claims; every refusal of a bundle says why.
 *
 * The key is fixed (PKCS#8 below) so that the seed corpus in corpus/head/
 * (a head, keysets, claims, a bundle, all made with it) stays meaningful.
 * Build and run: tests/fuzz/run.sh SECONDS fuzz_head.
 */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/bundle.h"
#include "lib/bundle_head.h"
#include "lib/jws.h"
#include "lib/keyset.h"

#define FUZZ_ORG "0b4ae0c4-4a4e-4a8a-9f55-2d9d2d9d2d9d"
#define FUZZ_SUBJECT "2d6c02e6-6c60-4cac-9b77-4f9f4f9f4f9f"
/** "now" of every verification: 2025-10-09; the seed head expires in 2033. */
#define FUZZ_NOW ((int64_t) 1760000000)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
  do                                                                                     \
    {                                                                                    \
      if (!(cond))                                                                       \
        {                                                                                \
          fprintf (stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
          abort ();                                                                      \
        }                                                                                \
    }                                                                                    \
  while (0)

/* A P-256 private key, PKCS#8 DER, hex.  Test material only. */
static const char fuzz_key_hex[]
  = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420de4c4424587d1325"
    "203346ab59b4f98106144573ea3fd4744e93ca64b88dd988a144034200045c53c8b69c146e7ce6a2ad6bb717"
    "ff7585aebd444967c4fa306db119c04e056e0dd389b79dce31761204d56d0d436058f0fab27de097919df877"
    "3009727db17a";

static struct bw_es256_key *key;
static char kid[BW_KID_LEN + 1];
static struct bw_keyset *keyset;

static void
init (void)
{
  unsigned char der[sizeof (fuzz_key_hex) / 2];
  size_t n = (sizeof (fuzz_key_hex) - 1) / 2;
  for (size_t i = 0; i < n; i++)
    {
      unsigned int b;
      CHECK (1 == sscanf (fuzz_key_hex + 2 * i, "%2x", &b));
      der[i] = (unsigned char) b;
    }
  key = bw_es256_from_private_der (der, n);
  CHECK (NULL != key);
  CHECK (0 == bw_es256_kid (key, kid));
  struct bw_keyset_member m[] = { { key, true, true } };
  json_t *doc = bw_keyset_build (FUZZ_ORG, 1, FUZZ_NOW, m, 1, NULL, 0);
  CHECK (NULL != doc);
  CHECK (BW_KEYSET_OK == bw_keyset_trust_first (doc, FUZZ_ORG, &keyset));
  json_decref (doc);
}

/* What an accepted head promises. */
static void
check_accepted (const struct bw_head_claims *c, const struct bw_head_expect *e)
{
  CHECK (0 == strcmp (c->sub, e->org_id));
  CHECK (0 == strcmp (c->aud, e->subject_id));
  CHECK (c->exp > e->now);
  CHECK (c->keyset_version == bw_keyset_version (keyset));
  CHECK (strlen (c->sha256) == BW_SHA256_HEX_LEN);
  CHECK (strlen (c->iss) > 0 && strlen (c->iss) <= BW_HEAD_ISS_MAX);
  if (e->have_last)
    {
      CHECK (c->head_serial >= e->last_head_serial);
      CHECK (c->bundle_version >= e->last_bundle_version);
      if (c->bundle_version == e->last_bundle_version)
        CHECK (0 == strcmp (c->sha256, e->last_sha256));
      if (c->head_serial == e->last_head_serial)
        CHECK (c->bundle_version == e->last_bundle_version);
    }
}

static enum bw_head_error
verify (const char *jws, const struct bw_head_expect *e, struct bw_head_claims *c)
{
  enum bw_jws_error je = BW_JWS_OK;
  enum bw_head_error rc = bw_head_verify (jws, keyset, e, c, &je);
  CHECK ((BW_HEAD_BAD_JWS == rc) == (BW_JWS_OK != je));
  CHECK (NULL != bw_head_error_name (rc) && NULL != bw_jws_error_name (je));
  if (BW_HEAD_OK == rc)
    check_accepted (c, e);
  return rc;
}

static void
fuzz_heads (const uint8_t *data, size_t size, const char *text)
{
  /* the last accepted head, from the input's first bytes */
  struct bw_head_expect e = { FUZZ_ORG, FUZZ_SUBJECT, FUZZ_NOW, false, 0, 0, NULL };
  if (size > 0 && (data[0] & 1))
    {
      e.have_last = true;
      e.last_bundle_version = size > 1 ? data[1] : 0;
      e.last_head_serial = size > 2 ? data[2] : 0;
      e.last_sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    }
  struct bw_head_claims c;
  verify (text, &e, &c);

  /* behind a valid signature */
  char *jws = bw_jws_sign_compact (key, kid, BW_HEAD_TYP, data, size);
  if (NULL == jws)
    {
      CHECK (0 == size || size > BW_JWS_MAX / 2);
      return;
    }
  enum bw_head_error rc = verify (jws, &e, &c);
  CHECK (BW_HEAD_BAD_JWS != rc);
  free (jws);
  if (BW_HEAD_OK != rc)
    return;
  /* an accepted head re-signs to the same claims */
  struct bw_head_claims again;
  jws = bw_head_sign (&c, key, kid);
  CHECK (NULL != jws);
  CHECK (BW_HEAD_OK == verify (jws, &e, &again));
  CHECK (0 == strcmp (c.iss, again.iss) && 0 == strcmp (c.sha256, again.sha256));
  CHECK (c.bundle_version == again.bundle_version && c.head_serial == again.head_serial);
  CHECK (c.length == again.length && c.iat == again.iat && c.exp == again.exp);
  free (jws);
}

static void
fuzz_keyset_doc (const json_t *doc, bool signed_by_us)
{
  struct bw_keyset *ks = NULL;
  enum bw_keyset_error rc = bw_keyset_trust_first (doc, FUZZ_ORG, &ks);
  CHECK ((BW_KEYSET_OK == rc) == (NULL != ks));
  CHECK (NULL != bw_keyset_error_name (rc));
  if (NULL != ks)
    {
      CHECK (0 == strcmp (bw_keyset_org (ks), FUZZ_ORG));
      CHECK (bw_keyset_version (ks) >= 1);
      if (signed_by_us) /* our key alone signed: it must be a keyset-role key of it */
        CHECK (NULL != bw_keyset_key (ks, kid, BW_KEY_ROLE_KEYSET));
      bw_keyset_free (ks);
    }
  ks = NULL;
  rc = bw_keyset_advance (keyset, doc, &ks);
  CHECK ((BW_KEYSET_OK == rc) == (NULL != ks));
  if (NULL != ks)
    {
      CHECK (0 == strcmp (bw_keyset_org (ks), FUZZ_ORG));
      CHECK (2 == bw_keyset_version (ks));
      bw_keyset_free (ks);
    }
  ks = bw_keyset_load_verified (doc);
  if (NULL != ks)
    CHECK (bw_keyset_version (ks) >= 1);
  bw_keyset_free (ks);
}

static void
fuzz_keysets (const uint8_t *data, size_t size)
{
  json_t *doc = json_loadb ((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
  if (NULL != doc)
    fuzz_keyset_doc (doc, false);
  json_decref (doc);

  const struct bw_es256_key *keys[] = { key };
  const char *kids[] = { kid };
  doc = bw_jws_sign_json (keys, kids, 1, BW_KEYSET_TYP, data, size);
  if (NULL != doc)
    fuzz_keyset_doc (doc, true);
  json_decref (doc);
}

static void
fuzz_bundle (const uint8_t *data, size_t size)
{
  char why[128] = "unset";
  struct bw_bundle *b = bw_bundle_parse (data, size, why, sizeof (why));
  if (NULL == b)
    {
      CHECK ('\0' != why[0] && 0 != strcmp (why, "unset"));
      return;
    }
  CHECK (b->n <= BW_POLICIES_PER_ORG_MAX);
  CHECK (b->version >= 1);
  CHECK (strlen (b->org) == 36);
  CHECK (b->settings.events_batch_max >= 1 && b->settings.events_batch_max <= 1000);
  for (size_t i = 0; i < b->n; i++)
    {
      CHECK (NULL != b->refs[i].policy_id && b->refs[i].revision >= 1);
      for (size_t j = 0; j < i; j++)
        CHECK (0 != strcmp (b->refs[i].policy_id, b->refs[j].policy_id));
    }
  bw_bundle_free (b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (NULL == key)
    init ();
  char *text = malloc (size + 1);
  if (NULL == text)
    return 0;
  memcpy (text, data, size);
  text[size] = '\0';

  fuzz_heads (data, size, text);
  fuzz_keysets (data, size);
  fuzz_bundle (data, size);
  free (text);
  return 0;
}
