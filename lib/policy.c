/*
 * Policy documents (DESIGN §4): the strict parser and validator.
 *
 * The document, exactly:
 *   schema       required, "bulwark.policy/v1"
 *   name         required, 1..200 characters, text as lib/text.h checks it
 *                (no control characters, not blank, not padded with spaces)
 *   description  optional, 1..2000 characters, the same but may be padded
 *   mode         required, "enforce" or "audit".  There is no default: a
 *                document that does not say whether it enforces is refused
 *                rather than guessed at.
 *   scope        required, {"org_wide": bool (required), "groups": [uuid],
 *                "users": [uuid]}; ids canonical lowercase, no duplicates;
 *                an org-wide policy names no groups or users.
 *   network, filesystem, credentials, mcp
 *                optional arrays of rules (below); all four together hold at
 *                most BW_POLICY_RULES_MAX rules.
 *
 * Every rule: "id" (required, [A-Za-z0-9][A-Za-z0-9._-]{0,63}, unique in the
 * policy across surfaces), "decision" (required, allow | deny |
 * require_approval), "description" (optional, 1..1000 characters, like the policy's).
 *   network      hosts? [host pattern, lib/host.h], cidrs? [lib/ipaddr.h],
 *                at least one of the two; ports? [1..65535 | "lo-hi"]
 *                (absent: any port).  A host pattern may carry its own
 *                ":port"; then the rule must not also have "ports".  Ports
 *                apply to hosts and cidrs alike.
 *   filesystem   access [read | write] (required), paths [lib/path.h]
 *                (required), case_insensitive? bool (default false).
 *   credentials  credential (required), to_hosts? [host pattern without
 *                port], to_mcp_servers? [glob], delivery? proxy_header | env |
 *                file.  With neither target list the rule covers every target.
 *   mcp          actions [invoke_tool | register | read_resource |
 *                get_prompt | list_tools] (required), server (required,
 *                glob), tools? [glob], when? {read_only?: bool,
 *                destructive?: bool}.  "tools" and "when" describe a tool
 *                call, so they need actions to be exactly ["invoke_tool"].
 * Lists are non-empty, at most BW_RULE_LIST_MAX entries; the enum lists
 * (access, actions) without duplicates.  Unknown keys, nulls and wrong types
 * are errors everywhere.
 */
#include "config.h"
#include "lib/policy_model.h"
#include "lib/ident.h"
#include "lib/json_errors.h"
#include "lib/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Longest policy name, in characters. */
#define NAME_MAX_CHARS 200
/** Longest policy description, in characters. */
#define DESCRIPTION_MAX_CHARS 2000
/** Longest rule description, in characters. */
#define RULE_DESCRIPTION_MAX_CHARS 1000
/** Most ids in scope.groups and in scope.users. */
#define SCOPE_IDS_MAX 1000
/** Room for a pointer inside the document. */
#define PTR_SIZE 96

struct ctx
{
  struct bw_errors e;
  struct bw_policy *p;
  bool oom;
};

static const char *const decision_names[] = {
  [BW_DECISION_ALLOW] = "allow",
  [BW_DECISION_DENY] = "deny",
  [BW_DECISION_REQUIRE_APPROVAL] = "require_approval",
};

static const char *const surface_keys[] = {
  [BW_SURFACE_NETWORK] = "network",
  [BW_SURFACE_FILESYSTEM] = "filesystem",
  [BW_SURFACE_CREDENTIALS] = "credentials",
  [BW_SURFACE_MCP] = "mcp",
};

static const struct
{
  const char *name;
  unsigned bit;
} mcp_actions[] = {
  { "invoke_tool", BW_MCP_INVOKE_TOOL },     { "register", BW_MCP_REGISTER },
  { "read_resource", BW_MCP_READ_RESOURCE }, { "get_prompt", BW_MCP_GET_PROMPT },
  { "list_tools", BW_MCP_LIST_TOOLS },
};

const char *
bw_decision_name (enum bw_decision d)
{
  return ((unsigned) d < sizeof (decision_names) / sizeof (decision_names[0])) ? decision_names[d]
                                                                               : "deny";
}

const char *
bw_surface_name (enum bw_surface s)
{
  return ((unsigned) s < sizeof (surface_keys) / sizeof (surface_keys[0])) ? surface_keys[s]
                                                                           : "unknown";
}

