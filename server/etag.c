/*
 * Version ETags and If-Match evaluation (see server/etag.h).
 */
#include "config.h"
#include "server/etag.h"
#include "server/reply.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
bw_etag_of_version (int64_t version, char out[BW_ETAG_SIZE])
{
  snprintf (out, BW_ETAG_SIZE, "\"%" PRId64 "\"", version);
}

/** Skip optional whitespace (RFC 9110 §5.6.3). */
static const char *
skip_ows (const char *p)
{
  while (' ' == *p || '\t' == *p)
    p++;
  return p;
}

bool
bw_if_match_version (const char *value, int64_t version)
{
  char etag[BW_ETAG_SIZE];
  bw_etag_of_version (version, etag);
  size_t elen = strlen (etag);
  const char *p = skip_ows (value);
  if ('*' == *p)
    return '\0' == *skip_ows (p + 1);
  for (;;)
    {
      bool weak = (0 == strncmp (p, "W/", 2));
      if (weak)
        p += 2;
      if ('"' != *p)
        return false;
      const char *end = strchr (p + 1, '"');
      if (NULL == end)
        return false;
      if (!weak && (size_t) (end + 1 - p) == elen && 0 == memcmp (p, etag, elen))
        return true;
      p = skip_ows (end + 1);
      if (',' != *p)
        return false; /* the end of the list, or garbage */
      p = skip_ows (p + 1);
    }
}

enum bw_step
bw_reply_versioned (struct bw_request *rq, unsigned int status, json_t *body, int64_t version,
                    const char *location)
{
  char etag[BW_ETAG_SIZE];
  bw_etag_of_version (version, etag);
  const struct bw_header headers[] = { { "ETag", etag }, { "Location", location } };
  return bw_reply_json (rq, status, body, headers, (NULL != location) ? 2 : 1);
}
