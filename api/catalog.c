/*
 * /api/v1/orgs/{org}/catalog and POST /api/v1/agent/catalog/requests: the
 * MCP catalog and its approval workflow (DESIGN §5).
 *
 * The state machine is the table `transitions` below, the one place that
 * says which state each change leaves and reaches; PATCH and PUT .../tools
 * are constrained there too.  Every change runs in ONE transaction that
 * locks the org row first (catalog writers of one org queue there, so the
 * pin and live-name checks are race-free), then the entry, and commits
 * with its audit record (target type `catalog_entry`) and, when the
 * approved slice a bundle carries can change, the org's policy version
 * bump (db_policy_version_bump: the bundle compiler picks the new slice up
 * and long-polling agents wake).
 *
 * New entries — created, imported, requested by an agent, or a successor
 * made by a new tool list of a live entry — all go through insert_entry():
 * state requested; 409 catalog_entry_exists when an entry with the same
 * pin (bw_catalog_same_pin) is requested, in review, approved or
 * suspended; `supersedes` the live entry of the same name.  Only a
 * reviewer approves tools and binds credentials: a request that names an
 * approved tool or a credential is refused (400), and a new entry holds
 * blocked tools and no bindings except what carry_review() takes over
 * from the live entry it supersedes — until that one is revoked: then
 * its pending successors lose all of it (strip_pending_successors).
 *
 * An approval ends for good when its expires_at passes: the expiry job
 * (api_catalog_expire_org) moves the entry, approved or suspended, to
 * deprecated; until it has, nothing may change the entry but a revoke or
 * a deprecate.
 *
 * Audit records digest the entry's representation without `source` (the
 * imported server.json never changes, and may hold numbers that canonical
 * JSON does not take).
 */
#include "config.h"
#include "api/audit.h"
#include "api/catalog.h"
#include "api/handlers.h"
#include "db/org.h"
#include "db/audit.h"
#include "db/catalog.h"
#include "db/policy_version.h"
#include "db/token.h"
#include "lib/canonical_json.h"
#include "lib/catalog.h"
#include "lib/crypto.h"
#include "lib/ident.h"
#include "lib/json_errors.h"
#include "lib/policy_model.h"
#include "lib/rfc3339.h"
#include "server/etag.h"
#include "server/fields.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "/api/v1/orgs/<uuid>/catalog/entries/<uuid>" */
#define LOCATION_MAX 112
/** Longest `select` of an import ("/packages/<i>" or "/remotes/<i>"). */
#define SELECT_MAX 64
/** Longest reason of a successor entry made by PUT .../tools. */
#define SUCCESSOR_REASON_MAX 96
/** Most digits of a select's index that can name a member (more: none can exist). */
#define SELECT_INDEX_DIGITS_MAX 9
/** Room for "<n> packages (/packages/0 to /packages/<n-1>)". */
#define MEMBERS_TEXT_MAX 96

/* ---- the state machine (DESIGN §5) ---- */

enum state
{
  ST_REQUESTED = 0,
  ST_IN_REVIEW,
  ST_APPROVED,
  ST_REJECTED,
  ST_SUSPENDED,
  ST_REVOKED,
  ST_DEPRECATED,
  ST__COUNT
};

static const char *const state_names[ST__COUNT] = {
  [ST_REQUESTED] = "requested", [ST_IN_REVIEW] = "in_review", [ST_APPROVED] = "approved",
  [ST_REJECTED] = "rejected",   [ST_SUSPENDED] = "suspended", [ST_REVOKED] = "revoked",
  [ST_DEPRECATED] = "deprecated",
};

#define S(st) (1u << (st))

enum transition_id
{
  TR_REVIEW = 0,
  TR_APPROVE,
  TR_REJECT,
  TR_SUSPEND,
  TR_RESUME,
  TR_REVOKE,
  TR_DEPRECATE,
  TR__COUNT
};

/** One transition: POST …/entries/{id}/<name>. */
struct transition
{
  const char *name;   /**< the route's last segment; the problem's `transition` */
  const char *action; /**< the audit action */
  unsigned int from;  /**< bit set of the states it leaves */
  enum state to;
};

static const struct transition transitions[TR__COUNT] = {
  [TR_REVIEW] = { "review", "catalog.entry.review", S (ST_REQUESTED), ST_IN_REVIEW },
  [TR_APPROVE] = { "approve", "catalog.entry.approve", S (ST_IN_REVIEW), ST_APPROVED },
  [TR_REJECT] = { "reject", "catalog.entry.reject", S (ST_IN_REVIEW), ST_REJECTED },
  [TR_SUSPEND] = { "suspend", "catalog.entry.suspend", S (ST_APPROVED), ST_SUSPENDED },
  [TR_RESUME] = { "resume", "catalog.entry.resume", S (ST_SUSPENDED), ST_APPROVED },
  [TR_REVOKE] = { "revoke", "catalog.entry.revoke", S (ST_APPROVED) | S (ST_SUSPENDED),
                  ST_REVOKED },
  [TR_DEPRECATE] = { "deprecate", "catalog.entry.deprecate", S (ST_APPROVED) | S (ST_SUSPENDED),
                     ST_DEPRECATED },
};

/** PATCH (transition "update"): the states whose review fields may change. */
static const unsigned int patchable = S (ST_IN_REVIEW) | S (ST_APPROVED) | S (ST_SUSPENDED);
/**
 * PUT …/tools (transition "tools"): replaced in place while requested —
 * never in_review: the list under review is frozen, so what the reviewer
 * reads is what an approve (without If-Match too) approves…
 */
static const unsigned int tools_in_place = S (ST_REQUESTED);
/** …or a new entry in requested superseding a live one; final states take no tools. */
static const unsigned int tools_successor = S (ST_APPROVED) | S (ST_SUSPENDED);

/** The state named @a s, or ST__COUNT. */
static enum state
state_parse (const char *s)
{
  for (int i = 0; i < ST__COUNT; i++)
    if (0 == strcmp (s, state_names[i]))
      return (enum state) i;
  return ST__COUNT;
}

/** Whether a stored state name @a s is in bit set @a set. */
static bool
state_in (const char *s, unsigned int set)
{
  enum state st = state_parse (s);
  return ST__COUNT != st && 0 != (set & S (st));
}

/* ---- representation ---- */

static json_t *
or_null (const char *s)
{
  return ('\0' != s[0]) ? json_string (s) : json_null ();
}

/*
 * The one representation of an entry: the normalized entry document's keys
 * at top level plus the workflow's, and `source` when @a with_source.
 * @return a new object, or NULL.
 */
static json_t *
entry_json (const struct db_catalog_entry *e, bool with_source)
{
  json_t *o = json_copy (e->definition);
  json_t *extra = json_pack (
    "{s:s, s:s, s:b, s:s, s:s, s:o, s:s?, s:o, s:o, s:o, s:o, s:o, s:I, s:s, s:s}", "id", e->id,
    "state", e->state, "active", e->active, "reason", e->reason, "requested_by",
    e->requested_by, "requested_by_user", or_null (e->requested_by_user), "review_note",
    e->review_note, "reviewed_by", or_null (e->reviewed_by), "reviewed_at",
    or_null (e->reviewed_at), "expires_at", or_null (e->expires_at), "expired_at",
    or_null (e->expired_at), "supersedes",
    or_null (e->supersedes), "revision", (json_int_t) e->revision, "created_at", e->created_at,
    "updated_at", e->updated_at);
  if (NULL == o || NULL == extra || 0 != json_object_update (o, extra))
    goto fail;
  if (NULL == e->review_note && 0 != json_object_set_new (o, "review_note", json_null ()))
    goto fail;
  if (with_source
      && 0 != json_object_set (o, "source", (NULL != e->source) ? e->source : json_null ()))
    goto fail;
  json_decref (extra);
  return o;
fail:
  json_decref (o);
  json_decref (extra);
  return NULL;
}

