/*
 * ?limit= and ?cursor= parsing.  Cursors are base64url text keys, opaque
 * to clients; decoding refuses anything but the alphabet.
 */
#include "config.h"
#include "server/pagination.h"
#include "lib/crypto.h"
#include "lib/ident.h"
#include "lib/rfc3339.h"
#include "server/reply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Decode an unpadded base64url cursor into @a out (NUL-terminated text of
   at most @a outmax chars).  -1 if invalid or holding a NUL. */
static int
cursor_decode (const char *in, char *out, size_t outmax)
{
  size_t n;
  unsigned char *raw = bw_b64url_decode (in, strlen (in), &n);
  int rc = (NULL != raw && n <= outmax && NULL == memchr (raw, '\0', n)) ? 0 : -1;
  if (0 == rc)
    memcpy (out, raw, n + 1);
  free (raw);
  return rc;
}

bool
bw_page_parse (struct bw_request *rq, struct bw_page *page)
{
  memset (page, 0, sizeof (*page));
  page->limit = BW_PAGE_LIMIT_DEFAULT;
  const char *limit = bw_request_query (rq, "limit");
  if (NULL != limit)
    {
      char *end;
      errno = 0;
      long v = strtol (limit, &end, 10);
      if (0 != errno || end == limit || '\0' != *end || v < 1 || v > BW_PAGE_LIMIT_MAX)
        {
          bw_reply_problem (rq, BW_E_VALIDATION, "limit must be a whole number from 1 to 200",
                            json_pack ("[{s:s, s:s}]", "parameter", "limit", "message",
                                       "must be a whole number from 1 to 200"));
          return false;
        }
      page->limit = (unsigned int) v;
    }
  const char *cursor = bw_request_query (rq, "cursor");
  if (NULL != cursor)
    {
      if (0 != cursor_decode (cursor, page->key, BW_CURSOR_KEY_MAX) || '\0' == page->key[0])
        {
          bw_reply_bad_cursor (rq);
          return false;
        }
      page->has_cursor = true;
    }
  return true;
}

enum bw_step
bw_reply_bad_cursor (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_VALIDATION, "cursor is not one this server issued",
                           json_pack ("[{s:s, s:s}]", "parameter", "cursor", "message",
                                      "is not a cursor this server issued"));
}

bool
bw_cursor_split_ts_id (char *key, const char **created_at, const char **id)
{
  char *bar = strchr (key, '|');
  if (NULL == bar)
    return false;
  *bar = '\0';
  if (!bw_rfc3339_valid (key) || !bw_uuid_valid (bar + 1))
    return false;
  *created_at = key;
  *id = bar + 1;
  return true;
}

json_t *
bw_cursor_encode (const char *key)
{
  size_t len = strlen (key);
  if (len > BW_CURSOR_KEY_MAX)
    return NULL;
  char out[4 * ((BW_CURSOR_KEY_MAX + 2) / 3) + 1];
  bw_b64url_encode ((const unsigned char *) key, len, out);
  return json_string (out);
}

enum bw_step
bw_reply_page (struct bw_request *rq, json_t *items, json_t *next)
{
  if (NULL == items)
    {
      json_decref (next);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  json_t *body = json_pack ("{s:o, s:o}", "items", items, "next_cursor",
                            (NULL != next) ? next : json_null ());
  return bw_reply_json (rq, 200, body, NULL, 0);
}

enum bw_step
bw_reply_rows_page (struct bw_request *rq, const struct bw_page *page,
                    const struct bw_page_rows *rows)
{
  const char *base = rows->rows;
  json_t *arr = json_array ();
  json_t *next = NULL;

  for (size_t i = 0; NULL != arr && i < rows->n && i < page->limit; i++)
    if (0 != json_array_append_new (arr, rows->to_json (base + i * rows->size)))
      {
        json_decref (arr);
        arr = NULL;
      }
  if (NULL != arr && rows->n > page->limit)
    {
      const void *last = base + (page->limit - 1) * rows->size;

      next = bw_cursor_encode_ts_id (rows->created_at (last), rows->id (last));
      if (NULL == next)
        {
          json_decref (arr);
          arr = NULL;
        }
    }
  return bw_reply_page (rq, arr, next); /* NULL arr: 500 */
}

json_t *
bw_cursor_encode_ts_id (const char *created_at, const char *id)
{
  char key[BW_CURSOR_KEY_MAX + 1];
  int n = snprintf (key, sizeof (key), "%s|%s", created_at, id);
  return (n > 0 && (size_t) n < sizeof (key)) ? bw_cursor_encode (key) : NULL;
}
