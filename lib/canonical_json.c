/*
 * Canonical JSON via jansson: JSON_COMPACT drops insignificant whitespace,
 * JSON_SORT_KEYS orders members by key bytes, and without
 * JSON_ENSURE_ASCII strings stay UTF-8.  Reals are refused because their
 * textual form is not canonical across implementations.
 */
#include "config.h"
#include "lib/canonical_json.h"
#include "lib/crypto.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool
has_real (const json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_REAL:
      return true;
    case JSON_OBJECT:
      {
        const char *k;
        const json_t *m;
        json_object_foreach ((json_t *) v, k, m)
          if (has_real (m))
            return true;
        return false;
      }
    case JSON_ARRAY:
      {
        size_t i;
        const json_t *m;
        json_array_foreach (v, i, m)
          if (has_real (m))
            return true;
        return false;
      }
    default:
      return false;
    }
}

char *
bw_json_canonical (const json_t *v)
{
  if (has_real (v))
    return NULL;
  return json_dumps (v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int
bw_json_digest (const json_t *v, char out[65])
{
  char *s = bw_json_canonical (v);
  if (NULL == s)
    return -1;
  bw_sha256_hex (s, strlen (s), out);
  free (s);
  return 0;
}
