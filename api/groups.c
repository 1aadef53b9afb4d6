/*
 * /api/v1/orgs/{org}/groups: directory groups and their members (DESIGN
 * §3), the admin API's view of the SCIM Group resource (RFC 7643 §4.2).
 * Every mutation, its audit record and — when it changes who is in a
 * group — the org's policy version bump commit in one transaction that
 * first locks the org (db_directory_lock); the reply is sent after it ended.
 *
 * Memberships are their own small resource, /groups/{id}/members/{user_id}:
 * PUT adds (idempotent: 204 whether or not the user was a member, and only
 * an actual addition is audited and bumps the policy version), DELETE
 * removes (404 when the user is not a member).  Their audit records have
 * target type "group_member" and target id "<group id>/<user id>".
 */
#include "config.h"
#include "api/audit.h"
#include "api/directory.h"
#include "api/handlers.h"
#include "db/directory.h"
#include "db/group.h"
#include "db/policy_version.h"
#include "db/user.h"
#include "lib/ident.h"
#include "lib/text.h"
#include "server/etag.h"
#include "server/fields.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <stdio.h>
#include <string.h>

/** "/api/v1/orgs/<uuid>/groups/<uuid>" with its NUL. */
#define GROUP_LOCATION_SIZE 96
/** "<group uuid>/<user uuid>" with its NUL: the audit target of a membership. */
#define MEMBER_TARGET_SIZE (2 * BW_UUID_LEN + 2)

/* ---- replies and audit ---- */

/** Reply @a status with group @a g and its ETag (and `Location` for 201). */
static enum bw_step
reply_group (struct bw_request *rq, unsigned int status, const struct db_group *g)
{
  char loc[GROUP_LOCATION_SIZE];
  snprintf (loc, sizeof (loc), "/api/v1/orgs/%s/groups/%s", rq->org.id, g->id);
  return bw_reply_versioned (rq, status, api_group_json (g), g->version,
                             (201 == status) ? loc : NULL);
}

static enum bw_step
reply_no_group (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such group", NULL);
}

/** 409 for a displayName another group of the org has. */
static enum bw_step
reply_name_taken (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_CONFLICT, "the display_name is already taken",
                           json_pack ("[{s:s, s:s}]", "pointer", "/display_name", "message",
                                      "is already the display_name of another group (case is "
                                      "ignored)"));
}

/** A group as audited: its API representation. */
static json_t *
audit_repr (const void *object)
{
  return api_group_json (object);
}