unsigned
bw_access_parse (const char *s)
{
  if (0 == strcmp (s, "read"))
    return BW_ACCESS_READ;
  if (0 == strcmp (s, "write"))
    return BW_ACCESS_WRITE;
  return 0;
}

unsigned
bw_mcp_action_parse (const char *s)
{
  for (size_t i = 0; i < sizeof (mcp_actions) / sizeof (mcp_actions[0]); i++)
    if (0 == strcmp (s, mcp_actions[i].name))
      return mcp_actions[i].bit;
  return 0;
}

static bool
alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9][A-Za-z0-9._-]{0,max-1} */
static bool
token_ok (const char *s, size_t len, size_t max)
{
  if (0 == len || len > max || !alnum (s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!alnum (s[i]) && '.' != s[i] && '_' != s[i] && '-' != s[i])
      return false;
  return true;
}

const char *
bw_credential_check (const char *s, size_t len)
{
  if (!token_ok (s, len, BW_CREDENTIAL_MAX))
    return "a credential name must be 1..128 of [A-Za-z0-9._-], starting with a letter or digit";
  return NULL;
}

const char *
bw_mcp_name_check (const char *s, size_t len, bool glob)
{
  if (0 == len || len > BW_MCP_NAME_MAX)
    return "a name must be 1..256 bytes";
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] <= ' ' || s[i] > '~')
        return "a name may only contain printable ASCII without spaces";
      if ('*' == s[i] && !glob)
        return "'*' is not allowed in a name";
    }
  return NULL;
}

/* ---- generic members ---- */

/* A text member: string of 1..max_chars characters (UTF-8 code points)
   that lib/text.h accepts; a name (!padded_ok) must not begin or end with
   white space either. */
static const char *
text_member (struct ctx *c, const json_t *obj, const char *key, bool required, size_t max_chars,
             bool padded_ok, const char *base)
{
  /* 4 bytes per character at most in UTF-8 */
  const char *s = bw_errors_string (&c->e, obj, key, required, 4 * max_chars, base);
  char msg[64];
  if (NULL == s)
    return NULL;
  const char *err = NULL;
  size_t chars = 0;
  for (const char *p = s; '\0' != *p; p++)
    chars += (0x80 != (*p & 0xc0));
  switch (bw_text_check (s, strlen (s)))
    {
    case BW_TEXT_OK:
      break;
    case BW_TEXT_INVALID_UTF8:
      err = "must be well-formed UTF-8";
      break;
    case BW_TEXT_CONTROL:
      err = "must not contain control characters";
      break;
    case BW_TEXT_BLANK:
      err = "must not be blank";
      break;
    case BW_TEXT_PADDED:
      err = padded_ok ? NULL : "must not begin or end with white space";
      break;
    }
  if (NULL == err && chars > max_chars)
    {
      snprintf (msg, sizeof (msg), "must be at most %zu characters", max_chars);
      err = msg;
    }
  if (NULL != err)
    {
      bw_errors_add (&c->e, err, "%s/%s", base, key);
      return NULL;
    }
  return s;
}

/* An array member of 1..BW_RULE_LIST_MAX entries; NULL when absent or invalid. */
static const json_t *
list_member (struct ctx *c, const json_t *obj, const char *key, bool required, size_t max,
             const char *base)
{
  const json_t *v = json_object_get (obj, key);
  char msg[64];
  if (NULL == v)
    {
      if (required)
        bw_errors_add (&c->e, "is required", "%s/%s", base, key);
      return NULL;
    }
  if (!json_is_array (v))
    {
      bw_errors_add (&c->e, "must be an array", "%s/%s", base, key);
      return NULL;
    }
  if (0 == json_array_size (v))
    {
      bw_errors_add (&c->e, "must not be empty", "%s/%s", base, key);
      return NULL;
    }
  if (json_array_size (v) > max)
    {
      snprintf (msg, sizeof (msg), "must have at most %zu entries", max);
      bw_errors_add (&c->e, msg, "%s/%s", base, key);
      return NULL;
    }
  return v;
}

/* Entry i of a list as a string without NUL; NULL (reported) otherwise. */
static const char *
list_string (struct ctx *c, const json_t *list, size_t i, size_t *len, const char *base,
             const char *key)
{
  const json_t *v = json_array_get (list, i);
  if (!json_is_string (v))
    {
      bw_errors_add (&c->e, "must be a string", "%s/%s/%zu", base, key, i);
      return NULL;
    }
  *len = json_string_length (v);
  if (strlen (json_string_value (v)) != *len)
    {
      bw_errors_add (&c->e, "must not contain NUL characters", "%s/%s/%zu", base, key, i);
      return NULL;
    }
  return json_string_value (v);
}

