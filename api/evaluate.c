/*
 * The decision point (DESIGN §4): POST /evaluate, /evaluate/batch,
 * /policies/simulate, and GET /users/{id}/effective-policy.  Nothing here
 * writes: decisions use the org's cached policy set (api/policy_cache.h)
 * and one directory read for the subjects' groups.
 *
 * Which policies apply to a request: every org_wide policy, plus, when the
 * request names a subject user, those whose scope lists the user or one
 * of the user's groups.  Subjects:
 * - none: the org-wide policies only (an agent enrolled without a user);
 * - a user id this org does not have: 400 naming /subject/user — a typo
 *   must not pass silently as "org-wide only";
 * - an inactive (deprovisioned) user: deny, reason policy_error, whatever
 *   the policies say — a disabled account gets nothing, and the answer is
 *   not "default" because no rule was consulted.
 * A stored policy that the current parser refuses (written under an older
 * one) makes every decision of its org deny with reason policy_error, so
 * that a policy never silently stops applying (DESIGN §4 step 7).
 *
 * The catalog step (DESIGN §4 step 1) decides with the org's approved
 * slice at the same policy version (api/policy_cache.h) — the slice every
 * agent's bundle carries — at the time the call is decided, so an approval
 * that expired is refused here before the expiry job has run.  The draft
 * of /policies/simulate changes policies only, never the catalog: an MCP
 * request is simulated against what is approved now.  Each decision
 * carries "catalog" when the step applied (lib/policy.h).
 */
#include "config.h"
#include "api/handlers.h"
#include "api/policies.h"
#include "api/policy_cache.h"
#include "db/policy.h"
#include "lib/clock.h"
#include "lib/ident.h"
#include "lib/policy.h"
#include "server/fields.h"
#include "server/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Most requests of one /evaluate/batch or /policies/simulate call. */
#define API_EVALUATE_BATCH_MAX 1000
/** Bytes of a request's pointer prefix ("/requests/<index>") with its NUL. */
#define PREFIX_MAX 32
/** policy_id of the draft in simulate's decisions. */
#define DRAFT_ID "draft"

/** A subject user as decisions see it. */
struct subject
{
  const char *id; /**< borrowed from a parsed request */
  bool found;     /**< the org has this user */
  bool active;
  size_t ngroups;
  char (*groups)[BW_UUID_LEN + 1]; /**< owned, ascending */
  const char **group_ids;          /**< owned array of pointers into groups */
};

/** The requests of one call, parsed, and their distinct subjects. */
struct job
{
  size_t n;
  bool batch;                        /**< pointers are "/requests/<i>/..." (else "/...") */
  struct bw_decision_request **reqs; /**< owned, n of them (NULL where invalid) */
  size_t nsubjects;
  struct subject *subjects; /**< owned, sorted by id, unique */
  bool failed;              /**< allocation failure in a callback */
};

static void
job_free (struct job *j)
{
  for (size_t i = 0; NULL != j->reqs && i < j->n; i++)
    bw_decision_request_free (j->reqs[i]);
  free (j->reqs);
  for (size_t i = 0; i < j->nsubjects; i++)
    {
      free (j->subjects[i].groups);
      free (j->subjects[i].group_ids);
    }
  free (j->subjects);
}

/* The pointer prefix of request @a i. */
static void
prefix_of (const struct job *j, size_t i, char out[PREFIX_MAX])
{
  if (j->batch)
    snprintf (out, PREFIX_MAX, "/requests/%zu", i);
  else
    out[0] = '\0';
}

/*
 * Parse @a n requests: the elements of array @a items when j->batch, else
 * @a items itself.  Errors go to @a errors.  @return 0, or -1 without memory.
 */
