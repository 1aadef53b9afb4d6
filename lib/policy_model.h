/**
 * @file lib/policy_model.h
 * The compiled forms behind the opaque types of lib/policy.h: rules with
 * every pattern normalized at parse time (host suffixes lowercased, CIDRs
 * as bytes, paths split into segments), and requests normalized the same
 * way, so the evaluator only compares bytes.  Shared by lib/policy.c,
 * lib/decision_request.c, lib/evaluate.c and lib/catalog.c; not for use
 * outside lib/.
 */
#ifndef BW_LIB_POLICY_MODEL_H
#define BW_LIB_POLICY_MODEL_H

#include "lib/policy.h"
#include "lib/arena.h"
#include "lib/glob.h"
#include "lib/host.h"
#include "lib/ipaddr.h"
#include "lib/path.h"
#include "lib/port.h"

/** Longest rule id, in bytes. */
#define BW_RULE_ID_MAX 64
/** Most entries in one list of a rule (hosts, cidrs, ports, paths, tools, ...). */
#define BW_RULE_LIST_MAX 256
/** Longest MCP server or tool name or glob, in bytes. */
#define BW_MCP_NAME_MAX 256
/** Longest credential name, in bytes. */
#define BW_CREDENTIAL_MAX 128

/** Bits of filesystem access. */
enum bw_access
{
  BW_ACCESS_READ = 1 << 0,
  BW_ACCESS_WRITE = 1 << 1,
};

/** MCP actions of DESIGN §4's request table, as bits. */
enum bw_mcp_action
{
  BW_MCP_INVOKE_TOOL = 1 << 0,
  BW_MCP_REGISTER = 1 << 1,
  BW_MCP_READ_RESOURCE = 1 << 2,
  BW_MCP_GET_PROMPT = 1 << 3,
  BW_MCP_LIST_TOOLS = 1 << 4,
};

/** Where a credential rule says the secret is delivered. */
enum bw_delivery
{
  BW_DELIVERY_ANY = 0, /**< not said */
  BW_DELIVERY_PROXY_HEADER,
  BW_DELIVERY_ENV,
  BW_DELIVERY_FILE,
};

/** A tri-state condition of an MCP rule's "when". */
enum bw_cond
{
  BW_COND_ANY = 0,
  BW_COND_TRUE,
  BW_COND_FALSE,
};

/**
 * The pinned identity an MCP request names (DESIGN §5): an image digest, a
 * remote URL, or a package with its registry type, each with an optional
 * version (a package's own; for an image or remote the server version), and
 * for a package an optional sha256; an MCP request names it, and so does a credential
 * toward an MCP server (the process that receives the credential).  Only
 * the catalog step (DESIGN §4 step 1, bw_catalog_step) looks at it; rules
 * never do.  NULL members were not given.
 */
struct bw_mcp_identity
{
  const char *image_digest;  /**< "sha256:" and 64 lowercase hex digits */
  const char *url;           /**< http:// or https:// URL, scheme and host lowercased */
  const char *registry_type; /**< with package, always: "npm", "pypi", "nuget", "mcpb" or
                                  "cargo" (bw_catalog_registry_type_known) */
  const char *package;
  const char *version;
  const char *sha256; /**< 64 lowercase hex digits */
};

/** What every rule has. */
struct bw_rule_head
{
  const char *id; /**< in the policy's arena */
  enum bw_decision decision;
};

/** A network rule: matches when a host or a cidr and the port match. */
struct bw_net_rule
{
  struct bw_rule_head h;
  size_t nhosts;
  const struct bw_host_pattern *hosts;
  size_t ncidrs;
  const struct bw_cidr *cidrs;
  size_t nports; /**< 0: any port (or each host carries its own) */
  const struct bw_port_range *ports;
};

/** A filesystem rule. */
struct bw_fs_rule
{
  struct bw_rule_head h;
  unsigned access; /**< enum bw_access bits */
  size_t npaths;
  const struct bw_path_pattern *paths;
};

/** A credentials rule.  With neither target list it matches every target. */
struct bw_cred_rule
{
  struct bw_rule_head h;
  const char *credential;
  size_t credential_len;
  size_t nhosts;
  const struct bw_host_pattern *hosts;
  size_t nservers;
  const struct bw_glob *servers;
  enum bw_delivery delivery;
};