/* What audit records digest. */
static json_t *
entry_repr (const void *e)
{
  return entry_json (e, false);
}

/* Reply @a status with entry @a e, `ETag: "<revision>"` and, for a 201, its Location. */
static enum bw_step
reply_entry (struct bw_request *rq, unsigned int status, const char *org_id,
             const struct db_catalog_entry *e)
{
  char loc[LOCATION_MAX];
  snprintf (loc, sizeof (loc), "/api/v1/orgs/%s/catalog/entries/%s", org_id, e->id);
  return bw_reply_versioned (rq, status, entry_json (e, true), e->revision,
                             (201 == status) ? loc : NULL);
}

static enum bw_step
reply_no_entry (struct bw_request *rq)
{
  return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such catalog entry", NULL);
}

/* The {id} path parameter if it is a canonical uuid, else NULL (→ 404). */
static const char *
entry_id_param (const struct bw_request *rq)
{
  const char *id = rq->params[1];
  return (NULL != id && bw_uuid_valid (id)) ? id : NULL;
}

/* ---- definitions ---- */

static const char *
def_str (const json_t *def, const char *key)
{
  return json_string_value (json_object_get (def, key));
}

/* The member of array @a arr (of objects) whose "name" is @a name, or NULL. */
static json_t *
find_named (const json_t *arr, const char *name)
{
  size_t i;
  json_t *v;
  json_array_foreach (arr, i, v)
    {
      const char *n = json_string_value (json_object_get (v, "name"));
      if (NULL != n && 0 == strcmp (name, n))
        return v;
    }
  return NULL;
}

/*
 * What a new entry keeps of the review of the live entry it supersedes,
 * applied to @a def (normalized, changed in place); @a from is that
 * entry's normalized definition (borrowed), or NULL when there is none.
 * Every tool's state is set by bw_catalog_tools_carry (the state of the
 * same tool with the same description in @a from, else blocked); a secret
 * input keeps the credential @a from binds to its input of the same name
 * and kind, every other binding is dropped.  Only a reviewer approves
 * tools or binds credentials: a requester's never survive.
 * @return 0, or -1 when out of memory (a binding may then be lost, never gained).
 */
static int
carry_review (json_t *def, const json_t *from)
{
  size_t i;
  json_t *in;
  int rc = 0;
  bw_catalog_tools_carry (json_object_get (def, "tools"), json_object_get (from, "tools"));
  json_array_foreach (json_object_get (def, "inputs"), i, in)
    {
      const char *name = json_string_value (json_object_get (in, "name"));
      const json_t *prev
        = (NULL != name) ? find_named (json_object_get (from, "inputs"), name) : NULL;
      json_t *cred = json_object_get (prev, "credential");
      json_object_del (in, "credential");
      if (json_is_string (cred) && json_is_true (json_object_get (in, "secret"))
          && json_equal (json_object_get (in, "kind"), json_object_get (prev, "kind"))
          && 0 != json_object_set (in, "credential", cred))
        rc = -1;
    }
  return rc;
}

/*
 * Whether tool @a prev (normalized, borrowed) is tool @a tool (normalized,
 * borrowed) unchanged, as bw_catalog_tools_carry compares them: probed by
 * carrying "approved" from a copy of @a prev into a copy of @a tool.
 * @return 1 when it is, 0 when not, -1 when out of memory.
 */
static int
same_tool (const json_t *tool, const json_t *prev)
{
  json_t *probe = json_array ();
  json_t *from = json_array ();
  json_t *p = json_deep_copy (prev);
  int rc = -1;
  if (NULL != probe && NULL != from && NULL != p
      && 0 == json_object_set_new (p, "state", json_string ("approved"))
      && 0 == json_array_append (from, p)
      && 0 == json_array_append_new (probe, json_deep_copy (tool)))
    {
      bw_catalog_tools_carry (probe, from);
      const char *st = json_string_value (json_object_get (json_array_get (probe, 0), "state"));
      rc = (NULL != st && 0 == strcmp (st, "approved")) ? 1 : 0;
    }
  json_decref (p);
  json_decref (from);
  json_decref (probe);
  return rc;
}

/*
 * Tool states of a new tool list @a tools (normalized, changed in place)
 * attached to an entry in requested: a tool keeps the state it has in the
 * entry's own list @a own (what it carried when created, or from an
 * earlier list) when it is there unchanged, else the state the
 * live entry's list @a live (NULL when none is live) gives it by
 * bw_catalog_tools_carry, else blocked.
 * @return 0, or -1 when out of memory.
 */
static int
carry_tools_in_place (json_t *tools, const json_t *own, const json_t *live)
{
  size_t i;
  json_t *t;
  bw_catalog_tools_carry (tools, live);
  json_array_foreach (tools, i, t)
    {
      const char *name = json_string_value (json_object_get (t, "name"));
      const json_t *p = (NULL != name) ? find_named (own, name) : NULL;
      const char *st = json_string_value (json_object_get (p, "state"));
      if (NULL == st || (0 != strcmp (st, "approved") && 0 != strcmp (st, "blocked")))
        continue;
      int same = same_tool (t, p);
      if (same < 0 || (same > 0 && 0 != json_object_set_new (t, "state", json_string (st))))
        return -1;
    }
  return 0;
}

/*
 * Refuse in a requester's entry document @a entry (borrowed, as given)
 * what only the review sets: a tool "state": "approved" and an input's
 * "credential".  Errors appended to @a errors at /entry/tools/<i>/state
 * and /entry/inputs/<i>/credential, <i> the index as given.
 */
static void
check_no_review_fields (const json_t *entry, json_t *errors)
{
  struct bw_errors e;
  size_t i;
  json_t *v;
  bw_errors_init (&e, errors, "/entry");
  json_array_foreach (json_object_get (entry, "tools"), i, v)
    {
      const char *st = json_string_value (json_object_get (v, "state"));
      if (NULL != st && 0 == strcmp (st, "approved"))
        bw_errors_add (&e,
                       "tool states are set by the review: a requested tool is \"blocked\" "
                       "until a reviewer approves it",
                       "/tools/%zu/state", i);
    }
  json_array_foreach (json_object_get (entry, "inputs"), i, v)
    if (NULL != json_object_get (v, "credential"))
      bw_errors_add (&e,
                     "credentials are bound by the review: leave it out, a reviewer binds "
                     "the input when approving",
                     "/inputs/%zu/credential", i);
}

/*
 * Apply the review maps of a body to @a def (a deep copy, changed in place):
 * @a tools {"<tool>": "approved"|"blocked"}, @a inputs {"<input>":
 * {"credential": "<name>"|null}} (only a secret input takes a credential);
 * either may be NULL.  Errors name "/tools/<tool>", "/inputs/<input>/...".
 */