static int
job_parse (struct job *j, const json_t *items, size_t n, json_t *errors)
{
  j->n = n;
  j->reqs = calloc ((0 == n) ? 1 : n, sizeof (*j->reqs));
  if (NULL == j->reqs)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      char prefix[PREFIX_MAX];
      prefix_of (j, i, prefix);
      j->reqs[i]
        = bw_decision_request_parse (j->batch ? json_array_get (items, i) : items, prefix, errors);
    }
  return 0;
}

static int
cmp_subject (const void *a, const void *b)
{
  return strcmp (((const struct subject *) a)->id, ((const struct subject *) b)->id);
}

/* The subject with id @a id, or NULL. */
static struct subject *
find_subject (const struct job *j, const char *id)
{
  struct subject key = { .id = id };
  if (0 == j->nsubjects)
    return NULL;
  return bsearch (&key, j->subjects, j->nsubjects, sizeof (key), cmp_subject);
}

static void
subject_cb (void *cls, const struct db_policy_subject *s)
{
  struct job *j = cls;
  struct subject *sub = find_subject (j, s->id);
  if (NULL == sub || sub->found)
    return;
  size_t n = (0 == s->ngroups) ? 1 : s->ngroups;
  sub->groups = calloc (n, sizeof (*sub->groups));
  sub->group_ids = calloc (n, sizeof (*sub->group_ids));
  if (NULL == sub->groups || NULL == sub->group_ids)
    {
      j->failed = true;
      return;
    }
  for (size_t i = 0; i < s->ngroups; i++)
    {
      snprintf (sub->groups[i], sizeof (sub->groups[i]), "%s", s->groups[i]);
      sub->group_ids[i] = sub->groups[i];
    }
  sub->ngroups = s->ngroups;
  sub->active = s->active;
  sub->found = true;
}

/* Look up the distinct subject users of the parsed requests in org @a org_id. */
static enum db_qs
job_subjects (struct job *j, const char *org_id)
{
  const char **ids = calloc ((0 == j->n) ? 1 : j->n, sizeof (*ids));
  j->subjects = calloc ((0 == j->n) ? 1 : j->n, sizeof (*j->subjects));
  if (NULL == ids || NULL == j->subjects)
    {
      free (ids);
      return DB_QS_HARD_ERROR;
    }
  for (size_t i = 0; i < j->n; i++)
    {
      const char *u = bw_decision_request_user (j->reqs[i]);
      if (NULL != u)
        j->subjects[j->nsubjects++].id = u;
    }
  qsort (j->subjects, j->nsubjects, sizeof (*j->subjects), cmp_subject);
  size_t unique = 0;
  for (size_t i = 0; i < j->nsubjects; i++)
    if (0 == unique || 0 != strcmp (j->subjects[unique - 1].id, j->subjects[i].id))
      j->subjects[unique++] = j->subjects[i];
  j->nsubjects = unique;
  for (size_t i = 0; i < unique; i++)
    ids[i] = j->subjects[i].id;
  enum db_qs qs = DB_QS_NO_RESULTS;
  if (unique > 0)
    qs = db_policy_subjects (org_id, ids, unique, subject_cb, j);
  free (ids);
  if (qs >= 0 && j->failed)
    qs = DB_QS_HARD_ERROR;
  return qs;
}

/* Report every request whose subject user this org does not have. */
static void
job_unknown_users (const struct job *j, json_t *errors)
{
  for (size_t i = 0; i < j->n; i++)
    {
      const char *u = bw_decision_request_user (j->reqs[i]);
      const struct subject *s = (NULL != u) ? find_subject (j, u) : NULL;
      if (NULL == u || (NULL != s && s->found))
        continue;
      char pointer[PREFIX_MAX + 16];
      char prefix[PREFIX_MAX];
      prefix_of (j, i, prefix);
      snprintf (pointer, sizeof (pointer), "%s/subject/user", prefix);
      json_array_append_new (errors, json_pack ("{s:s, s:s}", "pointer", pointer, "message",
                                                "no such user in this organization"));
    }
}