/** An MCP rule. */
struct bw_mcp_rule
{
  struct bw_rule_head h;
  unsigned actions; /**< enum bw_mcp_action bits */
  struct bw_glob server;
  size_t ntools; /**< 0: any tool */
  const struct bw_glob *tools;
  enum bw_cond read_only;
  enum bw_cond destructive;
};

/** A parsed policy.  Everything lives in its arena. */
struct bw_policy
{
  struct bw_arena arena;
  const char *name;
  enum bw_policy_mode mode;
  struct bw_policy_scope scope;
  size_t nnet, nfs, ncred, nmcp;
  const struct bw_net_rule *net;
  const struct bw_fs_rule *fs;
  const struct bw_cred_rule *cred;
  const struct bw_mcp_rule *mcp;
};

/** A normalized decision request.  Everything lives in its arena. */
struct bw_decision_request
{
  struct bw_arena arena;
  const char *user; /**< subject user id, or NULL */
  enum bw_surface surface;
  union
  {
    struct
    {
      bool is_ip;          /**< host was an IP address, or ip was given */
      struct bw_host host; /**< when !is_ip */
      struct bw_ip ip;     /**< when is_ip */
      uint16_t port;
    } net;
    struct
    {
      unsigned access; /**< BW_ACCESS_READ or BW_ACCESS_WRITE */
      struct bw_path path;
    } fs;
    struct
    {
      const char *credential;
      size_t credential_len;
      bool to_server;  /**< mcp_server given (else host) */
      bool host_is_ip; /**< the host was an IP address: no host pattern matches */
      struct bw_host host;
      const char *server;
      size_t server_len;
      bool has_identity;               /**< to_server and an identity given */
      struct bw_mcp_identity identity; /**< when has_identity; in the arena */
    } cred;
    struct
    {
      unsigned action; /**< one enum bw_mcp_action bit */
      const char *server;
      size_t server_len;
      const char *tool; /**< NULL when not given */
      size_t tool_len;
      const char *description_sha256; /**< the tool's, 64 lowercase hex; NULL when not given */
      bool has_identity;
      struct bw_mcp_identity identity; /**< when has_identity; in the arena */
    } mcp;
  } u;
};

/* Vocabulary shared by the policy and request parsers (lib/policy.c). */

/** The enum bw_access bit named @a s ("read", "write"), or 0. */
unsigned bw_access_parse (const char *s);

/** The enum bw_mcp_action bit named @a s ("invoke_tool", ...), or 0. */
unsigned bw_mcp_action_parse (const char *s);

/**
 * Syntax of a credential name: 1..BW_CREDENTIAL_MAX bytes of
 * [A-Za-z0-9._-], starting with a letter or digit.  @return NULL or a static message.
 */
const char *bw_credential_check (const char *s, size_t len);

/**
 * Check URL @a s (NUL-terminated, changed in place) and normalize it as
 * lib/catalog.c describes: https:// (or, unless @a https_only, http://),
 * printable ASCII without spaces, no userinfo, fragment or template, a
 * host name or bracketed IPv6 address with an optional port; the scheme
 * and host are lowercased.  @return NULL, or a static message (then @a s
 * may be partly lowercased).  (lib/catalog.c)
 */
const char *bw_url_normalize (char *s, bool https_only);

/** What the catalog step found for one request (lib/catalog.c). */
struct bw_catalog_verdict
{
  enum bw_catalog_check check;
  const char *entry_id; /**< the entry looked at (borrowed from the catalog), or NULL */
  bool read_only;       /**< the approved tool's annotations with the MCP defaults */
  bool destructive;     /**< (readOnlyHint false, destructiveHint true unless read-only) */
};

/**
 * The catalog step of DESIGN §4 (lib/catalog.h has the checks) for request
 * @a q against approved slice @a c (NULL: empty) at time @a now (Unix
 * seconds): an MCP request, or a credential toward an MCP server (whose
 * identity is checked as an MCP request's, then its binding), yields
 * APPROVED or why not; anything else UNCHECKED.  For an approved
 * invoke_tool, read_only and destructive are the catalog tool's; otherwise
 * the MCP defaults.  Never allocates.
 */
void bw_catalog_step (const struct bw_catalog *c, int64_t now, const struct bw_decision_request *q,
                      struct bw_catalog_verdict *v);

/**
 * Syntax of an MCP server or tool name (@a glob false) or glob (@a glob
 * true): 1..BW_MCP_NAME_MAX bytes of printable ASCII without spaces; '*'
 * only in globs.  @return NULL or a static message.
 */
const char *bw_mcp_name_check (const char *s, size_t len, bool glob);

#endif