static void
apply_review_maps (json_t *def, const json_t *tools, const json_t *inputs, json_t *errors)
{
  struct bw_errors e;
  const char *key;
  json_t *value;
  char esc[BW_POINTER_MAX];
  bw_errors_init (&e, errors, "");
  json_object_foreach ((json_t *) tools, key, value)
    {
      json_t *tool = find_named (json_object_get (def, "tools"), key);
      const char *st = json_string_value (value);
      bw_pointer_escape (key, esc, sizeof (esc));
      if (NULL == tool)
        bw_errors_add (&e, "no such tool in this entry", "/tools/%s", esc);
      else if (NULL == st || (0 != strcmp (st, "approved") && 0 != strcmp (st, "blocked")))
        bw_errors_add (&e, "must be \"approved\" or \"blocked\"", "/tools/%s", esc);
      else
        json_object_set_new (tool, "state", json_string (st));
    }
  json_object_foreach ((json_t *) inputs, key, value)
    {
      static const char *const allowed[] = { "credential", NULL };
      json_t *input = find_named (json_object_get (def, "inputs"), key);
      json_t *cred = json_object_get (value, "credential");
      char base[BW_POINTER_MAX + 16];
      bw_pointer_escape (key, esc, sizeof (esc));
      snprintf (base, sizeof (base), "/inputs/%s", esc);
      if (NULL == input)
        {
          bw_errors_add (&e, "no such input in this entry", "%s", base);
          continue;
        }
      if (!json_is_object (value))
        {
          bw_errors_add (&e, "must be an object {\"credential\": name or null}", "%s", base);
          continue;
        }
      if (!bw_errors_check_keys (&e, value, allowed, base))
        continue;
      if (NULL == cred)
        bw_errors_add (&e, "is required", "%s/credential", base);
      else if (json_is_null (cred))
        json_object_del (input, "credential");
      else if (!json_is_string (cred))
        bw_errors_add (&e, "must be a credential name or null", "%s/credential", base);
      else if (!json_is_true (json_object_get (input, "secret")))
        bw_errors_add (&e, "only a secret input takes a credential", "%s/credential", base);
      else
        {
          const char *bad = bw_credential_check (json_string_value (cred),
                                                 json_string_length (cred));
          if (NULL != bad)
            bw_errors_add (&e, bad, "%s/credential", base);
          else
            json_object_set (input, "credential", cred);
        }
    }
}

/* ---- body fields ---- */

/* Free text (reasons, notes): not blank; no control characters but newline and tab. */
static const char *
check_prose (const json_t *v)
{
  const char *s = json_string_value (v);
  bool blank = true;
  for (const unsigned char *p = (const unsigned char *) s; '\0' != *p; p++)
    {
      if ((*p < 0x20 && '\n' != *p && '\t' != *p) || 0x7f == *p)
        return "must not contain control characters other than newline and tab";
      if (' ' != *p && '\n' != *p && '\t' != *p && '\r' != *p)
        blank = false;
    }
  return blank ? "must not be empty or blank" : NULL;
}

static const char *
check_expires_at (const json_t *v)
{
  if (!bw_rfc3339_valid (json_string_value (v)))
    return "must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z";
  return NULL;
}

