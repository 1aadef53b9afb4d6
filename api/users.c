/*
 * /api/v1/orgs/{org}/users: directory users (DESIGN §3), the admin API's
 * view of the SCIM User resource (RFC 7643 §4.1).  Every mutation, its
 * audit record and — when it can change which policies apply — the org's
 * policy version bump commit in one transaction that first locks the org
 * (db_directory_lock); the reply is sent after it ended.
 */
#include "config.h"
#include "api/audit.h"
#include "api/directory.h"
#include "api/handlers.h"
#include "db/directory.h"
#include "db/group.h"
#include "db/policy_version.h"
#include "db/user.h"
#include "lib/email.h"
#include "lib/ident.h"
#include "lib/text.h"
#include "server/etag.h"
#include "server/fields.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** "/api/v1/orgs/<uuid>/users/<uuid>" with its NUL. */
#define USER_LOCATION_SIZE 96

/* ---- validation ---- */

/**
 * The normalized emails of request field @a emails (NULL when absent) as
 * compact JSON text into *@a text (caller free()s; NULL when absent).
 * @return true, or false after replying (400 naming every bad email, or 500).
 */
static bool
emails_text (struct bw_request *rq, const json_t *emails, char **text)
{
  *text = NULL;
  if (NULL == emails)
    return true;
  json_t *errors = json_array ();
  json_t *norm = (NULL != errors) ? bw_emails_normalize (emails, "/emails", errors) : NULL;
  if (NULL == norm)
    {
      if (json_array_size (errors) > 0)
        bw_reply_problem (rq, BW_E_VALIDATION, "emails is invalid", errors);
      else
        {
          json_decref (errors);
          bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
        }
      return false;
    }
  json_decref (errors);
  *text = json_dumps (norm, JSON_COMPACT);
  json_decref (norm);
  if (NULL == *text)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  return true;
}

/* ---- replies and audit ---- */

/** Reply @a status with user @a u and its ETag (and `Location` for 201). */
static enum bw_step
reply_user (struct bw_request *rq, unsigned int status, const struct db_user *u)
{
  char loc[USER_LOCATION_SIZE];
  snprintf (loc, sizeof (loc), "/api/v1/orgs/%s/users/%s", rq->org.id, u->id);
  return bw_reply_versioned (rq, status, api_user_json (u), u->version,
                             (201 == status) ? loc : NULL);
}

static enum bw_step
reply_no_user (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such user", NULL);
}

/** 409 for a userName another user of the org has. */
static enum bw_step
reply_name_taken (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_CONFLICT, "the user_name is already taken",
                           json_pack ("[{s:s, s:s}]", "pointer", "/user_name", "message",
                                      "is already the user_name of another user (case is "
                                      "ignored)"));
}

/** A user as audited: its API representation. */
static json_t *
audit_repr (const void *object)
{
  return api_user_json (object);
}

