/*
 * Black-box tests of the policy engine (DESIGN §4) through lib/policy.h
 * only: matchers per surface (each run once with an allow rule and once
 * with a deny rule, so a normalization gap cannot open a hole in either
 * direction), precedence across policies and modes, and strict validation
 * of documents and requests with the exact JSON pointer of each error.
 *
 * Table JSON is written with ' standing for " so it stays readable; no
 * case needs a literal '.
 *
 * MCP requests, and credentials toward MCP servers, pass the catalog step
 * first (DESIGN §4 step 1; tests/unit/check_catalog.c covers it): the
 * tables here run with an approved slice that lets them through to the
 * rules, built from the request (see mcp_case and cred_case).
 */
#include "config.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/policy.h"
#include "tests/unit/json_table.h"

#define ARRAY_LEN(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- helpers ---- */

/** Parse table request @a text; it must be valid. */
static struct bw_decision_request *
request_ok (const char *text)
{
  json_t *req = table_load (text);
  json_t *errors = json_array ();
  struct bw_decision_request *r = bw_decision_request_parse (req, "", errors);

  ck_assert_msg (NULL != r, "request rejected: %s\n  errors: %s", text, table_show (errors));
  json_decref (errors);
  json_decref (req);
  return r;
}

/* What the catalog of MCP rows pins (DESIGN §5). */
#define HEX16 "0123456789abcdef"
#define DIGEST "sha256:" HEX16 HEX16 HEX16 HEX16
#define DESC_SHA "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
/** The time decisions are made at (Unix seconds). */
#define NOW ((int64_t) 1767225600)
/** The id of every test catalog entry. */
#define ENTRY_ID "9b2f6c1e-4d3a-4e5b-8c7d-0a1b2c3d4e5f"

/** Parse approved slice @a slice (stolen); it must be valid. */
static struct bw_catalog *
catalog_ok (json_t *slice)
{
  char why[256] = "";
  struct bw_catalog *c;

  ck_assert_ptr_nonnull (slice);
  c = bw_catalog_parse (slice, why, sizeof (why));
  ck_assert_msg (NULL != c, "catalog rejected (%s): %s", why, table_show (slice));
  json_decref (slice);
  return c;
}

/** Document @a doc (borrowed) must be rejected with an error at @a pointer. */
static void
expect_policy_error (const json_t *doc, const char *prefix, const char *pointer)
{
  json_t *errors = json_array ();
  struct bw_policy *p = bw_policy_parse (doc, prefix, errors);

  ck_assert_msg (NULL == p, "policy accepted, wanted an error at \"%s\": %s", pointer, table_show (doc));
  bw_policy_free (p);
  ck_assert_msg (table_has_pointer (errors, pointer), "no error at \"%s\" for %s\n  errors: %s", pointer,
                 table_show (doc), table_show (errors));
  json_decref (errors);
}

/** Request @a req (borrowed) must be rejected with an error at @a pointer. */
static void
expect_request_error (const json_t *req, const char *prefix, const char *pointer)
{
  json_t *errors = json_array ();
  struct bw_decision_request *r = bw_decision_request_parse (req, prefix, errors);

  ck_assert_msg (NULL == r, "request accepted, wanted an error at \"%s\": %s", pointer, table_show (req));
  bw_decision_request_free (r);
  ck_assert_msg (table_has_pointer (errors, pointer), "no error at \"%s\" for %s\n  errors: %s", pointer,
                 table_show (req), table_show (errors));
  json_decref (errors);
}

/* Policy ids handed to the evaluator: "p0", "p1", ... with revision index + 1. */
static const char *const pol_ids[] = { "p0", "p1", "p2", "p3" };

/** Expected outcome of one evaluation. */
struct expect
{
  enum bw_decision decision;
  enum bw_reason reason;
  const char *deciding; /**< "p1/rule-id", or NULL for none */
  bool would_deny;
  const char *matched; /**< space-separated "p0/rule" set, in any order; "" for none */
};

/** Count of space-separated words of @a s. */
static size_t
words (const char *s)
{
  size_t n = 0;
  for (const char *c = s; *c;)
    {
      while (' ' == *c)
        c++;
      if ('\0' == *c)
        break;
      n++;
      while (*c && ' ' != *c)
        c++;
    }
  return n;
}

/** True when the word "@a pol/@a rule" is in space-separated @a set. */
static bool
in_set (const char *set, const char *pol, const char *rule)
{
  char w[256];
  size_t n = strlen (set);

  snprintf (w, sizeof (w), "%s/%s", pol, rule);
  for (const char *c = set; (c = strstr (c, w)); c++)
    if ((c == set || ' ' == c[-1]) && (c + strlen (w) == set + n || ' ' == c[strlen (w)]))
      return true;
  return false;
}

/** Check @a r against @a want, and the JSON form of @a r against @a r;
    @a modes gives each policy's mode by index; @a what names the case. */
static void
check_result (const struct bw_decision_result *r, const struct expect *want,
              const enum bw_policy_mode *modes, size_t npol, const char *what)
{
  json_t *j, *dr, *m;
  size_t i;

  ck_assert_msg (r->decision == want->decision, "%s: decision %s, want %s", what,
                 bw_decision_name (r->decision), bw_decision_name (want->decision));
  ck_assert_msg (r->reason == want->reason, "%s: reason %s, want %s", what,
                 bw_reason_name (r->reason), bw_reason_name (want->reason));
  ck_assert_msg (r->would_deny == want->would_deny, "%s: would_deny %d, want %d", what,
                 r->would_deny, want->would_deny);
  ck_assert_msg (r->nmatched == words (want->matched), "%s: %zu matched, want {%s}", what,
                 r->nmatched, want->matched);
  ck_assert (!r->matched_truncated);
  for (i = 0; i < r->nmatched; i++)
    {
      const struct bw_rule_match *mm = &r->matched[i];
      size_t k;

      for (k = 0; k < npol; k++)
        if (0 == strcmp (mm->policy_id, pol_ids[k]))
          break;
      ck_assert_msg (k < npol, "%s: matched unknown policy %s", what, mm->policy_id);
      ck_assert_msg (in_set (want->matched, mm->policy_id, mm->rule_id),
                     "%s: unexpected match %s/%s, want {%s}", what, mm->policy_id, mm->rule_id,
                     want->matched);
      ck_assert_int_eq (mm->revision, (int64_t) k + 1);
      ck_assert_int_eq (mm->mode, modes[k]);
    }
  if (NULL == want->deciding)
    ck_assert_msg (-1 == r->deciding, "%s: deciding %d, want none", what, r->deciding);
  else
    {
      char got[256];

      ck_assert_msg (r->deciding >= 0 && (size_t) r->deciding < r->nmatched,
                     "%s: deciding %d, want %s", what, r->deciding, want->deciding);
      snprintf (got, sizeof (got), "%s/%s", r->matched[r->deciding].policy_id,
                r->matched[r->deciding].rule_id);
      ck_assert_msg (0 == strcmp (got, want->deciding), "%s: deciding %s, want %s", what, got,
                     want->deciding);
      ck_assert_int_eq (r->matched[r->deciding].decision, want->decision);
      ck_assert_int_eq (r->matched[r->deciding].mode, BW_MODE_ENFORCE);
    }

  /* The API form says the same. */
  j = bw_decision_result_json (r);
  ck_assert_ptr_nonnull (j);
  ck_assert_str_eq (json_string_value (json_object_get (j, "decision")),
                    bw_decision_name (r->decision));
  ck_assert_str_eq (json_string_value (json_object_get (j, "reason")), bw_reason_name (r->reason));
  ck_assert (json_is_boolean (json_object_get (j, "would_deny")));
  ck_assert (json_boolean_value (json_object_get (j, "would_deny")) == r->would_deny);
  dr = json_object_get (j, "deciding_rule");
  if (r->deciding < 0)
    ck_assert_msg (json_is_null (dr), "%s: deciding_rule %s", what, table_show (dr));
  else
    {
      const struct bw_rule_match *d = &r->matched[r->deciding];

      ck_assert_str_eq (json_string_value (json_object_get (dr, "policy_id")), d->policy_id);
      ck_assert_str_eq (json_string_value (json_object_get (dr, "rule_id")), d->rule_id);
      ck_assert_int_eq (json_integer_value (json_object_get (dr, "revision")), d->revision);
    }
  if (BW_CATALOG_UNCHECKED == r->catalog)
    ck_assert_msg (NULL == json_object_get (j, "catalog"), "%s: catalog in %s", what, table_show (j));
  else
    {
      json_t *cj = json_object_get (j, "catalog");

      ck_assert_msg (NULL != cj, "%s: no catalog in %s", what, table_show (j));
      ck_assert_str_eq (json_string_value (json_object_get (cj, "check")),
                        bw_catalog_check_name (r->catalog));
      if (NULL == r->catalog_entry)
        ck_assert (json_is_null (json_object_get (cj, "entry_id")));
      else
        ck_assert_str_eq (json_string_value (json_object_get (cj, "entry_id")), r->catalog_entry);
    }
  ck_assert_msg ((BW_REASON_CATALOG == r->reason)
                   == (BW_CATALOG_UNCHECKED != r->catalog && BW_CATALOG_APPROVED != r->catalog),
                 "%s: reason %s with catalog %s", what, bw_reason_name (r->reason),
                 bw_catalog_check_name (r->catalog));
  m = json_object_get (j, "matched");
  ck_assert (json_is_array (m));
  ck_assert_uint_eq (json_array_size (m), r->nmatched);
  for (i = 0; i < r->nmatched; i++)
    {
      json_t *e = json_array_get (m, i);

      ck_assert_str_eq (json_string_value (json_object_get (e, "policy_id")),
                        r->matched[i].policy_id);
      ck_assert_str_eq (json_string_value (json_object_get (e, "rule_id")), r->matched[i].rule_id);
      ck_assert_int_eq (json_integer_value (json_object_get (e, "revision")),
                        r->matched[i].revision);
      ck_assert_str_eq (json_string_value (json_object_get (e, "decision")),
                        bw_decision_name (r->matched[i].decision));
      ck_assert_str_eq (json_string_value (json_object_get (e, "mode")),
                        BW_MODE_AUDIT == r->matched[i].mode ? "audit" : "enforce");
    }
  json_decref (j);
}

/** The approved catalog decide () runs with (set up by the precedence test). */
static const struct bw_catalog *prec_catalog;

/** Evaluate request text @a req against policy texts @a docs (NULL-ended, at
    most 4) and the approved slice prec_catalog, and check the outcome. */
static void
decide (const char *const *docs, const char *req, const struct expect *want)
{
  struct bw_policy_ref refs[4];
  enum bw_policy_mode modes[4];
  struct bw_decision_request *r = request_ok (req);
  struct bw_decision_result res;
  char what[4096];
  size_t n = 0;
  int len;

  len = snprintf (what, sizeof (what), "request %s against", req);
  for (; n < 4 && NULL != docs[n]; n++)
    {
      refs[n].policy = table_policy_ok (docs[n]);
      refs[n].policy_id = pol_ids[n];
      refs[n].revision = (int64_t) n + 1;
      modes[n] = bw_policy_mode (refs[n].policy);
      if (len > 0 && (size_t) len < sizeof (what))
        len
          += snprintf (what + len, sizeof (what) - (size_t) len, "\n  %s: %s", pol_ids[n], docs[n]);
    }
  memset (&res, 0xa5, sizeof (res)); /* no field may be left unset */
  bw_evaluate (refs, n, prec_catalog, NOW, r, &res);
  check_result (&res, want, modes, n, what);
  for (size_t i = 0; i < n; i++)
    bw_policy_free ((struct bw_policy *) refs[i].policy);
  bw_decision_request_free (r);
}

/* Documents in tables. */
#define HEAD "'schema':'bulwark.policy/v1','name':'t','scope':{'org_wide':true}"
#define ENF(surfaces) "{" HEAD ",'mode':'enforce'," surfaces "}"
#define AUD(surfaces) "{" HEAD ",'mode':'audit'," surfaces "}"
#define NET(id, dec, hosts) "{'id':'" id "','decision':'" dec "','hosts':[" hosts "]}"
#define NETP(id, dec, hosts, ports) \
  "{'id':'" id "','decision':'" dec "','hosts':[" hosts "],'ports':[" ports "]}"
#define CIDR(id, dec, cidrs) "{'id':'" id "','decision':'" dec "','cidrs':[" cidrs "]}"
#define FS(id, dec, access, paths) \
  "{'id':'" id "','decision':'" dec "','access':[" access "],'paths':[" paths "]}"
#define CONNECT(host, port) \
  "{'surface':'network','action':'connect','resource':{'host':'" host "','port':" #port "}}"
#define CONNECT_IP(ip, port) \
  "{'surface':'network','action':'connect','resource':{'ip':'" ip "','port':" #port "}}"
#define FSREQ(action, path) FSREQ_HOME (action, path, "/home/u")
#define FSREQ_HOME(action, path, home)                                                            \
  "{'surface':'filesystem','action':'" action "','resource':{'path':'" path "','access':'" action \
  "'},'context':{'home':'" home "'}}"

/* ---- single-rule matcher tables ---- */

/** The surface named @a s ("network", ...). */
static enum bw_surface
surface_of (const char *s)
{
  for (int i = BW_SURFACE_NETWORK; i <= BW_SURFACE_MCP; i++)
    if (0 == strcmp (s, bw_surface_name ((enum bw_surface) i)))
      return (enum bw_surface) i;
  ck_abort_msg ("no surface %s", s);
  return BW_SURFACE_NETWORK;
}

/** How a single-rule row comes out. */
enum want
{
  M,        /**< the rule matches: its decision, reason rule */
  N,        /**< no match: default deny */
  BAD_RULE, /**< the rule is rejected at the table's rule pointer */
  BAD_REQ,  /**< the request is rejected at the table's request pointer */
  C,        /**< the catalog step denies: no rule looked at */
};

/**
 * One policy holding @a rule (stolen; "id" and "decision" are added) under
 * @a surface, evaluated against @a req (stolen) and the approved catalog
 * slice @a slice (stolen; NULL for none) at NOW.  @a rule_ptr and @a req_ptr
 * are the pointers of the BAD_RULE and BAD_REQ errors.  @a decision is the
 * rule's decision ("allow" or "deny").
 */
static void
run_single_cat (const char *surface, json_t *rule, json_t *req, json_t *slice, enum want want,
                const char *rule_ptr, const char *req_ptr, const char *decision)
{
  json_t *doc, *errors = json_array ();
  struct bw_policy *p;
  struct bw_decision_request *r;
  struct bw_policy_ref ref;
  struct bw_decision_result res;
  struct bw_catalog *cat;
  enum bw_policy_mode mode = BW_MODE_ENFORCE;
  struct expect e = { BW_DECISION_DENY, BW_REASON_DEFAULT, NULL, false, "" };
  char what[2 * TABLE_SHOW_MAX + 32];

  json_object_set_new (rule, "id", json_string ("r"));
  json_object_set_new (rule, "decision", json_string (decision));
  doc = json_pack ("{s:s,s:s,s:s,s:{s:b},s:[o]}", "schema", BW_POLICY_SCHEMA, "name", "t", "mode",
                   "enforce", "scope", "org_wide", 1, surface, rule);
  ck_assert_ptr_nonnull (doc);
  snprintf (what, sizeof (what), "rule %s", table_show (rule));
  snprintf (what + strlen (what), sizeof (what) - strlen (what), " request %s", table_show (req));

  if (BAD_RULE == want)
    {
      expect_policy_error (doc, "", rule_ptr);
      goto done;
    }
  p = bw_policy_parse (doc, "", errors);
  ck_assert_msg (NULL != p, "%s: rule rejected: %s", what, table_show (errors));
  if (BAD_REQ == want)
    {
      expect_request_error (req, "", req_ptr);
      bw_policy_free (p);
      goto done;
    }
  r = bw_decision_request_parse (req, "", errors);
  ck_assert_msg (NULL != r, "%s: request rejected: %s", what, table_show (errors));
  ref.policy = p;
  ref.policy_id = "p0";
  ref.revision = 1;
  cat = (NULL != slice) ? catalog_ok (json_incref (slice)) : NULL;
  memset (&res, 0xa5, sizeof (res));
  bw_evaluate (&ref, 1, cat, NOW, r, &res);
  if (M == want)
    {
      e.decision = 0 == strcmp (decision, "allow") ? BW_DECISION_ALLOW : BW_DECISION_DENY;
      e.reason = BW_REASON_RULE;
      e.deciding = "p0/r";
      e.matched = "p0/r";
    }
  else if (C == want)
    e.reason = BW_REASON_CATALOG;
  check_result (&res, &e, &mode, 1, what);
  if (C != want && (BW_SURFACE_MCP == surface_of (surface) || NULL != slice))
    ck_assert_msg (BW_CATALOG_APPROVED == res.catalog, "%s: catalog %s", what,
                   bw_catalog_check_name (res.catalog));
  bw_catalog_free (cat);
  bw_decision_request_free (r);
  bw_policy_free (p);
done:
  json_decref (slice);
  json_decref (req);
  json_decref (doc);
  json_decref (errors);
}