/* 400 with @a errors (stolen), or 500 when it is empty (allocation failure). */
static enum bw_step
reply_errors (struct bw_request *rq, const char *detail, json_t *errors)
{
  if (NULL == errors || 0 == json_array_size (errors))
    {
      json_decref (errors);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  return bw_reply_problem (rq, BW_E_VALIDATION, detail, errors);
}

/* ---- the transactions ---- */

/** Why a transaction stopped without committing (DB_QS_ABORT). */
enum outcome
{
  OUT_DONE = 0,
  OUT_NO_ORG,         /**< the org went away */
  OUT_NO_ENTRY,       /**< no such entry in this org */
  OUT_PRECONDITION,   /**< If-Match does not match */
  OUT_TRANSITION,     /**< the entry's state does not allow it: state, transition */
  OUT_INVALID,        /**< the body does not fit the entry: errors */
  OUT_EXPIRY_PAST,    /**< expires_at is not in the future */
  OUT_EXISTS,         /**< an entry with the same pin: exists_id */
  OUT_NOTHING,        /**< PATCH without a field to change */
  OUT_EXPIRED,        /**< the live entry's approval expired (the job retires it): state */
  OUT_EXPIRY_LAPSED,  /**< approve: the entry's expires_at passed and no new one was given */
};

/** One change, its inputs and outputs. */
struct change_ctx
{
  const struct bw_request *rq;
  const char *org_id;
  const char *id;                   /**< the entry, or NULL (new entries) */
  const char *if_match;             /**< the header, or NULL */
  const char *transition;           /**< the name a refusal reports */
  /* new entries */
  const json_t *proposed;           /**< normalized definition (borrowed) */
  const char *source;               /**< compact JSON of the imported server.json, or NULL */
  const char *reason;
  const char *requested_by_user;    /**< uuid, or NULL */
  /* review fields, borrowed from the body; NULL when absent */
  const json_t *tools_map;
  const json_t *inputs_map;
  const json_t *expires_at;         /**< a string, or JSON null (PATCH: no expiry) */
  const json_t *note;               /**< a string, or JSON null (PATCH: clear) */
  const json_t *tool_list;          /**< PUT …/tools: the normalized new tools */
  /* outputs, reset on each attempt */
  enum outcome outcome;
  const char *state;                /**< OUT_TRANSITION: the entry's state (static) */
  json_t *errors;                   /**< OUT_INVALID: owned */
  char exists_id[BW_UUID_LEN + 1];  /**< OUT_EXISTS */
  bool created;                     /**< a new entry is in `after` (201) */
  struct db_catalog_entry before;
  struct db_catalog_entry after;
};

static void
change_reset (struct change_ctx *c)
{
  c->outcome = OUT_DONE;
  c->state = NULL;
  json_decref (c->errors);
  c->errors = NULL;
  c->exists_id[0] = '\0';
  c->created = false;
  db_catalog_entry_clear (&c->before);
  db_catalog_entry_clear (&c->after);
}

static enum db_qs
abort_with (struct change_ctx *c, enum outcome outcome)
{
  c->outcome = outcome;
  return DB_QS_ABORT;
}

/* Abort because the entry's state (c->before) does not allow c->transition. */
static enum db_qs
abort_transition (struct change_ctx *c)
{
  enum state st = state_parse (c->before.state);
  c->state = (ST__COUNT != st) ? state_names[st] : "unknown";
  return abort_with (c, OUT_TRANSITION);
}

/*
 * Abort because the approval of the live entry c->before expired: nothing
 * but the expiry job (or a revoke, a deprecate) may change it any more.
 */
static enum db_qs
abort_expired (struct change_ctx *c)
{
  (void) abort_transition (c);
  return abort_with (c, OUT_EXPIRED);
}

/* Whether c->before is live (approved or suspended) with an approval that expired. */
static bool
live_expired (const struct change_ctx *c)
{
  return c->before.lapsed && state_in (c->before.state, S (ST_APPROVED) | S (ST_SUSPENDED));
}

/* Bump the org's policy version (the org row is locked: it cannot have gone). */
static enum db_qs
bump (const char *org_id)
{
  enum db_qs qs = db_policy_version_bump (org_id);
  if (0 == qs)
    return DB_QS_HARD_ERROR;
  return qs;
}

/* Lock the org, then (c->id) the entry into c->before and check If-Match. */
static enum db_qs
lock_for_change (struct change_ctx *c)
{
  enum db_qs qs = db_org_writer_lock (c->org_id);
  if (qs <= 0)
    return (0 == qs) ? abort_with (c, OUT_NO_ORG) : qs;
  if (NULL == c->id)
    return DB_QS_ONE_RESULT;
  qs = db_catalog_lock (c->org_id, c->id, &c->before);
  if (qs <= 0)
    return (0 == qs) ? abort_with (c, OUT_NO_ENTRY) : qs;
  if (NULL != c->if_match && !bw_if_match_version (c->if_match, c->before.revision))
    return abort_with (c, OUT_PRECONDITION);
  return DB_QS_ONE_RESULT;
}

/*
 * Whether an entry other than @a except_id pins the same server as @a def
 * in requested, in_review, approved or suspended (then c->exists_id names
 * it and the transaction aborts).
 */
static enum db_qs
check_pin (struct change_ctx *c, const json_t *def, const char *except_id)
{
  struct db_catalog_entry *items = NULL;
  size_t n = 0;
  enum db_qs qs = db_catalog_pin_candidates (c->org_id, def_str (def, "name"),
                                             def_str (def, "version"), &items, &n);
  for (size_t i = 0; qs >= 0 && i < n; i++)
    if ((NULL == except_id || 0 != strcmp (items[i].id, except_id))
        && bw_catalog_same_pin (def, items[i].definition))
      {
        memcpy (c->exists_id, items[i].id, sizeof (c->exists_id));
        qs = abort_with (c, OUT_EXISTS);
      }
  for (size_t i = 0; i < n; i++)
    db_catalog_entry_clear (&items[i]);
  free (items);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

/* Compact JSON of @a def and its pin.  @return 0, or -1 (*text NULL). */
static int
def_text (const json_t *def, char **text, char pin[BW_SHA256_HEX_LEN + 1])
{
  *text = NULL;
  if (0 != bw_catalog_pin_sha256 (def, pin))
    return -1;
  *text = json_dumps (def, JSON_COMPACT);
  return (NULL == *text) ? -1 : 0;
}

/*
 * Insert a new entry from c->proposed (org locked): it supersedes the live
 * entry of its name, whose tool states and bindings it carries
 * (carry_review: nothing else); refused when its pin exists.  Audited as
 * catalog.entry.create; into c->after.
 */
static enum db_qs
insert_entry (struct change_ctx *c)
{
  struct db_catalog_entry live = { 0 };
  json_t *def = json_deep_copy (c->proposed);
  char *text = NULL;
  char pin[BW_SHA256_HEX_LEN + 1];
  enum db_qs qs;
  if (NULL == def)
    return DB_QS_HARD_ERROR;
  qs = db_catalog_live (c->org_id, def_str (def, "name"), &live);
  if (qs >= 0 && 0 != carry_review (def, (qs > 0) ? live.definition : NULL))
    qs = DB_QS_HARD_ERROR;
  if (qs >= 0)
    qs = check_pin (c, def, NULL);
  if (qs >= 0 && 0 != def_text (def, &text, pin))
    qs = DB_QS_HARD_ERROR;
  if (qs >= 0)
    {
      const struct db_catalog_new n = {
        .org_id = c->org_id,
        .name = def_str (def, "name"),
        .version = def_str (def, "version"),
        .kind = def_str (def, "kind"),
        .pin_sha256 = pin,
        .definition = text,
        .source = c->source,
        .reason = c->reason,
        .requested_by = c->rq->principal.actor,
        .requested_by_user = c->requested_by_user,
        .supersedes = ('\0' != live.id[0]) ? live.id : NULL,
      };
      qs = db_catalog_insert (&n, &c->after);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR;
    }
  if (qs > 0)
    {
      c->created = true;
      qs = api_audit_change (c->rq, c->org_id, "catalog.entry.create", "catalog_entry",
                             c->after.id, entry_repr, NULL, &c->after);
    }
  free (text);
  json_decref (def);
  db_catalog_entry_clear (&live);
  return qs;
}

static enum db_qs
create_tx (void *cls)
{
  struct change_ctx *c = cls;
  change_reset (c);
  enum db_qs qs = lock_for_change (c);
  if (qs <= 0)
    return qs;
  return insert_entry (c);
}

/* Reply for a transaction that did not commit. */
static enum bw_step
reply_failed (struct bw_request *rq, enum db_qs qs, struct change_ctx *c)
{
  char detail[192];
  if (DB_QS_ABORT != qs)
    return bw_reply_db_error (rq, qs);
  switch (c->outcome)
    {
    case OUT_NO_ORG:
      return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
    case OUT_NO_ENTRY:
      return reply_no_entry (rq);
    case OUT_PRECONDITION:
      return bw_reply_problem (rq, BW_E_PRECONDITION_FAILED,
                               "If-Match does not match the entry's current revision", NULL);
    case OUT_TRANSITION:
      snprintf (detail, sizeof (detail), "an entry in state %s does not allow %s", c->state,
                c->transition);
      return bw_reply_problem_ext (rq, BW_E_INVALID_TRANSITION, detail, NULL,
                                   json_pack ("{s:s, s:s}", "state", c->state, "transition",
                                              c->transition));
    case OUT_INVALID:
      {
        json_t *errors = c->errors;
        c->errors = NULL;
        return reply_errors (rq, "the body does not fit this entry", errors);
      }
    case OUT_EXPIRY_PAST:
      return bw_reply_invalid (rq, "/expires_at", "must be in the future");
    case OUT_NOTHING:
      return bw_reply_problem (rq, BW_E_VALIDATION,
                               "nothing to change: send tools, inputs, expires_at or note",
                               json_pack ("[{s:s, s:s}]", "pointer", "", "message",
                                          "names no field to change"));
    case OUT_EXPIRED:
      snprintf (detail, sizeof (detail),
                "the approval expired at %s: the entry is being deprecated; request the "
                "server again",
                c->before.expires_at);
      return bw_reply_problem_ext (rq, BW_E_INVALID_TRANSITION, detail, NULL,
                                   json_pack ("{s:s, s:s}", "state", c->state, "transition",
                                              c->transition));
    case OUT_EXPIRY_LAPSED:
      return bw_reply_invalid (rq, "/expires_at",
                               "the entry's expires_at has passed: send a new one in the future");
    case OUT_EXISTS:
      return bw_reply_problem_ext (rq, BW_E_CATALOG_ENTRY_EXISTS,
                                   "an entry pinning the same server is already requested, "
                                   "in review, approved or suspended",
                                   NULL, json_pack ("{s:s}", "entry_id", c->exists_id));
    case OUT_DONE:
      break;
    }
  return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
}

/* Run @a tx for @a c and reply: the entry after the change (201 when one was created). */
static enum bw_step
run_change (struct bw_request *rq, struct change_ctx *c, db_tx_cb tx)
{
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, tx, c);
  enum bw_step step;
  if (qs < 0)
    step = reply_failed (rq, qs, c);
  else
    step = reply_entry (rq, c->created ? 201 : 200, c->org_id, &c->after);
  change_reset (c);
  return step;
}

/* ---- creating: POST …/catalog/entries, …/catalog/import, /agent/catalog/requests ---- */

/** A validated new entry. */
struct new_input
{
  json_t *definition; /**< owned: normalized */
  char *source;       /**< owned: compact JSON of the imported server.json, or NULL */
  const char *reason; /**< borrowed from the body */
};

static void
new_input_free (struct new_input *in)
{
  json_decref (in->definition);
  free (in->source);
}

/*
 * Create @a in (in org @a org_id) and reply 201.  The requester's user is
 * the one a developer's own token or an agent acts as, when there is one.
 */
static enum bw_step
create_entry (struct bw_request *rq, const char *org_id, struct new_input *in)
{
  const char *requested_by_user
    = ('\0' != rq->principal.user_id[0]) ? rq->principal.user_id : NULL;
  struct change_ctx c = {
    .rq = rq,
    .org_id = org_id,
    .transition = "create",
    .proposed = in->definition,
    .source = in->source,
    .reason = in->reason,
    .requested_by_user = requested_by_user,
  };
  enum bw_step step = run_change (rq, &c, create_tx);
  new_input_free (in);
  return step;
}

/* The field spec of "reason". */
#define REASON_FIELD(dst) \
  { .name = "reason", .type = BW_FIELD_STRING, .required = true, \
    .max_len = DB_CATALOG_REASON_MAX, .check = check_prose, .out = (dst) }

/* "no <what>s", "1 <what> (<path>/0)" or "<n> <what>s (<path>/0 to <path>/<n-1>)". */
static void
members_text (char out[MEMBERS_TEXT_MAX], size_t n, const char *what, const char *path)
{
  if (0 == n)
    snprintf (out, MEMBERS_TEXT_MAX, "no %ss", what);
  else if (1 == n)
    snprintf (out, MEMBERS_TEXT_MAX, "1 %s (%s/0)", what, path);
  else
    snprintf (out, MEMBERS_TEXT_MAX, "%zu %ss (%s/0 to %s/%zu)", n, what, path, path, n - 1);
}

/*
 * Check import @a select against @a server (borrowed): "/packages/<i>" or
 * "/remotes/<i>", <i> a decimal index without sign or leading zero, naming
 * a member that exists (when @a server is an object: otherwise the import
 * reports the server).  @return true, or false after replying 400 at /select.
 */
static bool
check_select (struct bw_request *rq, const char *select, const json_t *server)
{
  const char *index = NULL;
  bool remote = false;
  char message[2 * MEMBERS_TEXT_MAX + 64];
  char packages[MEMBERS_TEXT_MAX];
  char remotes[MEMBERS_TEXT_MAX];
  if (0 == strncmp (select, "/packages/", 10))
    index = select + 10;
  else if (0 == strncmp (select, "/remotes/", 9))
    {
      index = select + 9;
      remote = true;
    }
  size_t n = (NULL != index) ? strlen (index) : 0;
  if (0 == n || strspn (index, "0123456789") != n || ('0' == index[0] && n > 1))
    {
      bw_reply_invalid (rq, "/select",
                        "must be \"/packages/<i>\" or \"/remotes/<i>\", <i> an index: 0, 1, ...");
      return false;
    }
  if (!json_is_object (server))
    return true;
  size_t np = json_array_size (json_object_get (server, "packages"));
  size_t nr = json_array_size (json_object_get (server, "remotes"));
  if (n <= SELECT_INDEX_DIGITS_MAX && strtoul (index, NULL, 10) < (remote ? nr : np))
    return true;
  members_text (packages, np, "package", "/packages");
  members_text (remotes, nr, "remote", "/remotes");
  snprintf (message, sizeof (message), "names nothing in this server, which has %s and %s",
            packages, remotes);
  bw_reply_invalid (rq, "/select", message);
  return false;
}

/*
 * Validate an import body {"server", "select"?, "tools"?, "reason"} into
 * @a in.  @return true, or false after replying 400 (errors point at
 * /select, under /server and /tools).
 */
static bool
parse_import (struct bw_request *rq, struct new_input *in)
{
  const json_t *server = NULL;
  const json_t *select = NULL;
  const json_t *tools = NULL;
  const json_t *reason = NULL;
  const struct bw_field fields[] = {
    { .name = "server", .type = BW_FIELD_OBJECT, .required = true, .out = &server },
    { .name = "select", .type = BW_FIELD_STRING, .max_len = SELECT_MAX, .out = &select },
    { .name = "tools", .type = BW_FIELD_OBJECT, .out = &tools },
    REASON_FIELD (&reason),
  };
  memset (in, 0, sizeof (*in));
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return false;
  if (NULL != select && !check_select (rq, json_string_value (select), server))
    return false;
  in->reason = json_string_value (reason);
  json_t *errors = json_array ();
  if (NULL == errors)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  in->definition = bw_catalog_from_server_json (
    server, (NULL != select) ? json_string_value (select) : NULL, "/server", errors);
  if (NULL != in->definition && NULL != tools)
    {
      json_t *list = bw_catalog_tools_from_list (tools, def_str (in->definition, "name"),
                                                 def_str (in->definition, "version"), "/tools",
                                                 errors);
      if (NULL == list || 0 != json_object_set_new (in->definition, "tools", list))
        {
          json_decref (in->definition);
          in->definition = NULL;
        }
    }
  if (NULL == in->definition)
    {
      reply_errors (rq, "the server description is invalid", errors);
      return false;
    }
  json_decref (errors);
  in->source = json_dumps (server, JSON_COMPACT);
  if (NULL == in->source)
    {
      bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      return false;
    }
  return true;
}

enum bw_step
api_catalog_create (struct bw_request *rq)
{
  const json_t *entry = NULL;
  const json_t *reason = NULL;
  const struct bw_field fields[] = {
    { .name = "entry", .type = BW_FIELD_OBJECT, .required = true, .out = &entry },
    REASON_FIELD (&reason),
  };
  struct new_input in = { 0 };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  json_t *errors = json_array ();
  if (NULL == errors)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  check_no_review_fields (entry, errors);
  in.definition = bw_catalog_entry_normalize (entry, "/entry", errors);
  if (NULL == in.definition || json_array_size (errors) > 0)
    {
      json_decref (in.definition);
      return reply_errors (rq, "the entry is invalid", errors);
    }
  json_decref (errors);
  in.reason = json_string_value (reason);
  return create_entry (rq, rq->org.id, &in);
}

enum bw_step
api_catalog_import (struct bw_request *rq)
{
  struct new_input in;
  if (!parse_import (rq, &in))
    {
      new_input_free (&in);
      return BW_REPLIED;
    }
  return create_entry (rq, rq->org.id, &in);
}

enum bw_step
api_agent_catalog_request (struct bw_request *rq)
{
  struct new_input in;
  if (BW_PRINCIPAL_AGENT != rq->principal.kind)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  if (!parse_import (rq, &in))
    {
      new_input_free (&in);
      return BW_REPLIED;
    }
  return create_entry (rq, rq->principal.org_id, &in);
}

/* ---- PUT …/catalog/entries/{id}/tools ---- */

static enum db_qs
tools_tx (void *cls)
{
  struct change_ctx *c = cls;
  json_t *def = NULL;
  char *text = NULL;
  char pin[BW_SHA256_HEX_LEN + 1];
  change_reset (c);
  enum db_qs qs = lock_for_change (c);
  if (qs <= 0)
    return qs;
  if (state_in (c->before.state, tools_successor))
    {
      /* the live entry stays as it is; its successor waits for review */
      char *source = NULL;
      def = json_deep_copy (c->before.definition);
      if (NULL == def || 0 != json_object_set_new (def, "tools", json_deep_copy (c->tool_list))
          || (NULL != c->before.source
              && NULL == (source = json_dumps (c->before.source, JSON_COMPACT))))
        qs = DB_QS_HARD_ERROR;
      else
        {
          c->proposed = def;
          c->source = source; /* the same server.json describes the successor */
          qs = insert_entry (c);
        }
      c->proposed = NULL;
      c->source = NULL;
      free (source);
      json_decref (def);
      return qs;
    }
  if (!state_in (c->before.state, tools_in_place))
    return abort_transition (c);
  /* the live entry this one would replace: its review counts as in insert_entry */
  struct db_catalog_entry live = { 0 };
  qs = db_catalog_live (c->org_id, def_str (c->before.definition, "name"), &live);
  if (qs < 0)
    return qs;
  def = json_deep_copy (c->before.definition);
  json_t *tools = json_deep_copy (c->tool_list);
  if (NULL == def || NULL == tools
      || 0 != carry_tools_in_place (tools, json_object_get (c->before.definition, "tools"),
                                    (qs > 0) ? json_object_get (live.definition, "tools") : NULL)
      || 0 != json_object_set (def, "tools", tools))
    qs = DB_QS_HARD_ERROR;
  else
    qs = DB_QS_ONE_RESULT;
  db_catalog_entry_clear (&live);
  if (qs >= 0)
    qs = check_pin (c, def, c->id);
  if (qs >= 0 && 0 != def_text (def, &text, pin))
    qs = DB_QS_HARD_ERROR;
  if (qs >= 0)
    {
      const struct db_catalog_change ch = {
        .org_id = c->org_id, .id = c->id, .definition = text, .pin_sha256 = pin,
      };
      qs = db_catalog_update (&ch, &c->after);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR; /* the row is locked */
    }
  if (qs > 0)
    qs = api_audit_change (c->rq, c->org_id, "catalog.entry.tools", "catalog_entry", c->id,
                           entry_repr, &c->before, &c->after);
  free (text);
  json_decref (tools);
  json_decref (def);
  return qs;
}

enum bw_step
api_catalog_tools (struct bw_request *rq)
{
  const char *id = entry_id_param (rq);
  struct db_catalog_entry e;
  if (NULL == id)
    return reply_no_entry (rq);
  /* the tools/list output is checked against the entry's name and version */
  enum db_qs qs = db_catalog_get (rq->org.id, id, &e);
  if (qs <= 0)
    return (0 == qs) ? reply_no_entry (rq) : bw_reply_db_error (rq, qs);
  json_t *errors = json_array ();
  json_t *list = (NULL != errors)
                   ? bw_catalog_tools_from_list (rq->json, def_str (e.definition, "name"),
                                                 def_str (e.definition, "version"), "", errors)
                   : NULL;
  db_catalog_entry_clear (&e);
  if (NULL == list)
    return reply_errors (rq, "the tool list is invalid", errors);
  json_decref (errors);
  struct change_ctx c = {
    .rq = rq,
    .org_id = rq->org.id,
    .id = id,
    .if_match = bw_request_header (rq, "If-Match"),
    .transition = "tools",
    .tool_list = list,
    .requested_by_user = ('\0' != rq->principal.user_id[0]) ? rq->principal.user_id : NULL,
  };
  char reason[SUCCESSOR_REASON_MAX];
  snprintf (reason, sizeof (reason), "new tool list of catalog entry %s", id);
  c.reason = reason;
  enum bw_step step = run_change (rq, &c, tools_tx);
  json_decref (list);
  return step;
}

/* ---- the review: POST …/{transition}, PATCH …/entries/{id} ---- */

/*
 * Apply the review fields of @a c (tools, inputs maps) to a copy of the
 * entry's definition (c->before), normalized again.  @return the new
 * definition (caller owns), NULL after aborting (OUT_INVALID) or on
 * allocation failure (*qs says which).
 */
static json_t *
reviewed_definition (struct change_ctx *c, enum db_qs *qs)
{
  json_t *def = json_deep_copy (c->before.definition);
  c->errors = json_array ();
  *qs = DB_QS_HARD_ERROR;
  if (NULL == def || NULL == c->errors)
    {
      json_decref (def);
      return NULL;
    }
  apply_review_maps (def, c->tools_map, c->inputs_map, c->errors);
  json_t *norm = (0 == json_array_size (c->errors))
                   ? bw_catalog_entry_normalize (def, "", c->errors)
                   : NULL;
  json_decref (def);
  if (NULL != norm)
    *qs = DB_QS_ONE_RESULT;
  else if (json_array_size (c->errors) > 0)
    *qs = abort_with (c, OUT_INVALID);
  return norm;
}

/* Whether c->expires_at, when a string, lies in the future (else abort). */
static enum db_qs
check_expiry (struct change_ctx *c)
{
  bool future = false;
  if (!json_is_string (c->expires_at))
    return DB_QS_ONE_RESULT;
  enum db_qs qs = db_token_expiry_future (json_string_value (c->expires_at), &future);
  if (qs < 0)
    return qs;
  return future ? DB_QS_ONE_RESULT : abort_with (c, OUT_EXPIRY_PAST);
}

/*
 * Approving: deprecate the live entry of the name (the one this entry
 * supersedes, or any other approved or suspended one: a name has one live
 * entry), audited on its own.  @param[out] pred_id  its id, or ""
 * @param[out] was_approved  whether it was approved (the slice changes)
 */
static enum db_qs
deprecate_live (struct change_ctx *c, char pred_id[BW_UUID_LEN + 1], bool *was_approved)
{
  struct db_catalog_entry live = { 0 };
  struct db_catalog_entry after = { 0 };
  enum db_qs qs = db_catalog_live (c->org_id, def_str (c->before.definition, "name"), &live);
  pred_id[0] = '\0';
  *was_approved = false;
  if (qs > 0)
    {
      const struct db_catalog_change ch = {
        .org_id = c->org_id,
        .id = live.id,
        .state = state_names[ST_DEPRECATED],
        .reviewed_by = c->rq->principal.actor,
      };
      memcpy (pred_id, live.id, BW_UUID_LEN + 1);
      *was_approved = state_in (live.state, S (ST_APPROVED));
      qs = db_catalog_update (&ch, &after);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR;
      if (qs > 0)
        qs = api_audit_change (c->rq, c->org_id, transitions[TR_DEPRECATE].action,
                               "catalog_entry", live.id, entry_repr, &live, &after);
    }
  db_catalog_entry_clear (&live);
  db_catalog_entry_clear (&after);
  return qs;
}

/*
 * Revoking: every pending successor of the revoked entry (requested or
 * in_review, supersedes = c->id) loses what it carried from it — every
 * tool blocked, every input credential dropped (carry_review from
 * nothing) — with a revision bump and its own audit record
 * (catalog.entry.update, the revoker's actor and request): a reviewer
 * must approve each tool and bind each credential again.  None of them
 * is approved, so the slice does not change.
 */
static enum db_qs
strip_pending_successors (struct change_ctx *c)
{
  struct db_catalog_entry *items = NULL;
  size_t n = 0;
  enum db_qs qs = db_catalog_pending_successors (c->org_id, c->id, &items, &n);
  for (size_t i = 0; qs >= 0 && i < n; i++)
    {
      struct db_catalog_entry after = { 0 };
      json_t *def = json_deep_copy (items[i].definition);
      char *text = NULL;
      char pin[BW_SHA256_HEX_LEN + 1];
      if (NULL == def || 0 != carry_review (def, NULL) || 0 != def_text (def, &text, pin))
        qs = DB_QS_HARD_ERROR;
      else
        {
          const struct db_catalog_change ch = {
            .org_id = c->org_id, .id = items[i].id, .definition = text, .pin_sha256 = pin,
          };
          qs = db_catalog_update (&ch, &after);
          if (0 == qs)
            qs = DB_QS_HARD_ERROR; /* the row is locked */
        }
      if (qs > 0)
        qs = api_audit_change (c->rq, c->org_id, "catalog.entry.update", "catalog_entry",
                               items[i].id, entry_repr, &items[i], &after);
      db_catalog_entry_clear (&after);
      free (text);
      json_decref (def);
    }
  for (size_t i = 0; i < n; i++)
    db_catalog_entry_clear (&items[i]);
  free (items);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

/** The transaction of a transition: c->transition names one of `transitions`. */
struct transition_ctx
{
  struct change_ctx c;
  const struct transition *t;
};

static enum db_qs
transition_tx (void *cls)
{
  struct transition_ctx *tc = cls;
  struct change_ctx *c = &tc->c;
  json_t *def = NULL;
  char *text = NULL;
  char pin[BW_SHA256_HEX_LEN + 1] = "";
  char pred_id[BW_UUID_LEN + 1] = "";
  bool slice_changes;
  change_reset (c);
  enum db_qs qs = lock_for_change (c);
  if (qs <= 0)
    return qs;
  if (!state_in (c->before.state, tc->t->from))
    return abort_transition (c);
  /* an approval that ended stays ended: only revoke or deprecate may beat the job to it */
  if (live_expired (c) && ST_REVOKED != tc->t->to && ST_DEPRECATED != tc->t->to)
    return abort_expired (c);
  if (ST_APPROVED == tc->t->to && c->before.lapsed && !json_is_string (c->expires_at))
    return abort_with (c, OUT_EXPIRY_LAPSED);
  slice_changes = state_in (c->before.state, S (ST_APPROVED)) || ST_APPROVED == tc->t->to;
  if (NULL != c->tools_map || NULL != c->inputs_map)
    {
      def = reviewed_definition (c, &qs);
      if (NULL == def)
        return qs;
      if (0 != def_text (def, &text, pin))
        qs = DB_QS_HARD_ERROR;
    }
  if (qs >= 0)
    qs = check_expiry (c);
  if (qs >= 0 && ST_APPROVED == tc->t->to && !state_in (c->before.state, S (ST_SUSPENDED)))
    {
      bool was_approved = false;
      qs = deprecate_live (c, pred_id, &was_approved);
      slice_changes = slice_changes || was_approved;
    }
  if (qs >= 0)
    {
      const struct db_catalog_change ch = {
        .org_id = c->org_id,
        .id = c->id,
        .state = state_names[tc->t->to],
        .definition = text,
        .pin_sha256 = pin,
        .set_note = NULL != c->note,
        .note = json_string_value (c->note),
        .reviewed_by = c->rq->principal.actor,
        .set_expires = NULL != c->expires_at,
        .expires_at = json_string_value (c->expires_at),
        .supersedes = ('\0' != pred_id[0] && '\0' == c->before.supersedes[0]) ? pred_id : NULL,
      };
      qs = db_catalog_update (&ch, &c->after);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR; /* the row is locked */
    }
  if (qs > 0)
    qs = api_audit_change (c->rq, c->org_id, tc->t->action, "catalog_entry", c->id, entry_repr,
                           &c->before, &c->after);
  if (qs > 0 && ST_REVOKED == tc->t->to)
    qs = strip_pending_successors (c);
  if (qs > 0 && slice_changes)
    qs = bump (c->org_id);
  free (text);
  json_decref (def);
  return qs;
}

/* A review body's fields (optional body; approve takes tools, inputs, expires_at). */
static enum bw_step
run_transition (struct bw_request *rq, enum transition_id tid)
{
  const struct transition *t = &transitions[tid];
  const char *id = entry_id_param (rq);
  const json_t *note = NULL;
  const json_t *tools = NULL;
  const json_t *inputs = NULL;
  const json_t *expires_at = NULL;
  const struct bw_field fields[] = {
    { .name = "note", .type = BW_FIELD_STRING, .required = TR_REJECT == tid,
      .max_len = DB_CATALOG_NOTE_MAX, .check = check_prose, .out = &note },
    { .name = "tools", .type = BW_FIELD_OBJECT, .out = &tools },
    { .name = "inputs", .type = BW_FIELD_OBJECT, .out = &inputs },
    { .name = "expires_at", .type = BW_FIELD_STRING, .max_len = BW_RFC3339_MAX,
      .check = check_expires_at, .out = &expires_at },
  };
  /* only approve takes the review maps and an expiry */
  size_t nfields = (TR_APPROVE == tid) ? 4 : 1;
  if (NULL == rq->json && TR_REJECT == tid)
    return bw_reply_invalid (rq, "/note", "is required: say why the request is rejected");
  if (NULL != rq->json && !bw_fields_parse (rq, fields, nfields))
    return BW_REPLIED;
  if (NULL == id)
    return reply_no_entry (rq);
  struct transition_ctx tc = {
    .c = {
      .rq = rq,
      .org_id = rq->org.id,
      .id = id,
      .if_match = bw_request_header (rq, "If-Match"),
      .transition = t->name,
      .note = note,
      .tools_map = tools,
      .inputs_map = inputs,
      .expires_at = expires_at,
    },
    .t = t,
  };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, transition_tx, &tc);
  enum bw_step step = (qs < 0) ? reply_failed (rq, qs, &tc.c)
                               : reply_entry (rq, 200, rq->org.id, &tc.c.after);
  change_reset (&tc.c);
  return step;
}

enum bw_step
api_catalog_review (struct bw_request *rq)
{
  return run_transition (rq, TR_REVIEW);
}

enum bw_step
api_catalog_approve (struct bw_request *rq)
{
  return run_transition (rq, TR_APPROVE);
}

enum bw_step
api_catalog_reject (struct bw_request *rq)
{
  return run_transition (rq, TR_REJECT);
}

enum bw_step
api_catalog_suspend (struct bw_request *rq)
{
  return run_transition (rq, TR_SUSPEND);
}

enum bw_step
api_catalog_resume (struct bw_request *rq)
{
  return run_transition (rq, TR_RESUME);
}

enum bw_step
api_catalog_revoke (struct bw_request *rq)
{
  return run_transition (rq, TR_REVOKE);
}

enum bw_step
api_catalog_deprecate (struct bw_request *rq)
{
  return run_transition (rq, TR_DEPRECATE);
}

static enum db_qs
update_tx (void *cls)
{
  struct change_ctx *c = cls;
  json_t *def = NULL;
  char *text = NULL;
  char pin[BW_SHA256_HEX_LEN + 1] = "";
  change_reset (c);
  enum db_qs qs = lock_for_change (c);
  if (qs <= 0)
    return qs;
  if (NULL == c->tools_map && NULL == c->inputs_map && NULL == c->expires_at && NULL == c->note)
    return abort_with (c, OUT_NOTHING);
  if (!state_in (c->before.state, patchable))
    return abort_transition (c);
  if (live_expired (c))
    return abort_expired (c); /* no new expires_at revives an approval that ended */
  if (NULL != c->tools_map || NULL != c->inputs_map)
    {
      def = reviewed_definition (c, &qs);
      if (NULL == def)
        return qs;
      if (0 != def_text (def, &text, pin))
        qs = DB_QS_HARD_ERROR;
    }
  if (qs >= 0)
    qs = check_expiry (c);
  if (qs >= 0)
    {
      const struct db_catalog_change ch = {
        .org_id = c->org_id,
        .id = c->id,
        .definition = text,
        .pin_sha256 = pin,
        .set_note = NULL != c->note,
        .note = json_string_value (c->note),
        .set_expires = NULL != c->expires_at,
        .expires_at = json_string_value (c->expires_at),
      };
      qs = db_catalog_update (&ch, &c->after);
      if (0 == qs)
        qs = DB_QS_HARD_ERROR; /* the row is locked */
    }
  if (qs > 0)
    qs = api_audit_change (c->rq, c->org_id, "catalog.entry.update", "catalog_entry", c->id,
                           entry_repr, &c->before, &c->after);
  if (qs > 0 && state_in (c->before.state, S (ST_APPROVED)))
    qs = bump (c->org_id);
  free (text);
  json_decref (def);
  return qs;
}

enum bw_step
api_catalog_update (struct bw_request *rq)
{
  const char *if_match = bw_request_header (rq, "If-Match");
  const char *id = entry_id_param (rq);
  const json_t *note = NULL;
  const json_t *tools = NULL;
  const json_t *inputs = NULL;
  const json_t *expires_at = NULL;
  const struct bw_field fields[] = {
    { .name = "tools", .type = BW_FIELD_OBJECT, .out = &tools },
    { .name = "inputs", .type = BW_FIELD_OBJECT, .out = &inputs },
    { .name = "expires_at", .type = BW_FIELD_STRING, .nullable = true,
      .max_len = BW_RFC3339_MAX, .check = check_expires_at, .out = &expires_at },
    { .name = "note", .type = BW_FIELD_STRING, .nullable = true,
      .max_len = DB_CATALOG_NOTE_MAX, .check = check_prose, .out = &note },
  };
  /* "*" would match any revision (RFC 9110 §13.1.1): a change must name the one it replaces */
  if (NULL == if_match || 0 == strcmp (if_match, "*"))
    return bw_reply_problem (rq, BW_E_PRECONDITION_REQUIRED,
                             "send If-Match with the entry's ETag (its revision, e.g. \"3\"); "
                             "\"*\" is not accepted",
                             NULL);
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  if (NULL == id)
    return reply_no_entry (rq);
  /* an explicit null is "absent" for bw_fields_parse: tell clearing from keeping */
  if (json_is_null (json_object_get (rq->json, "expires_at")))
    expires_at = json_object_get (rq->json, "expires_at");
  if (json_is_null (json_object_get (rq->json, "note")))
    note = json_object_get (rq->json, "note");
  struct change_ctx c = {
    .rq = rq,
    .org_id = rq->org.id,
    .id = id,
    .if_match = if_match,
    .transition = "update",
    .note = note,
    .tools_map = tools,
    .inputs_map = inputs,
    .expires_at = expires_at,
  };
  return run_change (rq, &c, update_tx);
}

/* ---- reading ---- */

enum bw_step
api_catalog_get (struct bw_request *rq)
{
  const char *id = entry_id_param (rq);
  struct db_catalog_entry e;
  if (NULL == id)
    return reply_no_entry (rq);
  enum db_qs qs = db_catalog_get (rq->org.id, id, &e);
  enum bw_step step;
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (0 == qs)
    step = reply_no_entry (rq);
  else
    step = reply_entry (rq, 200, rq->org.id, &e);
  db_catalog_entry_clear (&e);
  return step;
}

/* A list row as bw_reply_rows_page (server/pagination.h) reads it. */
static json_t *
entry_row_json (const void *row)
{
  return entry_json (row, true);
}

static const char *
entry_row_created_at (const void *row)
{
  return ((const struct db_catalog_entry *) row)->created_at;
}

static const char *
entry_row_id (const void *row)
{
  return ((const struct db_catalog_entry *) row)->id;
}

/* 400 naming query parameter @a name. */
static enum bw_step
reply_bad_param (struct bw_request *rq, const char *name, const char *message)
{
  return bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameter",
                           json_pack ("[{s:s, s:s}]", "parameter", name, "message", message));
}

