/*
 * /api/v1/orgs and /api/v1/orgs/{org} (API contract, "Orgs").  Every
 * mutation and its audit record commit in one transaction; the reply is
 * sent after it ended.  org_json() is the one representation of an org:
 * response bodies and audit before/after digests both use it.
 */
#include "config.h"
#include "api/audit.h"
#include "api/handlers.h"
#include "db/org.h"
#include "lib/text.h"
#include "server/etag.h"
#include "server/fields.h"
#include "server/keys.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <stdio.h>
#include <string.h>

/** Path prefix of an org's URL, for `Location`. */
#define ORG_PATH "/api/v1/orgs/"

/** The API representation of @a o.  @return a new object, or NULL. */
static json_t *
org_json (const struct db_org *o)
{
  return json_pack ("{s:s, s:s, s:s, s:s, s:s}", "id", o->id, "slug", o->slug, "name", o->name,
                    "created_at", o->created_at, "updated_at", o->updated_at);
}

/** Field checker: an org slug (lib/ident.h). */
static const char *
check_slug (const json_t *v)
{
  if (!bw_slug_valid (json_string_value (v)))
    return "must be 2 to 63 characters of a-z, 0-9 and '-', start with a letter, "
           "not end with '-' and not contain '--'";
  return NULL;
}

/**
 * Field checker: an org name is 1..DB_ORG_NAME_MAX bytes (the length limit
 * is the field spec's), not only whitespace, and free of control
 * characters (Unicode Cc), which have no place in a display name and would
 * reach logs and consoles.  Leading and trailing spaces are kept as given.
 */
static const char *
check_name (const json_t *v)
{
  enum bw_text_fault f = bw_text_check (json_string_value (v), json_string_length (v));
  return (BW_TEXT_PADDED == f) ? NULL : bw_text_fault_message (f);
}

/** Reply @a status with the org, its ETag and, if @a location, its `Location`. */
static enum bw_step
reply_org (struct bw_request *rq, unsigned int status, const struct db_org *o, bool location)
{
  char loc[sizeof (ORG_PATH) + BW_UUID_LEN];
  snprintf (loc, sizeof (loc), ORG_PATH "%s", o->id);
  return bw_reply_versioned (rq, status, org_json (o), o->version, location ? loc : NULL);
}

/** 409 for a slug held by another live org. */
static enum bw_step
reply_slug_taken (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_CONFLICT, "the slug is already taken",
                           json_pack ("[{s:s, s:s}]", "pointer", "/slug", "message",
                                      "is already taken by another organization"));
}

/** An org as audited: its API representation. */
static json_t *
audit_repr (const void *object)
{
  return org_json (object);
}

/** Audit @a action on org @a before → @a after (either NULL) in the running transaction. */
static enum db_qs
audit_org (const struct bw_request *rq, const char *action, const char *org_id,
           const struct db_org *before, const struct db_org *after)
{
  return api_audit_change (rq, org_id, action, "org", org_id, audit_repr, before, after);
}

/* ---- POST /api/v1/orgs ---- */

struct create_ctx
{
  const struct bw_request *rq;
  const char *slug;
  const char *name;
  struct db_org org; /**< the new org */
};

static enum db_qs
create_tx (void *cls)
{
  struct create_ctx *c = cls;
  enum db_qs qs = db_org_insert (c->slug, c->name, &c->org);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  /* the org's signing key and keyset 1 (DESIGN §6) are born with it */
  qs = bw_keys_create_first (c->org.id);
  if (qs < 0)
    return qs;
  qs = audit_org (c->rq, "org.create", c->org.id, NULL, &c->org);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

enum bw_step
api_orgs_create (struct bw_request *rq)
{
  const json_t *slug = NULL;
  const json_t *name = NULL;
  const struct bw_field fields[] = {
    { .name = "slug", .type = BW_FIELD_STRING, .required = true, .max_len = BW_SLUG_MAX,
      .check = check_slug, .out = &slug },
    { .name = "name", .type = BW_FIELD_STRING, .required = true, .max_len = DB_ORG_NAME_MAX,
      .check = check_name, .out = &name },
  };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  struct create_ctx c = {
    .rq = rq, .slug = json_string_value (slug), .name = json_string_value (name),
  };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, create_tx, &c);
  if (DB_QS_CONFLICT == qs)
    return reply_slug_taken (rq);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  return reply_org (rq, 201, &c.org, true);
}

/* ---- GET /api/v1/orgs ---- */

/** One page of orgs, collected by list_cb. */
struct list_ctx
{
  json_t *items;               /**< owned array */
  unsigned int limit;          /**< page size; one more org is fetched to see if there is more */
  unsigned int count;          /**< orgs in items */
  char last_id[BW_UUID_LEN + 1]; /**< id of the last org in items: the next cursor */
  bool more;                   /**< an org beyond the page exists */
  bool failed;                 /**< allocation failure */
};

