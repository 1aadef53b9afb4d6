/*
 * The org keyset (DESIGN §6, lib/keyset.h): parsing its payload strictly,
 * the trust-on-first-use and N -> N+1 rules (TUF root rotation), and
 * building signed keysets for the server.
 *
 * Payload rules: a JSON object with exactly org (canonical uuid),
 * version (integer >= 0; 0 is then refused as BW_KEYSET_WRONG_VERSION),
 * iat (integer >= 0) and keys; keys has 1..BW_KEYSET_KEYS_MAX members, each
 * named by the kid of its jwk (checked) and holding exactly alg ("ES256"),
 * roles (a non-empty array of distinct known roles) and jwk; at least one
 * key holds role "keyset".  Duplicate JSON keys are refused.
 */
#include "config.h"
#include "lib/keyset.h"

#include <stdlib.h>
#include <string.h>
#include "lib/canonical_json.h"
#include "lib/ident.h"

struct keyset_key
{
  char kid[BW_KID_LEN + 1];
  struct bw_es256_key *key;
  bool head;
  bool keyset;
};

struct bw_keyset
{
  char org[37];
  uint64_t version;
  int64_t iat;
  size_t n;
  struct keyset_key keys[BW_KEYSET_KEYS_MAX];
};

const char *
bw_keyset_error_name (enum bw_keyset_error e)
{
  switch (e)
    {
    case BW_KEYSET_OK:
      return "ok";
    case BW_KEYSET_MALFORMED:
      return "malformed";
    case BW_KEYSET_BAD_SIGNATURE:
      return "bad_signature";
    case BW_KEYSET_WRONG_ORG:
      return "wrong_org";
    case BW_KEYSET_WRONG_VERSION:
      return "wrong_version";
    }
  return "unknown";
}

void
bw_keyset_free (struct bw_keyset *ks)
{
  if (NULL == ks)
    return;
  for (size_t i = 0; i < ks->n; i++)
    bw_es256_free (ks->keys[i].key);
  free (ks);
}

/* The roles array of one key.  @return 0, or -1 if malformed. */
static int
parse_roles (const json_t *roles, struct keyset_key *k)
{
  size_t i;
  const json_t *r;
  if (!json_is_array (roles) || 0 == json_array_size (roles) || json_array_size (roles) > 2)
    return -1;
  json_array_foreach (roles, i, r)
  {
    const char *s = json_string_value (r);
    if (NULL == s)
      return -1;
    if (0 == strcmp (s, BW_KEY_ROLE_HEAD) && !k->head)
      k->head = true;
    else if (0 == strcmp (s, BW_KEY_ROLE_KEYSET) && !k->keyset)
      k->keyset = true;
    else
      return -1; /* unknown or repeated role */
  }
  return 0;
}

/* One member "kid": {alg, roles, jwk} of keys.  @return 0, or -1 if malformed. */
static int
parse_key (const char *kid, const json_t *v, struct keyset_key *k)
{
  char actual[BW_KID_LEN + 1];
  if (strlen (kid) != BW_KID_LEN || !json_is_object (v) || 3 != json_object_size (v))
    return -1;
  const json_t *alg = json_object_get (v, "alg");
  if (!json_is_string (alg) || 0 != strcmp (json_string_value (alg), BW_JWS_ALG))
    return -1;
  if (0 != parse_roles (json_object_get (v, "roles"), k))
    return -1;
  k->key = bw_es256_from_jwk (json_object_get (v, "jwk"));
  if (NULL == k->key || 0 != bw_es256_kid (k->key, actual) || 0 != strcmp (actual, kid))
    return -1;
  memcpy (k->kid, actual, sizeof (actual));
  return 0;
}

/* Keyset from @a payload bytes (signatures not looked at).  @return NULL if malformed. */
static struct bw_keyset *
parse_payload (const char *payload, size_t len)
{
  struct bw_keyset *ks = NULL;
  json_t *p = json_loadb (payload, len, JSON_REJECT_DUPLICATES, NULL);
  const char *kid;
  json_t *v;

  if (!json_is_object (p) || 4 != json_object_size (p))
    goto fail;
  const json_t *org = json_object_get (p, "org");
  const json_t *version = json_object_get (p, "version");
  const json_t *iat = json_object_get (p, "iat");
  const json_t *keys = json_object_get (p, "keys");
  if (!json_is_string (org) || !bw_uuid_valid (json_string_value (org))
      || !json_is_integer (version) || json_integer_value (version) < 0 || !json_is_integer (iat)
      || json_integer_value (iat) < 0 || !json_is_object (keys) || 0 == json_object_size (keys)
      || json_object_size (keys) > BW_KEYSET_KEYS_MAX)
    goto fail;
  ks = calloc (1, sizeof (*ks));
  if (NULL == ks)
    goto fail;
  strcpy (ks->org, json_string_value (org));
  ks->version = (uint64_t) json_integer_value (version);
  ks->iat = (int64_t) json_integer_value (iat);
  bool any_keyset = false;
  json_object_foreach ((json_t *) keys, kid, v)
  {
    struct keyset_key *k = &ks->keys[ks->n];
    int rc = parse_key (kid, v, k);
    if (NULL != k->key)
      ks->n++;
    if (0 != rc)
      goto fail;
    any_keyset = any_keyset || k->keyset;
  }
  if (!any_keyset)
    goto fail;
  json_decref (p);
  return ks;
fail:
  bw_keyset_free (ks);
  json_decref (p);
  return NULL;
}

