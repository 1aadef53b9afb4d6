/*
 * Decision requests (DESIGN §4 "Decision requests"): parsed strictly and
 * normalized with the same code as the rules, so the evaluator compares
 * like with like.
 *
 * {"subject"?: {"user": uuid}, "surface", "action", "resource", "context"?}
 *   network      connect      {"host", "port"} | {"ip", "port"}; port 1..65535
 *                             required.  A host that is an IP address
 *                             (canonical dotted quad, or IPv6 bare or in
 *                             brackets) is matched as that address.
 *   filesystem   read, write  {"path", "access"?}; access, when given, equals
 *                             the action.  Write is decided against both the
 *                             read and the write rules (lib/evaluate.c).
 *   credentials  use          {"credential", "host"} | {"credential", "mcp_server",
 *                             "identity"?}: identity as for mcp below, and only
 *                             with mcp_server: the process the credential
 *                             goes to.  The catalog step requires and
 *                             compares it exactly as for an MCP request
 *                             (lib/catalog.h), then that the approved entry
 *                             binds the credential: a server name alone is
 *                             what any process can claim.
 *   mcp          invoke_tool, register, read_resource, get_prompt, list_tools
 *                             {"server", "tool"?, "identity"?,
 *                             "description_sha256"?}: tool required for
 *                             invoke_tool and refused for the other actions,
 *                             and so is description_sha256 (64 lowercase hex:
 *                             SHA-256 of the tool's description as the
 *                             server reports it now).  identity
 *                             {"image_digest", "version"?} | {"url",
 *                             "version"?} | {"registry_type", "package",
 *                             "version"?, "sha256"?} is what the catalog step
 *                             (DESIGN §4 step 1, lib/catalog.h) compares with
 *                             the approved entry; a url's scheme and host are
 *                             lowercased; registry_type, required with
 *                             package and only there, is one an entry takes
 *                             ("npm", "pypi", "nuget", "mcpb", "cargo"): the
 *                             same name and version in another registry is
 *                             another package.  There are no annotations: the
 *                             evaluator takes them from the approved catalog
 *                             tool, never from the request.
 *   context      {"home"?: absolute path (the user's home directory; "~/"
 *                paths and rules resolve against it; required for the filesystem
 *                surface), "session"?: string, "client"?:
 *                string (each 1..200 bytes, recorded, not decided on)}
 * Unknown keys, nulls and wrong types are errors everywhere.
 */
#include "config.h"
#include "lib/policy_model.h"
#include "lib/catalog.h"
#include "lib/crypto.h"
#include "lib/ident.h"
#include "lib/json_errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Longest context.session and context.client, in bytes. */
#define CONTEXT_TEXT_MAX 200
/** Longest identity member, in bytes. */
#define IDENTITY_TEXT_MAX 2048
/** "sha256:" + 64 hex digits. */
#define DIGEST_PREFIX "sha256:"

struct rctx
{
  struct bw_errors e;
  struct bw_decision_request *r;
  bool oom;
};

static const char *
string_len (struct rctx *c, const json_t *obj, const char *key, bool required, size_t max,
            const char *base, size_t *len)
{
  const char *s = bw_errors_string (&c->e, obj, key, required, max, base);
  if (NULL != s)
    *len = strlen (s);
  return s;
}

/* An object member; NULL when absent or not an object (reported). */
static const json_t *
object_member (struct rctx *c, const json_t *obj, const char *key, bool required, const char *base)
{
  const json_t *v = json_object_get (obj, key);
  if (NULL == v)
    {
      if (required)
        bw_errors_add (&c->e, "is required", "%s/%s", base, key);
      return NULL;
    }
  if (!json_is_object (v))
    {
      bw_errors_add (&c->e, "must be an object", "%s/%s", base, key);
      return NULL;
    }
  return v;
}

/* A copy of s in the request's arena; NULL (and oom set) on failure. */
static const char *
keep (struct rctx *c, const char *s, size_t len)
{
  char *p = bw_arena_strndup (&c->r->arena, s, len);
  if (NULL == p)
    c->oom = true;
  return p;
}

static bool
hex64 (const char *s)
{
  size_t n = 0;
  for (; ('0' <= s[n] && s[n] <= '9') || ('a' <= s[n] && s[n] <= 'f'); n++)
    ;
  return 64 == n && '\0' == s[n];
}