/* An enum list (access, actions) as bits; 0 when absent or invalid. */
static unsigned
enum_list (struct ctx *c, const json_t *obj, const char *key, unsigned (*parse) (const char *),
           const char *bad, const char *base)
{
  const json_t *list = list_member (c, obj, key, true, BW_RULE_LIST_MAX, base);
  unsigned bits = 0;
  for (size_t i = 0; NULL != list && i < json_array_size (list); i++)
    {
      size_t len;
      const char *s = list_string (c, list, i, &len, base, key);
      unsigned bit = (NULL != s) ? parse (s) : 0;
      if (NULL != s && 0 == bit)
        bw_errors_add (&c->e, bad, "%s/%s/%zu", base, key, i);
      else if (0 != (bits & bit))
        bw_errors_add (&c->e, "is listed twice", "%s/%s/%zu", base, key, i);
      bits |= bit;
    }
  return bits;
}

/* ---- rules ----
   Each function reports what is wrong through c->e and sets c->oom when an
   allocation failed; the document is refused when either happened, so a
   half-filled rule is never used. */

/* id, decision, description; the caller checked the keys. */
static void
rule_head (struct ctx *c, const json_t *r, const char *base, struct bw_rule_head *h)
{
  const char *id = bw_errors_string (&c->e, r, "id", true, BW_RULE_ID_MAX, base);
  if (NULL != id && !token_ok (id, strlen (id), BW_RULE_ID_MAX))
    {
      bw_errors_add (&c->e,
                     "a rule id must be 1..64 of [A-Za-z0-9._-], starting with a letter or digit",
                     "%s/id", base);
      id = NULL;
    }
  /* The id is kept even when the rest is wrong, for the duplicate check. */
  if (NULL != id && NULL == (h->id = bw_arena_strndup (&c->p->arena, id, strlen (id))))
    c->oom = true;
  const char *d = bw_errors_string (&c->e, r, "decision", true, 32, base);
  h->decision = BW_DECISION_DENY;
  bool known = false;
  for (int i = 0; NULL != d && i < 3; i++)
    if (0 == strcmp (d, decision_names[i]))
      {
        h->decision = (enum bw_decision) i;
        known = true;
      }
  if (NULL != d && !known)
    bw_errors_add (&c->e, "must be \"allow\", \"deny\" or \"require_approval\"", "%s/decision",
                   base);
  if (NULL != json_object_get (r, "description"))
    text_member (c, r, "description", false, RULE_DESCRIPTION_MAX_CHARS, true, base);
}

/* Each string of an optional list @a key, handed to @a each with its index;
   returns the list's length (0 when absent or invalid). */
static size_t
string_list (struct ctx *c, const json_t *r, const char *key, const char *base,
             void (*each) (struct ctx *, const char *, size_t, size_t, void *), void *arg)
{
  if (NULL == json_object_get (r, key))
    return 0;
  const json_t *list = list_member (c, r, key, false, BW_RULE_LIST_MAX, base);
  size_t count = (NULL != list) ? json_array_size (list) : 0;
  for (size_t i = 0; i < count && !c->oom; i++)
    {
      size_t len;
      const char *s = list_string (c, list, i, &len, base, key);
      if (NULL != s)
        each (c, s, len, i, arg);
    }
  return count;
}

/* What the callbacks of string_list fill: an array in the arena, the
   pointer prefix for their errors, the key, and the options of the list. */
struct fill
{
  void *items;
  const char *base;
  const char *key;
  bool ports_allowed;    /* host patterns may carry ":port" */
  bool case_insensitive; /* path patterns fold case */
};

/* An arena array of n items of size bytes for a list, or NULL (oom set). */
static void *
list_alloc (struct ctx *c, const json_t *r, const char *key, size_t size)
{
  const json_t *list = json_object_get (r, key);
  size_t n = json_is_array (list) ? json_array_size (list) : 0;
  /* list_member refuses longer lists; nothing is filled then */
  n = (n > BW_RULE_LIST_MAX) ? 0 : n;
  void *p = bw_arena_alloc (&c->p->arena, n * size);
  if (NULL == p)
    c->oom = true;
  return p;
}

