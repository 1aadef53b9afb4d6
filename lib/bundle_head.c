/*
 * The signed bundle head (DESIGN §6, lib/bundle_head.h).
 *
 * Claims are parsed strictly: a JSON object (duplicate keys refused) with
 * exactly the ten members of struct bw_head_claims; iss a non-empty
 * string of at most BW_HEAD_ISS_MAX bytes; sub and aud canonical uuids;
 * sha256 64 lowercase hex characters; every number a JSON integer >= 0
 * (jansson refuses integers beyond int64 at parse time, so each fits both
 * uint64 and int64); iat <= exp.
 */
#include "config.h"
#include "lib/bundle_head.h"
#include "lib/canonical_json.h"
#include "lib/crypto.h"
#include "lib/ident.h"

#include <stdlib.h>
#include <string.h>

const char *
bw_head_error_name (enum bw_head_error e)
{
  switch (e)
    {
    case BW_HEAD_OK:
      return "ok";
    case BW_HEAD_BAD_JWS:
      return "bad_jws";
    case BW_HEAD_BAD_CLAIMS:
      return "bad_claims";
    case BW_HEAD_WRONG_ORG:
      return "wrong_org";
    case BW_HEAD_WRONG_SUBJECT:
      return "wrong_subject";
    case BW_HEAD_EXPIRED:
      return "expired";
    case BW_HEAD_WRONG_KEYSET:
      return "wrong_keyset";
    case BW_HEAD_LOWER_SERIAL:
      return "lower_serial";
    case BW_HEAD_LOWER_VERSION:
      return "lower_version";
    case BW_HEAD_VERSION_CONFLICT:
      return "version_conflict";
    }
  return "unknown";
}

/* Whether claims @a c are well-formed (what bw_head_sign writes and bw_head_verify accepts). */
static bool
claims_valid (const struct bw_head_claims *c)
{
  size_t iss_len = strnlen (c->iss, sizeof (c->iss));
  return iss_len > 0 && iss_len <= BW_HEAD_ISS_MAX && bw_uuid_valid (c->sub)
         && bw_uuid_valid (c->aud) && bw_sha256_hex_valid (c->sha256) && c->bundle_version <= INT64_MAX
         && c->head_serial <= INT64_MAX && c->length <= INT64_MAX && c->keyset_version <= INT64_MAX
         && c->iat >= 0 && c->exp >= c->iat;
}

char *
bw_head_sign (const struct bw_head_claims *claims, const struct bw_es256_key *key, const char *kid)
{
  if (NULL == claims || NULL == key || NULL == kid || !claims_valid (claims))
    return NULL;
  json_t *c = json_pack (
    "{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:I}", "iss", claims->iss, "sub", claims->sub,
    "aud", claims->aud, "bundle_version", (json_int_t) claims->bundle_version, "head_serial",
    (json_int_t) claims->head_serial, "sha256", claims->sha256, "length",
    (json_int_t) claims->length, "iat", (json_int_t) claims->iat, "exp", (json_int_t) claims->exp,
    "keyset_version", (json_int_t) claims->keyset_version);
  if (NULL == c)
    return NULL;
  char *bytes = bw_json_canonical (c);
  json_decref (c);
  if (NULL == bytes)
    return NULL;
  char *jws = bw_jws_sign_compact (key, kid, BW_HEAD_TYP, bytes, strlen (bytes));
  free (bytes);
  return jws;
}

/* Copy string member @a name of @a o into @a out (@a size bytes).  @return 0 or -1. */
static int
get_string (const json_t *o, const char *name, char *out, size_t size)
{
  const json_t *v = json_object_get (o, name);
  if (!json_is_string (v) || json_string_length (v) >= size)
    return -1;
  memcpy (out, json_string_value (v), json_string_length (v) + 1);
  return 0;
}

/* Integer member @a name of @a o, >= 0.  @return 0 or -1. */
static int
get_count (const json_t *o, const char *name, uint64_t *out)
{
  const json_t *v = json_object_get (o, name);
  if (!json_is_integer (v) || json_integer_value (v) < 0)
    return -1;
  *out = (uint64_t) json_integer_value (v);
  return 0;
}

