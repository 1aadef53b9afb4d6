/**
 * @file lib/policy.h
 * Policy documents and decisions (DESIGN §4): the strict parser and
 * validator, and the evaluator that both bulwarkd (/evaluate) and
 * bulwark-agent run.  No HTTP, no SQL, no global state: everything here is
 * safe to call from any thread; parsed objects are immutable and may be
 * shared between threads.
 *
 * Errors are reported as JSON objects {"pointer": RFC 6901 pointer,
 * "message": short text} appended to a caller's array, so the server can
 * answer them as a problem document (DESIGN §8) as they are.  One parse
 * reports at most 100 errors, then one more entry (pointer: the prefix)
 * saying the rest were left out.
 *
 * The document format and its normalization rules are spelled out at the
 * top of lib/policy.c (documents), lib/decision_request.c (requests),
 * lib/evaluate.c (decision order), and in lib/host.h, lib/ipaddr.h,
 * lib/path.h, lib/glob.h and lib/port.h (matching).
 */
#ifndef BW_LIB_POLICY_H
#define BW_LIB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lib/catalog.h"

/** The one schema this code reads. */
#define BW_POLICY_SCHEMA "bulwark.policy/v1"
/** Limits of DESIGN §4. */
#define BW_POLICY_RULES_MAX 250          /**< rules in one policy, all surfaces together */
#define BW_POLICY_DOC_MAX (400 * 1024)   /**< bytes of one document (compact JSON) */
#define BW_POLICIES_PER_ORG_MAX 100      /**< enforced by the server */
/** Most matched rules reported for one decision (the deciding one is always among them). */
#define BW_MATCHED_MAX 64

/** A parsed, normalized, validated policy document.  Opaque; immutable. */
struct bw_policy;

/**
 * Parse and validate policy document @a doc (borrowed).  Strict: unknown
 * keys, wrong types, rules that cannot be normalized, duplicate rule ids
 * and exceeded limits are errors.  Every error found is appended to
 * @a errors (a JSON array, borrowed) with its pointer relative to the
 * document root, prefixed by @a pointer_prefix (e.g. "/policy" when the
 * document sits under that key of a request body; "" for none).
 * @return the policy (caller frees with bw_policy_free), or NULL when
 *         invalid (then at least one error was appended) or out of memory.
 */
struct bw_policy *bw_policy_parse (const json_t *doc, const char *pointer_prefix, json_t *errors);

/** Free @a p.  NULL-safe. */
void bw_policy_free (struct bw_policy *p);

/** Mode of a policy: enforce, or audit (evaluated, reported, never decides). */
enum bw_policy_mode
{
  BW_MODE_ENFORCE = 0,
  BW_MODE_AUDIT,
};

/** To whom a policy applies (DESIGN §4 "Which policies apply"). */
struct bw_policy_scope
{
  bool org_wide;
  size_t ngroups;
  const char *const *groups; /**< group ids (canonical lowercase uuids), borrowed from the policy */
  size_t nusers;
  const char *const *users;  /**< user ids (canonical lowercase uuids), borrowed from the policy */
};

/**
 * Whether @a p applies to a subject (DESIGN §4 "Which policies apply"):
 * it is org-wide, or names user @a user or one of the @a ngroups groups
 * @a groups the user belongs to.  @a user may be NULL (an agent enrolled
 * without a user: only org-wide policies apply).  Ids are compared as
 * canonical lowercase uuids.
 */
bool bw_policy_applies (const struct bw_policy *p, const char *user, const char *const *groups,
                        size_t ngroups);

/** Display name of @a p (borrowed). */
const char *bw_policy_name (const struct bw_policy *p);
/** Mode of @a p. */
enum bw_policy_mode bw_policy_mode (const struct bw_policy *p);
/** Scope of @a p; the pointers live as long as @a p. */
const struct bw_policy_scope *bw_policy_scope (const struct bw_policy *p);
/** Number of rules in @a p, all surfaces together. */
size_t bw_policy_rule_count (const struct bw_policy *p);

/** Surfaces of DESIGN §4. */
enum bw_surface
{
  BW_SURFACE_NETWORK = 0,
  BW_SURFACE_FILESYSTEM,
  BW_SURFACE_CREDENTIALS,
  BW_SURFACE_MCP,
};

/** A decision. */
enum bw_decision
{
  BW_DECISION_ALLOW = 0,
  BW_DECISION_DENY,
  BW_DECISION_REQUIRE_APPROVAL,
};