/** run_single_cat without a catalog: the surfaces the catalog step never looks at. */
static void
run_single (const char *surface, json_t *rule, json_t *req, enum want want, const char *rule_ptr,
            const char *req_ptr, const char *decision)
{
  run_single_cat (surface, rule, req, NULL, want, rule_ptr, req_ptr, decision);
}

/* Long DNS names: labels of 60..64 bytes, names of 253 and 254 bytes. */
#define L10 "abcdefghij"
#define L60 L10 L10 L10 L10 L10 L10
#define L61 L60 "k"
#define L62 L60 "kl"
#define L63 L60 "klm"
#define L64 L60 "klmn"
#define N253 L63 "." L63 "." L63 "." L61
#define N254 L63 "." L63 "." L63 "." L62

/* Hosts: apex, *. and **., look-alikes, case, dots, userinfo, ports, IDN, lengths. */
/* clang-format off */
static const struct
{
  const char *pattern;
  const char *host;
  int port;
  enum want want;
} host_table[] = {
  /* exact names: that name alone */
  { "example.com", "example.com", 443, M },
  { "example.com", "EXAMPLE.COM", 443, M },
  { "example.com", "Example.Com", 80, M },
  { "EXAMPLE.com", "example.com", 443, M },
  { "example.com", "www.example.com", 443, N },
  { "example.com", "a.b.example.com", 443, N },
  { "example.com", "evil-example.com", 443, N },
  { "example.com", "notexample.com", 443, N },
  { "example.com", "example.com.evil.net", 443, N },
  { "example.com", "example.co", 443, N },
  { "example.com", "example.comm", 443, N },
  { "example.com", "xample.com", 443, N },
  { "example.com", "example.org", 443, N },
  { "example.com", "com", 443, N },
  { "registry.npmjs.org", "registry.npmjs.org", 443, M },
  { "registry.npmjs.org", "registry.npmjs.org.attacker.io", 443, N },
  { "registry.npmjs.org", "registry-npmjs.org", 443, N },
  { "registry.npmjs.org", "registrynpmjs.org", 443, N },
  { "localhost", "localhost", 8080, M },
  { "localhost", "localhost.localdomain", 8080, N },
  /* trailing dot: one removed, in requests and in rules */
  { "example.com", "example.com.", 443, M },
  { "example.com.", "example.com", 443, M },
  { "example.com.", "example.com.", 443, M },
  { "example.com", "EXAMPLE.COM.", 443, M },
  { "example.com", "example.com..", 443, BAD_REQ },
  { "example.com..", "example.com", 443, BAD_RULE },
  { "*.example.com", "www.example.com.", 443, M },
  { "**.example.com", "a.b.example.com.", 443, M },
  { "*.example.com.", "www.example.com", 443, M },
  /* *. is exactly one more label, never the apex */
  { "*.example.com", "www.example.com", 443, M },
  { "*.example.com", "WWW.Example.COM", 443, M },
  { "*.example.com", "x.example.com", 443, M },
  { "*.example.com", "example.com", 443, N },
  { "*.example.com", "a.b.example.com", 443, N },
  { "*.example.com", "evil-example.com", 443, N },
  { "*.example.com", "www.evil-example.com", 443, N },
  { "*.example.com", "wwwexample.com", 443, N },
  { "*.example.com", "www.notexample.com", 443, N },
  { "*.example.com", "www.example.com.evil.net", 443, N },
  { "*.example.com", "example.com.evil.net", 443, N },
  { "*.example.com", "www.example.org", 443, N },
  { "*.EXAMPLE.COM", "api.example.com", 443, M },
  /* **. is one or more more labels, never the apex */
  { "**.example.com", "www.example.com", 443, M },
  { "**.example.com", "a.b.example.com", 443, M },
  { "**.example.com", "a.b.c.d.e.example.com", 443, M },
  { "**.example.com", "A.B.Example.Com", 443, M },
  { "**.example.com", "example.com", 443, N },
  { "**.example.com", "EXAMPLE.COM.", 443, N },
  { "**.example.com", "evil-example.com", 443, N },
  { "**.example.com", "a.evil-example.com", 443, N },
  { "**.example.com", "notexample.com", 443, N },
  { "**.example.com", "a.notexample.com", 443, N },
  { "**.example.com", "example.com.evil.net", 443, N },
  { "**.example.com", "x.example.com.evil.net", 443, N },
  { "**.example.com", "example.co", 443, N },
  { "**.pypi.org", "files.pypi.org", 443, M },
  { "**.pypi.org", "pypi.org", 443, N },
  { "**.pypi.org", "pypi.org.evil.net", 443, N },
  /* wildcards only as a whole leftmost label */
  { "*example.com", "wwwexample.com", 443, BAD_RULE },
  { "**example.com", "wwwexample.com", 443, BAD_RULE },
  { "ex*ample.com", "example.com", 443, BAD_RULE },
  { "www.*.example.com", "www.a.example.com", 443, BAD_RULE },
  { "*.*.example.com", "a.b.example.com", 443, BAD_RULE },
  { "***.example.com", "a.example.com", 443, BAD_RULE },
  { "example.*", "example.com", 443, BAD_RULE },
  /* a wildcard label with a dot promises a domain: "*." and "**." are not "*" and "**" */
  { "*.", "localhost", 443, BAD_RULE },
  { "*.", "example.com", 443, BAD_RULE },
  { "**.", "example.com", 443, BAD_RULE },
  { "*..", "localhost", 443, BAD_RULE },
  { "**..", "example.com", 443, BAD_RULE },
  { "*.example.com", "*.example.com", 443, BAD_REQ },
  { "example.com", "*", 443, BAD_REQ },
  /* bare wildcards: "*" any single-label name, "**" any name */
  { "*", "localhost", 443, M },
  { "*", "example.com", 443, N },
  { "**", "example.com", 443, M },
  { "**", "a.b.c.example.com", 443, M },
  { "**.*", "example.com", 443, BAD_RULE },
  /* an IP literal in "host" is an address: host patterns never match it */
  { "**", "127.0.0.1", 443, N },
  { "*", "[::1]", 443, N },
  { "10.0.0.1", "10.0.0.1", 443, BAD_RULE },
  { "**", "127.1", 443, BAD_REQ },
  { "**", "0x7f.0.0.1", 443, BAD_REQ },
  { "**", "2130706433", 443, BAD_REQ },
  { "**", "1.2.3.4.5", 443, BAD_REQ },
  { "**", "010.0.0.1", 443, BAD_REQ },
  { "**", "evil.0x7f", 443, BAD_REQ },
  { "**", "evil.123", 443, BAD_REQ },
  /* letters, digits, '_' and '-', not at a label's ends */
  { "_dmarc.example.com", "_DMARC.example.com", 443, M },
  { "a-b.example.com", "a-b.example.com", 443, M },
  { "example.com", "-example.com", 443, BAD_REQ },
  { "example.com", "example-.com", 443, BAD_REQ },
  { "-example.com", "example.com", 443, BAD_RULE },
  { "example.com", "exa!mple.com", 443, BAD_REQ },
  /* ports in host patterns */
  { "example.com:443", "example.com", 443, M },
  { "example.com:443", "example.com", 80, N },
  { "example.com:443", "example.com", 4430, N },
  { "*.example.com:8443", "api.example.com", 8443, M },
  { "*.example.com:8443", "api.example.com", 443, N },
  { "**.example.com:443", "a.b.example.com", 443, M },
  { "**.example.com:443", "example.com", 443, N },
  { "example.com:8000-8999", "example.com", 8000, M },
  { "example.com:8000-8999", "example.com", 8999, M },
  { "example.com:8000-8999", "example.com", 9000, N },
  { "example.com:8999-8000", "example.com", 8000, BAD_RULE },
  { "example.com:0", "example.com", 443, BAD_RULE },
  { "example.com:65536", "example.com", 443, BAD_RULE },
  { "example.com:", "example.com", 443, BAD_RULE },
  { "example.com:https", "example.com", 443, BAD_RULE },
  { "example.com:-1", "example.com", 443, BAD_RULE },
  { "example.com:443:443", "example.com", 443, BAD_RULE },
  { "example.com", "example.com:443", 443, BAD_REQ },
  /* userinfo: never, in rules or requests */
  { "user@example.com", "example.com", 443, BAD_RULE },
  { "user:pass@example.com", "example.com", 443, BAD_RULE },
  { "@example.com", "example.com", 443, BAD_RULE },
  { "example.com", "user@example.com", 443, BAD_REQ },
  { "example.com", "example.com@evil.net", 443, BAD_REQ },
  { "example.com", "evil.net@example.com", 443, BAD_REQ },
  { "example.com", "user:pass@example.com", 443, BAD_REQ },
  /* IDN: A-labels only */
  { "b\xc3\xbc" "cher.example", "xn--bcher-kva.example", 443, BAD_RULE },
  { "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", 443, BAD_REQ },
  { "xn--bcher-kva.example", "xn--bcher-kva.example", 443, M },
  { "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE", 443, M },
  { "*.xn--bcher-kva.example", "www.xn--bcher-kva.example", 443, M },
  { "xn--bcher-kva.example", "bcher-kva.example", 443, N },
  { "example.com", "\xd0\xb5xample.com", 443, BAD_REQ }, /* Cyrillic e */
  { "example.com", "example\xe3\x80\x82" "com", 443, BAD_REQ }, /* ideographic full stop */
  /* empty labels, leading dots, separators */
  { "a..example.com", "a.example.com", 443, BAD_RULE },
  { ".example.com", "example.com", 443, BAD_RULE },
  { "", "example.com", 443, BAD_RULE },
  { ".", "example.com", 443, BAD_RULE },
  { "example.com", "a..example.com", 443, BAD_REQ },
  { "*.example.com", ".example.com", 443, BAD_REQ },
  { "example.com", "", 443, BAD_REQ },
  { "example.com", ".", 443, BAD_REQ },
  { "example.com", "example.com/path", 443, BAD_REQ },
  { "example.com/", "example.com", 443, BAD_RULE },
  { "example.com", "example%2ecom", 443, BAD_REQ },
  { "example.com", "example.com\\", 443, BAD_REQ },
  /* whitespace */
  { " example.com", "example.com", 443, BAD_RULE },
  { "example.com ", "example.com", 443, BAD_RULE },
  { "exa mple.com", "example.com", 443, BAD_RULE },
  { "example.com", " example.com", 443, BAD_REQ },
  { "example.com", "example.com ", 443, BAD_REQ },
  { "example.com", "example.com\n", 443, BAD_REQ },
  { "example.com", "example.com\t", 443, BAD_REQ },
  { "example.com", "exa mple.com", 443, BAD_REQ },
  /* lengths: labels up to 63, names up to 253 (254 with the trailing dot) */
  { L63 ".example.com", L63 ".example.com", 443, M },
  { L64 ".example.com", L64 ".example.com", 443, BAD_RULE },
  { "*.example.com", L63 ".example.com", 443, M },
  { "*.example.com", L64 ".example.com", 443, BAD_REQ },
  { "**.example.com", L63 "." L63 ".example.com", 443, M },
  { N253, N253, 443, M },
  { N253, N253 ".", 443, M },
  { N254, N253, 443, BAD_RULE },
  { "example.com", N254, 443, BAD_REQ },
  { "example.com", N253 "..", 443, BAD_REQ },
};
/* clang-format on */

static void
host_case (int i, const char *decision)
{
  json_t *rule = json_pack ("{s:[s]}", "hosts", host_table[i].pattern);
  json_t *req = json_pack ("{s:s,s:s,s:{s:s,s:i}}", "surface", "network", "action", "connect",
                           "resource", "host", host_table[i].host, "port", host_table[i].port);

  run_single ("network", rule, req, host_table[i].want, "/network/0/hosts/0", "/resource/host",
              decision);
}

START_TEST (test_host_allow)
{
  host_case (_i, "allow");
}
END_TEST

START_TEST (test_host_deny)
{
  host_case (_i, "deny");
}
END_TEST