/* Claims from payload bytes.  @return 0, or -1 if they are not exactly the claims object. */
static int
parse_claims (const char *payload, size_t len, struct bw_head_claims *c)
{
  json_t *o = json_loadb (payload, len, JSON_REJECT_DUPLICATES, NULL);
  uint64_t iat = 0, exp = 0;
  int rc = -1;

  memset (c, 0, sizeof (*c));
  if (!json_is_object (o) || 10 != json_object_size (o))
    goto cleanup;
  if (0 != get_string (o, "iss", c->iss, sizeof (c->iss))
      || 0 != get_string (o, "sub", c->sub, sizeof (c->sub))
      || 0 != get_string (o, "aud", c->aud, sizeof (c->aud))
      || 0 != get_string (o, "sha256", c->sha256, sizeof (c->sha256))
      || 0 != get_count (o, "bundle_version", &c->bundle_version)
      || 0 != get_count (o, "head_serial", &c->head_serial)
      || 0 != get_count (o, "length", &c->length) || 0 != get_count (o, "iat", &iat)
      || 0 != get_count (o, "exp", &exp)
      || 0 != get_count (o, "keyset_version", &c->keyset_version))
    goto cleanup;
  c->iat = (int64_t) iat; /* both came from a non-negative json_int_t */
  c->exp = (int64_t) exp;
  if (claims_valid (c))
    rc = 0;
cleanup:
  json_decref (o);
  if (0 != rc)
    memset (c, 0, sizeof (*c));
  return rc;
}

static const struct bw_es256_key *
head_key (void *cls, const char *kid)
{
  return bw_keyset_key (cls, kid, BW_KEY_ROLE_HEAD);
}

enum bw_head_error
bw_head_verify (const char *jws, const struct bw_keyset *ks, const struct bw_head_expect *expect,
                struct bw_head_claims *out, enum bw_jws_error *jws_error)
{
  struct bw_head_claims c;
  char *payload = NULL;
  size_t len = 0;
  enum bw_head_error rc;

  if (NULL != jws_error)
    *jws_error = BW_JWS_OK;
  if (NULL == ks || NULL == expect || NULL == expect->org_id || NULL == expect->subject_id
      || (expect->have_last && NULL == expect->last_sha256))
    {
      if (NULL != jws_error)
        *jws_error = BW_JWS_MALFORMED;
      return BW_HEAD_BAD_JWS;
    }
  /* the keyset pins the algorithm: ES256 keys of role "head" only */
  enum bw_jws_error je
    = bw_jws_verify_compact (jws, BW_HEAD_TYP, head_key, (void *) ks, &payload, &len, NULL);
  if (BW_JWS_OK != je)
    {
      if (NULL != jws_error)
        *jws_error = je;
      return BW_HEAD_BAD_JWS;
    }
  if (0 != parse_claims (payload, len, &c))
    rc = BW_HEAD_BAD_CLAIMS;
  else if (0 != strcmp (c.sub, expect->org_id))
    rc = BW_HEAD_WRONG_ORG;
  else if (0 != strcmp (c.aud, expect->subject_id))
    rc = BW_HEAD_WRONG_SUBJECT;
  else if (c.exp <= expect->now)
    rc = BW_HEAD_EXPIRED;
  else if (c.keyset_version != bw_keyset_version (ks))
    rc = BW_HEAD_WRONG_KEYSET;
  else if (expect->have_last && c.head_serial < expect->last_head_serial)
    rc = BW_HEAD_LOWER_SERIAL;
  else if (expect->have_last && c.bundle_version < expect->last_bundle_version)
    rc = BW_HEAD_LOWER_VERSION;
  else if (expect->have_last && c.bundle_version == expect->last_bundle_version
           && 0 != strcmp (c.sha256, expect->last_sha256))
    rc = BW_HEAD_VERSION_CONFLICT;
  else if (expect->have_last && c.head_serial == expect->last_head_serial
           && c.bundle_version != expect->last_bundle_version)
    rc = BW_HEAD_VERSION_CONFLICT; /* one serial, two contents */
  else
    rc = BW_HEAD_OK;
  free (payload);
  if (BW_HEAD_OK == rc && NULL != out)
    *out = c;
  return rc;
}