/** Why a decision was reached (DESIGN §4). */
enum bw_reason
{
  BW_REASON_RULE = 0,      /**< a rule decided (deciding_rule names it) */
  BW_REASON_DEFAULT,       /**< no enforce rule matched: the surface default, deny */
  BW_REASON_POLICY_ERROR,  /**< unusable policy or request state: deny */
  BW_REASON_CATALOG,       /**< MCP catalog step (DESIGN §4 step 1): deny; result.catalog says why */
};

/** "allow", "deny", "require_approval". */
const char *bw_decision_name (enum bw_decision d);
/** "rule", "default", "policy_error", "catalog". */
const char *bw_reason_name (enum bw_reason r);
/** "network", "filesystem", "credentials", "mcp". */
const char *bw_surface_name (enum bw_surface s);

/** A parsed, normalized decision request.  Opaque; immutable. */
struct bw_decision_request;

/**
 * Parse and normalize decision request @a req (borrowed):
 * {"subject": {"user": "<uuid>"}?, "surface", "action", "resource", "context"?}
 * with the actions and resources of DESIGN §4's table.  A request that
 * cannot be normalized (a host with userinfo, a non-canonical IPv4 form, a
 * relative path, ...) is an error — never guessed at.  Errors are appended
 * to @a errors with pointers prefixed by @a pointer_prefix (e.g.
 * "/requests/3").
 * @return the request (free with bw_decision_request_free), or NULL.
 */
struct bw_decision_request *bw_decision_request_parse (const json_t *req,
                                                       const char *pointer_prefix,
                                                       json_t *errors);

/** Free @a r.  NULL-safe. */
void bw_decision_request_free (struct bw_decision_request *r);

/** The user id of the request's subject (borrowed), or NULL when none was given. */
const char *bw_decision_request_user (const struct bw_decision_request *r);

/** One applicable policy as the evaluator sees it; all borrowed. */
struct bw_policy_ref
{
  const struct bw_policy *policy;
  const char *policy_id; /**< the stored policy's id */
  int64_t revision;      /**< its revision number */
};

/** A rule that matched a request. */
struct bw_rule_match
{
  const char *policy_id;   /**< borrowed from the bw_policy_ref */
  int64_t revision;
  const char *rule_id;     /**< borrowed from the policy */
  enum bw_decision decision;
  enum bw_policy_mode mode;
};

/** The outcome of one evaluation. */
struct bw_decision_result
{
  enum bw_decision decision;
  enum bw_reason reason;
  bool would_deny;           /**< an audit-mode policy has a matching deny (DESIGN §4 step 6) */
  int deciding;              /**< index into matched of the deciding rule, -1 when none */
  size_t nmatched;
  bool matched_truncated;    /**< more than BW_MATCHED_MAX rules matched */
  struct bw_rule_match matched[BW_MATCHED_MAX];
  enum bw_catalog_check catalog; /**< the catalog step's outcome; UNCHECKED when it did not apply */
  const char *catalog_entry;     /**< id of the catalog entry looked at (borrowed), or NULL */
};

/**
 * Decide @a req against the @a n applicable policies @a policies and the
 * approved catalog slice @a catalog with the exact order of DESIGN §4:
 * first the catalog step (an MCP request, or a credential toward an MCP
 * server, whose server is not approved in @a catalog at time @a now —
 * Unix seconds — or whose identity, tool or tool description differs from
 * the approval, or a credential the entry does not bind, is deny with
 * reason catalog and no rule looked at; a credential toward an MCP server
 * names the identity of the process it goes to, checked exactly as an MCP
 * request's: lib/catalog.h "The catalog step"); then
 * deny in any enforce policy wins, then require_approval, then allow, else
 * the surface default deny; audit-mode policies only set would_deny and
 * appear in matched.  A NULL @a catalog is the empty catalog.  A ref whose
 * policy is NULL (a stored document that no longer parses, a bundle past
 * its limit) or a NULL @a req makes the decision deny with reason
 * policy_error.  The `when` conditions of MCP rules see the annotations of
 * the approved tool, never the request's.  Does not allocate; the result
 * borrows strings from @a policies and @a catalog.
 */
void bw_evaluate (const struct bw_policy_ref *policies, size_t n, const struct bw_catalog *catalog,
                  int64_t now, const struct bw_decision_request *req,
                  struct bw_decision_result *out);

/**
 * The result as the API answers it:
 * {"decision", "reason", "would_deny", "deciding_rule": {policy_id, revision, rule_id} | null,
 *  "matched": [{policy_id, revision, rule_id, decision, mode}], "matched_truncated"?,
 *  "catalog"?: {"check": bw_catalog_check_name, "entry_id": uuid | null}} (catalog only when
 *  the catalog step applied).
 * @return a new object (caller owns), or NULL on allocation failure.
 */
json_t *bw_decision_result_json (const struct bw_decision_result *r);

#endif