static void
each_host (struct ctx *c, const char *s, size_t len, size_t i, void *arg)
{
  struct fill *f = arg;
  struct bw_host_pattern *hp = (struct bw_host_pattern *) f->items + i;
  char *buf = bw_arena_alloc (&c->p->arena, len + 1);
  if (NULL == buf)
    {
      c->oom = true;
      return;
    }
  const char *err = bw_host_pattern_parse (s, len, f->ports_allowed, buf, hp);
  if (NULL != err)
    bw_errors_add (&c->e, err, "%s/%s/%zu", f->base, f->key, i);
}

static void
each_glob (struct ctx *c, const char *s, size_t len, size_t i, void *arg)
{
  struct fill *f = arg;
  struct bw_glob *g = (struct bw_glob *) f->items + i;
  const char *err = bw_mcp_name_check (s, len, true);
  if (NULL != err)
    {
      bw_errors_add (&c->e, err, "%s/%s/%zu", f->base, f->key, i);
      return;
    }
  if (NULL == (g->s = bw_arena_strndup (&c->p->arena, s, len)))
    c->oom = true;
  g->len = (uint16_t) len;
  g->literal = (NULL == memchr (s, '*', len));
}

static void
each_cidr (struct ctx *c, const char *s, size_t len, size_t i, void *arg)
{
  struct fill *f = arg;
  char msg[BW_CIDR_MSG_SIZE];
  const char *err = bw_cidr_parse (s, len, (struct bw_cidr *) f->items + i, msg);
  if (NULL != err)
    bw_errors_add (&c->e, err, "%s/cidrs/%zu", f->base, i);
}

/* A list of host patterns (key "hosts" or "to_hosts"). */
static size_t
host_list (struct ctx *c, const json_t *r, const char *key, bool ports_allowed, const char *base,
           const struct bw_host_pattern **out)
{
  struct fill f
    = { list_alloc (c, r, key, sizeof (struct bw_host_pattern)), base, key, ports_allowed, false };
  *out = f.items;
  return (NULL != f.items) ? string_list (c, r, key, base, each_host, &f) : 0;
}

/* A list of name globs (key "tools" or "to_mcp_servers"). */
static size_t
glob_list (struct ctx *c, const json_t *r, const char *key, const char *base,
           const struct bw_glob **out)
{
  struct fill f = { list_alloc (c, r, key, sizeof (struct bw_glob)), base, key, false, false };
  *out = f.items;
  return (NULL != f.items) ? string_list (c, r, key, base, each_glob, &f) : 0;
}

/* "ports": numbers 1..65535 and "lo-hi" strings. */
static size_t
port_list (struct ctx *c, const json_t *r, const char *base, const struct bw_port_range **out)
{
  const json_t *ports = NULL;
  struct bw_port_range *pr = list_alloc (c, r, "ports", sizeof (*pr));
  *out = pr;
  if (NULL == pr || NULL == json_object_get (r, "ports")
      || NULL == (ports = list_member (c, r, "ports", false, BW_RULE_LIST_MAX, base)))
    return 0;
  for (size_t i = 0; i < json_array_size (ports); i++)
    {
      const json_t *v = json_array_get (ports, i);
      const char *err = NULL;
      if (json_is_integer (v))
        {
          json_int_t n = json_integer_value (v);
          if (n < 1 || n > BW_PORT_MAX)
            err = "a port must be 1..65535";
          else
            pr[i].lo = pr[i].hi = (uint16_t) n;
        }
      else if (json_is_string (v) && NULL != strchr (json_string_value (v), '-'))
        err = bw_port_range_parse (json_string_value (v), json_string_length (v), &pr[i]);
      else
        err = "a port must be a number, or a range like \"8000-8999\"";
      if (NULL != err)
        bw_errors_add (&c->e, err, "%s/ports/%zu", base, i);
    }
  return json_array_size (ports);
}