/* IPs and CIDRs: canonical IPv4 only, IPv6 forms, IPv4-mapped, host bits, /0, /32, /128. */
/* clang-format off */
static const struct
{
  const char *cidr;
  const char *ip;
  enum want want;
} ip_table[] = {
  /* IPv4 prefixes and their bounds */
  { "10.0.0.0/8", "10.0.0.0", M },
  { "10.0.0.0/8", "10.1.2.3", M },
  { "10.0.0.0/8", "10.255.255.255", M },
  { "10.0.0.0/8", "11.0.0.0", N },
  { "10.0.0.0/8", "9.255.255.255", N },
  { "10.0.0.0/8", "110.0.0.1", N },
  { "172.16.0.0/12", "172.31.255.255", M },
  { "172.16.0.0/12", "172.32.0.0", N },
  { "172.16.0.0/12", "172.15.255.255", N },
  { "192.168.1.0/24", "192.168.1.77", M },
  { "192.168.1.0/24", "192.168.2.77", N },
  { "192.168.1.128/25", "192.168.1.127", N },
  { "192.168.1.128/25", "192.168.1.128", M },
  { "169.254.0.0/16", "169.254.169.254", M },
  { "169.254.0.0/16", "169.255.0.1", N },
  { "192.168.1.7/32", "192.168.1.7", M },
  { "192.168.1.7/32", "192.168.1.8", N },
  { "192.168.1.7/32", "192.168.1.6", N },
  { "0.0.0.0/0", "0.0.0.0", M },
  { "0.0.0.0/0", "1.2.3.4", M },
  { "0.0.0.0/0", "255.255.255.255", M },
  { "0.0.0.0/0", "::1", N },
  { "0.0.0.0/0", "2001:db8::1", N },
  { "128.0.0.0/1", "127.255.255.255", N },
  { "128.0.0.0/1", "128.0.0.0", M },
  /* a bare address is a single-address block */
  { "10.0.0.1", "10.0.0.1", M },
  { "10.0.0.1", "10.0.0.2", N },
  { "2001:db8::1", "2001:db8::1", M },
  { "2001:db8::1", "2001:db8::2", N },
  /* host bits set, prefixes out of range, malformed CIDRs */
  { "10.0.0.0/08", "10.0.0.1", BAD_RULE },
  { "10.0.0.1/8", "10.0.0.1", BAD_RULE },
  { "192.168.1.1/24", "192.168.1.1", BAD_RULE },
  { "0.0.0.1/0", "1.2.3.4", BAD_RULE },
  { "192.168.1.128/24", "192.168.1.128", BAD_RULE },
  { "10.0.0.0/33", "10.0.0.1", BAD_RULE },
  { "10.0.0.0/-1", "10.0.0.1", BAD_RULE },
  { "10.0.0.0/", "10.0.0.1", BAD_RULE },
  { "10.0.0.0/8/8", "10.0.0.1", BAD_RULE },
  { "10.0.0.0/x", "10.0.0.1", BAD_RULE },
  { "10.0.0.0/ 8", "10.0.0.1", BAD_RULE },
  { "/8", "10.0.0.1", BAD_RULE },
  { "", "10.0.0.1", BAD_RULE },
  { "example.com/8", "10.0.0.1", BAD_RULE },
  { "2001:db8::1/64", "2001:db8::1", BAD_RULE },
  { "fd00::1/8", "fd00::1", BAD_RULE },
  { "2001:db8::/129", "2001:db8::1", BAD_RULE },
  /* non-canonical IPv4 in rules */
  { "010.0.0.0/8", "10.0.0.1", BAD_RULE },
  { "0x0a.0.0.0/8", "10.0.0.1", BAD_RULE },
  { "10/8", "10.0.0.1", BAD_RULE },
  { "10.0.0/24", "10.0.0.1", BAD_RULE },
  { "256.0.0.0/8", "10.0.0.1", BAD_RULE },
  { "167772160/8", "10.0.0.1", BAD_RULE },
  { " 10.0.0.0/8", "10.0.0.1", BAD_RULE },
  /* non-canonical IPv4 in requests: rejected, never guessed at */
  { "127.0.0.0/8", "010.0.0.1", BAD_REQ },
  { "127.0.0.0/8", "0x7f.0.0.1", BAD_REQ },
  { "127.0.0.0/8", "0x7f000001", BAD_REQ },
  { "127.0.0.0/8", "0177.0.0.1", BAD_REQ },
  { "127.0.0.0/8", "127.1", BAD_REQ },
  { "127.0.0.0/8", "127.0.1", BAD_REQ },
  { "127.0.0.0/8", "2130706433", BAD_REQ },
  { "127.0.0.0/8", "127.0.0.01", BAD_REQ },
  { "0.0.0.0/0", "1.2.3.4.5", BAD_REQ },
  { "0.0.0.0/0", "256.1.1.1", BAD_REQ },
  { "0.0.0.0/0", "1.2.3.256", BAD_REQ },
  { "0.0.0.0/0", "1.2.3", BAD_REQ },
  { "0.0.0.0/0", "1..2.3", BAD_REQ },
  { "0.0.0.0/0", "1.2.3.4.", BAD_REQ },
  { "0.0.0.0/0", "1.2.3.-4", BAD_REQ },
  { "0.0.0.0/0", "+1.2.3.4", BAD_REQ },
  { "0.0.0.0/0", " 1.2.3.4", BAD_REQ },
  { "0.0.0.0/0", "1.2.3.4 ", BAD_REQ },
  { "0.0.0.0/0", "1.2.3.4/32", BAD_REQ },
  { "0.0.0.0/0", "", BAD_REQ },
  { "0.0.0.0/0", "localhost", BAD_REQ },
  /* IPv6 */
  { "::/0", "2001:db8::1", M },
  { "::/0", "::", M },
  { "::/0", "1.2.3.4", N },
  { "::1/128", "::1", M },
  { "::1/128", "::2", N },
  { "2001:db8::1/128", "2001:db8::1", M },
  { "2001:db8::1/128", "2001:db8::1:0", N },
  { "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", M },
  { "2001:db8::/32", "2001:db9::", N },
  { "fd00::/8", "fd12:3456:789a::1", M },
  { "fd00::/8", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", M },
  { "fd00::/8", "fe80::1", N },
  { "fd00::/8", "fc00::1", N },
  { "fe80::/10", "febf::1", M },
  { "fe80::/10", "fec0::1", N },
  { "2001:db8::/32", "2001:DB8::1", M },
  { "2001:db8::/32", "2001:0db8:0000:0000:0000:0000:0000:0001", M },
  { "::1/128", "0:0:0:0:0:0:0:1", M },
  { "2001:DB8::/32", "2001:db8::1", M },
  { "::/0", "fe80::1%eth0", BAD_REQ },
  { "::/0", "[::1]", BAD_REQ },
  { "::/0", ":::1", BAD_REQ },
  { "::/0", "1::2::3", BAD_REQ },
  { "::/0", "12345::", BAD_REQ },
  { "::/0", "g::1", BAD_REQ },
  { "::/0", "1:2:3:4:5:6:7:8:9", BAD_REQ },
  { "::/0", "::1/128", BAD_REQ },
  /* IPv4-mapped IPv6 is matched as its IPv4 address */
  { "169.254.0.0/16", "::ffff:169.254.169.254", M },
  { "169.254.0.0/16", "::ffff:a9fe:a9fe", M },
  { "169.254.0.0/16", "::FFFF:169.254.169.254", M },
  { "169.254.0.0/16", "0:0:0:0:0:ffff:a9fe:a9fe", M },
  { "169.254.0.0/16", "::ffff:169.255.0.1", N },
  { "127.0.0.0/8", "::ffff:127.0.0.1", M },
  { "10.0.0.0/8", "::ffff:10.9.8.7", M },
  { "0.0.0.0/0", "::ffff:1.2.3.4", M },
  { "::/0", "::ffff:1.2.3.4", N },
  { "169.254.169.254/32", "::ffff:169.254.169.254", M },
  { "127.0.0.0/8", "::ffff:0177.0.0.1", BAD_REQ },
  { "127.0.0.0/8", "::ffff:127.1", BAD_REQ },
  /* IPv4 embedded by NAT64's well-known prefix (RFC 6052) or in the deprecated IPv4-compatible
     form (RFC 4291 §2.5.5.1) reaches that IPv4 address too: decided as it */
  { "169.254.0.0/16", "64:ff9b::169.254.169.254", M },
  { "169.254.0.0/16", "64:ff9b::a9fe:a9fe", M },
  { "::/0", "64:ff9b::a9fe:a9fe", N },
  { "169.254.0.0/16", "::169.254.169.254", M },
  { "169.254.0.0/16", "64:ff9b:1::a9fe:a9fe", N },
  { "::1/128", "::1", M },
  { "0.0.0.1/32", "::1", N },
  { "::/128", "::", M },
  { "0.0.0.0/0", "::", N },
};
/* clang-format on */

static void
ip_case (int i, const char *decision)
{
  json_t *rule = json_pack ("{s:[s]}", "cidrs", ip_table[i].cidr);
  json_t *req = json_pack ("{s:s,s:s,s:{s:s,s:i}}", "surface", "network", "action", "connect",
                           "resource", "ip", ip_table[i].ip, "port", 443);

  run_single ("network", rule, req, ip_table[i].want, "/network/0/cidrs/0", "/resource/ip",
              decision);
}

START_TEST (test_ip_allow)
{
  ip_case (_i, "allow");
}
END_TEST

START_TEST (test_ip_deny)
{
  ip_case (_i, "deny");
}
END_TEST

/* Ports of network rules: singles, inclusive ranges, bounds, absent = any. */
/* clang-format off */
static const struct
{
  const char *rule; /* rule JSON without id and decision */
  int port;
  enum want want;
} port_table[] = {
  { "{'hosts':['example.com'],'ports':[443]}", 443, M },
  { "{'hosts':['example.com'],'ports':[443]}", 444, N },
  { "{'hosts':['example.com'],'ports':[443]}", 80, N },
  { "{'hosts':['example.com'],'ports':[80,443]}", 80, M },
  { "{'hosts':['example.com'],'ports':[80,443]}", 443, M },
  { "{'hosts':['example.com'],'ports':[80,443]}", 8080, N },
  { "{'hosts':['example.com'],'ports':['8000-8999']}", 8000, M },
  { "{'hosts':['example.com'],'ports':['8000-8999']}", 8999, M },
  { "{'hosts':['example.com'],'ports':['8000-8999']}", 8500, M },
  { "{'hosts':['example.com'],'ports':['8000-8999']}", 7999, N },
  { "{'hosts':['example.com'],'ports':['8000-8999']}", 9000, N },
  { "{'hosts':['example.com'],'ports':['8000-8000']}", 8000, M },
  { "{'hosts':['example.com'],'ports':['8000-8000']}", 8001, N },
  { "{'hosts':['example.com'],'ports':[22,'8000-8999',443]}", 22, M },
  { "{'hosts':['example.com'],'ports':[22,'8000-8999',443]}", 8443, M },
  { "{'hosts':['example.com'],'ports':[22,'8000-8999',443]}", 23, N },
  { "{'hosts':['example.com'],'ports':['1-65535']}", 1, M },
  { "{'hosts':['example.com'],'ports':['1-65535']}", 65535, M },
  { "{'hosts':['example.com'],'ports':[1]}", 1, M },
  { "{'hosts':['example.com'],'ports':[65535]}", 65535, M },
  { "{'hosts':['example.com'],'ports':[65535]}", 65534, N },
  { "{'hosts':['example.com']}", 1, M },
  { "{'hosts':['example.com']}", 443, M },
  { "{'hosts':['example.com']}", 65535, M },
  { "{'cidrs':['10.0.0.0/8'],'ports':[53]}", 53, N }, /* host request, IP rule */
  { "{'hosts':['example.com'],'ports':[0]}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[65536]}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[-1]}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['9000-8000']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['0-10']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['1-65536']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['80-']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['-80']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['80-90-100']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[' 80-90']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['80 - 90']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['https']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':['0x50']}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[443.0]}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[true]}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[null]}", 443, BAD_RULE },
  { "{'hosts':['example.com'],'ports':[[443]]}", 443, BAD_RULE },
  /* request ports */
  { "{'hosts':['example.com']}", 0, BAD_REQ },
  { "{'hosts':['example.com']}", 65536, BAD_REQ },
  { "{'hosts':['example.com']}", -1, BAD_REQ },
  { "{'hosts':['example.com']}", 100000, BAD_REQ },
};
/* clang-format on */

static void
port_case (int i, const char *decision)
{
  json_t *req = json_pack ("{s:s,s:s,s:{s:s,s:i}}", "surface", "network", "action", "connect",
                           "resource", "host", "example.com", "port", port_table[i].port);

  run_single ("network", table_load (port_table[i].rule), req, port_table[i].want, "/network/0/ports/0",
              "/resource/port", decision);
}

START_TEST (test_port_allow)
{
  port_case (_i, "allow");
}
END_TEST

START_TEST (test_port_deny)
{
  port_case (_i, "deny");
}
END_TEST

/* A filesystem request without context.home (refused: ~/ rules and paths resolve against it). */
static const char NO_HOME[] = "(none)";

/* Paths: whole segments, * and **, ~/ with context.home, case, . .. // in rules and requests. */
/* clang-format off */
static const struct
{
  const char *pattern;
  bool ci;          /* "case_insensitive": true */
  const char *home; /* context.home of the request; NULL: "/home/u"; NO_HOME: none given */
  const char *path;
  enum want want;
} path_table[] = {
  /* whole segments */
  { "/home/a", false, NULL, "/home/a", M },
  { "/home/a", false, NULL, "/home/ab", N },
  { "/home/a", false, NULL, "/home/", N },
  { "/home/a", false, NULL, "/home", N },
  { "/home/a", false, NULL, "/home/a.txt", N },
  { "/home/a/**", false, NULL, "/home/ab/x", N },
  { "/home/a/**", false, NULL, "/home/ab", N },
  { "/home/a/**", false, NULL, "/home/a/x", M },
  { "/home/a/**", false, NULL, "/home/a/x/y/z", M },
  { "/home/a/**", false, NULL, "/home", N },
  { "/home/a/**", false, NULL, "/home/a", M },
  { "/home/a/**", false, NULL, "/home/a/", M },
  { "/home/a/**", false, NULL, "/home/b/a/x", N },
  { "/", false, NULL, "/", M },
  { "/**", false, NULL, "/etc/passwd", M },
  { "/etc/passwd", false, NULL, "/etc/passwd", M },
  { "/etc/passwd", false, NULL, "/etc/passwd-", N },
  { "/etc/passwd", false, NULL, "/etc/passw", N },
  { "/etc/passwd", false, NULL, "/etc/passwd/x", N },
  /* * is one whole segment */
  { "/home/*/x", false, NULL, "/home/u/x", M },
  { "/home/*/x", false, NULL, "/home/u/v/x", N },
  { "/home/*/x", false, NULL, "/home/x", N },
  { "/home/*", false, NULL, "/home/u", M },
  { "/home/*", false, NULL, "/home/u/x", N },
  { "/home/*", false, NULL, "/home", N },
  { "/*/a", false, NULL, "/x/a", M },
  { "/*/a", false, NULL, "/a", N },
  /* ** is any depth */
  { "/srv/**/log", false, NULL, "/srv/a/log", M },
  { "/srv/**/log", false, NULL, "/srv/a/b/c/log", M },
  { "/srv/**/log", false, NULL, "/srv/a/b/c/logs", N },
  { "/srv/**/log", false, NULL, "/srvx/a/log", N },
  { "/srv/**/log", false, NULL, "/srv/log", M },
  /* a segment with '*' is a glob over that segment */
  { "/etc/*.pem", false, NULL, "/etc/a.pem", M },
  { "/etc/*.pem", false, NULL, "/etc/a.pem.bak", N },
  { "/etc/*.pem", false, NULL, "/etc/x/a.pem", N },
  { "/home/a*", false, NULL, "/home/ab", M },
  { "/home/a*", false, NULL, "/home/b", N },
  { "~/.ssh/id_*", false, "/home/u", "/home/u/.ssh/id_rsa", M },
  { "~/.ssh/id_*", false, "/home/u", "/home/u/.ssh/known_hosts", N },
  { "/a/**x", false, NULL, "/a/b/x", BAD_RULE },
  { "/srv/**", false, NULL, "/srv/.hidden", M },
  { "/srv/**", false, NULL, "/srv/a/.git/config", M },
  /* . .. and // are resolved in requests, before matching */
  { "/home/b", false, NULL, "/home/a/../b", M },
  { "/home/a/**", false, NULL, "/home/a/../b", N },
  { "/home/a/**", false, NULL, "/home/a/../b/x", N },
  { "/home/a/**", false, NULL, "/home/a/../../etc/passwd", N },
  { "/etc/passwd", false, NULL, "/home/a/../../etc/passwd", M },
  { "/home/a/x", false, NULL, "/home/a/./x", M },
  { "/home/a/x", false, NULL, "/home//a//x", M },
  { "/home/a/x", false, NULL, "/home/a/x/.", M },
  { "/home/a/x", false, NULL, "/./home/a/x", M },
  { "/home/a/x", false, NULL, "/home/a/b/../x", M },
  { "/home/a/x", false, NULL, "///home/a/x", M },
  { "/home/a", false, NULL, "/home/a/", M },
  { "/etc/shadow", false, NULL, "/home/a/b/c/../../../../etc/shadow", M },
  { "/home/a/**", false, NULL, "/..", BAD_REQ },
  { "/home/a/**", false, NULL, "/../etc", BAD_REQ },
  { "/home/a/**", false, NULL, "/home/../../etc/passwd", BAD_REQ },
  { "/home/a/**", false, NULL, "/home/a/../../..", BAD_REQ },
  /* relative request paths are rejected */
  { "/home/a/**", false, NULL, "home/a/x", BAD_REQ },
  { "/home/a/**", false, NULL, "./x", BAD_REQ },
  { "/home/a/**", false, NULL, "../x", BAD_REQ },
  { "/home/a/**", false, NULL, "x", BAD_REQ },
  { "/home/a/**", false, NULL, "", BAD_REQ },
  /* rules: . .. // relative and empty are errors */
  { "/home/a/../b", false, NULL, "/home/b", BAD_RULE },
  { "/home/./a", false, NULL, "/home/a", BAD_RULE },
  { "/home//a", false, NULL, "/home/a", BAD_RULE },
  { "//home/a", false, NULL, "/home/a", BAD_RULE },
  { "/home/a/..", false, NULL, "/home", BAD_RULE },
  { "/home/a/.", false, NULL, "/home/a", BAD_RULE },
  { "/..", false, NULL, "/", BAD_RULE },
  { "/home/a/", false, NULL, "/home/a", BAD_RULE },
  { "home/a", false, NULL, "/home/a", BAD_RULE },
  { "./home", false, NULL, "/home", BAD_RULE },
  { "", false, NULL, "/home", BAD_RULE },
  { "~", false, "/home/u", "/home/u", M },
  { "~", false, "/home/u", "/home/u/x", N },
  { "~user/x", false, "/home/u", "/home/user/x", BAD_RULE },
  { "~/../x", false, "/home/u", "/home/x", BAD_RULE },
  /* ~/ with context.home */
  { "~/src/**", false, "/home/u", "/home/u/src/main.c", M },
  { "~/src/**", false, "/home/u", "/home/u/src/a/b/c.h", M },
  { "~/src/**", false, "/home/u", "/home/v/src/main.c", N },
  { "~/src/**", false, "/home/u", "/home/u/srcx/main.c", N },
  { "~/src/**", false, "/home/u", "/home/u/../v/src/x", N },
  { "~/src/**", false, "/home/u", "/home/uu/src/x", N },
  { "~/.ssh/**", false, "/home/u", "/home/u/.ssh/id_ed25519", M },
  { "~/.ssh/**", false, "/Users/Alice", "/Users/Alice/.ssh/id_rsa", M },
  { "~/.ssh/**", false, "/home/u", "/home/u/x/../.ssh/id_rsa", M },
  { "~/.ssh/**", false, "/home/u/", "/home/u/.ssh/id_rsa", M },
  { "~/.ssh/**", false, "/home/u", "~/.ssh/id_rsa", M },
  { "~/.ssh/**", false, "/home/u", "~/x/../.ssh/id_rsa", M },
  { "/home/u/.ssh/**", false, "/home/u", "~/.ssh/id_rsa", M },
  /* home unknown: refused, since ~/ rules could not be compared with absolute paths
     (a deny on ~/.ssh would miss /home/u/.ssh) nor ~ paths with absolute rules */
  { "~/.ssh/**", false, NO_HOME, "/home/u/.ssh/id_rsa", BAD_REQ },
  { "~/.ssh/**", false, NO_HOME, "~/.ssh/id_rsa", BAD_REQ },
  { "/**", false, NO_HOME, "~/x", BAD_REQ },
  { "/etc/**", false, NO_HOME, "/etc/passwd", BAD_REQ },
  { "/etc/**", false, NULL, "~/../../etc/passwd", M }, /* resolved against /home/u */
  { "~/**", false, NULL, "~/..", N },
  { "/**", false, NULL, "~/../../..", BAD_REQ },
  { "~/**", false, NULL, "~user/x", BAD_REQ },
  /* case-insensitive rules must be ASCII: Unicode folding and normalization are not guessed */
  { "/Volumes/Data/Geh\u00e4lter/**", true, NULL, "/Volumes/Data/GEH\u00c4LTER/x", BAD_RULE },
  { "/Volumes/Data/Geh\u00e4lter/**", false, NULL, "/Volumes/Data/Geh\u00e4lter/x", M },
  { "/Volumes/**", true, NULL, "/volumes/Data/GEH\u00c4LTER/x", M },
  /* case-insensitive rules (macOS, Windows volumes): Windows drops trailing dots and spaces of a
     name, so "Secret." and "Secret " are the folder "Secret" there */
  { "/Volumes/Data/Secret/**", true, NULL, "/Volumes/Data/Secret./x", M },
  { "/Volumes/Data/Secret/**", true, NULL, "/Volumes/Data/SECRET . ./x", M },
  { "/Volumes/Data/Secret/**", true, NULL, "/Volumes/Data/Secret /x", M },
  { "/Volumes/Data/Secret/*.pem", true, NULL, "/Volumes/Data/Secret/k.PEM.", M },
  { "/Volumes/Data/Secret/**", true, NULL, "/Volumes/Data/Secret.x/y", N },
  { "/srv/Secret/**", false, NULL, "/srv/Secret./x", N },
  /* case: sensitive by default, per rule insensitive */
  { "/Users/A/X", false, NULL, "/Users/A/X", M },
  { "/Users/A/X", false, NULL, "/users/a/x", N },
  { "/Users/A/X", true, NULL, "/users/a/x", M },
  { "/Users/A/X", true, NULL, "/USERS/A/X", M },
  { "/users/a/x", true, NULL, "/Users/A/X", M },
  { "/Users/A/X", true, NULL, "/users/a/xy", N },
  { "/Users/A/**", true, NULL, "/users/a/Documents/x", M },
  { "/Users/A/**", false, NULL, "/users/a/Documents/x", N },
  { "/Users/*/Library/**", true, NULL, "/USERS/bob/library/keychains/x", M },
  { "/Volumes/Data/**", true, NULL, "/volumes/data/../DATA/x", M },
  { "~/Secrets/**", true, "/Users/Bob", "/users/bob/secrets/k", M },
  { "C:/Users/A", false, NULL, "/Users/A", BAD_RULE },
};
/* clang-format on */

static void
path_case (int i, const char *decision)
{
  json_t *rule
    = json_pack ("{s:[s,s],s:[s]}", "access", "read", "write", "paths", path_table[i].pattern);
  json_t *req = json_pack ("{s:s,s:s,s:{s:s,s:s}}", "surface", "filesystem", "action", "read",
                           "resource", "path", path_table[i].path, "access", "read");

  if (path_table[i].ci)
    json_object_set_new (rule, "case_insensitive", json_true ());
  bool no_home = (NO_HOME == path_table[i].home);
  if (!no_home)
    json_object_set_new (req, "context",
                         json_pack ("{s:s}", "home",
                                    (NULL != path_table[i].home) ? path_table[i].home : "/home/u"));
  run_single ("filesystem", rule, req, path_table[i].want, "/filesystem/0/paths/0",
              no_home ? "/context/home" : "/resource/path", decision);
}

START_TEST (test_path_allow)
{
  path_case (_i, "allow");
}
END_TEST

START_TEST (test_path_deny)
{
  path_case (_i, "deny");
}
END_TEST

/* Credentials: the credential name, then to_hosts (host matching) or to_mcp_servers. */
/* The identity of the process a credential toward an MCP server goes to: the
   catalog step checks it as for an MCP request (cred_case approves it). */
#define GHID ",'identity':{'image_digest':'" DIGEST "'}"
/* clang-format off */
static const struct
{
  const char *rule;    /* rule JSON without id and decision */
  const char *request; /* the resource */
  enum want want;
  const char *bad; /* pointer of a BAD_ row when not the table's usual one */
} cred_table[] = {
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'api.github.com'}", M, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'API.GitHub.com.'}", M, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'github.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'api.github.com.evil.net'}", N, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'evil-api.github.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'other','host':'api.github.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'GH','host':'api.github.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh2','host':'api.github.com'}", N, NULL },
  /* no catalog entry can have that name: the catalog step denies */
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','mcp_server':'api.github.com'}", C, NULL },
  { "{'credential':'gh','to_hosts':['**.github.com']}", "{'credential':'gh','host':'uploads.api.github.com'}", M, NULL },
  { "{'credential':'gh','to_hosts':['**.github.com']}", "{'credential':'gh','host':'github.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['**.github.com']}", "{'credential':'gh','host':'evilgithub.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['*.github.com']}", "{'credential':'gh','host':'a.b.github.com'}", N, NULL },
  { "{'credential':'gh','to_hosts':['a.com','b.com']}", "{'credential':'gh','host':'b.com'}", M, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server'" GHID "}", M, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/other'" GHID "}", N, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'IO.GITHUB.GITHUB/GITHUB-MCP-SERVER'" GHID "}", N, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','host':'github.com'}", N, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'x','mcp_server':'io.github.github/github-mcp-server'" GHID "}", N, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.*']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server'" GHID "}", M, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.*']}", "{'credential':'gh','mcp_server':'io.gitlab.x/y'" GHID "}", N, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com'],'to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','host':'api.github.com'}", M, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com'],'to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server'" GHID "}", M, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com'],'delivery':'proxy_header'}", "{'credential':'gh','host':'api.github.com'}", M, NULL },
  /* toward an MCP server, a process that is not the approved one gets nothing: the name is not enough */
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server'}", C, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server','identity':{'image_digest':'sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210'}}", C, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server','identity':{'url':'https://mcp.example.com/'}}", C, NULL },
  { "{'credential':'gh','to_mcp_servers':['io.github.github/github-mcp-server']}", "{'credential':'gh','mcp_server':'io.github.github/github-mcp-server','identity':{'image_digest':'" DIGEST "','version':'2.0.0'}}", C, NULL },
  /* rules and requests that cannot be normalized */
  { "{'credential':'gh','to_hosts':['user@api.github.com']}", "{'credential':'gh','host':'api.github.com'}", BAD_RULE, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'user@api.github.com'}", BAD_REQ, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'api..github.com'}", BAD_REQ, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'api.github.com:443'}", BAD_REQ, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com:443']}", "{'credential':'gh','host':'api.github.com'}", BAD_RULE, NULL },
  { "{'credential':'gh','to_hosts':['api.github.com']}", "{'credential':'gh','host':'0x7f.1'}", BAD_REQ, NULL },
  { "{'credential':'gh','to_hosts':[]}", "{'credential':'gh','host':'a.com'}", BAD_RULE, "/credentials/0/to_hosts" },
  { "{'credential':'-gh','to_hosts':['a.com']}", "{'credential':'gh','host':'a.com'}", BAD_RULE, "/credentials/0/credential" },
  { "{'credential':'g h','to_hosts':['a.com']}", "{'credential':'gh','host':'a.com'}", BAD_RULE, "/credentials/0/credential" },
  { "{'credential':'gh','to_hosts':['a.com']}", "{'credential':'g h','host':'a.com'}", BAD_REQ, "/resource/credential" },
  { "{'credential':'gh','to_mcp_servers':['a b']}", "{'credential':'gh','host':'a.com'}", BAD_RULE, "/credentials/0/to_mcp_servers/0" },
  { "{'credential':'gh','to_hosts':['a.com']}", "{'credential':'gh','host':'a.com'" GHID "}", BAD_REQ, "/resource/identity" },
  { "{'credential':'gh','to_mcp_servers':['*']}", "{'credential':'gh','mcp_server':'com.example/x','identity':{'image_digest':'sha256:xyz'}}", BAD_REQ, "/resource/identity/image_digest" },
  { "{'credential':'gh','to_mcp_servers':['*']}", "{'credential':'gh','mcp_server':'com.example/x','identity':{'url':'https://a','package':'p'}}", BAD_REQ, "/resource/identity" },
  { "{'credential':'gh','to_mcp_servers':['*']}", "{'credential':'gh','mcp_server':'com.example/x','identity':{'package':'p','version':'1'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'credential':'gh','to_mcp_servers':['*']}", "{'credential':'gh','mcp_server':'com.example/x','identity':{'url':'https://a','sha256':'" DESC_SHA "'}}", BAD_REQ, "/resource/identity/sha256" },
  /* an IP literal as the target: host patterns never match it */
  { "{'credential':'gh','to_hosts':['**']}", "{'credential':'gh','host':'140.82.112.6'}", N, NULL },
  /* with neither target list, every target */
  { "{'credential':'gh'}", "{'credential':'gh','host':'anything.example'}", M, NULL },
  { "{'credential':'gh'}", "{'credential':'gh','mcp_server':'com.example/x'" GHID "}", M, NULL },
  { "{'credential':'gh'}", "{'credential':'gh','host':'10.0.0.1'}", M, NULL },
  { "{'credential':'gh'}", "{'credential':'other','host':'a.com'}", N, NULL },
  { "{'credential':'gh','delivery':'env'}", "{'credential':'gh','host':'a.com'}", M, NULL },
  { "{'credential':'gh','delivery':'file'}", "{'credential':'gh','host':'a.com'}", M, NULL },
};
/* clang-format on */