/* Whether policy @a p applies to subject @a s (NULL: no subject). */
static bool
applies (const struct bw_policy *p, const struct subject *s)
{
  return (NULL == s) ? bw_policy_applies (p, NULL, NULL, 0)
                     : bw_policy_applies (p, s->id, s->group_ids, s->ngroups);
}

/*
 * Decide request @a i of @a j against the applicable policies of @a set
 * and, when @a draft is not NULL, the draft if it applies, with the
 * catalog of @a set at @a now (Unix seconds).  @a refs has room for
 * set->n + 1 entries.
 */
static void
job_decide (const struct job *j, size_t i, const struct api_policy_set *set,
            const struct bw_policy_ref *draft, int64_t now, struct bw_policy_ref *refs,
            struct bw_decision_result *out)
{
  const char *u = bw_decision_request_user (j->reqs[i]);
  const struct subject *s = (NULL != u) ? find_subject (j, u) : NULL;
  if (set->broken || (NULL != s && !s->active))
    {
      memset (out, 0, sizeof (*out));
      out->decision = BW_DECISION_DENY;
      out->reason = BW_REASON_POLICY_ERROR;
      out->deciding = -1;
      return;
    }
  size_t n = 0;
  for (size_t k = 0; k < set->n; k++)
    if (applies (set->entries[k].policy, s))
      refs[n++] = (struct bw_policy_ref){
        .policy = set->entries[k].policy,
        .policy_id = set->entries[k].id,
        .revision = set->entries[k].revision,
      };
  if (NULL != draft && applies (draft->policy, s))
    refs[n++] = *draft;
  bw_evaluate (refs, n, set->catalog, now, j->reqs[i], out);
}

/*
 * Decide every request of @a j into a new array.  @return it, or NULL
 * without memory.
 */
static json_t *
job_decisions (const struct job *j, const struct api_policy_set *set,
               const struct bw_policy_ref *draft)
{
  json_t *arr = json_array ();
  struct bw_policy_ref *refs = calloc (set->n + 1, sizeof (*refs));
  struct bw_decision_result *r = malloc (sizeof (*r));
  /* one instant for the whole call: a batch does not straddle an expiry */
  const int64_t now = bw_realtime_us () / 1000000;
  for (size_t i = 0; NULL != arr && NULL != refs && NULL != r && i < j->n; i++)
    {
      job_decide (j, i, set, draft, now, refs, r);
      if (0 != json_array_append_new (arr, bw_decision_result_json (r)))
        {
          json_decref (arr);
          arr = NULL;
        }
    }
  if (NULL == refs || NULL == r)
    {
      json_decref (arr);
      arr = NULL;
    }
  free (refs);
  free (r);
  return arr;
}

/* Reply 400 with @a errors (stolen) if it holds any.  @return true if it replied. */
static bool
reply_errors (struct bw_request *rq, json_t *errors, const char *detail)
{
  if (0 == json_array_size (errors))
    return false;
  bw_reply_problem (rq, BW_E_VALIDATION, detail, errors);
  return true;
}