/** Audit @a action on group @a before → @a after (either NULL) in the running transaction. */
static enum db_qs
audit_group (const struct bw_request *rq, const char *action, const char *id,
             const struct db_group *before, const struct db_group *after)
{
  enum db_qs qs = api_audit_change (rq, rq->org.id, action, "group", id, audit_repr, before,
                                    after);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

/** Why a transaction rolled back on purpose (DB_QS_ABORT). */
enum abort_reason
{
  ABORT_NONE = 0,
  ABORT_ORG_GONE,
  ABORT_LIMIT,
  ABORT_PRECONDITION,
  ABORT_NO_GROUP,
  ABORT_NO_USER,
};

/* ---- POST /api/v1/orgs/{org}/groups ---- */

struct create_ctx
{
  const struct bw_request *rq;
  const char *display_name;
  const char *external_id; /**< or NULL */
  enum abort_reason why;   /* outputs, reset on each attempt */
  struct db_group group;
};

static enum db_qs
create_tx (void *cls)
{
  struct create_ctx *c = cls;
  struct db_directory_size size;
  c->why = ABORT_NONE;
  enum db_qs qs = db_directory_lock (c->rq->org.id, &size);
  if (qs < 0)
    return qs;
  if (0 == qs || size.groups >= DB_DIRECTORY_GROUPS_MAX)
    {
      c->why = (0 == qs) ? ABORT_ORG_GONE : ABORT_LIMIT;
      return DB_QS_ABORT;
    }
  qs = db_group_insert (c->rq->org.id, c->display_name, c->external_id, &c->group);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  return audit_group (c->rq, "group.create", c->group.id, NULL, &c->group);
}

enum bw_step
api_groups_create (struct bw_request *rq)
{
  const json_t *display_name = NULL;
  const json_t *external_id = NULL;
  const struct bw_field fields[] = {
    { .name = "display_name",
      .type = BW_FIELD_STRING,
      .required = true,
      .max_len = DB_GROUP_DISPLAY_NAME_MAX,
      .check = bw_field_check_text,
      .out = &display_name },
    { .name = "external_id",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_GROUP_EXTERNAL_ID_MAX,
      .check = bw_field_check_text,
      .out = &external_id },
  };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  struct create_ctx c = {
    .rq = rq,
    .display_name = json_string_value (display_name),
    .external_id = json_string_value (external_id), /* NULL when absent or null */
  };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, create_tx, &c);
  if (DB_QS_ABORT == qs && ABORT_LIMIT == c.why)
    return api_directory_reply_limit (rq, "the organization", DB_DIRECTORY_GROUPS_MAX, "groups");
  if (DB_QS_ABORT == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  if (DB_QS_CONFLICT == qs)
    return reply_name_taken (rq);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  return reply_group (rq, 201, &c.group);
}

/* ---- GET /api/v1/orgs/{org}/groups ---- */

enum bw_step
api_groups_list (struct bw_request *rq)
{
  struct bw_page page;
  const char *after_created_at = NULL;
  const char *after_id = NULL;
  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  const char *name = bw_request_query (rq, "display_name");
  if (NULL != name
      && (strlen (name) > DB_GROUP_DISPLAY_NAME_MAX
          || BW_TEXT_OK != bw_text_check (name, strlen (name))))
    return bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameters",
                             json_pack ("[{s:s, s:s}]", "parameter", "display_name", "message",
                                        "is not a display_name a group can have"));
  /* the cursor key is "<created_at>|<id>" of the last group of the previous page */
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &after_created_at, &after_id))
    return bw_reply_bad_cursor (rq);
  struct api_directory_page p;
  if (!api_directory_page_init (&p, page.limit))
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  enum db_qs qs = db_group_list (rq->org.id, name, after_created_at, after_id, page.limit + 1,
                                 api_directory_page_group, &p);
  return api_directory_page_reply (rq, &p, qs, true);
}

/* ---- GET /api/v1/orgs/{org}/groups/{id} ---- */

enum bw_step
api_groups_get (struct bw_request *rq)
{
  const char *id = api_directory_id (rq, 1);
  struct db_group g;
  if (NULL == id)
    return reply_no_group (rq);
  enum db_qs qs = db_group_get (rq->org.id, id, &g);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_group (rq);
  return reply_group (rq, 200, &g);
}

/* ---- PATCH /api/v1/orgs/{org}/groups/{id} ---- */

struct update_ctx
{
  const struct bw_request *rq;
  const char *id;
  const char *if_match; /**< `If-Match` value, or NULL */
  /* the fields given, borrowed from rq->json; NULL when absent, JSON null to clear */
  const json_t *display_name;
  const json_t *external_id;
  enum abort_reason why; /* outputs, reset on each attempt */
  struct db_group group;
};

static enum db_qs
update_tx (void *cls)
{
  struct update_ctx *c = cls;
  const char *org_id = c->rq->org.id;
  struct db_directory_size size;
  struct db_group before;
  c->why = ABORT_NONE;
  enum db_qs qs = db_directory_lock (org_id, &size);
  if (qs > 0)
    qs = db_group_lock (org_id, c->id, &before);
  if (qs <= 0)
    return qs; /* no org, no group, or an error */
  if (NULL != c->if_match && !bw_if_match_version (c->if_match, before.version))
    {
      c->why = ABORT_PRECONDITION;
      return DB_QS_ABORT;
    }
  const char *display_name
    = (NULL != c->display_name) ? json_string_value (c->display_name) : before.display_name;
  const char *external_id = ('\0' != before.external_id[0]) ? before.external_id : NULL;
  if (NULL != c->external_id)
    external_id = json_string_value (c->external_id); /* NULL for JSON null */
  qs = db_group_update (org_id, c->id, display_name, external_id, &c->group);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* the row is locked: it cannot have gone */
  return audit_group (c->rq, "group.update", c->id, &before, &c->group);
}

