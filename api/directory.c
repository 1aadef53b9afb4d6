/*
 * Shared parts of the directory API (see api/directory.h).
 */
#include "config.h"
#include "api/directory.h"
#include "lib/ident.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <stdio.h>
#include <string.h>

/** "" (SQL NULL) as JSON null, else the string. */
static json_t *
string_or_null (const char *s)
{
  return ('\0' != s[0]) ? json_string (s) : json_null ();
}

json_t *
api_user_json (const struct db_user *u)
{
  return json_pack ("{s:s, s:s, s:o, s:o, s:b, s:O, s:s, s:s}", "id", u->id, "user_name",
                    u->user_name, "display_name", string_or_null (u->display_name), "external_id",
                    string_or_null (u->external_id), "active", u->active, "emails", u->emails,
                    "created_at", u->created_at, "updated_at", u->updated_at);
}

json_t *
api_group_json (const struct db_group *g)
{
  return json_pack ("{s:s, s:s, s:o, s:I, s:s, s:s}", "id", g->id, "display_name", g->display_name,
                    "external_id", string_or_null (g->external_id), "member_count",
                    (json_int_t) g->member_count, "created_at", g->created_at, "updated_at",
                    g->updated_at);
}

const char *
api_directory_id (const struct bw_request *rq, size_t i)
{
  const char *id = rq->params[i];
  return (NULL != id && bw_uuid_valid (id)) ? id : NULL;
}

enum bw_step
api_directory_reply_limit (struct bw_request *rq, const char *holder, long max, const char *things)
{
  char detail[128];
  snprintf (detail, sizeof (detail), "%s has %ld %s, the most it may have", holder, max, things);
  return bw_reply_problem (rq, BW_E_LIMIT_EXCEEDED, detail, NULL);
}

bool
api_directory_page_init (struct api_directory_page *p, unsigned int limit)
{
  memset (p, 0, sizeof (*p));
  p->limit = limit;
  p->items = json_array ();
  return NULL != p->items;
}

/** Append @a obj (stolen; NULL on allocation failure) as the object @a id, @a created_at. */
static void
page_add (struct api_directory_page *p, json_t *obj, const char *id, const char *created_at)
{
  if (p->count == p->limit)
    {
      p->more = true;
      json_decref (obj);
      return;
    }
  if (0 != json_array_append_new (p->items, obj))
    {
      p->failed = true;
      return;
    }
  p->count++;
  snprintf (p->last_id, sizeof (p->last_id), "%s", id);
  snprintf (p->last_created_at, sizeof (p->last_created_at), "%s", created_at);
}

void
api_directory_page_user (void *cls, const struct db_user *u)
{
  struct api_directory_page *p = cls;
  page_add (p, (p->count < p->limit) ? api_user_json (u) : NULL, u->id, u->created_at);
}

void
api_directory_page_group (void *cls, const struct db_group *g)
{
  struct api_directory_page *p = cls;
  page_add (p, (p->count < p->limit) ? api_group_json (g) : NULL, g->id, g->created_at);
}

enum bw_step
api_directory_page_reply (struct bw_request *rq, struct api_directory_page *p, enum db_qs qs,
                          bool by_created)
{
  json_t *items = p->items;
  p->items = NULL;
  if (qs < 0)
    {
      json_decref (items);
      return bw_reply_db_error (rq, qs);
    }
  if (p->failed)
    {
      json_decref (items);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  json_t *next = NULL;
  if (p->more)
    {
      next = by_created ? bw_cursor_encode_ts_id (p->last_created_at, p->last_id)
                        : bw_cursor_encode (p->last_id);
      if (NULL == next)
        {
          json_decref (items);
          return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
        }
    }
  return bw_reply_page (rq, items, next);
}
