/*
 * The evaluator (DESIGN §4 "Decision"), the same code on the server and in
 * the agent.  Rules are compiled at parse time, so this only compares bytes
 * and never allocates.
 *
 * Order, over every rule of the request's surface in every applicable
 * policy (in the order given, rules in document order):
 *   1. the MCP catalog (bw_catalog_step, lib/catalog.c): an MCP request, or
 *      a credential toward an MCP server, whose server is not approved in
 *      the slice at `now`, or whose identity (a credential's: the process
 *      it goes to), tool or tool description differs from the approval, or
 *      a credential the entry does not bind -> deny, reason catalog, no rule
 *      looked at
 *      (result.catalog says which check failed, catalog_entry names the
 *      entry).  The `when` conditions of MCP rules then see the approved
 *      tool's annotations, never anything the request says.
 *   2. any matching deny in an enforce policy         -> deny, reason rule
 *   3. else any matching require_approval (enforce)    -> require_approval
 *   4. else any matching allow (enforce)               -> allow
 *   5. else                                            -> deny, reason default
 *   6. audit-mode policies decide nothing; their matching rules are listed
 *      in matched, and a matching deny among them sets would_deny.
 *   7. a NULL policy among the refs (a stored policy that no longer parses,
 *      a stale bundle), or no request -> deny, reason policy_error.
 * The deciding rule is the first match of the winning kind.
 *
 * Filesystem writes: DESIGN §4 says write access needs both read and write
 * allowed.  So a write request is decided against the rules covering read
 * and those covering write together: a deny or require_approval on either
 * decides as above, and allow needs an allow covering write and an allow
 * covering read (the same rule or two).  The deciding rule of an allowed
 * write is the allow covering write.
 */
#include "config.h"
#include "lib/policy_model.h"

#include <string.h>

static const char *const reason_names[] = {
  [BW_REASON_RULE] = "rule",
  [BW_REASON_DEFAULT] = "default",
  [BW_REASON_POLICY_ERROR] = "policy_error",
  [BW_REASON_CATALOG] = "catalog",
};

const char *
bw_reason_name (enum bw_reason r)
{
  return ((unsigned) r < sizeof (reason_names) / sizeof (reason_names[0])) ? reason_names[r]
                                                                           : "policy_error";
}

/* ---- matchers, one per surface ---- */

static bool
net_match (const struct bw_net_rule *r, const struct bw_decision_request *q)
{
  uint16_t port = q->u.net.port;
  if (q->u.net.is_ip)
    {
      if (!bw_port_in (r->ports, r->nports, port))
        return false;
      for (size_t i = 0; i < r->ncidrs; i++)
        if (bw_cidr_contains (&r->cidrs[i], &q->u.net.ip))
          return true;
      return false;
    }
  for (size_t i = 0; i < r->nhosts; i++)
    {
      const struct bw_host_pattern *h = &r->hosts[i];
      if (bw_host_match (h, &q->u.net.host)
          && (h->has_port ? (port >= h->port.lo && port <= h->port.hi)
                          : bw_port_in (r->ports, r->nports, port)))
        return true;
    }
  return false;
}

/* Which of the request's access kinds the rule covers (0: no match). */
static unsigned
fs_match (const struct bw_fs_rule *r, const struct bw_decision_request *q)
{
  /* A write request is looked at by read rules too (see the top of the file). */
  unsigned wanted
    = (BW_ACCESS_WRITE == q->u.fs.access) ? BW_ACCESS_READ | BW_ACCESS_WRITE : BW_ACCESS_READ;
  unsigned covered = r->access & wanted;
  if (0 == covered)
    return 0;
  for (size_t i = 0; i < r->npaths; i++)
    if (bw_path_match (&r->paths[i], &q->u.fs.path))
      return covered;
  return 0;
}

static bool
cred_match (const struct bw_cred_rule *r, const struct bw_decision_request *q)
{
  if (r->credential_len != q->u.cred.credential_len
      || 0 != memcmp (r->credential, q->u.cred.credential, r->credential_len))
    return false;
  if (0 == r->nhosts && 0 == r->nservers)
    return true;
  if (q->u.cred.to_server)
    {
      for (size_t i = 0; i < r->nservers; i++)
        if (bw_glob_match (&r->servers[i], q->u.cred.server, q->u.cred.server_len))
          return true;
      return false;
    }
  if (q->u.cred.host_is_ip)
    return false;
  for (size_t i = 0; i < r->nhosts; i++)
    if (bw_host_match (&r->hosts[i], &q->u.cred.host))
      return true;
  return false;
}