/* One page of @a f (its org and filters set), oldest first. */
static enum bw_step
list_page (struct bw_request *rq, struct db_catalog_filter *f)
{
  struct bw_page page;
  struct db_catalog_entry *items = NULL;
  size_t n = 0;
  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;
  if (page.has_cursor && !bw_cursor_split_ts_id (page.key, &f->after_created_at, &f->after_id))
    return bw_reply_bad_cursor (rq);
  enum db_qs qs = db_catalog_list (f, page.limit + 1, &items, &n);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  const struct bw_page_rows rows = {
    .rows = items, .n = n, .size = sizeof (*items), .to_json = entry_row_json,
    .created_at = entry_row_created_at, .id = entry_row_id,
  };
  enum bw_step step = bw_reply_rows_page (rq, &page, &rows);
  for (size_t i = 0; i < n; i++)
    db_catalog_entry_clear (&items[i]);
  free (items);
  return step;
}

enum bw_step
api_catalog_list (struct bw_request *rq)
{
  struct db_catalog_filter f = {
    .org_id = rq->org.id,
    .state = bw_request_query (rq, "state"),
    .name = bw_request_query (rq, "name"),
  };
  if (NULL != f.state && ST__COUNT == state_parse (f.state))
    return reply_bad_param (rq, "state",
                            "must be requested, in_review, approved, rejected, suspended, "
                            "revoked or deprecated");
  if (NULL != f.name && (0 == strlen (f.name) || strlen (f.name) > BW_CATALOG_NAME_MAX))
    return reply_bad_param (rq, "name", "must be a server name of 1..200 bytes");
  return list_page (rq, &f);
}

