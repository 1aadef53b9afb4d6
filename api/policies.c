/*
 * /api/v1/orgs/{org}/policies: policy documents with immutable revisions
 * (DESIGN §4).  Every change — create, update, rollback, delete — commits
 * in ONE transaction with its audit record and the org's policy version
 * bump (which NOTIFYs replicas), after locking the org row so that policy
 * writers of one org queue (the per-org limit and revision numbers are
 * race-free).  policy_json() is the one representation of a policy in
 * responses; audit records digest the documents before and after the
 * change, which GET .../revisions/{rev} serves unchanged forever.
 *
 * Updates and rollbacks REQUIRE `If-Match` with the revision ETag (428
 * without, 412 on mismatch): a policy decides what agents may do, so no
 * change may overwrite another one unseen.  Deletion takes `If-Match`
 * optionally: it loses nothing (revisions stay readable in the database
 * and the audit log names them) and a client that lost track of the ETag
 * must still be able to remove a policy.
 */
#include "config.h"
#include "api/audit.h"
#include "api/handlers.h"
#include "api/policies.h"
#include "db/policy.h"
#include "db/policy_version.h"
#include "lib/ident.h"
#include "lib/json_patch.h"
#include "lib/log.h"
#include "lib/policy.h"
#include "server/etag.h"
#include "server/fields.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "/api/v1/orgs/<uuid>/policies/<uuid>" */
#define LOCATION_MAX 96
/* Highest revision number (the column is an integer). */
#define REVISION_MAX INT32_MAX
/* Bytes of a JSON pointer to one scope entry: the prefix, "/scope/groups/" and an index. */
#define SCOPE_POINTER_MAX 64

/* ---- representation ---- */

const char *
api_policy_mode_name (enum bw_policy_mode m)
{
  return (BW_MODE_AUDIT == m) ? "audit" : "enforce";
}

/* The summary of @a p that lists show.  @return a new object, or NULL. */
static json_t *
policy_summary_json (const struct db_policy *p)
{
  return json_pack ("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s?}", "id", p->id, "name", p->name,
                    "revision", (json_int_t) p->revision, "mode", p->mode, "rule_count",
                    (json_int_t) p->rule_count, "created_at", p->created_at, "updated_at",
                    p->updated_at, "author", p->author, "comment", p->comment);
}

/* The full policy: the summary and the current document.  @return a new object, or NULL. */
static json_t *
policy_json (const struct db_policy *p)
{
  json_t *o = policy_summary_json (p);
  if (NULL != o && 0 != json_object_set (o, "document", p->document))
    {
      json_decref (o);
      return NULL;
    }
  return o;
}

/* Reply @a status with policy @a p, its ETag `"<revision>"` and, if @a location, its Location. */
static enum bw_step
reply_policy (struct bw_request *rq, unsigned int status, const struct db_policy *p, bool location)
{
  char loc[LOCATION_MAX];
  snprintf (loc, sizeof (loc), "/api/v1/orgs/%s/policies/%s", rq->org.id, p->id);
  return bw_reply_versioned (rq, status, policy_json (p), p->revision, location ? loc : NULL);
}

/* The {id} path parameter if it is a canonical uuid, else NULL (→ 404). */
static const char *
policy_id_param (const struct bw_request *rq)
{
  const char *id = rq->params[1];
  return (NULL != id && bw_uuid_valid (id)) ? id : NULL;
}

static enum bw_step
reply_no_policy (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such policy", NULL);
}

/* 400 naming query parameter @a name. */
static enum bw_step
reply_bad_param (struct bw_request *rq, const char *name, const char *message)
{
  return bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameter",
                           json_pack ("[{s:s, s:s}]", "parameter", name, "message", message));
}

/* A revision number: 1..REVISION_MAX in decimal without sign or leading zero. */
static bool
parse_revision (const char *s, int64_t *out)
{
  char *end;
  if (NULL == s || s[0] < '1' || s[0] > '9')
    return false;
  errno = 0;
  long long v = strtoll (s, &end, 10);
  if (0 != errno || '\0' != *end || v > REVISION_MAX)
    return false;
  *out = (int64_t) v;
  return true;
}