enum bw_step
api_groups_update (struct bw_request *rq)
{
  struct update_ctx c = {
    .rq = rq,
    .id = api_directory_id (rq, 1),
    .if_match = bw_request_header (rq, "If-Match"),
  };
  const struct bw_field fields[] = {
    { .name = "display_name",
      .type = BW_FIELD_STRING,
      .max_len = DB_GROUP_DISPLAY_NAME_MAX,
      .check = bw_field_check_text,
      .out = &c.display_name },
    { .name = "external_id",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_GROUP_EXTERNAL_ID_MAX,
      .check = bw_field_check_text },
  };
  if (NULL == c.id)
    return reply_no_group (rq);
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (0 == json_object_size (rq->json))
    return bw_reply_invalid (rq, "", "must contain at least one of display_name, external_id");
  /* Checked above (a string or null); read here because bw_fields_parse gives
     JSON null as NULL, like an absent field, and here null clears the value. */
  c.external_id = json_object_get (rq->json, "external_id");
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, update_tx, &c);
  if (DB_QS_ABORT == qs && ABORT_PRECONDITION == c.why)
    return bw_reply_problem (rq, BW_E_PRECONDITION_FAILED,
                             "If-Match does not match the group's current ETag", NULL);
  if (DB_QS_CONFLICT == qs)
    return reply_name_taken (rq);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_group (rq); /* or the org went away */
  return reply_group (rq, 200, &c.group);
}

/* ---- DELETE /api/v1/orgs/{org}/groups/{id} ---- */

struct delete_ctx
{
  const struct bw_request *rq;
  const char *id;
};

static enum db_qs
delete_tx (void *cls)
{
  struct delete_ctx *c = cls;
  const char *org_id = c->rq->org.id;
  struct db_directory_size size;
  struct db_group before;
  enum db_qs qs = db_directory_lock (org_id, &size);
  if (qs > 0)
    qs = db_group_lock (org_id, c->id, &before);
  if (qs <= 0)
    return qs;
  qs = db_group_delete (org_id, c->id);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* locked, yet not deleted */
  /* Its memberships went with it: its members may fall out of policies. */
  if (before.member_count > 0)
    qs = db_policy_version_bump (org_id);
  if (qs > 0)
    qs = audit_group (c->rq, "group.delete", c->id, &before, NULL);
  return qs;
}

enum bw_step
api_groups_delete (struct bw_request *rq)
{
  struct delete_ctx c = { .rq = rq, .id = api_directory_id (rq, 1) };
  if (NULL == c.id)
    return reply_no_group (rq);
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, delete_tx, &c);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_group (rq);
  return bw_reply_empty (rq, 204, NULL, 0);
}

/* ---- GET /api/v1/orgs/{org}/groups/{id}/members ---- */

enum bw_step
api_groups_members (struct bw_request *rq)
{
  const char *id = api_directory_id (rq, 1);
  struct bw_page page;
  struct db_group g;
  if (NULL == id)
    return reply_no_group (rq);
  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  /* the cursor key is the id of the last user of the previous page */
  if (page.has_cursor && !bw_uuid_valid (page.key))
    return bw_reply_bad_cursor (rq);
  enum db_qs qs = db_group_get (rq->org.id, id, &g);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_group (rq);
  struct api_directory_page p;
  if (!api_directory_page_init (&p, page.limit))
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  qs = db_user_list_in_group (rq->org.id, id, page.has_cursor ? page.key : NULL, page.limit + 1,
                              api_directory_page_user, &p);
  return api_directory_page_reply (rq, &p, qs, false);
}

/* ---- PUT and DELETE /api/v1/orgs/{org}/groups/{id}/members/{user_id} ---- */

struct member_ctx
{
  const struct bw_request *rq;
  const char *group_id;
  const char *user_id;
  enum abort_reason why; /* output, reset on each attempt */
};