enum bw_step
api_catalog_queue (struct bw_request *rq)
{
  struct db_catalog_filter f = { .org_id = rq->org.id, .queue = true };
  return list_page (rq, &f);
}

/* ---- expiry (api/catalog.h) ---- */

struct expire_ctx
{
  const char *org_id;
  const char *request_id;
  size_t marked; /* output, reset on each attempt */
};

/* Audit the expiry of @a before (now @a after) as the system actor. */
static enum db_qs
audit_expire (const struct expire_ctx *x, const struct db_catalog_entry *before,
              const struct db_catalog_entry *after)
{
  char before_sha[BW_SHA256_HEX_LEN + 1];
  char after_sha[BW_SHA256_HEX_LEN + 1];
  json_t *b = entry_json (before, false);
  json_t *a = entry_json (after, false);
  int rc = (NULL == b || NULL == a) ? -1 : 0;
  if (0 == rc)
    rc = bw_json_digest (b, before_sha) | bw_json_digest (a, after_sha);
  json_decref (b);
  json_decref (a);
  if (0 != rc)
    return DB_QS_HARD_ERROR;
  const struct db_audit_record rec = {
    .org_id = x->org_id,
    .actor = API_CATALOG_SYSTEM_ACTOR,
    .action = "catalog.entry.expire",
    .target_type = "catalog_entry",
    .target_id = after->id,
    .before_sha256 = before_sha,
    .after_sha256 = after_sha,
    .request_id = x->request_id,
    .source_addr = API_CATALOG_SYSTEM_ADDR,
  };
  enum db_qs qs = db_audit_append (&rec);
  return (0 == qs) ? DB_QS_HARD_ERROR : qs;
}