/** Audit @a action on user @a before → @a after (either NULL) in the running transaction. */
static enum db_qs
audit_user (const struct bw_request *rq, const char *action, const char *id,
            const struct db_user *before, const struct db_user *after)
{
  enum db_qs qs = api_audit_change (rq, rq->org.id, action, "user", id, audit_repr, before,
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
};

/* ---- POST /api/v1/orgs/{org}/users ---- */

struct create_ctx
{
  const struct bw_request *rq;
  struct db_user_values v;
  enum abort_reason why; /* outputs, reset on each attempt */
  struct db_user user;
};

static enum db_qs
create_tx (void *cls)
{
  struct create_ctx *c = cls;
  struct db_directory_size size;
  c->why = ABORT_NONE;
  db_user_clear (&c->user);
  enum db_qs qs = db_directory_lock (c->rq->org.id, &size);
  if (qs < 0)
    return qs;
  if (0 == qs || size.users >= DB_DIRECTORY_USERS_MAX)
    {
      c->why = (0 == qs) ? ABORT_ORG_GONE : ABORT_LIMIT;
      return DB_QS_ABORT;
    }
  qs = db_user_insert (c->rq->org.id, &c->v, &c->user);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  return audit_user (c->rq, "user.create", c->user.id, NULL, &c->user);
}

enum bw_step
api_users_create (struct bw_request *rq)
{
  const json_t *user_name = NULL;
  const json_t *display_name = NULL;
  const json_t *external_id = NULL;
  const json_t *active = NULL;
  const json_t *emails = NULL;
  const struct bw_field fields[] = {
    { .name = "user_name",
      .type = BW_FIELD_STRING,
      .required = true,
      .max_len = DB_USER_NAME_MAX,
      .check = bw_field_check_text,
      .out = &user_name },
    { .name = "display_name",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_USER_DISPLAY_NAME_MAX,
      .check = bw_field_check_text,
      .out = &display_name },
    { .name = "external_id",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_USER_EXTERNAL_ID_MAX,
      .check = bw_field_check_text,
      .out = &external_id },
    { .name = "active", .type = BW_FIELD_BOOLEAN, .out = &active },
    { .name = "emails", .type = BW_FIELD_ARRAY, .out = &emails },
  };
  char *emails_json;
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0]))
      || !emails_text (rq, emails, &emails_json))
    return BW_REPLIED;
  struct create_ctx c = {
    .rq = rq,
    .v = {
      .user_name = json_string_value (user_name),
      .display_name = json_string_value (display_name), /* NULL when absent or null */
      .external_id = json_string_value (external_id),
      .active = (NULL == active) || json_is_true (active),
      .emails = (NULL != emails_json) ? emails_json : "[]",
    },
  };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, create_tx, &c);
  enum bw_step step;
  if (DB_QS_ABORT == qs && ABORT_LIMIT == c.why)
    step = api_directory_reply_limit (rq, "the organization", DB_DIRECTORY_USERS_MAX, "users");
  else if (DB_QS_ABORT == qs)
    step = bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  else if (DB_QS_CONFLICT == qs)
    step = reply_name_taken (rq);
  else if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else
    step = reply_user (rq, 201, &c.user);
  db_user_clear (&c.user);
  free (emails_json);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/users ---- */

/**
 * Read the list filters `user_name` and `active` into @a f.
 * @return true, or false after replying 400 naming each bad parameter.
 */
static bool
parse_filters (struct bw_request *rq, struct db_user_filter *f)
{
  json_t *errors = json_array ();
  const char *name = bw_request_query (rq, "user_name");
  const char *active = bw_request_query (rq, "active");
  if (NULL == errors)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  if (NULL != name
      && (strlen (name) > DB_USER_NAME_MAX || BW_TEXT_OK != bw_text_check (name, strlen (name))))
    json_array_append_new (errors, json_pack ("{s:s, s:s}", "parameter", "user_name", "message",
                                              "is not a user_name a user can have"));
  f->user_name = name;
  if (NULL == active)
    f->active = DB_USER_ANY;
  else if (0 == strcmp (active, "true"))
    f->active = DB_USER_ACTIVE;
  else if (0 == strcmp (active, "false"))
    f->active = DB_USER_INACTIVE;
  else
    json_array_append_new (
      errors, json_pack ("{s:s, s:s}", "parameter", "active", "message", "must be true or false"));
  if (json_array_size (errors) > 0)
    {
      bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameters", errors);
      return false;
    }
  json_decref (errors);
  return true;
}

enum bw_step
api_users_list (struct bw_request *rq)
{
  struct bw_page page;
  struct db_user_filter f = { 0 };
  if (!bw_page_parse (rq, &page) || !parse_filters (rq, &f))
    return BW_REPLIED;
  /* the cursor key is "<created_at>|<id>" of the last user of the previous page */
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &f.after_created_at, &f.after_id))
    return bw_reply_bad_cursor (rq);
  struct api_directory_page p;
  if (!api_directory_page_init (&p, page.limit))
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  enum db_qs qs = db_user_list (rq->org.id, &f, page.limit + 1, api_directory_page_user, &p);
  return api_directory_page_reply (rq, &p, qs, true);
}