/* context: home is resolved into *home (NULL when not given). */
static void
context (struct rctx *c, const json_t *req, struct bw_path *home, bool *have_home)
{
  static const char *const keys[] = { "home", "session", "client", NULL };
  const json_t *ctx = object_member (c, req, "context", false, "");
  size_t len;
  *have_home = false;
  if (NULL == ctx)
    return;
  bw_errors_check_keys (&c->e, ctx, keys, "/context");
  string_len (c, ctx, "session", false, CONTEXT_TEXT_MAX, "/context", &len);
  string_len (c, ctx, "client", false, CONTEXT_TEXT_MAX, "/context", &len);
  const char *h = string_len (c, ctx, "home", false, BW_PATH_MAX, "/context", &len);
  if (NULL == h)
    return;
  if ('/' != h[0])
    {
      bw_errors_add (&c->e, "must be an absolute path", "/context/home");
      return;
    }
  const char *err = bw_path_parse (&c->r->arena, h, len, NULL, home);
  if (bw_arena_oom == err)
    c->oom = true;
  else if (NULL != err)
    bw_errors_add (&c->e, err, "/context/home");
  else
    *have_home = true;
}

static void
network (struct rctx *c, const char *action, const json_t *res)
{
  static const char *const keys[] = { "host", "ip", "port", NULL };
  struct bw_decision_request *r = c->r;
  size_t len;
  if (0 != strcmp (action, "connect"))
    bw_errors_add (&c->e, "must be \"connect\" for the network surface", "/action");
  if (NULL == res)
    return;
  bw_errors_check_keys (&c->e, res, keys, "/resource");
  bool has_host = NULL != json_object_get (res, "host");
  bool has_ip = NULL != json_object_get (res, "ip");
  if (has_host && has_ip)
    bw_errors_add (&c->e, "give either \"host\" or \"ip\", not both", "/resource");
  else if (!has_host && !has_ip)
    bw_errors_add (&c->e, "is required (or \"ip\")", "/resource/host");
  else if (has_host)
    {
      const char *h = string_len (c, res, "host", true, BW_HOST_PATTERN_MAX, "/resource", &len);
      char *buf = (NULL != h) ? bw_arena_alloc (&r->arena, len + 1) : NULL;
      const char *err = NULL;
      if (NULL != h && NULL == buf)
        c->oom = true;
      else if (NULL != h)
        switch (bw_host_parse (h, len, buf, &r->u.net.host, &r->u.net.ip, &err))
          {
          case BW_HOST_PARSED_NAME:
            break;
          case BW_HOST_PARSED_IP:
            r->u.net.is_ip = true;
            bw_ip_unembed_v4 (&r->u.net.ip);
            break;
          case BW_HOST_PARSED_INVALID:
            bw_errors_add (&c->e, err, "/resource/host");
            break;
          }
    }
  else
    {
      const char *ip = string_len (c, res, "ip", true, BW_IP_TEXT_MAX, "/resource", &len);
      const char *err = (NULL != ip) ? bw_ip_parse (ip, len, &r->u.net.ip) : NULL;
      if (NULL != err)
        bw_errors_add (&c->e, err, "/resource/ip");
      else
        bw_ip_unembed_v4 (&r->u.net.ip);
      r->u.net.is_ip = true;
    }
  const json_t *port = json_object_get (res, "port");
  if (NULL == port)
    bw_errors_add (&c->e, "is required", "/resource/port");
  else if (!json_is_integer (port) || json_integer_value (port) < 1
           || json_integer_value (port) > BW_PORT_MAX)
    bw_errors_add (&c->e, "must be an integer 1..65535", "/resource/port");
  else
    r->u.net.port = (uint16_t) json_integer_value (port);
}