static bool
cond_ok (enum bw_cond c, bool v)
{
  return BW_COND_ANY == c || (BW_COND_TRUE == c) == v;
}

static bool
mcp_match (const struct bw_mcp_rule *r, const struct bw_decision_request *q,
           const struct bw_catalog_verdict *v)
{
  if (0 == (r->actions & q->u.mcp.action)
      || !bw_glob_match (&r->server, q->u.mcp.server, q->u.mcp.server_len))
    return false;
  if (0 != r->ntools)
    {
      bool any = false;
      for (size_t i = 0; i < r->ntools && !any && NULL != q->u.mcp.tool; i++)
        any = bw_glob_match (&r->tools[i], q->u.mcp.tool, q->u.mcp.tool_len);
      if (!any)
        return false;
    }
  return cond_ok (r->read_only, v->read_only) && cond_ok (r->destructive, v->destructive);
}

/* ---- collecting matches ---- */

/* Where the first match of each kind was found. */
struct candidate
{
  size_t ref;                      /* index into the policy refs */
  const struct bw_rule_head *rule; /* NULL: none yet */
};

struct tally
{
  struct bw_decision_result *out;
  unsigned access; /* a filesystem request's access bit, else 0 */
  struct candidate deny, approval, allow, allow_read;
};

static void
record (struct tally *t, const struct bw_policy_ref *refs, size_t ref,
        const struct bw_rule_head *rule, unsigned covered)
{
  const struct bw_policy *p = refs[ref].policy;
  struct bw_decision_result *out = t->out;
  if (out->nmatched < BW_MATCHED_MAX)
    out->matched[out->nmatched++] = (struct bw_rule_match){
      .policy_id = refs[ref].policy_id,
      .revision = refs[ref].revision,
      .rule_id = rule->id,
      .decision = rule->decision,
      .mode = p->mode,
    };
  else
    out->matched_truncated = true;
  if (BW_MODE_AUDIT == p->mode)
    {
      out->would_deny = out->would_deny || BW_DECISION_DENY == rule->decision;
      return;
    }
  struct candidate *c = NULL;
  switch (rule->decision)
    {
    case BW_DECISION_DENY:
      c = &t->deny;
      break;
    case BW_DECISION_REQUIRE_APPROVAL:
      c = &t->approval;
      break;
    case BW_DECISION_ALLOW:
      if (0 != (covered & BW_ACCESS_READ) && NULL == t->allow_read.rule)
        t->allow_read = (struct candidate){ ref, rule };
      c = (0 == covered || 0 != (covered & t->access)) ? &t->allow : NULL;
      break;
    }
  if (NULL != c && NULL == c->rule)
    *c = (struct candidate){ ref, rule };
}

/* Point out->deciding at @a c's rule, putting it in matched if it fell off the end. */
static void
decide_by (struct bw_decision_result *out, const struct bw_policy_ref *refs,
           const struct candidate *c)
{
  for (size_t i = 0; i < out->nmatched; i++)
    if (out->matched[i].rule_id == c->rule->id
        && out->matched[i].policy_id == refs[c->ref].policy_id
        && out->matched[i].revision == refs[c->ref].revision)
      {
        out->deciding = (int) i;
        return;
      }
  /* Only after truncation: the deciding rule replaces the last entry. */
  out->matched[BW_MATCHED_MAX - 1] = (struct bw_rule_match){
    .policy_id = refs[c->ref].policy_id,
    .revision = refs[c->ref].revision,
    .rule_id = c->rule->id,
    .decision = c->rule->decision,
    .mode = BW_MODE_ENFORCE,
  };
  out->deciding = BW_MATCHED_MAX - 1;
}