/* A credential toward an MCP server passes the catalog step when the
   request names the identity the server's approved entry pins and the entry
   binds the credential to a secret input: M, N and C rows run with such an
   entry (image DIGEST), so M and N rows (which name GHID) reach the rules and
   C rows (another identity, or none) are denied by the catalog. */
static void
cred_case (int i, const char *decision)
{
  json_t *res = table_load (cred_table[i].request);
  const char *server = json_string_value (json_object_get (res, "mcp_server"));
  const char *cred = json_string_value (json_object_get (res, "credential"));
  enum want want = cred_table[i].want;
  json_t *slice = NULL;

  if (NULL != server && NULL != strchr (server, '/') && (M == want || N == want || C == want))
    slice = json_pack ("[{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:b, s:s}], s:[]}]", "id",
                       ENTRY_ID, "name", server, "version", "1.0.0", "kind", "image", "identity",
                       "image", "ghcr.io/t/s", "image_digest", DIGEST, "inputs", "name", "TOKEN",
                       "secret", 1, "credential", cred, "tools");
  json_t *req
    = json_pack ("{s:s,s:s,s:o}", "surface", "credentials", "action", "use", "resource", res);

  const char *bad = cred_table[i].bad;

  run_single_cat ("credentials", table_load (cred_table[i].rule), req, slice, want,
                  bad ? bad : "/credentials/0/to_hosts/0", bad ? bad : "/resource/host", decision);
}

START_TEST (test_cred_allow)
{
  cred_case (_i, "allow");
}
END_TEST

START_TEST (test_cred_deny)
{
  cred_case (_i, "deny");
}
END_TEST