/* Reply for a failed api_policy_set_get or subjects lookup. */
static enum bw_step
reply_lookup_failed (struct bw_request *rq, enum db_qs qs)
{
  if (0 == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such organization", NULL);
  return bw_reply_db_error (rq, qs);
}

/*
 * The common path of the three POST endpoints: parse the requests (and
 * the draft), fetch the org's policies and the subjects, check, decide.
 * @param items    the request object (single) or the array of requests (batch)
 * @param draft    simulate: the draft document (borrowed), else NULL
 * @param single   reply one decision with policy_version, else
 *                 {"policy_version", "decisions"}
 */
static enum bw_step
evaluate (struct bw_request *rq, const json_t *items, const json_t *draft, bool single)
{
  struct job j = { .batch = !single };
  struct api_policy_set *set = NULL;
  struct bw_policy *draft_policy = NULL;
  json_t *errors = json_array ();
  json_t *decisions = NULL;
  json_t *body = NULL;
  enum bw_step step;
  enum db_qs qs;

  if (NULL == errors || 0 != job_parse (&j, items, single ? 1 : json_array_size (items), errors))
    {
      step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      goto cleanup;
    }
  size_t request_errors = json_array_size (errors);
  if (NULL != draft)
    draft_policy = bw_policy_parse (draft, "/policy", errors);
  bool draft_errors = json_array_size (errors) > request_errors;
  if (reply_errors (rq, errors,
                    single                          ? "the decision request is invalid"
                    : !draft_errors                 ? "one or more requests are invalid"
                    : request_errors > 0 ? "the draft policy and one or more requests are invalid"
                                         : "the draft policy is invalid"))
    {
      errors = NULL; /* stolen */
      step = BW_REPLIED;
      goto cleanup;
    }
  if (NULL != draft && NULL == draft_policy)
    {
      step = bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      goto cleanup;
    }
  qs = api_policy_set_get (rq->org.id, &set);
  if (qs <= 0)
    {
      step = reply_lookup_failed (rq, qs);
      goto cleanup;
    }
  qs = job_subjects (&j, rq->org.id);
  if (qs >= 0 && NULL != draft)
    qs = api_policy_scope_check (rq->org.id, draft_policy, "/policy", errors);
  if (qs < 0)
    {
      step = bw_reply_db_error (rq, qs);
      goto cleanup;
    }
  job_unknown_users (&j, errors);
  if (reply_errors (rq, errors,
                    "a subject or a scope names a user or group this organization does not have"))
    {
      errors = NULL;
      step = BW_REPLIED;
      goto cleanup;
    }
  struct bw_policy_ref draft_ref = { .policy = draft_policy, .policy_id = DRAFT_ID, .revision = 0 };
  decisions = job_decisions (&j, set, (NULL != draft_policy) ? &draft_ref : NULL);
  if (NULL == decisions)
    body = NULL;
  else if (single)
    {
      body = json_incref (json_array_get (decisions, 0));
      if (0 != json_object_set_new (body, "policy_version", json_integer (set->version)))
        {
          json_decref (body);
          body = NULL;
        }
    }
  else
    body = json_pack ("{s:I, s:O}", "policy_version", (json_int_t) set->version, "decisions",
                      decisions);
  step = bw_reply_json (rq, 200, body, NULL, 0); /* NULL body: 500 */
cleanup:
  json_decref (decisions);
  json_decref (errors);
  bw_policy_free (draft_policy);
  api_policy_set_release (set);
  job_free (&j);
  return step;
}

/* ---- POST /api/v1/orgs/{org}/evaluate ---- */

enum bw_step
api_evaluate (struct bw_request *rq)
{
  return evaluate (rq, rq->json, NULL, true);
}

/* Field check: at most API_EVALUATE_BATCH_MAX requests. */
static const char *
check_requests (const json_t *v)
{
  if (json_array_size (v) > API_EVALUATE_BATCH_MAX)
    return "must hold at most 1000 requests";
  return NULL;
}

_Static_assert(1000 == API_EVALUATE_BATCH_MAX, "check_requests' message");

/* ---- POST /api/v1/orgs/{org}/evaluate/batch ---- */

enum bw_step
api_evaluate_batch (struct bw_request *rq)
{
  const json_t *requests = NULL;
  const struct bw_field fields[] = {
    { .name = "requests",
      .type = BW_FIELD_ARRAY,
      .required = true,
      .check = check_requests,
      .out = &requests },
  };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  return evaluate (rq, requests, NULL, false);
}

/* ---- POST /api/v1/orgs/{org}/policies/simulate ---- */

enum bw_step
api_policies_simulate (struct bw_request *rq)
{
  const json_t *policy = NULL;
  const json_t *requests = NULL;
  const struct bw_field fields[] = {
    { .name = "policy", .type = BW_FIELD_OBJECT, .required = true, .out = &policy },
    { .name = "requests",
      .type = BW_FIELD_ARRAY,
      .required = true,
      .check = check_requests,
      .out = &requests },
  };
  if (!bw_fields_parse (rq, fields, sizeof (fields) / sizeof (fields[0])))
    return BW_REPLIED;
  return evaluate (rq, requests, policy, false);
}

/* ---- GET /api/v1/orgs/{org}/users/{id}/effective-policy ---- */

/* Why the policy with scope @a sc applies to @a s: a new array, empty when it does not. */
static json_t *
applies_because (const struct bw_policy_scope *sc, const struct subject *s)
{
  json_t *why = json_array ();
  if (NULL == why)
    return NULL;
  if (sc->org_wide)
    json_array_append_new (why, json_string ("org_wide"));
  for (size_t i = 0; i < sc->ngroups; i++)
    for (size_t k = 0; k < s->ngroups; k++)
      if (0 == strcmp (sc->groups[i], s->groups[k]))
        {
          char g[BW_UUID_LEN + sizeof ("group:")];
          snprintf (g, sizeof (g), "group:%s", s->groups[k]);
          json_array_append_new (why, json_string (g));
        }
  for (size_t i = 0; i < sc->nusers; i++)
    if (0 == strcmp (sc->users[i], s->id))
      json_array_append_new (why, json_string ("user"));
  return why;
}

/* The effective-policy body of subject @a s under @a set.  @return a new object, or NULL. */
static json_t *
effective_json (const struct subject *s, const struct api_policy_set *set)
{
  json_t *groups = json_array ();
  json_t *policies = json_array ();
  bool ok = NULL != groups && NULL != policies;
  for (size_t i = 0; ok && i < s->ngroups; i++)
    ok = 0 == json_array_append_new (groups, json_string (s->groups[i]));
  for (size_t k = 0; ok && k < set->n; k++)
    {
      const struct api_policy_entry *e = &set->entries[k];
      json_t *why = applies_because (bw_policy_scope (e->policy), s);
      if (NULL == why || 0 == json_array_size (why))
        {
          ok = NULL != why;
          json_decref (why);
          continue;
        }
      ok = 0
           == json_array_append_new (
             policies,
             json_pack ("{s:s, s:s, s:I, s:s, s:o}", "id", e->id, "name",
                        bw_policy_name (e->policy), "revision", (json_int_t) e->revision, "mode",
                        api_policy_mode_name (bw_policy_mode (e->policy)), "applies_because", why));
    }
  if (!ok)
    {
      json_decref (groups);
      json_decref (policies);
      return NULL;
    }
  return json_pack ("{s:s, s:b, s:o, s:I, s:o}", "user", s->id, "active", s->active, "groups",
                    groups, "policy_version", (json_int_t) set->version, "policies", policies);
}

enum bw_step
api_users_effective_policy (struct bw_request *rq)
{
  const char *id = rq->params[1];
  struct subject s = { .id = id };
  struct job j = { .n = 0, .nsubjects = 1, .subjects = &s };
  struct api_policy_set *set = NULL;
  enum bw_step step;
  if (NULL == id || !bw_uuid_valid (id))
    return bw_reply_problem (rq, BW_E_NOT_FOUND, "no such user", NULL);
  const char *ids[] = { id };
  enum db_qs qs = db_policy_subjects (rq->org.id, ids, 1, subject_cb, &j);
  if (qs >= 0 && j.failed)
    qs = DB_QS_HARD_ERROR;
  if (qs < 0)
    step = bw_reply_db_error (rq, qs);
  else if (!s.found)
    step = bw_reply_problem (rq, BW_E_NOT_FOUND, "no such user", NULL);
  else if ((qs = api_policy_set_get (rq->org.id, &set)) <= 0)
    step = reply_lookup_failed (rq, qs);
  else
    step = bw_reply_json (rq, 200, effective_json (&s, set), NULL, 0);
  api_policy_set_release (set);
  free (s.groups);
  free (s.group_ids);
  return step;
}