/* ---- scope ---- */

/** Where scope_missing_cb reports. */
struct scope_check_ctx
{
  const char *prefix;
  json_t *errors;
};

static void
scope_missing_cb (void *cls, enum db_policy_scope_kind kind, size_t i)
{
  struct scope_check_ctx *c = cls;
  bool group = DB_POLICY_SCOPE_GROUP == kind;
  char pointer[SCOPE_POINTER_MAX];
  snprintf (pointer, sizeof (pointer), "%s/scope/%s/%zu", c->prefix, group ? "groups" : "users",
            i);
  json_array_append_new (c->errors, json_pack ("{s:s, s:s}", "pointer", pointer, "message",
                                               group ? "no such group in this organization"
                                                     : "no such user in this organization"));
}

enum db_qs
api_policy_scope_check (const char *org_id, const struct bw_policy *p, const char *prefix,
                        json_t *errors)
{
  const struct bw_policy_scope *scope = bw_policy_scope (p);
  if (0 == scope->ngroups && 0 == scope->nusers)
    return DB_QS_NO_RESULTS;
  struct scope_check_ctx c = { .prefix = prefix, .errors = errors };
  return db_policy_scope_missing (org_id, scope->groups, scope->ngroups, scope->users,
                                  scope->nusers, scope_missing_cb, &c);
}

/* ---- validation of a body {"document", "comment"?} ---- */

/** A validated document, ready to store. */
struct doc_input
{
  const json_t *document;   /**< borrowed from the request body */
  struct bw_policy *parsed; /**< owned */
  char *text;               /**< owned: compact JSON for the jsonb column */
  const char *comment;      /**< borrowed, or NULL */
};

static void
doc_input_free (struct doc_input *in)
{
  bw_policy_free (in->parsed);
  free (in->text);
}

/*
 * Validate the body of POST and PUT: field specs, then the policy parser
 * with pointers under "/document".  @return true, or false after replying.
 */
static bool
parse_doc_input (struct bw_request *rq, struct doc_input *in)
{
  const json_t *document = NULL;
  const json_t *comment = NULL;
  const struct bw_field fields[] = {
    { .name = "document", .type = BW_FIELD_OBJECT, .required = true, .out = &document },
    { .name = "comment",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_POLICY_COMMENT_MAX,
      .out = &comment },
  };
  memset (in, 0, sizeof (*in));
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return false;
  json_t *errors = json_array ();
  if (NULL == errors)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  in->document = document;
  in->comment = (NULL != comment) ? json_string_value (comment) : NULL;
  in->parsed = bw_policy_parse (document, "/document", errors);
  if (NULL == in->parsed)
    {
      if (0 == json_array_size (errors))
        {
          json_decref (errors);
          bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
        }
      else
        bw_reply_problem (rq, BW_E_VALIDATION, "the policy document is invalid", errors);
      return false;
    }
  json_decref (errors);
  in->text = json_dumps (document, JSON_COMPACT);
  if (NULL == in->text)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  return true;
}

/* The db_policy_write of parsed policy @a p (compact JSON @a text) in the org of @a rq. */
static struct db_policy_write
write_of (const struct bw_request *rq, const struct bw_policy *p, const char *text,
          const char *comment)
{
  return (struct db_policy_write){
    .org_id = rq->org.id,
    .document = text,
    .name = bw_policy_name (p),
    .mode = api_policy_mode_name (bw_policy_mode (p)),
    .rule_count = bw_policy_rule_count (p),
    .author = rq->principal.actor,
    .comment = comment,
  };
}

/* ---- the transaction of every change ---- */