/* ---- GET /api/v1/orgs/{org}/users/{id} ---- */

enum bw_step
api_users_get (struct bw_request *rq)
{
  const char *id = api_directory_id (rq, 1);
  struct db_user u;
  if (NULL == id)
    return reply_no_user (rq);
  enum db_qs qs = db_user_get (rq->org.id, id, &u);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_user (rq);
  enum bw_step step = reply_user (rq, 200, &u);
  db_user_clear (&u);
  return step;
}

/* ---- PATCH /api/v1/orgs/{org}/users/{id} ---- */

struct update_ctx
{
  const struct bw_request *rq;
  const char *id;
  const char *if_match; /**< `If-Match` value, or NULL */
  /* the fields given, borrowed from rq->json; NULL when absent, JSON null to clear */
  const json_t *user_name;
  const json_t *display_name;
  const json_t *external_id;
  const json_t *active;
  const char *emails;    /**< normalized emails as JSON text, or NULL when absent */
  enum abort_reason why; /* outputs, reset on each attempt */
  struct db_user user;
};

/** The new value of a nullable field: @a given (string or null), else @a old ("" = none). */
static const char *
merged (const json_t *given, const char *old)
{
  if (NULL != given)
    return json_string_value (given); /* NULL for JSON null */
  return ('\0' != old[0]) ? old : NULL;
}

static enum db_qs
update_tx (void *cls)
{
  struct update_ctx *c = cls;
  const char *org_id = c->rq->org.id;
  struct db_directory_size size;
  struct db_user before = { .emails = NULL };
  char *old_emails = NULL;
  c->why = ABORT_NONE;
  db_user_clear (&c->user);
  enum db_qs qs = db_directory_lock (org_id, &size);
  if (qs > 0)
    qs = db_user_lock (org_id, c->id, &before);
  if (qs <= 0)
    goto done; /* no org, no user, or an error */
  if (NULL != c->if_match && !bw_if_match_version (c->if_match, before.version))
    {
      c->why = ABORT_PRECONDITION;
      qs = DB_QS_ABORT;
      goto done;
    }
  if (NULL == c->emails && NULL == (old_emails = json_dumps (before.emails, JSON_COMPACT)))
    {
      qs = DB_QS_HARD_ERROR;
      goto done;
    }
  const struct db_user_values v = {
    .user_name = (NULL != c->user_name) ? json_string_value (c->user_name) : before.user_name,
    .display_name = merged (c->display_name, before.display_name),
    .external_id = merged (c->external_id, before.external_id),
    .active = (NULL != c->active) ? json_is_true (c->active) : before.active,
    .emails = (NULL != c->emails) ? c->emails : old_emails,
  };
  qs = db_user_update (org_id, c->id, &v, &c->user);
  if (0 == qs)
    qs = DB_QS_HARD_ERROR; /* the row is locked: it cannot have gone */
  /* Deactivating or reactivating a user changes which policies apply to
     it.  Deactivation also deletes the user's agents (their credentials
     end): the trigger users_revoke_agents of migration 0004 does it in this
     transaction, and agents_notify tells every replica's credential cache.
     TODO(later release, DESIGN §3): revoke the user's console sessions. */
  if (qs > 0 && before.active != c->user.active)
    qs = db_policy_version_bump (org_id);
  if (qs > 0)
    qs = audit_user (c->rq, "user.update", c->id, &before, &c->user);
done:
  free (old_emails);
  db_user_clear (&before);
  return qs;
}