/* The decoded payload of a JWS JSON document, unverified.  @return NULL if malformed. */
static char *
unverified_payload (const json_t *doc, size_t *len)
{
  const json_t *p = json_object_get (doc, "payload");
  if (!json_is_object (doc) || !json_is_string (p) || json_string_length (p) > BW_JWS_MAX)
    return NULL;
  return (char *) bw_b64url_decode (json_string_value (p), json_string_length (p), len);
}

/* bw_jws_key_lookup over one or two keysets: any role (roles are checked by the caller). */
struct lookup_cls
{
  const struct bw_keyset *a;
  const struct bw_keyset *b;
};

static const struct bw_es256_key *
find_key (const struct bw_keyset *ks, const char *kid)
{
  if (NULL == ks)
    return NULL;
  for (size_t i = 0; i < ks->n; i++)
    if (0 == strcmp (ks->keys[i].kid, kid))
      return ks->keys[i].key;
  return NULL;
}

static const struct bw_es256_key *
lookup_any (void *cls, const char *kid)
{
  const struct lookup_cls *l = cls;
  const struct bw_es256_key *k = find_key (l->a, kid);
  return NULL != k ? k : find_key (l->b, kid);
}

/* Append the keyset-role kids of @a ks to @a req (no duplicates). */
static void
add_required (const struct bw_keyset *ks, const char **req, size_t *n)
{
  for (size_t i = 0; i < ks->n; i++)
    {
      if (!ks->keys[i].keyset)
        continue;
      bool seen = false;
      for (size_t j = 0; j < *n; j++)
        seen = seen || 0 == strcmp (req[j], ks->keys[i].kid);
      if (!seen)
        req[(*n)++] = ks->keys[i].kid;
    }
}

/*
 * Parse @a doc, then require signatures by the keyset-role keys of
 * @a previous (may be NULL) and of the new keyset itself.
 */
static enum bw_keyset_error
verify_doc (const json_t *doc, const struct bw_keyset *previous, struct bw_keyset **out)
{
  const char *required[2 * BW_KEYSET_KEYS_MAX];
  size_t n = 0, len = 0, vlen = 0;
  char *payload = unverified_payload (doc, &len);
  char *verified = NULL;
  struct bw_keyset *ks = NULL;
  enum bw_keyset_error rc = BW_KEYSET_MALFORMED;

  *out = NULL;
  if (NULL == payload)
    goto cleanup;
  ks = parse_payload (payload, len);
  if (NULL == ks)
    goto cleanup;
  if (NULL != previous)
    add_required (previous, required, &n);
  add_required (ks, required, &n);
  struct lookup_cls cls = { ks, previous };
  switch (bw_jws_verify_json (doc, BW_KEYSET_TYP, required, n, lookup_any, &cls, &verified, &vlen))
    {
    case BW_JWS_OK:
      break;
    case BW_JWS_MALFORMED:
      rc = BW_KEYSET_MALFORMED;
      goto cleanup;
    default:
      rc = BW_KEYSET_BAD_SIGNATURE;
      goto cleanup;
    }
  /* the same payload field was decoded twice; belt and braces */
  if (vlen != len || 0 != memcmp (verified, payload, len))
    goto cleanup;
  rc = BW_KEYSET_OK;
  *out = ks;
  ks = NULL;
cleanup:
  bw_keyset_free (ks);
  free (payload);
  free (verified);
  return rc;
}

enum bw_keyset_error
bw_keyset_trust_first (const json_t *doc, const char *org_id, struct bw_keyset **out)
{
  struct bw_keyset *ks = NULL;
  *out = NULL;
  enum bw_keyset_error rc = verify_doc (doc, NULL, &ks);
  if (BW_KEYSET_OK != rc)
    return rc;
  if (NULL == org_id || 0 != strcmp (ks->org, org_id))
    rc = BW_KEYSET_WRONG_ORG;
  else if (0 == ks->version)
    rc = BW_KEYSET_WRONG_VERSION;
  if (BW_KEYSET_OK != rc)
    {
      bw_keyset_free (ks);
      return rc;
    }
  *out = ks;
  return BW_KEYSET_OK;
}