/** Why a change transaction stopped without committing (DB_QS_ABORT). */
enum outcome
{
  OUT_DONE = 0,
  OUT_NO_ORG,         /**< the org went away */
  OUT_NO_POLICY,      /**< no such live policy */
  OUT_LIMIT,          /**< BW_POLICIES_PER_ORG_MAX reached */
  OUT_PRECONDITION,   /**< If-Match does not match */
  OUT_SCOPE,          /**< scope names unknown groups/users: errors says which */
  OUT_NO_REVISION,    /**< rollback: no such revision */
  OUT_STALE_REVISION, /**< rollback: that revision's document no longer validates */
};

/** One change of a policy. */
struct change_ctx
{
  const struct bw_request *rq;
  const char *id;             /**< the policy (not for create) */
  const struct doc_input *in; /**< create, update: the new document */
  const char *if_match;       /**< the header, or NULL (delete only) */
  int64_t rollback_to;        /**< rollback: the revision to publish again */
  const char *comment;        /**< rollback: the comment, or NULL */
  /* outputs, reset on each attempt */
  enum outcome outcome;
  json_t *errors;          /**< OUT_SCOPE: owned */
  struct db_policy before; /**< update, rollback, delete */
  struct db_policy after;  /**< create, update, rollback */
};

static void
change_reset (struct change_ctx *c)
{
  c->outcome = OUT_DONE;
  json_decref (c->errors);
  c->errors = NULL;
  db_policy_clear (&c->before);
  db_policy_clear (&c->after);
}

/* Stop the transaction with @a outcome. */
static enum db_qs
abort_with (struct change_ctx *c, enum outcome outcome)
{
  c->outcome = outcome;
  return DB_QS_ABORT;
}

/*
 * Audit @a action of policy @a id and bump the org's policy version.  The
 * audit digests are those of the documents before and after (either NULL):
 * anyone can check them later against GET .../revisions/{rev}.
 */
