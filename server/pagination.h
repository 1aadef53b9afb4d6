/**
 * @file server/pagination.h
 * `?limit=&cursor=` for every list (DESIGN §8).  A cursor is opaque to
 * clients: base64url of a short text key chosen by each list (a seq, or
 * "<created_at>|<id>"), which the list decodes and passes to SQL as a
 * parameter.
 */
#ifndef BW_SERVER_PAGINATION_H
#define BW_SERVER_PAGINATION_H

#include <jansson.h>
#include <stdbool.h>
#include "server/request.h"

/** Default and largest page size. */
#define BW_PAGE_LIMIT_DEFAULT 50
#define BW_PAGE_LIMIT_MAX 200
/** Longest decoded cursor key, in bytes. */
#define BW_CURSOR_KEY_MAX 128

/** A parsed page request. */
struct bw_page
{
  unsigned int limit;                  /**< 1..BW_PAGE_LIMIT_MAX */
  bool has_cursor;
  char key[BW_CURSOR_KEY_MAX + 1];     /**< decoded cursor key when has_cursor */
};

/**
 * Parse `limit` and `cursor` from the query string.
 * @return true, or false after replying 400 naming the bad parameter.
 */
bool bw_page_parse (struct bw_request *rq, struct bw_page *page);

/** Reply 400 naming the query parameter `cursor`: not a cursor this server issued. */
enum bw_step bw_reply_bad_cursor (struct bw_request *rq);

/**
 * Split the cursor key "<created_at>|<id>" of a list ordered by
 * (created_at, id) in place: the '|' becomes a NUL.
 * @param key  a decoded key (struct bw_page.key), modified
 * @param[out] created_at  points into @a key: an RFC 3339 time
 * @param[out] id          points into @a key: a canonical uuid
 * @return true, or false when @a key is not of that shape (reply with
 *         bw_reply_bad_cursor).
 */
bool bw_cursor_split_ts_id (char *key, const char **created_at, const char **id);

/**
 * The cursor of a list ordered by (created_at, id) that continues after
 * the row with @a created_at (DB_SQL_TS text) and @a id: the opaque form of
 * "<created_at>|<id>", read back by bw_cursor_split_ts_id.
 * @return a new JSON string (caller owns), or NULL on allocation failure.
 */
json_t *bw_cursor_encode_ts_id (const char *created_at, const char *id);

/**
 * Encode @a key as an opaque cursor.
 * @return a new JSON string (caller owns), or NULL on allocation failure.
 */
json_t *bw_cursor_encode (const char *key);

/**
 * Reply 200 with the list body {"items": @a items, "next_cursor": @a next}.
 * Both are stolen; @a next NULL means the last page (`null`).  A NULL
 * @a items (failed allocation) is answered 500.
 */
enum bw_step bw_reply_page (struct bw_request *rq, json_t *items, json_t *next);

/** How the rows a list handler read become a page of a list ordered by (created_at, id). */
struct bw_page_rows
{
  const void *rows; /**< borrowed array of @a n rows of @a size bytes */
  size_t n;         /**< rows read: one more than the page limit says another page follows */
  size_t size;
  json_t *(*to_json) (const void *row); /**< a row's JSON (new reference), NULL on failure */
  const char *(*created_at) (const void *row); /**< its DB_SQL_TS created_at, for the cursor */
  const char *(*id) (const void *row);         /**< its id, for the cursor */
};

/**
 * Reply 200 with the first page->limit of @a rows as {"items", "next_cursor"}
 * (bw_reply_page), the cursor after the last item shown when more rows
 * were read; 500 on allocation failure.  The caller frees its rows after.
 */
enum bw_step bw_reply_rows_page (struct bw_request *rq, const struct bw_page *page,
                                 const struct bw_page_rows *rows);

#endif