static void
network_rule (struct ctx *c, const json_t *r, const char *base, struct bw_net_rule *out)
{
  static const char *const keys[]
    = { "id", "decision", "hosts", "cidrs", "ports", "description", NULL };
  bw_errors_check_keys (&c->e, r, keys, base);
  rule_head (c, r, base, &out->h);
  if (NULL == json_object_get (r, "hosts") && NULL == json_object_get (r, "cidrs"))
    bw_errors_add (&c->e, "a network rule needs \"hosts\" or \"cidrs\"", "%s", base);
  out->nhosts = host_list (c, r, "hosts", true, base, &out->hosts);
  struct fill f
    = { list_alloc (c, r, "cidrs", sizeof (struct bw_cidr)), base, "cidrs", false, false };
  out->cidrs = f.items;
  out->ncidrs = (NULL != f.items) ? string_list (c, r, "cidrs", base, each_cidr, &f) : 0;
  out->nports = port_list (c, r, base, &out->ports);
  for (size_t i = 0; 0 != out->nports && i < out->nhosts; i++)
    if (out->hosts[i].has_port)
      bw_errors_add (&c->e, "a host with its own port cannot be combined with \"ports\"",
                     "%s/hosts/%zu", base, i);
}

static void
each_path (struct ctx *c, const char *s, size_t len, size_t i, void *arg)
{
  struct fill *f = arg;
  struct bw_path_pattern *pp = (struct bw_path_pattern *) f->items + i;
  const char *err = bw_path_pattern_parse (&c->p->arena, s, len, f->case_insensitive, pp);
  if (bw_arena_oom == err)
    c->oom = true;
  else if (NULL != err)
    bw_errors_add (&c->e, err, "%s/paths/%zu", f->base, i);
}

static void
filesystem_rule (struct ctx *c, const json_t *r, const char *base, struct bw_fs_rule *out)
{
  static const char *const keys[]
    = { "id", "decision", "access", "paths", "case_insensitive", "description", NULL };
  bw_errors_check_keys (&c->e, r, keys, base);
  rule_head (c, r, base, &out->h);
  out->access = enum_list (c, r, "access", bw_access_parse, "must be \"read\" or \"write\"", base);
  bool ci = (1 == bw_errors_bool (&c->e, r, "case_insensitive", false, base));
  if (NULL == json_object_get (r, "paths"))
    bw_errors_add (&c->e, "is required", "%s/paths", base);
  struct fill f
    = { list_alloc (c, r, "paths", sizeof (struct bw_path_pattern)), base, "paths", false, ci };
  out->paths = f.items;
  out->npaths = (NULL != f.items) ? string_list (c, r, "paths", base, each_path, &f) : 0;
}

static void
credentials_rule (struct ctx *c, const json_t *r, const char *base, struct bw_cred_rule *out)
{
  static const char *const keys[]
    = { "id",       "decision",    "credential", "to_hosts", "to_mcp_servers",
        "delivery", "description", NULL };
  static const char *const deliveries[] = {
    [BW_DELIVERY_PROXY_HEADER] = "proxy_header",
    [BW_DELIVERY_ENV] = "env",
    [BW_DELIVERY_FILE] = "file",
  };
  bw_errors_check_keys (&c->e, r, keys, base);
  rule_head (c, r, base, &out->h);
  const char *cred = bw_errors_string (&c->e, r, "credential", true, BW_CREDENTIAL_MAX, base);
  const char *err = (NULL != cred) ? bw_credential_check (cred, strlen (cred)) : NULL;
  if (NULL != err)
    bw_errors_add (&c->e, err, "%s/credential", base);
  else if (NULL != cred)
    {
      out->credential_len = strlen (cred);
      if (NULL == (out->credential = bw_arena_strndup (&c->p->arena, cred, out->credential_len)))
        c->oom = true;
    }
  out->nhosts = host_list (c, r, "to_hosts", false, base, &out->hosts);
  out->nservers = glob_list (c, r, "to_mcp_servers", base, &out->servers);
  const char *d = bw_errors_string (&c->e, r, "delivery", false, 32, base);
  out->delivery = BW_DELIVERY_ANY;
  for (size_t i = BW_DELIVERY_PROXY_HEADER; NULL != d && i <= BW_DELIVERY_FILE; i++)
    if (0 == strcmp (d, deliveries[i]))
      out->delivery = (enum bw_delivery) i;
  if (NULL != d && BW_DELIVERY_ANY == out->delivery)
    bw_errors_add (&c->e, "must be \"proxy_header\", \"env\" or \"file\"", "%s/delivery", base);
}