void
bw_evaluate (const struct bw_policy_ref *policies, size_t n, const struct bw_catalog *catalog,
             int64_t now, const struct bw_decision_request *req, struct bw_decision_result *out)
{
  struct tally t = { .out = out };
  struct bw_catalog_verdict verdict = { .check = BW_CATALOG_UNCHECKED };
  bool broken = (NULL == req);

  if (NULL != req && BW_SURFACE_FILESYSTEM == req->surface)
    t.access = req->u.fs.access;
  out->decision = BW_DECISION_DENY;
  out->reason = BW_REASON_DEFAULT;
  out->would_deny = false;
  out->deciding = -1;
  out->nmatched = 0;
  out->matched_truncated = false;
  out->catalog = BW_CATALOG_UNCHECKED;
  out->catalog_entry = NULL;
  /* DESIGN §4 step 1, before any rule is looked at. */
  if (NULL != req)
    {
      bw_catalog_step (catalog, now, req, &verdict);
      out->catalog = verdict.check;
      out->catalog_entry = verdict.entry_id;
      if (BW_CATALOG_UNCHECKED != verdict.check && BW_CATALOG_APPROVED != verdict.check)
        {
          out->reason = BW_REASON_CATALOG;
          return;
        }
    }
  for (size_t k = 0; k < n && NULL != req; k++)
    {
      const struct bw_policy *p = policies[k].policy;
      if (NULL == p)
        {
          broken = true;
          continue;
        }
      switch (req->surface)
        {
        case BW_SURFACE_NETWORK:
          for (size_t i = 0; i < p->nnet; i++)
            if (net_match (&p->net[i], req))
              record (&t, policies, k, &p->net[i].h, 0);
          break;
        case BW_SURFACE_FILESYSTEM:
          for (size_t i = 0; i < p->nfs; i++)
            {
              unsigned covered = fs_match (&p->fs[i], req);
              if (0 != covered)
                record (&t, policies, k, &p->fs[i].h, covered);
            }
          break;
        case BW_SURFACE_CREDENTIALS:
          for (size_t i = 0; i < p->ncred; i++)
            if (cred_match (&p->cred[i], req))
              record (&t, policies, k, &p->cred[i].h, 0);
          break;
        case BW_SURFACE_MCP:
          for (size_t i = 0; i < p->nmcp; i++)
            if (mcp_match (&p->mcp[i], req, &verdict))
              record (&t, policies, k, &p->mcp[i].h, 0);
          break;
        }
    }
  if (broken)
    {
      out->reason = BW_REASON_POLICY_ERROR;
      return;
    }
  bool write = BW_SURFACE_FILESYSTEM == req->surface && BW_ACCESS_WRITE == req->u.fs.access;
  const struct candidate *win = NULL;
  if (NULL != t.deny.rule)
    win = &t.deny;
  else if (NULL != t.approval.rule)
    win = &t.approval;
  else if (NULL != t.allow.rule && (!write || NULL != t.allow_read.rule))
    win = &t.allow;
  if (NULL == win)
    return;
  out->decision = win->rule->decision;
  out->reason = BW_REASON_RULE;
  decide_by (out, policies, win);
}

json_t *
bw_decision_result_json (const struct bw_decision_result *r)
{
  json_t *matched = json_array ();
  json_t *deciding = json_null ();
  if (NULL == matched)
    return NULL;
  for (size_t i = 0; i < r->nmatched; i++)
    {
      const struct bw_rule_match *m = &r->matched[i];
      if (0
          != json_array_append_new (
            matched, json_pack ("{s:s, s:I, s:s, s:s, s:s}", "policy_id", m->policy_id, "revision",
                                (json_int_t) m->revision, "rule_id", m->rule_id, "decision",
                                bw_decision_name (m->decision), "mode",
                                (BW_MODE_AUDIT == m->mode) ? "audit" : "enforce")))
        {
          json_decref (matched);
          return NULL;
        }
    }
  if (r->deciding >= 0 && (size_t) r->deciding < r->nmatched)
    {
      const struct bw_rule_match *m = &r->matched[r->deciding];
      deciding = json_pack ("{s:s, s:I, s:s}", "policy_id", m->policy_id, "revision",
                            (json_int_t) m->revision, "rule_id", m->rule_id);
    }
  if (NULL == deciding)
    {
      json_decref (matched);
      return NULL;
    }
  json_t *o = json_pack ("{s:s, s:s, s:b, s:o, s:o}", "decision", bw_decision_name (r->decision),
                         "reason", bw_reason_name (r->reason), "would_deny", r->would_deny,
                         "deciding_rule", deciding, "matched", matched);
  if (NULL != o && r->matched_truncated
      && 0 != json_object_set_new (o, "matched_truncated", json_true ()))
    {
      json_decref (o);
      return NULL;
    }
  if (NULL != o && BW_CATALOG_UNCHECKED != r->catalog
      && 0
           != json_object_set_new (
             o, "catalog",
             json_pack ("{s:s, s:s?}", "check", bw_catalog_check_name (r->catalog), "entry_id",
                        r->catalog_entry)))
    {
      json_decref (o);
      return NULL;
    }
  return o;
}
