/**
 * @file agent/check.h
 * `bulwark-agent check`: decide one request locally with the active
 * bundle (the same evaluator as the server, lib/policy.h), print the
 * decision, and spool a decision event (DESIGN §7).
 */
#ifndef BW_AGENT_CHECK_H
#define BW_AGENT_CHECK_H

#include <stdbool.h>

/** Options of `check`. */
struct ag_check_options
{
  bool json;      /**< print the full result as JSON instead of one line */
  bool read_only; /**< mcp with a tool only: the tool is annotated read-only (MCP
                       ToolAnnotations readOnlyHint), for rules with "when": {"read_only"} */
};

/**
 * Decide the request @a argv (@a argc words after `check`):
 *   network <host|ip> <port>
 *   filesystem <path> read|write
 *   credentials <credential> <host|mcp-server>   (a name with '/' is an MCP server)
 *   mcp <server> [<tool>]                         (with a tool: invoke_tool; else list_tools)
 * with the DESIGN §4 request shape (context.home from $HOME; context.session
 * from BULWARK_SESSION_ID or a new UUIDv7).  No active bundle, a stored
 * state that does not verify (agent/state.h), a stale bundle past its
 * settings.stale_limit_s, or a revoked agent decides deny with reason
 * policy_error (DESIGN §4 step 7), and says why on stderr.  Prints one line
 *   <decision> reason=<reason> policy_id=<id> revision=<n> rule_id=<id> bundle_version=<v>
 * (`rule=none` when no rule decided; ` stale` appended in stale mode), or
 * the JSON result with --json.
 * @return AG_EXIT_OK for allow, AG_EXIT_FAIL for deny and
 *         require_approval, AG_EXIT_USAGE for a request that cannot be built
 *         or normalized.
 */
int ag_check_main (const char *dir, int argc, char **argv, const struct ag_check_options *opts);

#endif