/* "when": {read_only?, destructive?}, not empty. */
static void
when_member (struct ctx *c, const json_t *r, const char *base, struct bw_mcp_rule *out)
{
  static const char *const keys[] = { "read_only", "destructive", NULL };
  const json_t *w = json_object_get (r, "when");
  char wbase[PTR_SIZE + 8];
  out->read_only = out->destructive = BW_COND_ANY;
  if (NULL == w)
    return;
  if (!json_is_object (w))
    {
      bw_errors_add (&c->e, "must be an object", "%s/when", base);
      return;
    }
  if (0 == json_object_size (w))
    {
      bw_errors_add (&c->e, "must not be empty (leave \"when\" out instead)", "%s/when", base);
      return;
    }
  snprintf (wbase, sizeof (wbase), "%s/when", base);
  bw_errors_check_keys (&c->e, w, keys, wbase);
  int ro = bw_errors_bool (&c->e, w, "read_only", false, wbase);
  int de = bw_errors_bool (&c->e, w, "destructive", false, wbase);
  out->read_only = (ro < 0) ? BW_COND_ANY : ro ? BW_COND_TRUE : BW_COND_FALSE;
  out->destructive = (de < 0) ? BW_COND_ANY : de ? BW_COND_TRUE : BW_COND_FALSE;
}

static void
mcp_rule (struct ctx *c, const json_t *r, const char *base, struct bw_mcp_rule *out)
{
  static const char *const keys[]
    = { "id", "decision", "actions", "server", "tools", "when", "description", NULL };
  bw_errors_check_keys (&c->e, r, keys, base);
  rule_head (c, r, base, &out->h);
  out->actions = enum_list (c, r, "actions", bw_mcp_action_parse,
                            "must be \"invoke_tool\", \"register\", \"read_resource\", "
                            "\"get_prompt\" or \"list_tools\"",
                            base);
  const char *server = bw_errors_string (&c->e, r, "server", true, BW_MCP_NAME_MAX, base);
  const char *err = (NULL != server) ? bw_mcp_name_check (server, strlen (server), true) : NULL;
  if (NULL != err)
    bw_errors_add (&c->e, err, "%s/server", base);
  else if (NULL != server)
    {
      out->server.len = (uint16_t) strlen (server);
      out->server.literal = (NULL == strchr (server, '*'));
      if (NULL == (out->server.s = bw_arena_strndup (&c->p->arena, server, out->server.len)))
        c->oom = true;
    }
  out->ntools = glob_list (c, r, "tools", base, &out->tools);
  when_member (c, r, base, out);
  /* Tools and annotations exist for tool calls only. */
  if (0 != out->actions && BW_MCP_INVOKE_TOOL != out->actions)
    {
      if (NULL != json_object_get (r, "tools"))
        bw_errors_add (&c->e, "\"tools\" needs actions to be exactly [\"invoke_tool\"]", "%s/tools",
                       base);
      if (NULL != json_object_get (r, "when"))
        bw_errors_add (&c->e, "\"when\" needs actions to be exactly [\"invoke_tool\"]", "%s/when",
                       base);
    }
}

/* ---- the document ---- */

static void
uuid_list (struct ctx *c, const json_t *scope, const char *key, size_t *n, const char *const **out)
{
  const json_t *list = json_object_get (scope, key);
  *n = 0;
  *out = NULL;
  if (NULL == list)
    return;
  if (!json_is_array (list))
    {
      bw_errors_add (&c->e, "must be an array", "/scope/%s", key);
      return;
    }
  size_t count = json_array_size (list);
  if (count > SCOPE_IDS_MAX)
    {
      bw_errors_add (&c->e, "must have at most 1000 entries", "/scope/%s", key);
      return;
    }
  const char **ids = bw_arena_alloc (&c->p->arena, (count + 1) * sizeof (*ids));
  if (NULL == ids)
    {
      c->oom = true;
      return;
    }
  for (size_t i = 0; i < count && !c->oom; i++)
    {
      const json_t *v = json_array_get (list, i);
      const char *id = json_string_value (v);
      if (!json_is_string (v) || !bw_uuid_valid (id))
        {
          bw_errors_add (&c->e, "must be a uuid (canonical lowercase form)", "/scope/%s/%zu", key,
                         i);
          continue;
        }
      for (size_t j = 0; j < i; j++)
        if (NULL != ids[j] && 0 == strcmp (ids[j], id))
          {
            bw_errors_add (&c->e, "is listed twice", "/scope/%s/%zu", key, i);
            break;
          }
      if (NULL == (ids[i] = bw_arena_strndup (&c->p->arena, id, BW_UUID_LEN)))
        c->oom = true;
    }
  *n = count;
  *out = (const char *const *) ids;
}