static enum db_qs
record_change (struct change_ctx *c, const char *action, const char *id,
               const struct db_policy *before, const struct db_policy *after)
{
  enum db_qs qs = api_audit (c->rq, c->rq->org.id, action, "policy", id,
                             (NULL != before) ? before->document : NULL,
                             (NULL != after) ? after->document : NULL);
  if (qs < 0)
    return qs;
  qs = db_policy_version_bump (c->rq->org.id);
  if (0 == qs)
    return DB_QS_HARD_ERROR; /* the org row is locked: it cannot have gone */
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

/*
 * Lock the org (and count its policies into *live when not NULL), then,
 * when c->id is set, lock that policy into c->before and check If-Match.
 */
static enum db_qs
lock_for_change (struct change_ctx *c, int64_t *live)
{
  int64_t count;
  enum db_qs qs = db_policy_lock_org (c->rq->org.id, &count);
  if (qs < 0)
    return qs;
  if (0 == qs)
    return abort_with (c, OUT_NO_ORG);
  if (NULL != live)
    *live = count;
  if (NULL == c->id)
    return DB_QS_ONE_RESULT;
  qs = db_policy_lock (c->rq->org.id, c->id, &c->before);
  if (qs < 0)
    return qs;
  if (0 == qs)
    return abort_with (c, OUT_NO_POLICY);
  if (NULL != c->if_match && !bw_if_match_version (c->if_match, c->before.revision))
    return abort_with (c, OUT_PRECONDITION);
  return DB_QS_ONE_RESULT;
}

/* Check the scope of the new document inside the transaction (org locked). */
static enum db_qs
check_scope (struct change_ctx *c)
{
  c->errors = json_array ();
  if (NULL == c->errors)
    return DB_QS_HARD_ERROR;
  enum db_qs qs = api_policy_scope_check (c->rq->org.id, c->in->parsed, "/document", c->errors);
  if (qs < 0)
    return qs;
  return (qs > 0) ? abort_with (c, OUT_SCOPE) : DB_QS_ONE_RESULT;
}

/* Reply for a change transaction that did not commit. */
static enum bw_step
reply_change_failed (struct bw_request *rq, enum db_qs qs, struct change_ctx *c)
{
  if (DB_QS_ABORT != qs)
    return bw_reply_db_error (rq, qs);
  switch (c->outcome)
    {
    case OUT_NO_ORG:
      return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
    case OUT_NO_POLICY:
      return reply_no_policy (rq);
    case OUT_LIMIT:
      {
        char detail[96];
        snprintf (detail, sizeof (detail), "an organization holds at most %d policies",
                  BW_POLICIES_PER_ORG_MAX);
        return bw_reply_problem (rq, BW_E_LIMIT_EXCEEDED, detail, NULL);
      }
    case OUT_PRECONDITION:
      return bw_reply_problem (rq, BW_E_PRECONDITION_FAILED,
                               "If-Match does not match the policy's current revision", NULL);
    case OUT_SCOPE:
      {
        json_t *errors = c->errors;
        c->errors = NULL;
        return bw_reply_problem (rq, BW_E_VALIDATION,
                                 "the scope names groups or users this organization does not have",
                                 errors);
      }
    case OUT_NO_REVISION:
      return bw_reply_invalid (rq, "/revision", "no such revision of this policy");
    case OUT_STALE_REVISION:
      return bw_reply_invalid (rq, "/revision",
                               "that revision's document is no longer a valid policy");
    case OUT_DONE:
      break;
    }
  return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
}

/* `If-Match` for update and rollback: required.  @return it, or NULL after replying 428. */
static const char *
required_if_match (struct bw_request *rq)
{
  const char *v = bw_request_header (rq, "If-Match");
  /* "*" would match any revision (RFC 9110 §13.1.1) and so defeat the point
     of requiring the header: a change must name the revision it replaces. */
  if (NULL == v || 0 == strcmp (v, "*"))
    {
      bw_reply_problem (rq, BW_E_PRECONDITION_REQUIRED,
                        "send If-Match with the policy's ETag (its revision, e.g. \"3\"); "
                        "\"*\" is not accepted",
                        NULL);
      return NULL;
    }
  return v;
}

/*
 * Run change transaction @a tx for @a c (the context of request @a rq) and reply: @a status with the
 * policy after the change (201 adds its Location; 204 has no body), or why
 * it did not commit.
 */
static enum bw_step
run_change (struct bw_request *rq, struct change_ctx *c, db_tx_cb tx, unsigned int status)
{
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, tx, c);
  enum bw_step step;
  if (qs < 0)
    step = reply_change_failed (rq, qs, c);
  else if (204 == status)
    step = bw_reply_empty (rq, 204, NULL, 0);
  else
    step = reply_policy (rq, status, &c->after, 201 == status);
  change_reset (c);
  return step;
}

/* ---- POST /api/v1/orgs/{org}/policies ---- */

static enum db_qs
create_tx (void *cls)
{
  struct change_ctx *c = cls;
  int64_t live = 0;
  change_reset (c);
  enum db_qs qs = lock_for_change (c, &live);
  if (qs <= 0)
    return qs;
  if (live >= BW_POLICIES_PER_ORG_MAX)
    return abort_with (c, OUT_LIMIT);
  qs = check_scope (c);
  if (qs <= 0)
    return qs;
  struct db_policy_write w = write_of (c->rq, c->in->parsed, c->in->text, c->in->comment);
  qs = db_policy_insert (&w, &c->after);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs;
  return record_change (c, "policy.create", c->after.id, NULL, &c->after);
}

enum bw_step
api_policies_create (struct bw_request *rq)
{
  struct doc_input in;
  if (!parse_doc_input (rq, &in))
    {
      doc_input_free (&in);
      return BW_REPLIED;
    }
  struct change_ctx c = { .rq = rq, .in = &in };
  enum bw_step step = run_change (rq, &c, create_tx, 201);
  doc_input_free (&in);
  return step;
}

/* ---- PUT /api/v1/orgs/{org}/policies/{id} ---- */