static void
list_cb (void *cls, const struct db_org *o)
{
  struct list_ctx *c = cls;
  if (c->count == c->limit)
    {
      c->more = true;
      return;
    }
  if (0 != json_array_append_new (c->items, org_json (o)))
    {
      c->failed = true;
      return;
    }
  c->count++;
  memcpy (c->last_id, o->id, sizeof (c->last_id));
}

enum bw_step
api_orgs_list (struct bw_request *rq)
{
  struct bw_page page;
  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  /* The cursor key is the id of the last org of the previous page. */
  if (page.has_cursor && !bw_uuid_valid (page.key))
    return bw_reply_bad_cursor (rq);
  /* An org token sees its own org only (API contract, "Orgs"). */
  const char *only = (BW_PRINCIPAL_ORG_TOKEN == rq->principal.kind) ? rq->principal.org_id
                                                                     : NULL;
  struct list_ctx c = { .items = json_array (), .limit = page.limit };
  if (NULL == c.items)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  enum db_qs qs = db_org_list (only, page.has_cursor ? page.key : NULL, page.limit + 1, list_cb,
                               &c);
  if (qs < 0)
    {
      json_decref (c.items);
      return bw_reply_db_error (rq, qs);
    }
  if (c.failed)
    {
      json_decref (c.items);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  json_t *next = c.more ? bw_cursor_encode (c.last_id) : json_null ();
  return bw_reply_page (rq, c.items, next);
}

/* ---- GET /api/v1/orgs/{org} ---- */

enum bw_step
api_orgs_get (struct bw_request *rq)
{
  struct db_org org;
  enum db_qs qs = db_org_get (rq->org.id, &org);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (DB_QS_NO_RESULTS == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  return reply_org (rq, 200, &org, false);
}

/* ---- PATCH /api/v1/orgs/{org} ---- */

struct update_ctx
{
  const struct bw_request *rq;
  const char *slug;      /**< new slug or NULL */
  const char *name;      /**< new name or NULL */
  const char *if_match;  /**< `If-Match` value or NULL */
  struct db_org org;     /**< the org after the change */
  bool precondition_failed;
};

static enum db_qs
update_tx (void *cls)
{
  struct update_ctx *c = cls;
  const char *id = c->rq->org.id;
  struct db_org before;
  c->precondition_failed = false;
  enum db_qs qs = db_org_lock (id, &before);
  if (qs <= 0)
    return qs;
  if (NULL != c->if_match && !bw_if_match_version (c->if_match, before.version))
    {
      c->precondition_failed = true;
      return DB_QS_ABORT;
    }
  qs = db_org_update (id, c->slug, c->name, &c->org);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* the row is locked: it cannot have gone */
  qs = audit_org (c->rq, "org.update", id, &before, &c->org);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

enum bw_step
api_orgs_update (struct bw_request *rq)
{
  const json_t *slug = NULL;
  const json_t *name = NULL;
  const struct bw_field fields[] = {
    { .name = "slug", .type = BW_FIELD_STRING, .max_len = BW_SLUG_MAX, .check = check_slug,
      .out = &slug },
    { .name = "name", .type = BW_FIELD_STRING, .max_len = DB_ORG_NAME_MAX, .check = check_name,
      .out = &name },
  };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (NULL == slug && NULL == name)
    return bw_reply_invalid (rq, "", "must contain at least one of slug, name");
  struct update_ctx c = {
    .rq = rq,
    .slug = (NULL != slug) ? json_string_value (slug) : NULL,
    .name = (NULL != name) ? json_string_value (name) : NULL,
    .if_match = bw_request_header (rq, "If-Match"),
  };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, update_tx, &c);
  if (DB_QS_ABORT == qs && c.precondition_failed)
    return bw_reply_problem (rq, BW_E_PRECONDITION_FAILED,
                             "If-Match does not match the organization's current ETag", NULL);
  if (DB_QS_CONFLICT == qs)
    return reply_slug_taken (rq);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (DB_QS_NO_RESULTS == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  return reply_org (rq, 200, &c.org, false);
}

/* ---- DELETE /api/v1/orgs/{org} ---- */

static enum db_qs
delete_tx (void *cls)
{
  const struct bw_request *rq = cls;
  const char *id = rq->org.id;
  struct db_org before;
  enum db_qs qs = db_org_lock (id, &before);
  if (qs <= 0)
    return qs;
  qs = db_org_delete (id);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  qs = audit_org (rq, "org.delete", id, &before, NULL);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

enum bw_step
api_orgs_delete (struct bw_request *rq)
{
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, delete_tx, rq);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (DB_QS_NO_RESULTS == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  return bw_reply_empty (rq, 204, NULL, 0);
}
