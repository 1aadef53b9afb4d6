/**
 * @file agent/request.h
 * `bulwark-agent request-mcp`: ask the org to approve an MCP server
 * (DESIGN §5).  Sends the server's registry description (server.json, the
 * official MCP registry format) and, optionally, its tools/list output to
 * POST /api/v1/agent/catalog/requests with the agent credential; the new
 * catalog entry waits in the review queue in state `requested`, attributed
 * to the agent (requested_by agent:<id>) and its user.
 */
#ifndef BW_AGENT_REQUEST_H
#define BW_AGENT_REQUEST_H

/** Largest server.json or tools file read, bytes (the server takes 1 MiB bodies). */
#define AG_REQUEST_FILE_MAX (512u * 1024)

/** Options of `request-mcp`.  All strings borrowed from argv. */
struct ag_request_options
{
  const char *server_file; /**< path of the server.json */
  const char *reason;      /**< why the developer needs it: 1..2000 bytes (checked by the server) */
  const char *select;      /**< "/packages/<i>" or "/remotes/<i>", or NULL when the document
                                has exactly one (lib/catalog.h "Import from server.json") */
  const char *tools_file;  /**< path of the tools/list output, or NULL */
};

/**
 * Read the files, send the request with the credential enrolled in
 * @a dir, and print on success one line
 *   requested: entry <id>, state <state>, <name> <version>
 * The server validates everything; its problem document (detail, and each
 * {pointer, message}, pointers into the request body: /server/…, /tools/…,
 * /reason, /select) is printed on stderr.
 * @return AG_EXIT_OK on 201; AG_EXIT_USAGE when a file cannot be read or is
 *         not JSON; AG_EXIT_REENROLL on 401 node_invalid; AG_EXIT_DISABLED
 *         on 403; AG_EXIT_FAIL otherwise (not enrolled, unreachable, refused,
 *         e.g. 409 catalog_entry_exists naming the existing entry).
 */
int ag_request_mcp_main (const char *dir, const struct ag_request_options *o);

#endif