enum bw_keyset_error
bw_keyset_advance (const struct bw_keyset *current, const json_t *doc, struct bw_keyset **out)
{
  struct bw_keyset *ks = NULL;
  *out = NULL;
  if (NULL == current)
    return BW_KEYSET_MALFORMED;
  enum bw_keyset_error rc = verify_doc (doc, current, &ks);
  if (BW_KEYSET_OK != rc)
    return rc;
  if (0 != strcmp (ks->org, current->org))
    rc = BW_KEYSET_WRONG_ORG;
  else if (current->version == UINT64_MAX || ks->version != current->version + 1)
    rc = BW_KEYSET_WRONG_VERSION;
  if (BW_KEYSET_OK != rc)
    {
      bw_keyset_free (ks);
      return rc;
    }
  *out = ks;
  return BW_KEYSET_OK;
}

struct bw_keyset *
bw_keyset_load_verified (const json_t *doc)
{
  size_t len = 0;
  char *payload = unverified_payload (doc, &len);
  if (NULL == payload)
    return NULL;
  const json_t *sigs = json_object_get (doc, "signatures");
  struct bw_keyset *ks = NULL;
  if (2 == json_object_size (doc) && json_is_array (sigs))
    ks = parse_payload (payload, len);
  free (payload);
  if (NULL != ks && 0 == ks->version)
    {
      bw_keyset_free (ks);
      return NULL;
    }
  return ks;
}

uint64_t
bw_keyset_version (const struct bw_keyset *ks)
{
  return ks->version;
}

const char *
bw_keyset_org (const struct bw_keyset *ks)
{
  return ks->org;
}

const struct bw_es256_key *
bw_keyset_key (const struct bw_keyset *ks, const char *kid, const char *role)
{
  if (NULL == ks || NULL == kid || NULL == role)
    return NULL;
  for (size_t i = 0; i < ks->n; i++)
    {
      const struct keyset_key *k = &ks->keys[i];
      if (0 != strcmp (k->kid, kid))
        continue;
      if ((0 == strcmp (role, BW_KEY_ROLE_HEAD) && k->head)
          || (0 == strcmp (role, BW_KEY_ROLE_KEYSET) && k->keyset))
        return k->key;
      return NULL;
    }
  return NULL;
}

json_t *
bw_keyset_build (const char *org_id, uint64_t version, int64_t iat,
                 const struct bw_keyset_member *members, size_t n,
                 const struct bw_es256_key *const *previous, size_t n_previous)
{
  const struct bw_es256_key *signers[2 * BW_KEYSET_KEYS_MAX];
  char kids[2 * BW_KEYSET_KEYS_MAX][BW_KID_LEN + 1];
  const char *kidp[2 * BW_KEYSET_KEYS_MAX];
  size_t ns = 0;
  bool any_keyset = false;
  json_t *keys = NULL, *payload = NULL, *doc = NULL;
  char *bytes = NULL;

  if (NULL == org_id || !bw_uuid_valid (org_id) || 0 == version || version > INT64_MAX || iat < 0
      || NULL == members || 0 == n || n > BW_KEYSET_KEYS_MAX || n_previous > BW_KEYSET_KEYS_MAX
      || (n_previous > 0 && NULL == previous))
    return NULL;
  keys = json_object ();
  if (NULL == keys)
    goto cleanup;
  for (size_t i = 0; i < n + n_previous; i++)
    {
      const struct bw_es256_key *key = i < n ? members[i].key : previous[i - n];
      char kid[BW_KID_LEN + 1];
      if (0 != bw_es256_kid (key, kid))
        goto cleanup;
      if (i < n)
        {
          json_t *roles = json_array ();
          if (NULL == roles)
            goto cleanup;
          if (members[i].head)
            json_array_append_new (roles, json_string (BW_KEY_ROLE_HEAD));
          if (members[i].keyset)
            json_array_append_new (roles, json_string (BW_KEY_ROLE_KEYSET));
          if (0 == json_array_size (roles) || NULL != json_object_get (keys, kid)
              || 0
                   != json_object_set_new (keys, kid,
                                           json_pack ("{s:s, s:o, s:o}", "alg", BW_JWS_ALG, "roles",
                                                      roles, "jwk", bw_es256_public_jwk (key))))
            goto cleanup;
          if (!members[i].keyset)
            continue;
          any_keyset = true;
        }
      bool seen = false;
      for (size_t j = 0; j < ns; j++)
        seen = seen || 0 == strcmp (kids[j], kid);
      if (seen)
        continue;
      memcpy (kids[ns], kid, sizeof (kid));
      kidp[ns] = kids[ns];
      signers[ns++] = key;
    }
  if (!any_keyset)
    goto cleanup; /* no keyset-role key: nobody could ever rotate it */
  payload = json_pack ("{s:s, s:I, s:I, s:O}", "org", org_id, "version", (json_int_t) version,
                       "iat", (json_int_t) iat, "keys", keys);
  if (NULL == payload)
    goto cleanup;
  bytes = bw_json_canonical (payload);
  if (NULL == bytes)
    goto cleanup;
  doc = bw_jws_sign_json (signers, kidp, ns, BW_KEYSET_TYP, bytes, strlen (bytes));
cleanup:
  free (bytes);
  json_decref (payload);
  json_decref (keys);
  return doc;
}
