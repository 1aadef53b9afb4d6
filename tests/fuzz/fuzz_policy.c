/*
 * libFuzzer target over the policy engine (lib/policy.h): the document
 * parser, the decision request parser and the evaluator, with the
 * invariants of DESIGN §4 checked on every result.
 *
 * Input: a JSON object {"policy": P, "request": R, "catalog"?: C,
 * "now"?: N} where P is one policy document or an array of them, R one
 * decision request or an array of them, C an approved catalog slice
 * (lib/catalog.h; when it does not parse, the empty one) and N the time
 * (Unix seconds, default 1767225600).  Every request is evaluated against
 * every policy that parsed, in that order and reversed (the outcome must
 * not change), then once more with an unusable policy (NULL) among them.
 * Inputs that are not such an object are still fed to both parsers as
 * they are.  tests/fuzz/fuzz_catalog.c covers the catalog's own parsers.
 *
 * Build and run: tests/fuzz/run.sh SECONDS.
 */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/policy.h"

/** Most policies and requests taken from one input. */
#define FUZZ_ITEMS_MAX 8

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
  do                                                                                     \
    {                                                                                    \
      if (!(cond))                                                                       \
        {                                                                                \
          fprintf (stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
          abort ();                                                                      \
        }                                                                                \
    }                                                                                    \
  while (0)

/* Every error is {"pointer": string starting with prefix, "message": non-empty string}. */
static void
check_errors (const json_t *errors, size_t from, const char *prefix)
{
  for (size_t i = from; i < json_array_size (errors); i++)
    {
      const json_t *e = json_array_get (errors, i);
      const char *ptr = json_string_value (json_object_get (e, "pointer"));
      const char *msg = json_string_value (json_object_get (e, "message"));
      CHECK (2 == json_object_size (e));
      CHECK (NULL != ptr && 0 == strncmp (ptr, prefix, strlen (prefix)));
      CHECK ('\0' == ptr[strlen (prefix)] || '/' == ptr[strlen (prefix)]);
      CHECK (NULL != msg && '\0' != msg[0]);
    }
}

/* The decision order of DESIGN §4 against what was matched. */
static void
check_result (const struct bw_decision_result *r, bool broken)
{
  /* step 1: a catalog denial comes before any rule, a broken policy included */
  bool catalog_denied = BW_CATALOG_UNCHECKED != r->catalog && BW_CATALOG_APPROVED != r->catalog;
  CHECK ((BW_CATALOG_UNCHECKED == r->catalog) == (NULL == r->catalog_entry)
         || BW_CATALOG_NOT_APPROVED == r->catalog);
  if (catalog_denied)
    {
      CHECK (BW_DECISION_DENY == r->decision && BW_REASON_CATALOG == r->reason);
      CHECK (-1 == r->deciding && 0 == r->nmatched && !r->would_deny);
      json_t *j = bw_decision_result_json (r);
      CHECK (NULL != j && NULL != json_object_get (j, "catalog"));
      json_decref (j);
      return;
    }
  CHECK (BW_REASON_CATALOG != r->reason);
  bool enforce_deny = false, enforce_approval = false, audit_deny = false;
  CHECK (r->nmatched <= BW_MATCHED_MAX);
  CHECK (r->deciding >= -1 && r->deciding < (int) r->nmatched);
  for (size_t i = 0; i < r->nmatched; i++)
    {
      const struct bw_rule_match *m = &r->matched[i];
      CHECK (NULL != m->rule_id && NULL != m->policy_id);
      bool audit = BW_MODE_AUDIT == m->mode;
      enforce_deny = enforce_deny || (!audit && BW_DECISION_DENY == m->decision);
      enforce_approval
        = enforce_approval || (!audit && BW_DECISION_REQUIRE_APPROVAL == m->decision);
      audit_deny = audit_deny || (audit && BW_DECISION_DENY == m->decision);
    }
  if (broken)
    {
      CHECK (BW_DECISION_DENY == r->decision && BW_REASON_POLICY_ERROR == r->reason);
      CHECK (-1 == r->deciding);
    }
  else if (BW_REASON_RULE == r->reason)
    {
      CHECK (r->deciding >= 0);
      const struct bw_rule_match *d = &r->matched[r->deciding];
      CHECK (BW_MODE_ENFORCE == d->mode && d->decision == r->decision);
    }
  else
    {
      CHECK (BW_REASON_DEFAULT == r->reason && BW_DECISION_DENY == r->decision);
      CHECK (-1 == r->deciding);
    }
  if (!r->matched_truncated && !broken)
    {
      CHECK (!enforce_deny || BW_DECISION_DENY == r->decision);
      CHECK (enforce_deny || !enforce_approval || BW_DECISION_REQUIRE_APPROVAL == r->decision);
      CHECK (audit_deny == r->would_deny);
    }
  json_t *j = bw_decision_result_json (r);
  CHECK (NULL != j);
  CHECK (json_is_string (json_object_get (j, "decision")));
  CHECK (json_array_size (json_object_get (j, "matched")) == r->nmatched);
  json_decref (j);
}

/* The items of v: the array's entries, or v itself. */
static size_t
items (json_t *v, json_t **out)
{
  if (NULL == v)
    return 0;
  if (!json_is_array (v))
    {
      out[0] = v;
      return 1;
    }
  size_t n = json_array_size (v);
  n = (n > FUZZ_ITEMS_MAX) ? FUZZ_ITEMS_MAX : n;
  for (size_t i = 0; i < n; i++)
    out[i] = json_array_get (v, i);
  return n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  json_error_t jerr;
  json_t *in = json_loadb ((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (NULL == in)
    return 0;
  json_t *pv[FUZZ_ITEMS_MAX], *rv[FUZZ_ITEMS_MAX];
  size_t np, nr;
  if (json_is_object (in) && NULL != json_object_get (in, "policy"))
    {
      np = items (json_object_get (in, "policy"), pv);
      nr = items (json_object_get (in, "request"), rv);
    }
  else
    {
      pv[0] = rv[0] = in;
      np = nr = 1;
    }
  const json_t *cv = json_is_object (in) ? json_object_get (in, "catalog") : NULL;
  const json_t *nv = json_is_object (in) ? json_object_get (in, "now") : NULL;
  int64_t now = json_is_integer (nv) ? (int64_t) json_integer_value (nv) : 1767225600;
  char why[128];
  struct bw_catalog *cat = (NULL != cv) ? bw_catalog_parse (cv, why, sizeof (why)) : NULL;
  CHECK (NULL == cv || NULL != cat || '\0' != why[0]);
  json_t *errors = json_array ();
  struct bw_policy_ref refs[FUZZ_ITEMS_MAX + 1];
  size_t nrefs = 0;
  for (size_t i = 0; i < np; i++)
    {
      size_t before = json_array_size (errors);
      struct bw_policy *p = bw_policy_parse (pv[i], "/policy", errors);
      check_errors (errors, before, "/policy");
      if (NULL == p)
        {
          CHECK (json_array_size (errors) > before);
          continue;
        }
      CHECK (json_array_size (errors) == before);
      CHECK (bw_policy_rule_count (p) <= BW_POLICY_RULES_MAX);
      CHECK (NULL != bw_policy_name (p));
      refs[nrefs++]
        = (struct bw_policy_ref){ .policy = p, .policy_id = "p", .revision = (int64_t) i };
    }
  for (size_t i = 0; i < nr; i++)
    {
      size_t before = json_array_size (errors);
      struct bw_decision_request *r = bw_decision_request_parse (rv[i], "/request", errors);
      check_errors (errors, before, "/request");
      if (NULL == r)
        {
          CHECK (json_array_size (errors) > before);
          continue;
        }
      struct bw_decision_result res, rev;
      struct bw_policy_ref reversed[FUZZ_ITEMS_MAX];
      bw_evaluate (refs, nrefs, cat, now, r, &res);
      check_result (&res, false);
      /* The order policies come in changes which rule is named, never the outcome. */
      for (size_t k = 0; k < nrefs; k++)
        reversed[k] = refs[nrefs - 1 - k];
      bw_evaluate (reversed, nrefs, cat, now, r, &rev);
      check_result (&rev, false);
      CHECK (res.decision == rev.decision && res.reason == rev.reason);
      CHECK (res.would_deny == rev.would_deny || res.matched_truncated || rev.matched_truncated);
      CHECK (res.nmatched == rev.nmatched);
      CHECK (res.catalog == rev.catalog && res.catalog_entry == rev.catalog_entry);
      /* without a catalog, no MCP server is approved */
      bw_evaluate (refs, nrefs, NULL, now, r, &rev);
      check_result (&rev, false);
      CHECK (BW_CATALOG_UNCHECKED == rev.catalog || BW_CATALOG_NOT_APPROVED == rev.catalog);
      CHECK (BW_CATALOG_UNCHECKED == rev.catalog || BW_DECISION_DENY == rev.decision);
      refs[nrefs] = (struct bw_policy_ref){ .policy = NULL, .policy_id = "broken", .revision = 0 };
      bw_evaluate (refs, nrefs + 1, cat, now, r, &res);
      check_result (&res, true);
      bw_decision_request_free (r);
    }
  for (size_t i = 0; i < nrefs; i++)
    bw_policy_free ((struct bw_policy *) refs[i].policy);
  bw_catalog_free (cat);
  json_decref (errors);
  json_decref (in);
  return 0;
}