/* MCP: server globs, tool globs, actions, "when" against the tool's annotations. */
#define GH "io.github.github/github-mcp-server"
/* clang-format off */
static const struct
{
  const char *rule; /* rule JSON without id and decision */
  const char *action;
  const char *resource;
  enum want want;
  const char *bad; /* pointer of a BAD_ row when not the table's usual one */
} mcp_table[] = {
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'get_issue'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'list_repos'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'get_'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'create_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'Get_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'xget_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "','tool':'forget_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'io.github.github/other','tool':'get_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'" GH "x','tool':'get_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "invoke_tool", "{'server':'IO.GITHUB.GITHUB/GITHUB-MCP-SERVER','tool':'get_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']}", "read_resource", "{'server':'" GH "'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_issue']}", "invoke_tool", "{'server':'" GH "','tool':'get_issue'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['get_issue']}", "invoke_tool", "{'server':'" GH "','tool':'get_issues'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['*_issue']}", "invoke_tool", "{'server':'" GH "','tool':'close_issue'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['*_issue']}", "invoke_tool", "{'server':'" GH "','tool':'close_issues'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['*']}", "invoke_tool", "{'server':'" GH "','tool':'anything'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['a*b*c']}", "invoke_tool", "{'server':'" GH "','tool':'aXXbYYc'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "','tools':['a*b*c']}", "invoke_tool", "{'server':'" GH "','tool':'aXXbYYcd'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'delete_repo'}", M, NULL },
  /* server globs over the whole name, case-sensitive */
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'com.example/any','tool':'x'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'io.github.*'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'io.github.*'}", "invoke_tool", "{'server':'io.githubx/y','tool':'x'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'io.github.*'}", "invoke_tool", "{'server':'com.evil/io.github.x','tool':'x'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'*/github-mcp-server'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*/github-mcp-server'}", "invoke_tool", "{'server':'" GH "-fork','tool':'x'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'IO.github.*'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", N, NULL },
  /* actions */
  { "{'actions':['register'],'server':'*'}", "register", "{'server':'" GH "'}", M, NULL },
  { "{'actions':['register'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", N, NULL },
  { "{'actions':['read_resource','get_prompt'],'server':'" GH "'}", "get_prompt", "{'server':'" GH "'}", M, NULL },
  { "{'actions':['read_resource','get_prompt'],'server':'" GH "'}", "read_resource", "{'server':'" GH "'}", M, NULL },
  { "{'actions':['read_resource','get_prompt'],'server':'" GH "'}", "list_tools", "{'server':'" GH "'}", N, NULL },
  { "{'actions':['list_tools'],'server':'" GH "'}", "list_tools", "{'server':'" GH "'}", M, NULL },
  /* when.read_only against the approved tool's annotations in the catalog (absent: not read-only) */
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':false}}", "invoke_tool", "{'server':'" GH "','tool':'create_issue','annotations':{'readOnlyHint':false}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':false}}", "invoke_tool", "{'server':'" GH "','tool':'create_issue'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':false}}", "invoke_tool", "{'server':'" GH "','tool':'get_issue','annotations':{'readOnlyHint':true}}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':true}}", "invoke_tool", "{'server':'" GH "','tool':'get_issue','annotations':{'readOnlyHint':true}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':true}}", "invoke_tool", "{'server':'" GH "','tool':'create_issue','annotations':{'readOnlyHint':false}}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':true}}", "invoke_tool", "{'server':'" GH "','tool':'create_issue'}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{}}", "invoke_tool", "{'server':'" GH "','tool':'create_issue'}", BAD_RULE, "/mcp/0/when" },
  /* when.destructive against the approved tool's destructiveHint (absent: true unless read-only) */
  { "{'actions':['invoke_tool'],'server':'*','when':{'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'delete_repo'}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'get_repo','annotations':{'readOnlyHint':true}}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'get_repo','annotations':{'readOnlyHint':true,'destructiveHint':true}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'delete_repo','annotations':{'destructiveHint':true}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'get_repo','annotations':{'destructiveHint':false}}", N, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'destructive':false}}", "invoke_tool", "{'server':'" GH "','tool':'get_repo','annotations':{'destructiveHint':false}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':false,'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'x','annotations':{'readOnlyHint':false,'destructiveHint':true}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'*','when':{'read_only':false,'destructive':true}}", "invoke_tool", "{'server':'" GH "','tool':'x','annotations':{'readOnlyHint':false,'destructiveHint':false}}", N, NULL },
  /* tools and when describe tool calls only */
  { "{'actions':['invoke_tool','register'],'server':'*','tools':['x']}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/tools" },
  { "{'actions':['list_tools'],'server':'*','when':{'read_only':true}}", "list_tools", "{'server':'" GH "'}", BAD_RULE, "/mcp/0/when" },
  { "{'actions':['invoke_tool'],'server':'*','tools':[]}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/tools" },
  { "{'actions':[],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/actions" },
  { "{'actions':['invoke_tool','invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/actions/1" },
  { "{'actions':['invoke_tool'],'server':'a b'}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/server" },
  { "{'actions':['invoke_tool'],'server':''}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/server" },
  { "{'actions':['invoke_tool']}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/server" },
  { "{'actions':['invoke_tool'],'server':'*','tools':['get issue']}", "invoke_tool", "{'server':'" GH "','tool':'x'}", BAD_RULE, "/mcp/0/tools/0" },
  /* requests: names are exact, never globs */
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'io.github.*','tool':'x'}", BAD_REQ, "/resource/server" },
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'get_*'}", BAD_REQ, "/resource/tool" },
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'a b','tool':'x'}", BAD_REQ, "/resource/server" },
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "'}", BAD_REQ, "/resource/tool" },
  { "{'actions':['register'],'server':'*'}", "register", "{'server':'" GH "','tool':'x'}", BAD_REQ, "/resource/tool" },
  { "{'actions':['register'],'server':'*'}", "register", "{'server':'" GH "','annotations':{'read_only':true}}", BAD_REQ, "/resource/annotations" },
  /* a request carries no annotations: the catalog's are used */
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x','annotations':{'readOnlyHint':true}}", BAD_REQ, "/resource/annotations" },
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x','description_sha256':'ABC'}", BAD_REQ, "/resource/description_sha256" },
  { "{'actions':['invoke_tool'],'server':'*'}", "invoke_tool", "{'server':'" GH "','tool':'x','description_sha256':'" HEX16 HEX16 HEX16 "0123456789ABCDEF'}", BAD_REQ, "/resource/description_sha256" },
  { "{'actions':['register'],'server':'*'}", "register", "{'server':'" GH "','description_sha256':'" DESC_SHA "'}", BAD_REQ, "/resource/description_sha256" },
  /* the pinned identity is for the catalog step (approved here); rules do not look at it */
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'image_digest':'sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'https://mcp.example.com/'}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':'npm','package':'gh-mcp','version':'1.2.3'}}", M, NULL },
  /* a package's registry is part of its identity: required with package, a known one, only with package */
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'package':'gh-mcp','version':'1.2.3'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':'gem','package':'gh-mcp','version':'1.2.3'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':'NPM','package':'gh-mcp','version':'1.2.3'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':1,'package':'gh-mcp','version':'1.2.3'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':'npm','url':'https://a/'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':'oci','image_digest':'" DIGEST "'}}", BAD_REQ, "/resource/identity/registry_type" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'image_digest':'sha256:xyz'}}", BAD_REQ, "/resource/identity/image_digest" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'ftp://x'}}", BAD_REQ, "/resource/identity/url" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'https://a','package':'p'}}", BAD_REQ, "/resource/identity" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'HTTPS://MCP.Example.COM/Path','version':'1.2'}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'registry_type':'pypi','package':'gh-mcp','version':'1.2.3','sha256':'" DESC_SHA "'}}", M, NULL },
  { "{'actions':['list_tools'],'server':'" GH "'}", "list_tools", "{'server':'" GH "','identity':{'image_digest':'" DIGEST "','version':'2.0.0'}}", M, NULL },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'https://a','sha256':'" DESC_SHA "'}}", BAD_REQ, "/resource/identity/sha256" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'https://user@a/'}}", BAD_REQ, "/resource/identity/url" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'https://a/#frag'}}", BAD_REQ, "/resource/identity/url" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'url':'https://a b/'}}", BAD_REQ, "/resource/identity/url" },
  { "{'actions':['invoke_tool'],'server':'" GH "'}", "invoke_tool", "{'server':'" GH "','tool':'x','identity':{'image_digest':'" DIGEST "','sha256':'" DESC_SHA "'}}", BAD_REQ, "/resource/identity/sha256" },
};
/* clang-format on */

/**
 * An approved slice that lets MCP resource @a res (changed) through the
 * catalog step: an entry of its server pinning the identity it names (an
 * image digest when it names none, then added to @a res), holding its tool
 * with a description hash (added to @a res) and the "annotations" the row
 * gives, which are moved out of @a res: a request carries none, the
 * approved tool's are what "when" sees.
 */
static json_t *
approve (json_t *res)
{
  const char *server = json_string_value (json_object_get (res, "server"));
  const char *tool = json_string_value (json_object_get (res, "tool"));
  json_t *id = json_object_get (res, "identity");
  json_t *ann = json_object_get (res, "annotations");
  json_t *entry = json_pack ("{s:s, s:s, s:s, s:[], s:[]}", "id", ENTRY_ID, "name", server,
                             "version", "1.0.0", "inputs", "tools");
  const char *version;

  if (NULL == id)
    {
      json_object_set_new (res, "identity", json_pack ("{s:s}", "image_digest", DIGEST));
      id = json_object_get (res, "identity");
    }
  version = json_string_value (json_object_get (id, "version"));
  if (NULL != json_object_get (id, "image_digest"))
    json_object_set_new (entry, "identity",
                         json_pack ("{s:s, s:O}", "image", "ghcr.io/t/s", "image_digest",
                                    json_object_get (id, "image_digest")));
  else if (NULL != json_object_get (id, "url"))
    json_object_set_new (entry, "identity",
                         json_pack ("{s:O, s:s}", "url", json_object_get (id, "url"), "transport",
                                    "streamable-http"));
  else
    {
      json_t *pk = json_pack ("{s:O, s:O, s:s}", "registry_type",
                              json_object_get (id, "registry_type"), "package",
                              json_object_get (id, "package"), "version",
                              NULL != version ? version : "1.0.0");
      if (NULL != json_object_get (id, "sha256"))
        json_object_set (pk, "sha256", json_object_get (id, "sha256"));
      json_object_set_new (entry, "identity", pk);
      version = NULL;
    }
  json_object_set_new (entry, "kind",
                       json_string (NULL != json_object_get (id, "image_digest") ? "image"
                                    : NULL != json_object_get (id, "url")        ? "remote"
                                                                                 : "package"));
  if (NULL != version)
    json_object_set_new (entry, "version", json_string (version));
  if (NULL != tool)
    {
      json_array_append_new (json_object_get (entry, "tools"),
                             json_pack ("{s:s, s:s, s:o}", "name", tool, "description_sha256",
                                        DESC_SHA, "annotations",
                                        NULL != ann ? json_incref (ann) : json_object ()));
      json_object_set_new (res, "description_sha256", json_string (DESC_SHA));
    }
  json_object_del (res, "annotations");
  return json_pack ("[o]", entry);
}

static void
mcp_case (int i, const char *decision)
{
  json_t *res = table_load (mcp_table[i].resource);
  enum want want = mcp_table[i].want;
  json_t *slice = (M == want || N == want) ? approve (res) : NULL;
  json_t *req = json_pack ("{s:s,s:s,s:o}", "surface", "mcp", "action", mcp_table[i].action,
                           "resource", res);

  const char *bad = mcp_table[i].bad;

  run_single_cat ("mcp", table_load (mcp_table[i].rule), req, slice, want,
                  bad ? bad : "/mcp/0/server", bad ? bad : "/resource/server", decision);
}

START_TEST (test_mcp_allow)
{
  mcp_case (_i, "allow");
}
END_TEST

START_TEST (test_mcp_deny)
{
  mcp_case (_i, "deny");
}
END_TEST

/* ---- precedence: several rules and policies ---- */

#define X_COM CONNECT ("x.example.com", 443)
/* The approved slice of the precedence rows: GH with get_issue read-only,
   create_issue not, get_secret without annotations (the MCP defaults). */
#define PREC_TOOL(name, ann) "{'name':'" name "','description_sha256':'" DESC_SHA "','annotations':" ann "}"
#define PREC_SLICE                                                                            \
  "[{'id':'" ENTRY_ID "','name':'" GH "','version':'1.0.0','kind':'image','identity':{'image':" \
  "'ghcr.io/github/github-mcp-server','image_digest':'" DIGEST "'},'inputs':[],'tools':["     \
  PREC_TOOL ("create_issue", "{'readOnlyHint':false}") ","                                    \
  PREC_TOOL ("get_issue", "{'readOnlyHint':true}") "," PREC_TOOL ("get_secret", "{}") "]}]"
#define MCPREQ(tool)                                                                          \
  "{'surface':'mcp','action':'invoke_tool','resource':{'server':'" GH "','tool':'" tool "',"  \
  "'identity':{'image_digest':'" DIGEST "'},'description_sha256':'" DESC_SHA "'}}"
#define ALLOW (BW_DECISION_ALLOW)
#define DENY (BW_DECISION_DENY)
#define RA (BW_DECISION_REQUIRE_APPROVAL)
#define RULE (BW_REASON_RULE)
#define DEFAULT (BW_REASON_DEFAULT)
#define GROUP_SCOPE "{'org_wide':false,'groups':['6f1c3a52-9d0e-4b8a-a7f3-2c5e8d9b1a40']}"
#define USER_SCOPE "{'org_wide':false,'users':['0b8e7d6c-5a4f-4e3d-9c2b-1a0f9e8d7c6b']}"
#define SCOPED(scope, surfaces) \
  "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':" scope "," surfaces "}"

