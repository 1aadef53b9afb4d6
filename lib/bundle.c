/*
 * Parsing bundle bytes (DESIGN §6, lib/bundle.h) on the agent.
 *
 * The document is refused as a whole (the agent keeps its last good
 * bundle) when: it is larger than BW_BUNDLE_MAX, not JSON, has duplicate
 * keys, misses or adds a top-level member, has another schema, an org that
 * is not a canonical uuid, a version that is not an integer >= 1, more
 * than BW_POLICIES_PER_ORG_MAX policies, a policy entry that is not
 * exactly {id (canonical uuid, unique), revision (integer >= 1), document
 * (object)}, a catalog that bw_catalog_parse refuses (the approved slice
 * of lib/catalog.h: a malformed slice is refused as a whole, never read in
 * part), or settings that are not
 * exactly the four integers of struct bw_bundle_settings within range.
 * A policy document that fails bw_policy_parse only leaves that ref's
 * policy NULL: decisions then fail closed (deny / policy_error).
 */
#include "config.h"
#include "lib/bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/ident.h"

/** Most events per upload batch (DESIGN §7). */
#define BUNDLE_EVENTS_BATCH_MAX 1000

static void
say (char *why, size_t whylen, const char *msg)
{
  if (NULL != why && whylen > 0)
    snprintf (why, whylen, "%s", msg);
}

void
bw_bundle_free (struct bw_bundle *b)
{
  if (NULL == b)
    return;
  for (size_t i = 0; i < b->n; i++)
    bw_policy_free ((struct bw_policy *) b->refs[i].policy);
  free (b->refs);
  bw_catalog_free (b->catalog);
  json_decref (b->doc);
  free (b);
}

/* Integer member @a name of @a o in [lo, UINT32_MAX].  @return 0 or -1. */
static int
get_u32 (const json_t *o, const char *name, json_int_t lo, uint32_t *out)
{
  const json_t *v = json_object_get (o, name);
  if (!json_is_integer (v) || json_integer_value (v) < lo
      || json_integer_value (v) > (json_int_t) UINT32_MAX)
    return -1;
  *out = (uint32_t) json_integer_value (v);
  return 0;
}

static int
parse_settings (const json_t *s, struct bw_bundle_settings *out)
{
  if (!json_is_object (s) || 4 != json_object_size (s))
    return -1;
  if (0 != get_u32 (s, "checkin_interval_s", 1, &out->checkin_interval_s)
      || 0 != get_u32 (s, "checkin_jitter_s", 0, &out->checkin_jitter_s)
      || 0 != get_u32 (s, "stale_limit_s", 0, &out->stale_limit_s)
      || 0 != get_u32 (s, "events_batch_max", 1, &out->events_batch_max)
      || out->events_batch_max > BUNDLE_EVENTS_BATCH_MAX)
    return -1;
  return 0;
}

/* Policy entry @a i of @a policies into b->refs[i].  @return 0, or -1 with @a why set. */
static int
parse_policy (struct bw_bundle *b, const json_t *policies, size_t i, char *why, size_t whylen)
{
  const json_t *e = json_array_get (policies, i);
  const json_t *id = json_object_get (e, "id");
  const json_t *rev = json_object_get (e, "revision");
  const json_t *doc = json_object_get (e, "document");

  if (!json_is_object (e) || 3 != json_object_size (e) || !json_is_string (id)
      || !bw_uuid_valid (json_string_value (id)) || !json_is_integer (rev)
      || json_integer_value (rev) < 1 || !json_is_object (doc))
    {
      say (why, whylen, "malformed policy entry");
      return -1;
    }
  for (size_t j = 0; j < i; j++)
    if (0 == strcmp (b->refs[j].policy_id, json_string_value (id)))
      {
        say (why, whylen, "duplicate policy id");
        return -1;
      }
  json_t *errors = json_array ();
  if (NULL == errors)
    {
      say (why, whylen, "out of memory");
      return -1;
    }
  b->refs[i].policy_id = json_string_value (id);
  b->refs[i].revision = (int64_t) json_integer_value (rev);
  b->refs[i].policy = bw_policy_parse (doc, "", errors); /* NULL: fails closed */
  json_decref (errors);
  return 0;
}

struct bw_bundle *
bw_bundle_parse (const void *bytes, size_t len, char *why, size_t whylen)
{
  struct bw_bundle *b = NULL;
  json_t *doc = NULL;

  say (why, whylen, "");
  if (NULL == bytes || len > BW_BUNDLE_MAX)
    {
      say (why, whylen, "bundle too large");
      return NULL;
    }
  doc = json_loadb (bytes, len, JSON_REJECT_DUPLICATES, NULL);
  if (NULL == doc)
    {
      say (why, whylen, "invalid JSON");
      goto fail;
    }
  if (!json_is_object (doc))
    {
      say (why, whylen, "not a JSON object");
      goto fail;
    }
  const json_t *schema = json_object_get (doc, "schema");
  if (!json_is_string (schema) || 0 != strcmp (json_string_value (schema), BW_BUNDLE_SCHEMA))
    {
      say (why, whylen, "unknown schema");
      goto fail;
    }
  const json_t *org = json_object_get (doc, "org");
  const json_t *version = json_object_get (doc, "version");
  const json_t *policies = json_object_get (doc, "policies");
  const json_t *catalog = json_object_get (doc, "catalog");
  const json_t *settings = json_object_get (doc, "settings");
  if (6 != json_object_size (doc) || !json_is_string (org)
      || !bw_uuid_valid (json_string_value (org)) || !json_is_integer (version)
      || json_integer_value (version) < 1 || !json_is_array (policies) || !json_is_array (catalog)
      || NULL == settings)
    {
      say (why, whylen, "malformed bundle");
      goto fail;
    }
  if (json_array_size (policies) > BW_POLICIES_PER_ORG_MAX)
    {
      say (why, whylen, "too many policies");
      goto fail;
    }
  b = calloc (1, sizeof (*b));
  if (NULL == b)
    {
      say (why, whylen, "out of memory");
      goto fail;
    }
  if (0 != parse_settings (settings, &b->settings))
    {
      say (why, whylen, "malformed settings");
      goto fail;
    }
  b->catalog = bw_catalog_parse (catalog, why, whylen);
  if (NULL == b->catalog)
    goto fail;
  strcpy (b->org, json_string_value (org));
  b->version = (uint64_t) json_integer_value (version);
  b->doc = doc;
  doc = NULL;
  size_t n = json_array_size (policies);
  if (n > 0)
    {
      b->refs = calloc (n, sizeof (*b->refs));
      if (NULL == b->refs)
        {
          say (why, whylen, "out of memory");
          goto fail;
        }
    }
  for (size_t i = 0; i < n; i++)
    {
      int rc = parse_policy (b, policies, i, why, whylen);
      b->n = i + (0 == rc ? 1 : 0);
      if (0 != rc)
        goto fail;
    }
  return b;
fail:
  bw_bundle_free (b);
  json_decref (doc);
  return NULL;
}