static void
scope_member (struct ctx *c, const json_t *doc)
{
  static const char *const keys[] = { "org_wide", "groups", "users", NULL };
  const json_t *scope = json_object_get (doc, "scope");
  if (NULL == scope)
    {
      bw_errors_add (&c->e, "is required", "/scope");
      return;
    }
  if (!json_is_object (scope))
    {
      bw_errors_add (&c->e, "must be an object", "/scope");
      return;
    }
  bw_errors_check_keys (&c->e, scope, keys, "/scope");
  struct bw_policy_scope *s = &c->p->scope;
  int ow = bw_errors_bool (&c->e, scope, "org_wide", false, "/scope");
  if (NULL == json_object_get (scope, "org_wide"))
    bw_errors_add (&c->e, "is required", "/scope/org_wide");
  s->org_wide = (1 == ow);
  uuid_list (c, scope, "groups", &s->ngroups, &s->groups);
  uuid_list (c, scope, "users", &s->nusers, &s->users);
  if (s->org_wide && (0 != s->ngroups || 0 != s->nusers))
    bw_errors_add (&c->e, "an org-wide policy names no groups or users", "/scope");
}

/* Parse the rules of one surface; returns the rule id pointers through ids. */
static void
surface (struct ctx *c, const json_t *doc, enum bw_surface sf, const char **ids, size_t *nids)
{
  const char *key = surface_keys[sf];
  const json_t *list = json_object_get (doc, key);
  if (NULL == list)
    return;
  if (!json_is_array (list))
    {
      bw_errors_add (&c->e, "must be an array", "/%s", key);
      return;
    }
  size_t n = json_array_size (list);
  static const size_t sizes[] = {
    [BW_SURFACE_NETWORK] = sizeof (struct bw_net_rule),
    [BW_SURFACE_FILESYSTEM] = sizeof (struct bw_fs_rule),
    [BW_SURFACE_CREDENTIALS] = sizeof (struct bw_cred_rule),
    [BW_SURFACE_MCP] = sizeof (struct bw_mcp_rule),
  };
  unsigned char *rules = bw_arena_alloc (&c->p->arena, n * sizes[sf]);
  if (NULL == rules && 0 != n)
    {
      c->oom = true;
      return;
    }
  for (size_t i = 0; i < n && !c->oom; i++)
    {
      char base[PTR_SIZE];
      const json_t *r = json_array_get (list, i);
      void *out = rules + i * sizes[sf];
      snprintf (base, sizeof (base), "/%s/%zu", key, i);
      if (!json_is_object (r))
        {
          bw_errors_add (&c->e, "must be an object", "%s", base);
          continue;
        }
      switch (sf)
        {
        case BW_SURFACE_NETWORK:
          network_rule (c, r, base, out);
          break;
        case BW_SURFACE_FILESYSTEM:
          filesystem_rule (c, r, base, out);
          break;
        case BW_SURFACE_CREDENTIALS:
          credentials_rule (c, r, base, out);
          break;
        case BW_SURFACE_MCP:
          mcp_rule (c, r, base, out);
          break;
        }
      /* Every rule struct starts with its head. */
      const char *id = ((const struct bw_rule_head *) out)->id;
      if (NULL == id)
        continue;
      for (size_t j = 0; j < *nids; j++)
        if (0 == strcmp (ids[j], id))
          {
            bw_errors_add (&c->e, "a rule with this id already exists in the policy", "%s/id",
                           base);
            id = NULL;
            break;
          }
      if (NULL != id)
        ids[(*nids)++] = id;
    }
  switch (sf)
    {
    case BW_SURFACE_NETWORK:
      c->p->net = (const struct bw_net_rule *) rules;
      c->p->nnet = n;
      break;
    case BW_SURFACE_FILESYSTEM:
      c->p->fs = (const struct bw_fs_rule *) rules;
      c->p->nfs = n;
      break;
    case BW_SURFACE_CREDENTIALS:
      c->p->cred = (const struct bw_cred_rule *) rules;
      c->p->ncred = n;
      break;
    case BW_SURFACE_MCP:
      c->p->mcp = (const struct bw_mcp_rule *) rules;
      c->p->nmcp = n;
      break;
    }
}