static enum db_qs
update_tx (void *cls)
{
  struct change_ctx *c = cls;
  change_reset (c);
  enum db_qs qs = lock_for_change (c, NULL);
  if (qs <= 0)
    return qs;
  qs = check_scope (c);
  if (qs <= 0)
    return qs;
  struct db_policy_write w = write_of (c->rq, c->in->parsed, c->in->text, c->in->comment);
  qs = db_policy_revise (c->id, &w, &c->after);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* the row is locked */
  return record_change (c, "policy.update", c->id, &c->before, &c->after);
}

enum bw_step
api_policies_update (struct bw_request *rq)
{
  const char *if_match = required_if_match (rq);
  if (NULL == if_match)
    return BW_REPLIED;
  const char *id = policy_id_param (rq);
  if (NULL == id)
    return reply_no_policy (rq);
  struct doc_input in;
  if (!parse_doc_input (rq, &in))
    {
      doc_input_free (&in);
      return BW_REPLIED;
    }
  struct change_ctx c = { .rq = rq, .id = id, .in = &in, .if_match = if_match };
  enum bw_step step = run_change (rq, &c, update_tx, 200);
  doc_input_free (&in);
  return step;
}

/* ---- POST /api/v1/orgs/{org}/policies/{id}/rollback ---- */

static enum db_qs
rollback_tx (void *cls)
{
  struct change_ctx *c = cls;
  struct db_policy_revision old = { 0 };
  change_reset (c);
  enum db_qs qs = lock_for_change (c, NULL);
  if (qs <= 0)
    return qs;
  qs = db_policy_revision_get (c->rq->org.id, c->id, c->rollback_to, &old);
  if (qs <= 0)
    {
      db_policy_revision_clear (&old);
      return (0 == qs) ? abort_with (c, OUT_NO_REVISION) : qs;
    }
  /* Parsed again: name, mode and rule count come from it, and a document
     the current parser refuses must not become current again.  Its scope
     is checked like a create's: a group or user deleted since would be
     republished as a dangling id. */
  json_t *errors = json_array ();
  struct bw_policy *p = (NULL != errors) ? bw_policy_parse (old.document, "", errors) : NULL;
  char *text = (NULL != p) ? json_dumps (old.document, JSON_COMPACT) : NULL;
  char comment[64];
  if (NULL == c->comment)
    snprintf (comment, sizeof (comment), "rollback to revision %" PRId64, c->rollback_to);
  if (NULL == p && NULL != errors && json_array_size (errors) > 0)
    qs = abort_with (c, OUT_STALE_REVISION);
  else if (NULL == text)
    qs = DB_QS_HARD_ERROR;
  else if (NULL == (c->errors = json_array ()))
    qs = DB_QS_HARD_ERROR;
  else if (0 != (qs = api_policy_scope_check (c->rq->org.id, p, "/document",
                                              c->errors)))
    qs = (qs < 0) ? qs : abort_with (c, OUT_SCOPE);
  else
    {
      struct db_policy_write w
        = write_of (c->rq, p, text, (NULL != c->comment) ? c->comment : comment);
      qs = db_policy_revise (c->id, &w, &c->after);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR; /* the row is locked */
      if (qs > 0)
        qs = record_change (c, "policy.rollback", c->id, &c->before, &c->after);
    }
  free (text);
  bw_policy_free (p);
  json_decref (errors);
  db_policy_revision_clear (&old);
  return qs;
}