enum bw_step
api_users_update (struct bw_request *rq)
{
  const char *id = api_directory_id (rq, 1);
  const json_t *emails = NULL;
  struct update_ctx c = { .rq = rq, .id = id, .if_match = bw_request_header (rq, "If-Match") };
  const struct bw_field fields[] = {
    { .name = "user_name",
      .type = BW_FIELD_STRING,
      .max_len = DB_USER_NAME_MAX,
      .check = bw_field_check_text,
      .out = &c.user_name },
    { .name = "display_name",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_USER_DISPLAY_NAME_MAX,
      .check = bw_field_check_text },
    { .name = "external_id",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_USER_EXTERNAL_ID_MAX,
      .check = bw_field_check_text },
    { .name = "active", .type = BW_FIELD_BOOLEAN, .out = &c.active },
    { .name = "emails", .type = BW_FIELD_ARRAY, .out = &emails },
  };
  char *emails_json;
  if (NULL == id)
    return reply_no_user (rq);
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (0 == json_object_size (rq->json))
    return bw_reply_invalid (rq, "",
                             "must contain at least one of user_name, display_name, "
                             "external_id, active, emails");
  if (!emails_text (rq, emails, &emails_json))
    return BW_REPLIED;
  c.emails = emails_json;
  /* Checked above (a string or null); read here because bw_fields_parse gives
     JSON null as NULL, like an absent field, and here null clears the value. */
  c.display_name = json_object_get (rq->json, "display_name");
  c.external_id = json_object_get (rq->json, "external_id");
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, update_tx, &c);
  enum bw_step step;
  if (DB_QS_ABORT == qs && ABORT_PRECONDITION == c.why)
    step = bw_reply_problem (rq, BW_E_PRECONDITION_FAILED,
                             "If-Match does not match the user's current ETag", NULL);
  else if (DB_QS_CONFLICT == qs)
    step = reply_name_taken (rq);
  else if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 == qs)
    step = reply_no_user (rq); /* or the org went away */
  else
    step = reply_user (rq, 200, &c.user);
  db_user_clear (&c.user);
  free (emails_json);
  return step;
}

/* ---- DELETE /api/v1/orgs/{org}/users/{id} ---- */

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
  struct db_user before = { .emails = NULL };
  enum db_qs qs = db_directory_lock (org_id, &size);
  if (qs > 0)
    qs = db_user_lock (org_id, c->id, &before);
  if (qs > 0)
    {
      qs = db_user_delete (org_id, c->id);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR; /* locked, yet not deleted */
    }
  /* Its memberships went with it, and policies naming it no longer apply
     to anyone.  Its agents were deleted by the trigger users_revoke_agents
     (migration 0004) in this transaction, its enroll secrets by the foreign
     key's cascade.  TODO(later release, DESIGN §3): revoke the user's
     console sessions. */
  if (qs > 0)
    qs = db_policy_version_bump (org_id);
  if (qs > 0)
    qs = audit_user (c->rq, "user.delete", c->id, &before, NULL);
  db_user_clear (&before);
  return qs;
}

enum bw_step
api_users_delete (struct bw_request *rq)
{
  struct delete_ctx c = { .rq = rq, .id = api_directory_id (rq, 1) };
  if (NULL == c.id)
    return reply_no_user (rq);
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, delete_tx, &c);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_user (rq);
  return bw_reply_empty (rq, 204, NULL, 0);
}

/* ---- GET /api/v1/orgs/{org}/users/{id}/groups ---- */

enum bw_step
api_users_groups (struct bw_request *rq)
{
  const char *id = api_directory_id (rq, 1);
  struct bw_page page;
  struct db_user u;
  if (NULL == id)
    return reply_no_user (rq);
  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  /* the cursor key is the id of the last group of the previous page */
  if (page.has_cursor && !bw_uuid_valid (page.key))
    return bw_reply_bad_cursor (rq);
  enum db_qs qs = db_user_get (rq->org.id, id, &u);
  db_user_clear (&u);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_user (rq);
  struct api_directory_page p;
  if (!api_directory_page_init (&p, page.limit))
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  qs = db_group_list_of_user (rq->org.id, id, page.has_cursor ? page.key : NULL, page.limit + 1,
                              api_directory_page_group, &p);
  return api_directory_page_reply (rq, &p, qs, false);
}