/* Deny wins across rules, policies and scopes; then require_approval; then allow; then default. */
/* clang-format off */
static const struct
{
  const char *docs[4];
  const char *req;
  struct expect want;
} prec_table[] = {
  /* the empty policy set: default deny */
  { { NULL }, X_COM, { DENY, DEFAULT, NULL, false, "" } },
  { { NULL }, FSREQ ("read", "/etc/passwd"), { DENY, DEFAULT, NULL, false, "" } },
  /* one enforce policy */
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") }, X_COM,
    { ALLOW, RULE, "p0/a", false, "p0/a" } },
  { { ENF ("'network':[" NET ("d", "deny", "'*.example.com'") "]") }, X_COM,
    { DENY, RULE, "p0/d", false, "p0/d" } },
  { { ENF ("'network':[" NET ("q", "require_approval", "'*.example.com'") "]") }, X_COM,
    { RA, RULE, "p0/q", false, "p0/q" } },
  { { ENF ("'network':[" NET ("a", "allow", "'other.com'") "]") }, X_COM,
    { DENY, DEFAULT, NULL, false, "" } },
  { { ENF ("'network':[]") }, X_COM, { DENY, DEFAULT, NULL, false, "" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "," NET ("d", "deny", "'x.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/a p0/d" } },
  { { ENF ("'network':[" NET ("d", "deny", "'x.example.com'") "," NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/a p0/d" } },
  /* no specificity: a broad deny beats a narrow allow */
  { { ENF ("'network':[" NET ("d", "deny", "'**.example.com'") "," NET ("a", "allow", "'x.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/a p0/d" } },
  { { ENF ("'network':[" NET ("a", "allow", "'x.example.com'") "," NET ("q", "require_approval", "'**.example.com'") "]") },
    X_COM, { RA, RULE, "p0/q", false, "p0/a p0/q" } },
  { { ENF ("'network':[" NET ("q", "require_approval", "'x.example.com'") "," NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/d p0/q" } },
  { { ENF ("'network':[" NET ("a", "allow", "'x.example.com'") "," NET ("q", "require_approval", "'x.example.com'") "," NET ("d", "deny", "'x.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/a p0/q p0/d" } },
  /* several matching rules of one decision: the first decides */
  { { ENF ("'network':[" NET ("a1", "allow", "'*.example.com'") "," NET ("a2", "allow", "'x.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p0/a1", false, "p0/a1 p0/a2" } },
  { { ENF ("'network':[" NET ("d1", "deny", "'*.example.com'") "," NET ("d2", "deny", "'x.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d1", false, "p0/d1 p0/d2" } },
  /* across policies: an allow in one never lifts a deny in another */
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("d", "deny", "'x.example.com'") "]") },
    X_COM, { DENY, RULE, "p1/d", false, "p0/a p1/d" } },
  { { ENF ("'network':[" NET ("d", "deny", "'x.example.com'") "]"),
      ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/d p1/a" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p2/d", false, "p0/a p1/a p2/d" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("q", "require_approval", "'*.example.com'") "]") },
    X_COM, { RA, RULE, "p1/q", false, "p0/a p1/q" } },
  { { ENF ("'network':[" NET ("q", "require_approval", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("d", "deny", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p1/d", false, "p0/q p1/d p2/a" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("b", "allow", "'x.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p0/a", false, "p0/a p1/b" } },
  { { ENF ("'network':[" NET ("d", "deny", "'other.com'") "]"),
      ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p1/a", false, "p1/a" } },
  /* the same rule id in two policies stays two matches */
  { { ENF ("'network':[" NET ("r", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("r", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p1/r", false, "p0/r p1/r" } },
  /* scope never lifts a deny: the evaluator gets the applicable policies, whatever their scope */
  { { SCOPED (GROUP_SCOPE, "'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p1/d", false, "p0/a p1/d" } },
  { { SCOPED (USER_SCOPE, "'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      SCOPED (GROUP_SCOPE, "'network':[" NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p1/d", false, "p0/a p1/d" } },
  { { SCOPED (USER_SCOPE, "'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p0/a", false, "p0/a" } },
  /* audit mode: reported, sets would_deny, never decides */
  { { AUD ("'network':[" NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, DEFAULT, NULL, true, "p0/d" } },
  { { AUD ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { DENY, DEFAULT, NULL, false, "p0/a" } },
  { { AUD ("'network':[" NET ("q", "require_approval", "'*.example.com'") "]") },
    X_COM, { DENY, DEFAULT, NULL, false, "p0/q" } },
  { { AUD ("'network':[" NET ("d", "deny", "'other.com'") "]") },
    X_COM, { DENY, DEFAULT, NULL, false, "" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      AUD ("'network':[" NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p0/a", true, "p0/a p1/d" } },
  { { AUD ("'network':[" NET ("d", "deny", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p1/a", true, "p0/d p1/a" } },
  { { ENF ("'network':[" NET ("d", "deny", "'*.example.com'") "]"),
      AUD ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", false, "p0/d p1/a" } },
  { { ENF ("'network':[" NET ("d", "deny", "'*.example.com'") "]"),
      AUD ("'network':[" NET ("e", "deny", "'*.example.com'") "]") },
    X_COM, { DENY, RULE, "p0/d", true, "p0/d p1/e" } },
  { { ENF ("'network':[" NET ("q", "require_approval", "'*.example.com'") "]"),
      AUD ("'network':[" NET ("d", "deny", "'*.example.com'") "]") },
    X_COM, { RA, RULE, "p0/q", true, "p0/q p1/d" } },
  { { AUD ("'network':[" NET ("q", "require_approval", "'*.example.com'") "]"),
      ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p1/a", false, "p0/q p1/a" } },
  { { AUD ("'network':[" NET ("d", "deny", "'*.example.com'") "]"),
      AUD ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    X_COM, { DENY, DEFAULT, NULL, true, "p0/d p1/a" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]"),
      AUD ("'network':[" NET ("a2", "allow", "'*.example.com'") "," NET ("d2", "deny", "'*.example.com'") "]") },
    X_COM, { ALLOW, RULE, "p0/a", true, "p0/a p1/a2 p1/d2" } },
  /* surfaces are separate */
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "]") },
    FSREQ ("read", "/x.example.com"), { DENY, DEFAULT, NULL, false, "" } },
  { { ENF ("'filesystem':[" FS ("f", "allow", "'read','write'", "'/**'") "]") },
    X_COM, { DENY, DEFAULT, NULL, false, "" } },
  { { ENF ("'network':[" NET ("a", "allow", "'*.example.com'") "],'filesystem':[" FS ("f", "deny", "'read'", "'/**'") "]") },
    X_COM, { ALLOW, RULE, "p0/a", false, "p0/a" } },
  /* metadata endpoints behind a broad allow, also through IPv4-mapped IPv6 */
  { { ENF ("'network':[" CIDR ("any4", "allow", "'0.0.0.0/0'") "," CIDR ("any6", "allow", "'::/0'") "," CIDR ("meta", "deny", "'169.254.0.0/16','fd00::/8'") "]") },
    CONNECT_IP ("169.254.169.254", 80), { DENY, RULE, "p0/meta", false, "p0/any4 p0/meta" } },
  { { ENF ("'network':[" CIDR ("any4", "allow", "'0.0.0.0/0'") "," CIDR ("any6", "allow", "'::/0'") "," CIDR ("meta", "deny", "'169.254.0.0/16','fd00::/8'") "]") },
    CONNECT_IP ("::ffff:169.254.169.254", 80), { DENY, RULE, "p0/meta", false, "p0/any4 p0/meta" } },
  { { ENF ("'network':[" CIDR ("any4", "allow", "'0.0.0.0/0'") "," CIDR ("any6", "allow", "'::/0'") "," CIDR ("meta", "deny", "'169.254.0.0/16','fd00::/8'") "]") },
    CONNECT_IP ("fd00::1", 80), { DENY, RULE, "p0/meta", false, "p0/any6 p0/meta" } },
  { { ENF ("'network':[" CIDR ("any4", "allow", "'0.0.0.0/0'") "," CIDR ("any6", "allow", "'::/0'") "," CIDR ("meta", "deny", "'169.254.0.0/16','fd00::/8'") "]") },
    CONNECT_IP ("8.8.8.8", 53), { ALLOW, RULE, "p0/any4", false, "p0/any4" } },
  { { ENF ("'network':[" CIDR ("any4", "allow", "'0.0.0.0/0'") "," CIDR ("any6", "allow", "'::/0'") "," CIDR ("meta", "deny", "'169.254.0.0/16','fd00::/8'") "]") },
    CONNECT_IP ("2001:db8::1", 53), { ALLOW, RULE, "p0/any6", false, "p0/any6" } },
  /* ports: a deny on a range beats an allow on one port */
  { { ENF ("'network':[" NETP ("a", "allow", "'example.com'", "443") "," NETP ("d", "deny", "'example.com'", "'1-1023'") "]") },
    CONNECT ("example.com", 443), { DENY, RULE, "p0/d", false, "p0/a p0/d" } },
  { { ENF ("'network':[" NETP ("a", "allow", "'example.com'", "443") "," NETP ("d", "deny", "'example.com'", "'1-442'") "]") },
    CONNECT ("example.com", 443), { ALLOW, RULE, "p0/a", false, "p0/a" } },
  { { ENF ("'network':[" NETP ("a", "allow", "'example.com'", "443") "]") },
    CONNECT ("example.com", 80), { DENY, DEFAULT, NULL, false, "" } },
  /* filesystem: a deny under an allowed tree */
  { { ENF ("'filesystem':[" FS ("home", "allow", "'read','write'", "'~/**'") "," FS ("keys", "deny", "'read','write'", "'~/.ssh/**'") "]") },
    FSREQ_HOME ("read", "/home/u/.ssh/id_rsa", "/home/u"), { DENY, RULE, "p0/keys", false, "p0/home p0/keys" } },
  { { ENF ("'filesystem':[" FS ("home", "allow", "'read','write'", "'~/**'") "," FS ("keys", "deny", "'read','write'", "'~/.ssh/**'") "]") },
    FSREQ_HOME ("read", "/home/u/src/../.ssh/id_rsa", "/home/u"), { DENY, RULE, "p0/keys", false, "p0/home p0/keys" } },
  { { ENF ("'filesystem':[" FS ("home", "allow", "'read','write'", "'~/**'") "," FS ("keys", "deny", "'read','write'", "'~/.ssh/**'") "]") },
    FSREQ_HOME ("write", "/home/u/src/main.c", "/home/u"), { ALLOW, RULE, "p0/home", false, "p0/home" } },
  { { ENF ("'filesystem':[" FS ("home", "allow", "'read','write'", "'~/**'") "]"),
      ENF ("'filesystem':[" FS ("keys", "deny", "'read'", "'~/.ssh/**'") "]") },
    FSREQ_HOME ("read", "/home/u/.ssh/id_rsa", "/home/u"), { DENY, RULE, "p1/keys", false, "p0/home p1/keys" } },
  /* a case-insensitive deny covers every spelling; a case-sensitive allow does not widen it */
  { { ENF ("'filesystem':[{'id':'ci','decision':'deny','access':['read','write'],'paths':['/Users/A/Secret/**'],'case_insensitive':true}," FS ("a", "allow", "'read'", "'/users/a/**'") "]") },
    FSREQ ("read", "/users/a/secret/x"), { DENY, RULE, "p0/ci", false, "p0/a p0/ci" } },
  /* credentials */
  { { ENF ("'credentials':[{'id':'gh','decision':'allow','credential':'gh','to_hosts':['api.github.com']},{'id':'no','decision':'deny','credential':'gh','to_hosts':['**.github.com']}]") },
    "{'surface':'credentials','action':'use','resource':{'credential':'gh','host':'api.github.com'}}",
    { DENY, RULE, "p0/no", false, "p0/gh p0/no" } },
  { { ENF ("'credentials':[{'id':'gh','decision':'allow','credential':'gh','to_hosts':['api.github.com']}]") },
    "{'surface':'credentials','action':'use','resource':{'credential':'gh','host':'evil.com'}}",
    { DENY, DEFAULT, NULL, false, "" } },
  /* mcp: the DESIGN example, reads allowed, writes need approval (read-only as PREC_SLICE says) */
  { { ENF ("'mcp':[{'id':'gh-read','decision':'allow','actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']},{'id':'confirm-writes','decision':'require_approval','actions':['invoke_tool'],'server':'*','when':{'read_only':false}}]") },
    MCPREQ ("get_issue"),
    { ALLOW, RULE, "p0/gh-read", false, "p0/gh-read" } },
  { { ENF ("'mcp':[{'id':'gh-read','decision':'allow','actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']},{'id':'confirm-writes','decision':'require_approval','actions':['invoke_tool'],'server':'*','when':{'read_only':false}}]") },
    MCPREQ ("create_issue"),
    { RA, RULE, "p0/confirm-writes", false, "p0/confirm-writes" } },
  { { ENF ("'mcp':[{'id':'gh-read','decision':'allow','actions':['invoke_tool'],'server':'" GH "','tools':['get_*','list_*']},{'id':'confirm-writes','decision':'require_approval','actions':['invoke_tool'],'server':'*','when':{'read_only':false}}]") },
    MCPREQ ("get_secret"),
    { RA, RULE, "p0/confirm-writes", false, "p0/gh-read p0/confirm-writes" } },
};
/* clang-format on */

START_TEST (test_precedence)
{
  struct bw_catalog *c = catalog_ok (table_load (PREC_SLICE));

  prec_catalog = c;
  decide (prec_table[_i].docs, prec_table[_i].req, &prec_table[_i].want);
  prec_catalog = NULL;
  bw_catalog_free (c);
}
END_TEST

/* Filesystem access: a read rule never allows a write; a write needs read and write allowed. */
/* clang-format off */
static const struct
{
  const char *docs[4];
  const char *req;
  struct expect want;
} access_table[] = {
  { { ENF ("'filesystem':[" FS ("r", "allow", "'read'", "'/data/**'") "]") },
    FSREQ ("read", "/data/x"), { ALLOW, RULE, "p0/r", false, "p0/r" } },
  { { ENF ("'filesystem':[" FS ("r", "allow", "'read'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { DENY, DEFAULT, NULL, false, "p0/r" } },
  { { ENF ("'filesystem':[" FS ("w", "allow", "'write'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { DENY, DEFAULT, NULL, false, "p0/w" } },
  { { ENF ("'filesystem':[" FS ("w", "allow", "'write'", "'/data/**'") "]") },
    FSREQ ("read", "/data/x"), { DENY, DEFAULT, NULL, false, "" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { ALLOW, RULE, "p0/rw", false, "p0/rw" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "," FS ("nr", "deny", "'read'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { DENY, RULE, "p0/nr", false, "p0/rw p0/nr" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "," FS ("nw", "deny", "'write'", "'/data/**'") "]") },
    FSREQ ("read", "/data/x"), { ALLOW, RULE, "p0/rw", false, "p0/rw" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "," FS ("nw", "deny", "'write'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { DENY, RULE, "p0/nw", false, "p0/rw p0/nw" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "," FS ("q", "require_approval", "'write'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { RA, RULE, "p0/q", false, "p0/rw p0/q" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "," FS ("q", "require_approval", "'write'", "'/data/**'") "]") },
    FSREQ ("read", "/data/x"), { ALLOW, RULE, "p0/rw", false, "p0/rw" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "]"),
      AUD ("'filesystem':[" FS ("nw", "deny", "'write'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { ALLOW, RULE, "p0/rw", true, "p0/rw p1/nw" } },
  /* read and write allowed by two rules, or two policies: the write rule decides */
  { { ENF ("'filesystem':[" FS ("r", "allow", "'read'", "'/data/**'") "," FS ("w", "allow", "'write'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { ALLOW, RULE, "p0/w", false, "p0/r p0/w" } },
  { { ENF ("'filesystem':[" FS ("w", "allow", "'write'", "'/data/**'") "]"),
      ENF ("'filesystem':[" FS ("r", "allow", "'read'", "'/**'") "]") },
    FSREQ ("write", "/data/x"), { ALLOW, RULE, "p0/w", false, "p0/w p1/r" } },
  { { ENF ("'filesystem':[" FS ("w", "allow", "'write'", "'/data/**'") "," FS ("r", "allow", "'read'", "'/other/**'") "]") },
    FSREQ ("write", "/data/x"), { DENY, DEFAULT, NULL, false, "p0/w" } },
  /* a deny or approval on reading also holds for writing */
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "," FS ("qr", "require_approval", "'read'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { RA, RULE, "p0/qr", false, "p0/rw p0/qr" } },
  { { ENF ("'filesystem':[" FS ("rw", "allow", "'read','write'", "'/data/**'") "]"),
      AUD ("'filesystem':[" FS ("nr", "deny", "'read'", "'/data/**'") "]") },
    FSREQ ("write", "/data/x"), { ALLOW, RULE, "p0/rw", true, "p0/rw p1/nr" } },
  /* access in the resource may be left out */
  { { ENF ("'filesystem':[" FS ("r", "allow", "'read'", "'/data/**'") "]") },
    "{'surface':'filesystem','action':'read','resource':{'path':'/data/x'},'context':{'home':'/home/u'}}",
    { ALLOW, RULE, "p0/r", false, "p0/r" } },
  { { ENF ("'filesystem':[" FS ("nw", "deny", "'write'", "'/data/**'") "," FS ("rw", "allow", "'read','write'", "'/**'") "]") },
    "{'surface':'filesystem','action':'write','resource':{'path':'/data/../data/x'},'context':{'home':'/home/u'}}",
    { DENY, RULE, "p0/nw", false, "p0/nw p0/rw" } },
};
/* clang-format on */

START_TEST (test_access)
{
  decide (access_table[_i].docs, access_table[_i].req, &access_table[_i].want);
}
END_TEST

/* ---- document validation: each error at its exact pointer ---- */

#define DOC(rest) "{" HEAD ",'mode':'enforce'" rest "}"
#define NO_SCHEMA(rest) "{'name':'t','mode':'enforce','scope':{'org_wide':true}" rest "}"
#define UUID1 "6f1c3a52-9d0e-4b8a-a7f3-2c5e8d9b1a40"

/* clang-format off */
static const struct
{
  const char *doc;
  const char *pointer;
} doc_errors[] = {
  /* not an object */
  { "[]", "" },
  { "'policy'", "" },
  { "null", "" },
  { "42", "" },
  /* schema */
  { NO_SCHEMA (""), "/schema" },
  { NO_SCHEMA (",'schema':'bulwark.policy/v2'"), "/schema" },
  { NO_SCHEMA (",'schema':'Bulwark.Policy/v1'"), "/schema" },
  { NO_SCHEMA (",'schema':'bulwark.policy/v1 '"), "/schema" },
  { NO_SCHEMA (",'schema':''"), "/schema" },
  { NO_SCHEMA (",'schema':1"), "/schema" },
  { NO_SCHEMA (",'schema':null"), "/schema" },
  { NO_SCHEMA (",'schema':['bulwark.policy/v1']"), "/schema" },
  /* name */
  { "{'schema':'bulwark.policy/v1','mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':7,'mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':null,'mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':'','mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':'a\\u0001b','mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':'a\\nb','mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':'" L60 L60 L60 L10 L10 "a','mode':'enforce','scope':{'org_wide':true}}", "/name" },
  { "{'schema':'bulwark.policy/v1','name':'t','description':5,'mode':'enforce','scope':{'org_wide':true}}", "/description" },
  /* mode */
  { "{" HEAD ",'mode':'block'}", "/mode" },
  { "{" HEAD ",'mode':'ENFORCE'}", "/mode" },
  { "{" HEAD ",'mode':'Audit'}", "/mode" },
  { "{" HEAD ",'mode':''}", "/mode" },
  { "{" HEAD ",'mode':true}", "/mode" },
  { "{" HEAD ",'mode':null}", "/mode" },
  { "{" HEAD "}", "/mode" },
  /* scope */
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce'}", "/scope" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':'all'}", "/scope" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{}}", "/scope/org_wide" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'org_wide':true,'groups':['" UUID1 "']}}", "/scope" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'org_wide':false,'groups':['" UUID1 "','" UUID1 "']}}", "/scope/groups/1" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'org_wide':false,'users':['6F1C3A52-9D0E-4B8A-A7F3-2C5E8D9B1A40']}}", "/scope/users/0" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':[]}", "/scope" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'org_wide':'yes'}}", "/scope/org_wide" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'org_wide':1}}", "/scope/org_wide" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'org_wide':true,'team':[]}}", "/scope/team" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'groups':'" UUID1 "'}}", "/scope/groups" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'groups':['not-a-uuid']}}", "/scope/groups/0" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'groups':['" UUID1 "',5]}}", "/scope/groups/1" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'users':[null]}}", "/scope/users/0" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'users':['" UUID1 "','{" UUID1 "}']}}", "/scope/users/1" },
  { "{'schema':'bulwark.policy/v1','name':'t','mode':'enforce','scope':{'users':{}}}", "/scope/users" },
  /* unknown keys at the top, escaped per RFC 6901 */
  { DOC (",'rules':[]"), "/rules" },
  { DOC (",'Network':[]"), "/Network" },
  { DOC (",'priority':1"), "/priority" },
  { DOC (",'a/b':1"), "/a~1b" },
  { DOC (",'m~n':1"), "/m~0n" },
  { DOC (",'~/':1"), "/~0~1" },
  /* surface arrays */
  { DOC (",'network':{}"), "/network" },
  { DOC (",'network':'x'"), "/network" },
  { DOC (",'filesystem':null"), "/filesystem" },
  { DOC (",'network':[5]"), "/network/0" },
  { DOC (",'network':[" NET ("a", "allow", "'a.com'") ",'x']"), "/network/1" },
  { DOC (",'mcp':[[]]"), "/mcp/0" },
  /* rule id */
  { DOC (",'network':[{'decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':3,'decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':'','decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':null,'decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':'-a','decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':'a b','decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':'a/b','decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  { DOC (",'network':[{'id':'" L60 "abcde','decision':'allow','hosts':['a.com']}]"), "/network/0/id" },
  /* duplicate rule ids, in one surface and across surfaces */
  { DOC (",'network':[" NET ("a", "allow", "'a.com'") "," NET ("a", "deny", "'b.com'") "]"), "/network/1/id" },
  { DOC (",'network':[" NET ("a", "allow", "'a.com'") "," NET ("b", "allow", "'b.com'") "," NET ("a", "allow", "'c.com'") "]"), "/network/2/id" },
  { DOC (",'network':[" NET ("a", "allow", "'a.com'") "],'filesystem':[" FS ("a", "deny", "'read'", "'/x'") "]"), "/filesystem/0/id" },
  /* decision */
  { DOC (",'network':[{'id':'a','hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'network':[{'id':'a','decision':'permit','hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'network':[{'id':'a','decision':'Allow','hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'network':[{'id':'a','decision':'DENY','hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'network':[{'id':'a','decision':'audit','hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'network':[{'id':'a','decision':'require-approval','hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'network':[{'id':'a','decision':true,'hosts':['a.com']}]"), "/network/0/decision" },
  { DOC (",'filesystem':[{'id':'a','decision':'block','access':['read'],'paths':['/x']}]"), "/filesystem/0/decision" },
  { DOC (",'credentials':[{'id':'a','decision':'','credential':'gh','to_hosts':['a.com']}]"), "/credentials/0/decision" },
  { DOC (",'mcp':[{'id':'a','decision':0,'actions':['invoke_tool'],'server':'*'}]"), "/mcp/0/decision" },
  /* network rules */
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com'],'comment':'x'}]"), "/network/0/comment" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com'],'paths':['/x']}]"), "/network/0/paths" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':'a.com'}]"), "/network/0/hosts" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':[5]}]"), "/network/0/hosts/0" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com','bad host']}]"), "/network/0/hosts/1" },
  { DOC (",'network':[{'id':'a','decision':'allow','cidrs':'10.0.0.0/8'}]"), "/network/0/cidrs" },
  { DOC (",'network':[{'id':'a','decision':'allow','cidrs':['10.0.0.0/8','10.0.0.1/8']}]"), "/network/0/cidrs/1" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com'],'ports':443}]"), "/network/0/ports" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com'],'ports':[443,'bad']}]"), "/network/0/ports/1" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com'],'ports':[]}]"), "/network/0/ports" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':[]}]"), "/network/0/hosts" },
  { DOC (",'network':[{'id':'a','decision':'allow'}]"), "/network/0" },
  { DOC (",'network':[{'id':'a','decision':'allow','ports':[443]}]"), "/network/0" },
  { DOC (",'network':[{'id':'a','decision':'allow','hosts':['a.com','b.com:443'],'ports':[443]}]"), "/network/0/hosts/1" },
  /* filesystem rules */
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read']}]"), "/filesystem/0/paths" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':'/x'}]"), "/filesystem/0/paths" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':['/x','rel']}]"), "/filesystem/0/paths/1" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':[7]}]"), "/filesystem/0/paths/0" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['exec'],'paths':['/x']}]"), "/filesystem/0/access/0" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read','Write'],'paths':['/x']}]"), "/filesystem/0/access/1" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':'read','paths':['/x']}]"), "/filesystem/0/access" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','paths':['/x']}]"), "/filesystem/0/access" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':[],'paths':['/x']}]"), "/filesystem/0/access" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read','read'],'paths':['/x']}]"), "/filesystem/0/access/1" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':[]}]"), "/filesystem/0/paths" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':['/x'],'case_insensitive':'yes'}]"), "/filesystem/0/case_insensitive" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':['/x'],'case_insensitive':1}]"), "/filesystem/0/case_insensitive" },
  { DOC (",'filesystem':[{'id':'a','decision':'allow','access':['read'],'paths':['/x'],'hosts':['a.com']}]"), "/filesystem/0/hosts" },
  /* credentials rules */
  { DOC (",'credentials':[{'id':'a','decision':'allow','to_hosts':['a.com']}]"), "/credentials/0/credential" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':5,'to_hosts':['a.com']}]"), "/credentials/0/credential" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_hosts':'a.com'}]"), "/credentials/0/to_hosts" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_hosts':['a.com','user@b.com']}]"), "/credentials/0/to_hosts/1" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_mcp_servers':[5]}]"), "/credentials/0/to_mcp_servers/0" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_hosts':['a.com'],'delivery':'email'}]"), "/credentials/0/delivery" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_hosts':['a.com'],'delivery':5}]"), "/credentials/0/delivery" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_hosts':['a.com'],'paths':['/x']}]"), "/credentials/0/paths" },
  { DOC (",'credentials':[{'id':'a','decision':'allow','credential':'gh','to_hosts':['a.com:443']}]"), "/credentials/0/to_hosts/0" },
  /* mcp rules */
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['explode'],'server':'*'}]"), "/mcp/0/actions/0" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool','Invoke_Tool'],'server':'*'}]"), "/mcp/0/actions/1" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':'invoke_tool','server':'*'}]"), "/mcp/0/actions" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['connect'],'server':'*'}]"), "/mcp/0/actions/0" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':5}]"), "/mcp/0/server" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','tools':'get_*'}]"), "/mcp/0/tools" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','tools':['get_*',1]}]"), "/mcp/0/tools/1" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','when':'x'}]"), "/mcp/0/when" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','when':{'idempotent':true}}]"), "/mcp/0/when/idempotent" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','when':{'read_only':'no'}}]"), "/mcp/0/when/read_only" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','hosts':['a.com']}]"), "/mcp/0/hosts" },
  { DOC (",'mcp':[{'id':'a','decision':'allow','actions':['invoke_tool'],'server':'*','credential':'gh'}]"), "/mcp/0/credential" },
};
/* clang-format on */

START_TEST (test_doc_errors)
{
  json_t *doc = table_load (doc_errors[_i].doc);

  expect_policy_error (doc, "", doc_errors[_i].pointer);
  json_decref (doc);
}
END_TEST

/* The prefix comes before every pointer. */
START_TEST (test_doc_errors_prefixed)
{
  json_t *doc = table_load (doc_errors[_i].doc);
  char ptr[512];

  snprintf (ptr, sizeof (ptr), "/policy%s", doc_errors[_i].pointer);
  expect_policy_error (doc, "/policy", ptr);
  json_decref (doc);
}
END_TEST

/* ---- request validation: each error at its exact pointer ---- */

/* clang-format off */
static const struct
{
  const char *req;
  const char *pointer;
} req_errors[] = {
  { "[]", "" },
  { "'connect'", "" },
  { "null", "" },
  { "{}", "/surface" },
  { "{'action':'connect','resource':{'host':'a.com','port':443}}", "/surface" },
  { "{'surface':'dns','action':'connect','resource':{'host':'a.com','port':443}}", "/surface" },
  { "{'surface':'Network','action':'connect','resource':{'host':'a.com','port':443}}", "/surface" },
  { "{'surface':5,'action':'connect','resource':{'host':'a.com','port':443}}", "/surface" },
  { "{'surface':'network','resource':{'host':'a.com','port':443}}", "/action" },
  { "{'surface':'network','action':'read','resource':{'host':'a.com','port':443}}", "/action" },
  { "{'surface':'network','action':'Connect','resource':{'host':'a.com','port':443}}", "/action" },
  { "{'surface':'network','action':7,'resource':{'host':'a.com','port':443}}", "/action" },
  { "{'surface':'filesystem','action':'connect','resource':{'path':'/x','access':'read'},'context':{'home':'/home/u'}}", "/action" },
  { "{'surface':'filesystem','action':'execute','resource':{'path':'/x','access':'read'},'context':{'home':'/home/u'}}", "/action" },
  { "{'surface':'credentials','action':'read','resource':{'credential':'gh','host':'a.com'}}", "/action" },
  { "{'surface':'mcp','action':'call_tool','resource':{'server':'s','tool':'t'}}", "/action" },
  { "{'surface':'mcp','action':'use','resource':{'server':'s','tool':'t'}}", "/action" },
  { "{'surface':'network','action':'connect'}", "/resource" },
  { "{'surface':'network','action':'connect','resource':'a.com:443'}", "/resource" },
  { "{'surface':'network','action':'connect','resource':null}", "/resource" },
  /* unknown keys */
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'extra':1}", "/extra" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443,'path':'/x'}}", "/resource/path" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443,'scheme':'https'}}", "/resource/scheme" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'read','host':'a.com'},'context':{'home':'/home/u'}}", "/resource/host" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'context':{'color':'red'}}", "/context/color" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'subject':{'group':'" UUID1 "'}}", "/subject/group" },
  /* subject */
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'subject':'alice'}", "/subject" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'subject':{'user':'alice'}}", "/subject/user" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'subject':{'user':5}}", "/subject/user" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'subject':{'user':'" UUID1 "x'}}", "/subject/user" },
  /* context */
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443},'context':'x'}", "/context" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'read'},'context':{'home':'home/u'}}", "/context/home" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'read'},'context':{'home':5}}", "/context/home" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'read'},'context':{'home':'/home/../..'}}", "/context/home" },
  /* network resources */
  { "{'surface':'network','action':'connect','resource':{'host':5,'port':443}}", "/resource/host" },
  { "{'surface':'network','action':'connect','resource':{'ip':[],'port':443}}", "/resource/ip" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':'443'}}", "/resource/port" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':443.5}}", "/resource/port" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','port':null}}", "/resource/port" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com'}}", "/resource/port" },
  { "{'surface':'network','action':'connect','resource':{'port':443}}", "/resource/host" },
  { "{'surface':'network','action':'connect','resource':{'host':'a.com','ip':'1.2.3.4','port':443}}", "/resource" },
  /* filesystem resources */
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'read'}}", "/context/home" },
  { "{'surface':'filesystem','action':'read','resource':{'access':'read'},'context':{'home':'/home/u'}}", "/resource/path" },
  { "{'surface':'filesystem','action':'read','resource':{'path':5,'access':'read'},'context':{'home':'/home/u'}}", "/resource/path" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'exec'},'context':{'home':'/home/u'}}", "/resource/access" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':['read']},'context':{'home':'/home/u'}}", "/resource/access" },
  { "{'surface':'filesystem','action':'read','resource':{'path':'/x','access':'write'},'context':{'home':'/home/u'}}", "/resource/access" },
  { "{'surface':'filesystem','action':'write','resource':{'path':'/x','access':'read'},'context':{'home':'/home/u'}}", "/resource/access" },
  /* credentials resources */
  { "{'surface':'credentials','action':'use','resource':{'host':'a.com'}}", "/resource/credential" },
  { "{'surface':'credentials','action':'use','resource':{'credential':5,'host':'a.com'}}", "/resource/credential" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh','host':5}}", "/resource/host" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh','mcp_server':5}}", "/resource/mcp_server" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh'}}", "/resource/host" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh','host':'a.com','mcp_server':'s'}}", "/resource" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh','host':'a.com','identity':{'url':'https://a.com/'}}}", "/resource/identity" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh','mcp_server':'s/t','identity':'x'}}", "/resource/identity" },
  { "{'surface':'credentials','action':'use','resource':{'credential':'gh','mcp_server':'s/t','identity':{'image_digest':'" DIGEST "','x':1}}}", "/resource/identity/x" },
  /* mcp resources */
  { "{'surface':'mcp','action':'invoke_tool','resource':{'tool':'t'}}", "/resource/server" },
  { "{'surface':'mcp','action':'invoke_tool','resource':{'server':5,'tool':'t'}}", "/resource/server" },
  { "{'surface':'mcp','action':'invoke_tool','resource':{'server':'s','tool':5}}", "/resource/tool" },
  { "{'surface':'mcp','action':'invoke_tool','resource':{'server':'s','tool':'t','identity':'x'}}", "/resource/identity" },
  { "{'surface':'mcp','action':'invoke_tool','resource':{'server':'s','tool':'t','annotations':{'read_only':true}}}", "/resource/annotations" },
  { "{'surface':'mcp','action':'invoke_tool','resource':{'server':'s','tool':'t','description_sha256':5}}", "/resource/description_sha256" },
  { "{'surface':'mcp','action':'invoke_tool','resource':{'server':'s','tool':'t','description_sha256':null}}", "/resource/description_sha256" },
  { "{'surface':'mcp','action':'list_tools','resource':{'server':'s','description_sha256':'" DESC_SHA "'}}", "/resource/description_sha256" },
};
/* clang-format on */