/** Audit @a action on the membership of @a c, which now does (@a exists) or does not exist. */
static enum db_qs
audit_member (const struct member_ctx *c, const char *action, bool exists)
{
  char target[MEMBER_TARGET_SIZE];
  json_t *m = json_pack ("{s:s, s:s}", "group_id", c->group_id, "user_id", c->user_id);
  enum db_qs qs = DB_QS_HARD_ERROR;
  snprintf (target, sizeof (target), "%s/%s", c->group_id, c->user_id);
  if (NULL != m)
    qs = api_audit (c->rq, c->rq->org.id, action, "group_member", target, exists ? NULL : m,
                    exists ? m : NULL);
  json_decref (m);
  return qs;
}

static enum db_qs
member_add_tx (void *cls)
{
  struct member_ctx *c = cls;
  const char *org_id = c->rq->org.id;
  struct db_directory_size size;
  struct db_group group;
  struct db_user user;
  c->why = ABORT_NONE;
  enum db_qs qs = db_directory_lock (org_id, &size);
  if (qs > 0)
    {
      qs = db_group_lock (org_id, c->group_id, &group);
      c->why = (0 == qs) ? ABORT_NO_GROUP : ABORT_NONE;
    }
  if (qs > 0)
    {
      qs = db_user_get (org_id, c->user_id, &user);
      db_user_clear (&user);
      c->why = (0 == qs) ? ABORT_NO_USER : ABORT_NONE;
    }
  if (qs <= 0)
    return (0 == qs) ? DB_QS_ABORT : qs; /* why says which; an org gone is ABORT_NONE */
  qs = db_group_member_add (org_id, c->group_id, c->user_id);
  if (qs <= 0)
    return qs; /* DB_QS_NO_RESULTS: a member already, nothing changed */
  if (group.member_count >= DB_DIRECTORY_MEMBERS_MAX)
    {
      c->why = ABORT_LIMIT;
      return DB_QS_ABORT;
    }
  qs = db_policy_version_bump (org_id);
  if (qs > 0)
    qs = audit_member (c, "group.member_add", true);
  return qs;
}

enum bw_step
api_groups_member_add (struct bw_request *rq)
{
  struct member_ctx c = {
    .rq = rq,
    .group_id = api_directory_id (rq, 1),
    .user_id = api_directory_id (rq, 2),
  };
  if (NULL == c.group_id)
    return reply_no_group (rq);
  if (NULL == c.user_id)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such user", NULL);
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, member_add_tx, &c);
  if (DB_QS_ABORT == qs && ABORT_LIMIT == c.why)
    return api_directory_reply_limit (rq, "the group", DB_DIRECTORY_MEMBERS_MAX, "members");
  if (DB_QS_ABORT == qs && ABORT_NO_GROUP == c.why)
    return reply_no_group (rq);
  if (DB_QS_ABORT == qs && ABORT_NO_USER == c.why)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such user", NULL);
  if (DB_QS_ABORT == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  return bw_reply_empty (rq, 204, NULL, 0);
}

static enum db_qs
member_remove_tx (void *cls)
{
  struct member_ctx *c = cls;
  const char *org_id = c->rq->org.id;
  struct db_directory_size size;
  enum db_qs qs = db_directory_lock (org_id, &size);
  if (qs > 0)
    qs = db_group_member_remove (org_id, c->group_id, c->user_id);
  if (qs > 0)
    qs = db_policy_version_bump (org_id);
  if (qs > 0)
    qs = audit_member (c, "group.member_remove", false);
  return qs;
}

enum bw_step
api_groups_member_remove (struct bw_request *rq)
{
  struct member_ctx c = {
    .rq = rq,
    .group_id = api_directory_id (rq, 1),
    .user_id = api_directory_id (rq, 2),
  };
  enum db_qs qs = DB_QS_NO_RESULTS;
  if (NULL != c.group_id && NULL != c.user_id)
    qs = db_tx_run (DB_READ_COMMITTED, member_remove_tx, &c);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND,
                             "no such membership: the user is not a member of this group", NULL);
  return bw_reply_empty (rq, 204, NULL, 0);
}
