/**
 * @file agent/check.h
 * `bulwark-agent check`: decide one request locally with the active
 * bundle (the same evaluator as the server, lib/policy.h), print the
 * decision, and spool a decision event (DESIGN §7).
 */
#ifndef BW_AGENT_CHECK_H
#define BW_AGENT_CHECK_H

#include <stdbool.h>

/** Options of `check`.  All strings borrowed from argv. */
struct ag_check_options
{
  bool json; /**< print the full result as JSON instead of one line */
  /* mcp (DESIGN §4 "Decision requests", lib/decision_request.c); the
     identity options (image_digest … version) also for credentials toward
     an MCP server: */
  const char *action;             /**< --action: the mcp action; NULL: invoke_tool with a
                                       tool, list_tools without */
  const char *image_digest;       /**< --image-digest sha256:<hex>: identity {image_digest} */
  const char *url;                /**< --url: identity {url} */
  const char *package;            /**< --package: identity {registry_type, package,
                                       version, sha256?} */
  const char *package_version;    /**< --package-version: with --package, required */
  const char *registry_type;      /**< --registry-type: with --package, required (npm,
                                       pypi, nuget, mcpb, cargo: identity.registry_type) */
  const char *sha256;             /**< --sha256: with --package, the package file's hash */
  const char *version;            /**< --version: the server version, with --image-digest
                                       or --url (identity.version) */
  const char *description;        /**< --description: the tool's description as the server
                                       lists it now; hashed to description_sha256 */
  const char *description_sha256; /**< --description-sha256: 64 lowercase hex, as given */
};

/**
 * Decide the request @a argv (@a argc words after `check`):
 *   network <host|ip> <port>
 *   filesystem <path> read|write
 *   credentials <credential> <host|mcp-server>   (a name with '/' is an MCP server)
 *   mcp <server> [<tool>]
 * credentials toward an MCP server take the identity options of mcp: the
 * process the credential goes to, which the catalog step requires and
 * compares with the approved entry as for mcp, before the binding check.
 * mcp: with a tool the action is invoke_tool, without one list_tools
 * (--action overrides either: register, read_resource, get_prompt take no
 * tool); the identity options name the server as the client is about to
 * run it, and the description options the tool as it is listed now: the
 * catalog step (DESIGN §4 step 1) compares both with the approved entry.
 * The request has the DESIGN §4 shape (context.home from $HOME;
 * context.session from BULWARK_SESSION_ID or a new UUIDv7).  Decided with
 * the active bundle's policies and approved catalog slice at the current
 * time.  No active bundle, a stored state that does not verify
 * (agent/state.h), a stale bundle past its settings.stale_limit_s, or a
 * revoked agent decides deny with reason policy_error (DESIGN §4 step 7),
 * and says why on stderr.  Prints one line
 *   <decision> reason=<reason> policy_id=<id> revision=<n> rule_id=<id> bundle_version=<v>
 * (`rule=none` when no rule decided; ` catalog=<check>` after the reason
 * when the catalog step applied, e.g. `allow reason=rule catalog=approved
 * policy_id=…` or `deny reason=catalog catalog=tool_not_approved rule=none
 * …`; ` stale` appended in stale mode), or the JSON result with --json.  The
 * spooled event's resource is the request's, without the description hash
 * ({server, tool?, identity?}, {credential, mcp_server, identity?}, …:
 * api/agent_events.c).
 * @return AG_EXIT_OK for allow, AG_EXIT_FAIL for deny and
 *         require_approval, AG_EXIT_USAGE for a request that cannot be built
 *         or normalized.
 */
int ag_check_main (const char *dir, int argc, char **argv, const struct ag_check_options *opts);

#endif