static void
filesystem (struct rctx *c, const char *action, const json_t *res, const struct bw_path *home)
{
  static const char *const keys[] = { "path", "access", NULL };
  struct bw_decision_request *r = c->r;
  size_t len;
  r->u.fs.access = bw_access_parse (action);
  if (0 == r->u.fs.access)
    bw_errors_add (&c->e, "must be \"read\" or \"write\" for the filesystem surface", "/action");
  if (NULL == res)
    return;
  bw_errors_check_keys (&c->e, res, keys, "/resource");
  const char *access = string_len (c, res, "access", false, 16, "/resource", &len);
  if (NULL != access && 0 != r->u.fs.access && bw_access_parse (access) != r->u.fs.access)
    bw_errors_add (&c->e, "must be the same as the action", "/resource/access");
  const char *path = string_len (c, res, "path", true, BW_PATH_MAX, "/resource", &len);
  if (NULL == path)
    return;
  /* Without the home directory neither can a ~ path be compared with
     absolute rules nor an absolute path with ~/ rules (a deny on ~/.ssh
     would miss /home/al/.ssh): refuse rather than guess. */
  if (NULL == home)
    {
      bw_errors_add (&c->e, "is required for filesystem requests: ~/ paths and rules resolve "
                            "against it", "/context/home");
      return;
    }
  const char *err = bw_path_parse (&r->arena, path, len, home, &r->u.fs.path);
  if (bw_arena_oom == err)
    c->oom = true;
  else if (NULL != err)
    bw_errors_add (&c->e, err, "/resource/path");
}

/* resource.identity (mcp, credentials toward an MCP server) into *out;
   *given says whether there was one. */
static void
identity (struct rctx *c, const json_t *res, bool *given, struct bw_mcp_identity *out)
{
  static const char *const keys[]
    = { "image_digest", "url", "registry_type", "package", "version", "sha256", NULL };
  const json_t *id = object_member (c, res, "identity", false, "/resource");
  const char *base = "/resource/identity";
  size_t len;
  if (NULL == id)
    return;
  bw_errors_check_keys (&c->e, id, keys, base);
  const char *digest = string_len (c, id, "image_digest", false, IDENTITY_TEXT_MAX, base, &len);
  const char *url = string_len (c, id, "url", false, IDENTITY_TEXT_MAX, base, &len);
  const char *package = string_len (c, id, "package", false, IDENTITY_TEXT_MAX, base, &len);
  const char *registry = string_len (c, id, "registry_type", false, IDENTITY_TEXT_MAX, base, &len);
  const char *version = string_len (c, id, "version", false, IDENTITY_TEXT_MAX, base, &len);
  const char *sha256 = string_len (c, id, "sha256", false, IDENTITY_TEXT_MAX, base, &len);
  int kinds = (NULL != json_object_get (id, "image_digest")) + (NULL != json_object_get (id, "url"))
              + (NULL != json_object_get (id, "package"));
  if (1 != kinds)
    bw_errors_add (&c->e, "give exactly one of \"image_digest\", \"url\" or \"package\"", "%s",
                   base);
  if (NULL != digest
      && (0 != strncmp (digest, DIGEST_PREFIX, strlen (DIGEST_PREFIX))
          || !hex64 (digest + strlen (DIGEST_PREFIX))))
    bw_errors_add (&c->e, "must be \"sha256:\" and 64 lowercase hex digits", "%s/image_digest",
                   base);
  char *nurl = (NULL != url) ? bw_arena_strndup (&c->r->arena, url, strlen (url)) : NULL;
  const char *err = (NULL != nurl) ? bw_url_normalize (nurl, false) : NULL;
  if (NULL != url && NULL == nurl)
    c->oom = true;
  else if (NULL != err)
    bw_errors_add (&c->e, err, "%s/url", base);
  if (NULL != sha256 && !hex64 (sha256))
    bw_errors_add (&c->e, "must be 64 lowercase hex digits", "%s/sha256", base);
  if (NULL == json_object_get (id, "package") && NULL != json_object_get (id, "sha256"))
    bw_errors_add (&c->e, "only goes with \"package\"", "%s/sha256", base);
  /* a package's registry is part of its identity (lib/catalog.h) */
  if (NULL == json_object_get (id, "package") && NULL != json_object_get (id, "registry_type"))
    bw_errors_add (&c->e, "only goes with \"package\"", "%s/registry_type", base);
  else if (NULL != json_object_get (id, "package") && NULL == json_object_get (id, "registry_type"))
    bw_errors_add (&c->e, "is required with \"package\"", "%s/registry_type", base);
  else if (NULL != registry && !bw_catalog_registry_type_known (registry))
    bw_errors_add (&c->e, "must be \"npm\", \"pypi\", \"nuget\", \"mcpb\" or \"cargo\"",
                   "%s/registry_type", base);
  *given = true;
  out->image_digest = (NULL != digest) ? keep (c, digest, strlen (digest)) : NULL;
  out->url = nurl;
  out->registry_type = (NULL != registry) ? keep (c, registry, strlen (registry)) : NULL;
  out->package = (NULL != package) ? keep (c, package, strlen (package)) : NULL;
  out->version = (NULL != version) ? keep (c, version, strlen (version)) : NULL;
  out->sha256 = (NULL != sha256) ? keep (c, sha256, strlen (sha256)) : NULL;
}