enum bw_step
api_policies_rollback (struct bw_request *rq)
{
  const char *if_match = required_if_match (rq);
  if (NULL == if_match)
    return BW_REPLIED;
  const char *id = policy_id_param (rq);
  if (NULL == id)
    return reply_no_policy (rq);
  const json_t *revision = NULL;
  const json_t *comment = NULL;
  const struct bw_field fields[] = {
    { .name = "revision", .type = BW_FIELD_INTEGER, .required = true, .out = &revision },
    { .name = "comment",
      .type = BW_FIELD_STRING,
      .nullable = true,
      .max_len = DB_POLICY_COMMENT_MAX,
      .out = &comment },
  };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  json_int_t rev = json_integer_value (revision);
  if (rev < 1 || rev > REVISION_MAX)
    return bw_reply_invalid (rq, "/revision", "must be a revision number of this policy");
  struct change_ctx c = {
    .rq = rq,
    .id = id,
    .if_match = if_match,
    .rollback_to = (int64_t) rev,
    .comment = (NULL != comment) ? json_string_value (comment) : NULL,
  };
  return run_change (rq, &c, rollback_tx, 200);
}

/* ---- DELETE /api/v1/orgs/{org}/policies/{id} ---- */

static enum db_qs
delete_tx (void *cls)
{
  struct change_ctx *c = cls;
  change_reset (c);
  enum db_qs qs = lock_for_change (c, NULL);
  if (qs <= 0)
    return qs;
  qs = db_policy_delete (c->rq->org.id, c->id);
  if (qs <= 0)
    return (0 == qs) ? DB_QS_HARD_ERROR : qs; /* the row is locked */
  return record_change (c, "policy.delete", c->id, &c->before, NULL);
}

enum bw_step
api_policies_delete (struct bw_request *rq)
{
  const char *id = policy_id_param (rq);
  if (NULL == id)
    return reply_no_policy (rq);
  struct change_ctx c = { .rq = rq, .id = id, .if_match = bw_request_header (rq, "If-Match") };
  return run_change (rq, &c, delete_tx, 204);
}

/* ---- GET /api/v1/orgs/{org}/policies ---- */

/* A list row as bw_reply_rows_page (server/pagination.h) reads it. */
static json_t *
policy_row_json (const void *row)
{
  return policy_summary_json (row);
}

static const char *
policy_row_created_at (const void *row)
{
  return ((const struct db_policy *) row)->created_at;
}

static const char *
policy_row_id (const void *row)
{
  return ((const struct db_policy *) row)->id;
}

enum bw_step
api_policies_list (struct bw_request *rq)
{
  struct bw_page page;
  const char *after_created_at = NULL;
  const char *after_id = NULL;
  struct db_policy *items = NULL;
  size_t n = 0;

  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  /* the cursor key is "<created_at>|<id>" of the last policy of the previous page */
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &after_created_at, &after_id))
    return bw_reply_bad_cursor (rq);
  enum db_qs qs
    = db_policy_list (rq->org.id, after_created_at, after_id, page.limit + 1, &items, &n);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  const struct bw_page_rows rows = {
    .rows = items, .n = n, .size = sizeof (*items), .to_json = policy_row_json,
    .created_at = policy_row_created_at, .id = policy_row_id,
  };
  enum bw_step step = bw_reply_rows_page (rq, &page, &rows);
  for (size_t i = 0; i < n; i++)
    db_policy_clear (&items[i]);
  free (items);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/policies/{id} ---- */

enum bw_step
api_policies_get (struct bw_request *rq)
{
  const char *id = policy_id_param (rq);
  struct db_policy p;
  if (NULL == id)
    return reply_no_policy (rq);
  enum db_qs qs = db_policy_get (rq->org.id, id, &p);
  enum bw_step step;
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 == qs)
    step = reply_no_policy (rq);
  else
    step = reply_policy (rq, 200, &p, false);
  db_policy_clear (&p);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/policies/{id}/revisions ---- */

/* One revision as listed (without document), or with it when @a full. */
static json_t *
revision_json (const char *policy_id, const struct db_policy_revision *r, bool full)
{
  json_t *o = json_pack ("{s:I, s:s, s:s?, s:s}", "revision", (json_int_t) r->revision, "author",
                         r->author, "comment", r->comment, "created_at", r->created_at);
  if (full && NULL != o
      && (0 != json_object_set_new (o, "policy_id", json_string (policy_id))
          || 0 != json_object_set (o, "document", r->document)))
    {
      json_decref (o);
      return NULL;
    }
  return o;
}