static enum db_qs
expire_tx (void *cls)
{
  struct expire_ctx *x = cls;
  struct db_catalog_entry *due = NULL;
  size_t n = 0;
  bool slice_changes = false; /* an approved entry left: a suspended one is in no slice */
  x->marked = 0;
  enum db_qs qs = db_org_writer_lock (x->org_id);
  if (qs <= 0)
    return qs; /* the org went away: nothing to expire */
  qs = db_catalog_expiry_due (x->org_id, &due, &n);
  for (size_t i = 0; qs >= 0 && i < n; i++)
    {
      struct db_catalog_entry after;
      qs = db_catalog_expire_mark (x->org_id, due[i].id, &after);
      if (qs > 0)
        {
          x->marked++;
          slice_changes = slice_changes || state_in (due[i].state, S (ST_APPROVED));
          qs = audit_expire (x, &due[i], &after);
        }
      db_catalog_entry_clear (&after);
    }
  for (size_t i = 0; i < n; i++)
    db_catalog_entry_clear (&due[i]);
  free (due);
  if (qs >= 0 && slice_changes)
    qs = bump (x->org_id);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

enum db_qs
api_catalog_expire_org (const char *org_id, const char *request_id, size_t *marked)
{
  struct expire_ctx x = { .org_id = org_id, .request_id = request_id };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, expire_tx, &x);
  *marked = (qs >= 0) ? x.marked : 0;
  return qs;
}