static void
credentials (struct rctx *c, const char *action, const json_t *res)
{
  static const char *const keys[] = { "credential", "host", "mcp_server", "identity", NULL };
  struct bw_decision_request *r = c->r;
  size_t len = 0;
  if (0 != strcmp (action, "use"))
    bw_errors_add (&c->e, "must be \"use\" for the credentials surface", "/action");
  if (NULL == res)
    return;
  bw_errors_check_keys (&c->e, res, keys, "/resource");
  const char *cred = string_len (c, res, "credential", true, BW_CREDENTIAL_MAX, "/resource", &len);
  const char *err = (NULL != cred) ? bw_credential_check (cred, len) : NULL;
  if (NULL != err)
    bw_errors_add (&c->e, err, "/resource/credential");
  else if (NULL != cred)
    {
      r->u.cred.credential = keep (c, cred, len);
      r->u.cred.credential_len = len;
    }
  bool has_host = NULL != json_object_get (res, "host");
  bool has_server = NULL != json_object_get (res, "mcp_server");
  if (has_host && has_server)
    bw_errors_add (&c->e, "give either \"host\" or \"mcp_server\", not both", "/resource");
  else if (!has_host && !has_server)
    bw_errors_add (&c->e, "is required (or \"mcp_server\")", "/resource/host");
  else if (has_host)
    {
      const char *h = string_len (c, res, "host", true, BW_HOST_PATTERN_MAX, "/resource", &len);
      char *buf = (NULL != h) ? bw_arena_alloc (&r->arena, len + 1) : NULL;
      struct bw_ip ip;
      if (NULL != json_object_get (res, "identity"))
        bw_errors_add (&c->e, "only goes with \"mcp_server\"", "/resource/identity");
      if (NULL != h && NULL == buf)
        c->oom = true;
      else if (NULL != h)
        switch (bw_host_parse (h, len, buf, &r->u.cred.host, &ip, &err))
          {
          case BW_HOST_PARSED_NAME:
            break;
          case BW_HOST_PARSED_IP:
            r->u.cred.host_is_ip = true;
            break;
          case BW_HOST_PARSED_INVALID:
            bw_errors_add (&c->e, err, "/resource/host");
            break;
          }
    }
  else
    {
      r->u.cred.to_server = true;
      const char *s = string_len (c, res, "mcp_server", true, BW_MCP_NAME_MAX, "/resource", &len);
      err = (NULL != s) ? bw_mcp_name_check (s, len, false) : NULL;
      if (NULL != err)
        bw_errors_add (&c->e, err, "/resource/mcp_server");
      else if (NULL != s)
        {
          r->u.cred.server = keep (c, s, len);
          r->u.cred.server_len = len;
        }
      identity (c, res, &r->u.cred.has_identity, &r->u.cred.identity);
    }
}