START_TEST (test_req_errors)
{
  json_t *req = table_load (req_errors[_i].req);

  expect_request_error (req, "", req_errors[_i].pointer);
  json_decref (req);
}
END_TEST

START_TEST (test_req_errors_prefixed)
{
  json_t *req = table_load (req_errors[_i].req);
  char ptr[512];

  snprintf (ptr, sizeof (ptr), "/requests/3%s", req_errors[_i].pointer);
  expect_request_error (req, "/requests/3", ptr);
  json_decref (req);
}
END_TEST

/* ---- single tests: limits, accessors, names, what the tables cannot say ---- */

/** A document with @a nnet network rules and @a nfs filesystem rules. */
static json_t *
doc_with_rules (size_t nnet, size_t nfs)
{
  json_t *doc = table_load (DOC (""));
  json_t *net = json_array (), *fs = json_array ();
  char id[32];

  for (size_t i = 0; i < nnet; i++)
    {
      snprintf (id, sizeof (id), "n%zu", i);
      json_array_append_new (
        net, json_pack ("{s:s,s:s,s:[s]}", "id", id, "decision", "allow", "hosts", "example.com"));
    }
  for (size_t i = 0; i < nfs; i++)
    {
      snprintf (id, sizeof (id), "f%zu", i);
      json_array_append_new (fs, json_pack ("{s:s,s:s,s:[s],s:[s]}", "id", id, "decision", "deny",
                                            "access", "read", "paths", "/x"));
    }
  json_object_set_new (doc, "network", net);
  json_object_set_new (doc, "filesystem", fs);
  return doc;
}

START_TEST (test_limit_rules)
{
  json_t *errors = json_array ();
  json_t *doc = doc_with_rules (BW_POLICY_RULES_MAX, 0);
  struct bw_policy *p = bw_policy_parse (doc, "", errors);

  ck_assert_msg (NULL != p, "250 rules rejected: %s", table_show (errors));
  ck_assert_uint_eq (bw_policy_rule_count (p), BW_POLICY_RULES_MAX);
  bw_policy_free (p);
  json_decref (doc);

  /* one more, in any surface, is an error of the document */
  doc = doc_with_rules (BW_POLICY_RULES_MAX + 1, 0);
  expect_policy_error (doc, "", "");
  expect_policy_error (doc, "/policy", "/policy");
  json_decref (doc);
  doc = doc_with_rules (125, 126);
  expect_policy_error (doc, "", "");
  json_decref (doc);
  doc = doc_with_rules (125, 125);
  p = bw_policy_parse (doc, "", errors);
  ck_assert_msg (NULL != p, "125+125 rules rejected: %s", table_show (errors));
  ck_assert_uint_eq (bw_policy_rule_count (p), 250);
  bw_policy_free (p);
  json_decref (doc);
  json_decref (errors);
}
END_TEST

START_TEST (test_limit_size)
{
  /* 100 rules of 200 hosts of ~50 bytes: about 1 MB compact, well over the limit */
  json_t *doc = table_load (DOC (""));
  json_t *net = json_array ();
  char s[64];

  for (int i = 0; i < 100; i++)
    {
      json_t *hosts = json_array ();

      for (int h = 0; h < 200; h++)
        {
          snprintf (s, sizeof (s), "host-%03d-%03d.some-long-domain-name.example", i, h);
          json_array_append_new (hosts, json_string (s));
        }
      snprintf (s, sizeof (s), "r%d", i);
      json_array_append_new (
        net, json_pack ("{s:s,s:s,s:o}", "id", s, "decision", "allow", "hosts", hosts));
    }
  json_object_set_new (doc, "network", net);
  expect_policy_error (doc, "", "");
  expect_policy_error (doc, "/policy", "/policy");
  json_decref (doc);
}
END_TEST