/* Rules in all surfaces that are arrays. */
static size_t
count_rules (const json_t *doc)
{
  size_t n = 0;
  for (size_t s = 0; s < sizeof (surface_keys) / sizeof (surface_keys[0]); s++)
    {
      const json_t *list = json_object_get (doc, surface_keys[s]);
      if (json_is_array (list))
        n += json_array_size (list);
    }
  return n;
}

struct bw_policy *
bw_policy_parse (const json_t *doc, const char *pointer_prefix, json_t *errors)
{
  static const char *const keys[] = { "schema",  "name",       "description", "mode", "scope",
                                      "network", "filesystem", "credentials", "mcp",  NULL };
  struct ctx c = { 0 };
  char msg[96];

  bw_errors_init (&c.e, errors, pointer_prefix);
  if (!json_is_object (doc))
    {
      bw_errors_add (&c.e, "a policy must be a JSON object", "%s", "");
      return NULL;
    }
  size_t size = json_dumpb (doc, NULL, 0, JSON_COMPACT);
  if (size > BW_POLICY_DOC_MAX)
    {
      snprintf (msg, sizeof (msg), "a policy must be at most %d bytes as compact JSON",
                BW_POLICY_DOC_MAX);
      bw_errors_add (&c.e, msg, "%s", "");
      return NULL;
    }
  size_t nrules = count_rules (doc);
  if (nrules > BW_POLICY_RULES_MAX)
    {
      snprintf (msg, sizeof (msg), "a policy has at most %d rules (this one has %zu)",
                BW_POLICY_RULES_MAX, nrules);
      bw_errors_add (&c.e, msg, "%s", "");
      return NULL;
    }
  c.p = calloc (1, sizeof (*c.p));
  if (NULL == c.p)
    return NULL;
  bw_errors_check_keys (&c.e, doc, keys, "");
  const char *schema = bw_errors_string (&c.e, doc, "schema", true, 64, "");
  if (NULL != schema && 0 != strcmp (schema, BW_POLICY_SCHEMA))
    bw_errors_add (&c.e, "must be \"" BW_POLICY_SCHEMA "\"", "/schema");
  const char *name = text_member (&c, doc, "name", true, NAME_MAX_CHARS, false, "");
  if (NULL != name && NULL == (c.p->name = bw_arena_strndup (&c.p->arena, name, strlen (name))))
    c.oom = true;
  if (NULL != json_object_get (doc, "description"))
    text_member (&c, doc, "description", false, DESCRIPTION_MAX_CHARS, true, "");
  const char *mode = bw_errors_string (&c.e, doc, "mode", true, 16, "");
  if (NULL != mode && 0 == strcmp (mode, "audit"))
    c.p->mode = BW_MODE_AUDIT;
  else if (NULL != mode && 0 != strcmp (mode, "enforce"))
    bw_errors_add (&c.e, "must be \"enforce\" or \"audit\"", "/mode");
  scope_member (&c, doc);

  const char *ids[BW_POLICY_RULES_MAX];
  size_t nids = 0;
  for (int s = BW_SURFACE_NETWORK; s <= BW_SURFACE_MCP && !c.oom; s++)
    surface (&c, doc, (enum bw_surface) s, ids, &nids);
  if (c.oom || c.e.failed)
    {
      bw_policy_free (c.p);
      return NULL;
    }
  return c.p;
}

void
bw_policy_free (struct bw_policy *p)
{
  if (NULL == p)
    return;
  bw_arena_release (&p->arena);
  free (p);
}

bool
bw_policy_applies (const struct bw_policy *p, const char *user, const char *const *groups,
                   size_t ngroups)
{
  const struct bw_policy_scope *s = &p->scope;
  if (s->org_wide)
    return true;
  for (size_t i = 0; NULL != user && i < s->nusers; i++)
    if (0 == strcmp (s->users[i], user))
      return true;
  for (size_t i = 0; i < s->ngroups; i++)
    for (size_t k = 0; k < ngroups; k++)
      if (0 == strcmp (s->groups[i], groups[k]))
        return true;
  return false;
}

const char *
bw_policy_name (const struct bw_policy *p)
{
  return p->name;
}

enum bw_policy_mode
bw_policy_mode (const struct bw_policy *p)
{
  return p->mode;
}

const struct bw_policy_scope *
bw_policy_scope (const struct bw_policy *p)
{
  return &p->scope;
}

size_t
bw_policy_rule_count (const struct bw_policy *p)
{
  return p->nnet + p->nfs + p->ncred + p->nmcp;
}