static void
mcp (struct rctx *c, const char *action, const json_t *res)
{
  static const char *const keys[] = { "server", "tool", "identity", "description_sha256", NULL };
  struct bw_decision_request *r = c->r;
  size_t len;
  r->u.mcp.action = bw_mcp_action_parse (action);
  if (0 == r->u.mcp.action)
    bw_errors_add (&c->e,
                   "must be \"invoke_tool\", \"register\", \"read_resource\", \"get_prompt\" or "
                   "\"list_tools\" for the mcp surface",
                   "/action");
  if (NULL == res)
    return;
  bw_errors_check_keys (&c->e, res, keys, "/resource");
  const char *server = string_len (c, res, "server", true, BW_MCP_NAME_MAX, "/resource", &len);
  const char *err = (NULL != server) ? bw_mcp_name_check (server, len, false) : NULL;
  if (NULL != err)
    bw_errors_add (&c->e, err, "/resource/server");
  else if (NULL != server)
    {
      r->u.mcp.server = keep (c, server, len);
      r->u.mcp.server_len = len;
    }
  bool invoke = BW_MCP_INVOKE_TOOL == r->u.mcp.action;
  bool other = 0 != r->u.mcp.action && !invoke;
  if (other && NULL != json_object_get (res, "tool"))
    bw_errors_add (&c->e, "only goes with the action \"invoke_tool\"", "/resource/tool");
  else
    {
      const char *tool = string_len (c, res, "tool", invoke, BW_MCP_NAME_MAX, "/resource", &len);
      err = (NULL != tool) ? bw_mcp_name_check (tool, len, false) : NULL;
      if (NULL != err)
        bw_errors_add (&c->e, err, "/resource/tool");
      else if (NULL != tool)
        {
          r->u.mcp.tool = keep (c, tool, len);
          r->u.mcp.tool_len = len;
        }
    }
  if (other && NULL != json_object_get (res, "description_sha256"))
    bw_errors_add (&c->e, "only goes with the action \"invoke_tool\"",
                   "/resource/description_sha256");
  else
    {
      const char *sha = string_len (c, res, "description_sha256", false, 2 * BW_SHA256_HEX_LEN,
                                    "/resource", &len);
      if (NULL != sha && !hex64 (sha))
        bw_errors_add (&c->e, "must be 64 lowercase hex digits (SHA-256 of the description)",
                       "/resource/description_sha256");
      else if (NULL != sha)
        r->u.mcp.description_sha256 = keep (c, sha, len);
    }
  identity (c, res, &r->u.mcp.has_identity, &r->u.mcp.identity);
}

struct bw_decision_request *
bw_decision_request_parse (const json_t *req, const char *pointer_prefix, json_t *errors)
{
  static const char *const keys[] = { "subject", "surface", "action", "resource", "context", NULL };
  struct rctx c = { 0 };
  size_t len;

  bw_errors_init (&c.e, errors, pointer_prefix);
  if (!json_is_object (req))
    {
      bw_errors_add (&c.e, "a decision request must be a JSON object", "%s", "");
      return NULL;
    }
  c.r = calloc (1, sizeof (*c.r));
  if (NULL == c.r)
    return NULL;
  bw_errors_check_keys (&c.e, req, keys, "");
  const json_t *subject = object_member (&c, req, "subject", false, "");
  if (NULL != subject)
    {
      static const char *const skeys[] = { "user", NULL };
      bw_errors_check_keys (&c.e, subject, skeys, "/subject");
      const char *user = string_len (&c, subject, "user", true, BW_UUID_LEN, "/subject", &len);
      if (NULL != user && !bw_uuid_valid (user))
        bw_errors_add (&c.e, "must be a uuid (canonical lowercase form)", "/subject/user");
      else if (NULL != user)
        c.r->user = keep (&c, user, len);
    }
  struct bw_path home;
  bool have_home;
  context (&c, req, &home, &have_home);
  const char *surface = string_len (&c, req, "surface", true, 32, "", &len);
  const char *action = string_len (&c, req, "action", true, 32, "", &len);
  const json_t *res = object_member (&c, req, "resource", true, "");
  int sf = -1;
  for (int s = BW_SURFACE_NETWORK; NULL != surface && s <= BW_SURFACE_MCP; s++)
    if (0 == strcmp (surface, bw_surface_name ((enum bw_surface) s)))
      sf = s;
  if (NULL != surface && sf < 0)
    bw_errors_add (&c.e, "must be \"network\", \"filesystem\", \"credentials\" or \"mcp\"",
                   "/surface");
  if (sf >= 0 && NULL != action)
    {
      c.r->surface = (enum bw_surface) sf;
      switch (c.r->surface)
        {
        case BW_SURFACE_NETWORK:
          network (&c, action, res);
          break;
        case BW_SURFACE_FILESYSTEM:
          filesystem (&c, action, res, have_home ? &home : NULL);
          break;
        case BW_SURFACE_CREDENTIALS:
          credentials (&c, action, res);
          break;
        case BW_SURFACE_MCP:
          mcp (&c, action, res);
          break;
        }
    }
  if (c.oom || c.e.failed)
    {
      bw_decision_request_free (c.r);
      return NULL;
    }
  return c.r;
}

void
bw_decision_request_free (struct bw_decision_request *r)
{
  if (NULL == r)
    return;
  bw_arena_release (&r->arena);
  free (r);
}

const char *
bw_decision_request_user (const struct bw_decision_request *r)
{
  return r->user;
}