/** Compact size of @a doc, as the limit counts it. */
static size_t
compact_size (const json_t *doc)
{
  return json_dumpb (doc, NULL, 0, JSON_COMPACT);
}

/* A document of exactly BW_POLICY_DOC_MAX bytes is accepted; one byte more is not. */
START_TEST (test_limit_size_boundary)
{
  json_t *doc = table_load (DOC (",'network':[]"));
  json_t *net = json_object_get (doc, "network");
  json_t *hosts = NULL, *errors = json_array ();
  struct bw_policy *p;
  size_t n = 0, size;
  char s[64], *name;

  /* fill to within one name's length (1..200 characters) of the limit */
  while ((size = compact_size (doc)) <= BW_POLICY_DOC_MAX - 150)
    {
      if (NULL == hosts || json_array_size (hosts) == 256
          || (size < BW_POLICY_DOC_MAX - 8000 && json_array_size (hosts) > 0))
        {
          hosts = json_array ();
          snprintf (s, sizeof (s), "r%zu", json_array_size (net));
          json_array_append_new (
            net, json_pack ("{s:s,s:s,s:o}", "id", s, "decision", "allow", "hosts", hosts));
        }
      /* whole rules while far off, then host by host */
      do
        {
          snprintf (s, sizeof (s), "h%06zu.example.com", n++);
          json_array_append_new (hosts, json_string (s));
        }
      while (size < BW_POLICY_DOC_MAX - 8000 && json_array_size (hosts) < 256);
    }
  /* "t" becomes a name that makes the document exactly the limit */
  ck_assert_uint_le (BW_POLICY_DOC_MAX - size, 199);
  name = malloc (BW_POLICY_DOC_MAX - size + 3);
  ck_assert_ptr_nonnull (name);
  memset (name, 'x', BW_POLICY_DOC_MAX - size + 1);
  name[BW_POLICY_DOC_MAX - size + 1] = '\0';
  json_object_set_new (doc, "name", json_string (name));
  ck_assert_uint_eq (compact_size (doc), BW_POLICY_DOC_MAX);
  p = bw_policy_parse (doc, "", errors);
  ck_assert_msg (NULL != p, "a document of exactly the limit rejected: %s", table_show (errors));
  bw_policy_free (p);
  strcat (name, "x");
  json_object_set_new (doc, "name", json_string (name));
  ck_assert_uint_eq (compact_size (doc), BW_POLICY_DOC_MAX + 1);
  expect_policy_error (doc, "", "");
  free (name);
  json_decref (errors);
  json_decref (doc);
}
END_TEST

/* The DESIGN §4 example parses, and the accessors read it back. */
START_TEST (test_design_example)
{
  struct bw_policy *p = table_policy_ok (
    "{'schema':'bulwark.policy/v1','name':'Platform baseline','mode':'enforce',"
    "'scope':{'org_wide':false,'groups':['" UUID1 "'],'users':[]},"
    "'network':[{'id':'npm','decision':'allow','hosts':['registry.npmjs.org','**.pypi.org'],"
    "'ports':[443]},"
    "{'id':'no-metadata','decision':'deny','cidrs':['169.254.0.0/16','fd00::/8']}],"
    "'filesystem':[{'id':'src','decision':'allow','access':['read','write'],'paths':['~/src/**']},"
    "{'id':'keys','decision':'deny','access':['read','write'],'paths':['~/.ssh/**']}],"
    "'credentials':[{'id':'gh','decision':'allow','credential':'github-token',"
    "'to_hosts':['api.github.com'],'to_mcp_servers':['" GH "'],'delivery':'proxy_header'}],"
    "'mcp':[{'id':'gh-read','decision':'allow','actions':['invoke_tool'],'server':'" GH "',"
    "'tools':['get_*','list_*']},"
    "{'id':'confirm-writes','decision':'require_approval','actions':['invoke_tool'],'server':'*',"
    "'when':{'read_only':false}}]}");
  const struct bw_policy_scope *sc = bw_policy_scope (p);

  ck_assert_str_eq (bw_policy_name (p), "Platform baseline");
  ck_assert_int_eq (bw_policy_mode (p), BW_MODE_ENFORCE);
  ck_assert_uint_eq (bw_policy_rule_count (p), 7);
  ck_assert (!sc->org_wide);
  ck_assert_uint_eq (sc->ngroups, 1);
  ck_assert_str_eq (sc->groups[0], UUID1);
  ck_assert_uint_eq (sc->nusers, 0);
  bw_policy_free (p);

  p = table_policy_ok (AUD ("'network':[]"));
  ck_assert_int_eq (bw_policy_mode (p), BW_MODE_AUDIT);
  ck_assert (bw_policy_scope (p)->org_wide);
  ck_assert_uint_eq (bw_policy_rule_count (p), 0);
  bw_policy_free (p);
}
END_TEST

/* Every error is reported, not just the first. */
START_TEST (test_all_errors)
{
  json_t *doc = table_load ("{'schema':'x','name':5,'mode':'m','scope':{'org_wide':'y'},'z':1,"
                      "'network':[{'id':'a','decision':'no','hosts':['u@h']}]}");
  json_t *errors = json_array ();
  const char *want[] = {
    "/schema",
    "/name",
    "/mode",
    "/scope/org_wide",
    "/z",
    "/network/0/decision",
    "/network/0/hosts/0",
  };

  ck_assert_ptr_null (bw_policy_parse (doc, "", errors));
  for (size_t i = 0; i < ARRAY_LEN (want); i++)
    ck_assert_msg (table_has_pointer (errors, want[i]), "no error at %s: %s", want[i], table_show (errors));
  json_decref (doc);
  json_decref (errors);
}
END_TEST

/* Errors are appended: earlier entries of the caller's array stay. */
START_TEST (test_errors_appended)
{
  json_t *errors = json_pack ("[{s:s,s:s}]", "pointer", "/other", "message", "kept");
  json_t *doc = table_load (DOC (",'x':1"));
  json_t *req = table_load ("{'surface':'network'}");

  ck_assert_ptr_null (bw_policy_parse (doc, "", errors));
  ck_assert_ptr_null (bw_decision_request_parse (req, "", errors));
  ck_assert (table_has_pointer (errors, "/other"));
  ck_assert (table_has_pointer (errors, "/x"));
  ck_assert (table_has_pointer (errors, "/action"));
  json_decref (doc);
  json_decref (req);
  json_decref (errors);
}
END_TEST

/* A parsed request gives back its subject. */
START_TEST (test_request_user)
{
  struct bw_decision_request *r
    = request_ok ("{'subject':{'user':'" UUID1 "'},'surface':'network','action':'connect',"
                  "'resource':{'host':'a.com','port':443}}");

  ck_assert_str_eq (bw_decision_request_user (r), UUID1);
  bw_decision_request_free (r);
  r = request_ok (CONNECT ("a.com", 443));
  ck_assert_ptr_null (bw_decision_request_user (r));
  bw_decision_request_free (r);
  bw_policy_free (NULL);
  bw_decision_request_free (NULL);
}
END_TEST

START_TEST (test_names)
{
  ck_assert_str_eq (bw_decision_name (BW_DECISION_ALLOW), "allow");
  ck_assert_str_eq (bw_decision_name (BW_DECISION_DENY), "deny");
  ck_assert_str_eq (bw_decision_name (BW_DECISION_REQUIRE_APPROVAL), "require_approval");
  ck_assert_str_eq (bw_reason_name (BW_REASON_RULE), "rule");
  ck_assert_str_eq (bw_reason_name (BW_REASON_DEFAULT), "default");
  ck_assert_str_eq (bw_reason_name (BW_REASON_POLICY_ERROR), "policy_error");
  ck_assert_str_eq (bw_reason_name (BW_REASON_CATALOG), "catalog");
  ck_assert_str_eq (bw_surface_name (BW_SURFACE_NETWORK), "network");
  ck_assert_str_eq (bw_surface_name (BW_SURFACE_FILESYSTEM), "filesystem");
  ck_assert_str_eq (bw_surface_name (BW_SURFACE_CREDENTIALS), "credentials");
  ck_assert_str_eq (bw_surface_name (BW_SURFACE_MCP), "mcp");
}
END_TEST

/** Evaluate CONNECT x.example.com against one policy of @a nallow matching
    allow rules followed by one matching deny when @a deny. */
static void
many_matches (size_t nallow, bool deny, struct bw_decision_result *res, struct bw_policy **pp)
{
  json_t *doc = doc_with_rules (nallow, 0);
  json_t *errors = json_array ();
  struct bw_decision_request *r = request_ok (CONNECT ("example.com", 443));
  struct bw_policy_ref ref;

  if (deny)
    json_array_append_new (
      json_object_get (doc, "network"),
      json_pack ("{s:s,s:s,s:[s]}", "id", "last", "decision", "deny", "hosts", "example.com"));
  *pp = bw_policy_parse (doc, "", errors);
  ck_assert_msg (NULL != *pp, "%s", table_show (errors));
  ref.policy = *pp;
  ref.policy_id = "p0";
  ref.revision = 1;
  bw_evaluate (&ref, 1, NULL, 0, r, res);
  bw_decision_request_free (r);
  json_decref (errors);
  json_decref (doc);
}

/* More than BW_MATCHED_MAX matches: truncated, and the deciding rule is always among them. */
START_TEST (test_matched_truncated)
{
  struct bw_decision_result res;
  struct bw_policy *p;
  json_t *j;

  many_matches (BW_MATCHED_MAX, false, &res, &p);
  ck_assert_uint_eq (res.nmatched, BW_MATCHED_MAX);
  ck_assert (!res.matched_truncated);
  ck_assert_int_eq (res.decision, BW_DECISION_ALLOW);
  bw_policy_free (p);

  many_matches (BW_MATCHED_MAX + 6, true, &res, &p);
  ck_assert_uint_eq (res.nmatched, BW_MATCHED_MAX);
  ck_assert (res.matched_truncated);
  ck_assert_int_eq (res.decision, BW_DECISION_DENY);
  ck_assert_int_eq (res.reason, BW_REASON_RULE);
  ck_assert (res.deciding >= 0 && res.deciding < BW_MATCHED_MAX);
  ck_assert_str_eq (res.matched[res.deciding].rule_id, "last");
  j = bw_decision_result_json (&res);
  ck_assert (json_is_true (json_object_get (j, "matched_truncated")));
  ck_assert_str_eq (
    json_string_value (json_object_get (json_object_get (j, "deciding_rule"), "rule_id")), "last");
  json_decref (j);
  bw_policy_free (p);
}
END_TEST

/* A policy that cannot be used (a NULL ref) or a missing request: deny, policy_error,
   whatever else matched. */
START_TEST (test_policy_error)
{
  struct bw_policy *p = table_policy_ok (ENF ("'network':[" NET ("a", "allow", "'x.example.com'") "]"));
  struct bw_decision_request *r = request_ok (X_COM);
  struct bw_policy_ref refs[2] = { { p, "p0", 1 }, { NULL, "p1", 2 } };
  struct bw_decision_result res;
  json_t *j;

  memset (&res, 0xa5, sizeof (res));
  bw_evaluate (refs, 2, NULL, 0, r, &res);
  ck_assert_int_eq (res.decision, BW_DECISION_DENY);
  ck_assert_int_eq (res.reason, BW_REASON_POLICY_ERROR);
  ck_assert_int_eq (res.deciding, -1);
  j = bw_decision_result_json (&res);
  ck_assert_str_eq (json_string_value (json_object_get (j, "reason")), "policy_error");
  ck_assert (json_is_null (json_object_get (j, "deciding_rule")));
  json_decref (j);

  refs[1] = refs[0];
  refs[0] = (struct bw_policy_ref){ NULL, "p1", 2 };
  memset (&res, 0xa5, sizeof (res));
  bw_evaluate (refs, 2, NULL, 0, r, &res);
  ck_assert_int_eq (res.decision, BW_DECISION_DENY);
  ck_assert_int_eq (res.reason, BW_REASON_POLICY_ERROR);
  ck_assert_int_eq (res.deciding, -1);

  memset (&res, 0xa5, sizeof (res));
  bw_evaluate (refs + 1, 1, NULL, 0, NULL, &res);
  ck_assert_int_eq (res.decision, BW_DECISION_DENY);
  ck_assert_int_eq (res.reason, BW_REASON_POLICY_ERROR);
  ck_assert_int_eq (res.deciding, -1);
  bw_decision_request_free (r);
  bw_policy_free (p);
}
END_TEST

/* A parsed policy is independent of the document it came from. */
START_TEST (test_policy_owns_its_data)
{
  json_t *doc = table_load (ENF ("'network':[" NET ("a", "allow", "'x.example.com'") "]"));
  json_t *errors = json_array ();
  struct bw_policy *p = bw_policy_parse (doc, "", errors);
  struct bw_decision_request *r = request_ok (X_COM);
  struct bw_policy_ref ref = { p, "p0", 1 };
  struct bw_decision_result res;

  ck_assert_ptr_nonnull (p);
  json_decref (doc); /* the document is gone */
  bw_evaluate (&ref, 1, NULL, 0, r, &res);
  ck_assert_int_eq (res.decision, BW_DECISION_ALLOW);
  ck_assert_str_eq (res.matched[res.deciding].rule_id, "a");
  ck_assert_str_eq (bw_policy_name (p), "t");
  bw_decision_request_free (r);
  bw_policy_free (p);
  json_decref (errors);
}
END_TEST

static Suite *
policy_suite (void)
{
  Suite *s = suite_create ("policy");
  TCase *tc = tcase_create ("hosts");

#define LOOP(t, table) tcase_add_loop_test (tc, t, 0, (int) ARRAY_LEN (table))
  LOOP (test_host_allow, host_table);
  LOOP (test_host_deny, host_table);
  suite_add_tcase (s, tc);

  tc = tcase_create ("ips");
  LOOP (test_ip_allow, ip_table);
  LOOP (test_ip_deny, ip_table);
  suite_add_tcase (s, tc);

  tc = tcase_create ("ports");
  LOOP (test_port_allow, port_table);
  LOOP (test_port_deny, port_table);
  suite_add_tcase (s, tc);

  tc = tcase_create ("paths");
  LOOP (test_path_allow, path_table);
  LOOP (test_path_deny, path_table);
  suite_add_tcase (s, tc);

  tc = tcase_create ("credentials");
  LOOP (test_cred_allow, cred_table);
  LOOP (test_cred_deny, cred_table);
  suite_add_tcase (s, tc);

  tc = tcase_create ("mcp");
  LOOP (test_mcp_allow, mcp_table);
  LOOP (test_mcp_deny, mcp_table);
  suite_add_tcase (s, tc);

  tc = tcase_create ("precedence");
  LOOP (test_precedence, prec_table);
  LOOP (test_access, access_table);
  tcase_add_test (tc, test_matched_truncated);
  tcase_add_test (tc, test_policy_error);
  suite_add_tcase (s, tc);

  tc = tcase_create ("validation");
  LOOP (test_doc_errors, doc_errors);
  LOOP (test_doc_errors_prefixed, doc_errors);
  LOOP (test_req_errors, req_errors);
  LOOP (test_req_errors_prefixed, req_errors);
  tcase_add_test (tc, test_limit_rules);
  tcase_add_test (tc, test_limit_size);
  tcase_add_test (tc, test_limit_size_boundary);
  tcase_add_test (tc, test_all_errors);
  tcase_add_test (tc, test_errors_appended);
  suite_add_tcase (s, tc);
#undef LOOP

  tc = tcase_create ("api");
  tcase_add_test (tc, test_design_example);
  tcase_add_test (tc, test_request_user);
  tcase_add_test (tc, test_names);
  tcase_add_test (tc, test_policy_owns_its_data);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (policy_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return 0 == failed ? EXIT_SUCCESS : EXIT_FAILURE;
}