enum bw_step
api_policies_revisions (struct bw_request *rq)
{
  const char *id = policy_id_param (rq);
  struct bw_page page;
  int64_t before = 0;
  int64_t current;
  struct db_policy_revision *items = NULL;
  size_t n = 0;
  json_t *next = NULL;

  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  /* the cursor key is the last revision number of the previous page */
  if (page.has_cursor && !parse_revision (page.key, &before))
    return bw_reply_bad_cursor (rq);
  if (NULL == id)
    return reply_no_policy (rq);
  enum db_qs qs = db_policy_current_revision (rq->org.id, id, &current);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_policy (rq);
  qs = db_policy_revision_list (rq->org.id, id, before, page.limit + 1, &items, &n);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  json_t *arr = json_array ();
  for (size_t i = 0; NULL != arr && i < n && i < page.limit; i++)
    if (0 != json_array_append_new (arr, revision_json (id, &items[i], false)))
      {
        json_decref (arr);
        arr = NULL;
      }
  if (NULL != arr && n > page.limit)
    {
      char key[24];
      snprintf (key, sizeof (key), "%" PRId64, items[page.limit - 1].revision);
      next = bw_cursor_encode (key);
      if (NULL == next)
        {
          json_decref (arr);
          arr = NULL;
        }
    }
  for (size_t i = 0; i < n; i++)
    db_policy_revision_clear (&items[i]);
  free (items);
  return bw_reply_page (rq, arr, next);
}

/* ---- GET /api/v1/orgs/{org}/policies/{id}/revisions/{rev} ---- */

enum bw_step
api_policies_revision_get (struct bw_request *rq)
{
  const char *id = policy_id_param (rq);
  int64_t rev;
  struct db_policy_revision r;
  if (NULL == id || !parse_revision (rq->params[2], &rev))
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such revision", NULL);
  enum db_qs qs = db_policy_revision_get (rq->org.id, id, rev, &r);
  enum bw_step step;
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 == qs)
    step = bw_reply_problem (rq, BW_E_NOT_FOUND, "no such revision", NULL);
  else
    step = bw_reply_json (rq, 200, revision_json (id, &r, true), NULL, 0);
  db_policy_revision_clear (&r);
  return step;
}

/* ---- GET /api/v1/orgs/{org}/policies/{id}/diff?from=N&to=M ---- */

enum bw_step
api_policies_diff (struct bw_request *rq)
{
  const char *id = policy_id_param (rq);
  const char *names[2] = { "from", "to" };
  int64_t revs[2];
  struct db_policy_revision r[2] = { { 0 }, { 0 } };
  json_t *errors = json_array ();
  enum bw_step step;

  if (NULL == errors)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  for (int i = 0; i < 2; i++)
    if (!parse_revision (bw_request_query (rq, names[i]), &revs[i]))
      json_array_append_new (errors, json_pack ("{s:s, s:s}", "parameter", names[i], "message",
                                                "must be a revision number (1, 2, ...)"));
  if (json_array_size (errors) > 0)
    return bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameters", errors);
  json_decref (errors);
  if (NULL == id)
    return reply_no_policy (rq);
  int64_t current;
  enum db_qs qs = db_policy_current_revision (rq->org.id, id, &current);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (0 == qs)
    return reply_no_policy (rq);
  for (int i = 0; i < 2 && qs > 0; i++)
    qs = db_policy_revision_get (rq->org.id, id, revs[i], &r[i]);
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (NULL == r[0].document || NULL == r[1].document)
    step = reply_bad_param (rq, (NULL == r[0].document) ? "from" : "to",
                            "no such revision of this policy");
  else
    step = bw_reply_json (rq, 200, bw_json_patch_diff (r[0].document, r[1].document), NULL, 0);
  db_policy_revision_clear (&r[0]);
  db_policy_revision_clear (&r[1]);
  return step;
}
