/**
 * @file lib/catalog.h
 * The MCP catalog (DESIGN §5) as lib/ sees it: the entry document and its
 * validation, import from the official MCP registry's `server.json`, tool
 * lists from an MCP server's `tools/list` result, and the approved slice a
 * bundle carries, with the catalog step of the decision (DESIGN §4 step 1).
 * No HTTP, no SQL, no global state; parsed objects are immutable and may be
 * shared between threads.
 *
 * Errors go to a caller's JSON array as {"pointer", "message"}, as in
 * lib/policy.h, with pointers prefixed by the caller's @a prefix.
 *
 * ## The entry document
 *
 * What the admin API takes (POST …/catalog/entries) and what import
 * produces; the server adds id, state, review fields and times around it.
 * Unknown keys, nulls (except where said) and wrong types are errors.
 *
 *   {"name":        registry name "<namespace>/<name>", reverse-DNS namespace:
 *                   ^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$, 3..BW_CATALOG_NAME_MAX bytes,
 *    "version":     1..BW_CATALOG_VERSION_MAX printable bytes, not a range
 *                   (no "^", "~", ">", "<", "*", "x" part, "latest"),
 *    "title"?:      1..BW_CATALOG_TEXT_MAX bytes,
 *    "description"?: 1..BW_CATALOG_TEXT_MAX bytes,
 *    "kind":        "image" | "remote" | "package",
 *    "identity":    kind "image":   {"image": "ghcr.io/o/n" (reference without
 *                                     tag or digest), "image_digest": "sha256:<64 hex>"}
 *                   kind "remote":  {"url": https URL (scheme and host are
 *                                     lowercased; no userinfo, no fragment),
 *                                    "transport": "streamable-http" | "sse"}
 *                   kind "package": {"registry_type": "npm" | "pypi" | "nuget"
 *                                     | "mcpb" | "cargo",
 *                                    "package": identifier (1..BW_CATALOG_TEXT_MAX),
 *                                    "version": package version (as "version" above),
 *                                    "sha256"?: 64 lowercase hex (required for mcpb)},
 *    "inputs"?:     [{"name": 1..BW_CATALOG_INPUT_NAME_MAX bytes, unique,
 *                     "kind": "env" | "header" | "argument",
 *                     "secret": bool, "required": bool,
 *                     "description"?: text,
 *                     "credential"?: credential name (lib/policy_model.h syntax):
 *                       the org credential that feeds this input; only a
 *                       secret input takes one}],       at most BW_CATALOG_INPUTS_MAX
 *    "tools"?:      [{"name": MCP tool name (bw_mcp_name_check, no glob), unique,
 *                     "description"?: the tool's description, 1..BW_CATALOG_TOOL_DESCRIPTION_MAX
 *                       bytes (hashed: SHA-256 of its UTF-8 bytes),
 *                     "description_sha256"?: 64 lowercase hex; at least one of
 *                       the two, and with both the hash must be the text's,
 *                     "annotations"?: {"title"?: text, "readOnlyHint"?: bool,
 *                       "destructiveHint"?: bool, "idempotentHint"?: bool,
 *                       "openWorldHint"?: bool},
 *                     "state"?: "approved" | "blocked" (default "blocked")}]
 *                                                       at most BW_CATALOG_TOOLS_MAX}
 *
 * The normalized form (what is stored and answered) has every key above
 * that was given, "inputs" and "tools" always (possibly []), inputs and
 * tools sorted by name, tools with "description_sha256" always, the
 * "description" text too when it was given (so a reviewer reads what is
 * approved; the hash, which covers the text, is what is pinned and what
 * the approved slice carries), "annotations" (possibly {}) and "state".
 * The normalized form is a valid entry document that normalizes to itself.
 *
 * A secret input is usable only when the entry binds it to a credential,
 * the process asking for it is the approved one (it names the entry's
 * identity) and a credential rule allows that credential toward the server
 * (the catalog step below, then the rules).
 *
 * ## Import from server.json
 *
 * The registry format (static.modelcontextprotocol.io server.schema.json,
 * 2025-12-11): name, version, title?, description?, packages[], remotes[],
 * plus keys kept but not used ($schema, repository, websiteUrl, icons,
 * _meta).  One entry pins one identity, so the import takes one package or
 * remote: @a select is "/packages/<i>" or "/remotes/<i>", or NULL when the
 * document has exactly one of them in all.  Mapping:
 *   package oci   -> kind image: identifier "<image>@sha256:<hex>" (a tag
 *                    alone is refused: the digest is the identity)
 *   package npm, pypi, nuget, cargo -> kind package: identifier, version
 *                    (the package's, else the server's), fileSha256 if any
 *   package mcpb  -> kind package: identifier (an https URL), fileSha256
 *                    required, version as above
 *   remote        -> kind remote: url, type ("streamable-http" | "sse")
 *   environmentVariables -> inputs kind env; remote headers -> kind header;
 *   packageArguments and runtimeArguments of type "named" -> kind argument
 *   (one input per name: a repeated argument, docker's "-e", is one);
 *   isSecret, isRequired and description carry over.
 * Errors point into the server.json (e.g. "/version",
 * "/packages/0/identifier"), prefixed.
 *
 * ## Tool lists
 *
 * What an MCP server answers to tools/list (MCP 2025-06-18 §server/tools):
 * {"tools": [{"name", "description"?, "inputSchema"?, "outputSchema"?,
 * "title"?, "annotations"?}], "nextCursor"?}, or the whole JSON-RPC
 * response {"jsonrpc", "id", "result": {…}}; an optional "server" and
 * "version" beside "tools" (the testdata files have them) must then equal
 * the entry's.  One page is not the list: a "nextCursor" other than null
 * is refused (error at <prefix>[/result]/nextCursor: fetch every page and
 * send the tools together).  A tool's description, at most
 * BW_CATALOG_TOOL_DESCRIPTION_MAX bytes, is kept with its hash; a missing or empty one
 * hashes as the empty string and leaves the tool with the hash only.
 *
 * ## The approved slice (bundle "catalog", DESIGN §6)
 *
 * Built by the server from the entries in state approved whose approval has
 * not expired, sorted by name; at most one per name:
 *
 *   [{"id": entry uuid, "name", "version", "kind", "identity": as above,
 *     "expires_at"?: Unix seconds,
 *     "inputs": [{"name", "secret", "credential"?}],
 *     "tools": [{"name", "description_sha256", "annotations"}]  (approved tools only,
 *              no description text)}]
 *
 * Entries and each entry's tools are sorted by name bytewise (COLLATE "C"),
 * names unique; input names are unique.
 *
 * ## The catalog step (DESIGN §4 step 1)
 *
 * Before any rule, for an mcp request {"server", "identity"?, …} and for a
 * credentials request toward an MCP server {"credential", "mcp_server",
 * "identity"?} (lib/decision_request.c): the approved entry of that name
 * (else NOT_APPROVED), not expired (else EXPIRED), and the identity the
 * request names must be the entry's — the image digest, the URL (scheme
 * and host without case), or the package, its registry_type (npm's "@x/y"
 * is not PyPI's or NuGet's of the same name), its version and, when the
 * entry pins one, its sha256; a version given with an image or URL must be the
 * entry's (else IDENTITY_MISSING / IDENTITY_MISMATCH).  A server name alone
 * is what any process can claim: a credential goes only to the process
 * that names the approved identity.  Then an invoke_tool needs an approved
 * tool (TOOL_NOT_APPROVED) with the same description hash
 * (DESCRIPTION_MISSING / DESCRIPTION_CHANGED), and a credential must be
 * the "credential" of one of the entry's secret inputs (CREDENTIAL_UNBOUND).
 */
#ifndef BW_LIB_CATALOG_H
#define BW_LIB_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/** Longest server name, bytes (registry server.schema.json maxLength). */
#define BW_CATALOG_NAME_MAX 200
/** Longest version, bytes (registry server.schema.json maxLength). */
#define BW_CATALOG_VERSION_MAX 255
/** Longest title, description, package identifier or URL, bytes. */
#define BW_CATALOG_TEXT_MAX 4096
/** Longest tool description, bytes: what MCP servers send to the model can be long. */
#define BW_CATALOG_TOOL_DESCRIPTION_MAX (64 * 1024)
/** Longest input name, bytes. */
#define BW_CATALOG_INPUT_NAME_MAX 256
/** Most inputs of one entry. */
#define BW_CATALOG_INPUTS_MAX 64
/** Most tools of one entry. */
#define BW_CATALOG_TOOLS_MAX 512
/** Most entries in one approved slice. */
#define BW_CATALOG_SLICE_MAX 1000

/**
 * Validate and normalize entry document @a doc (borrowed; see the top of
 * this file).  @return the normalized entry (caller owns), or NULL when
 * invalid (errors appended) or out of memory (errors may be empty).
 */
json_t *bw_catalog_entry_normalize (const json_t *doc, const char *prefix, json_t *errors);

/**
 * Convert registry document @a server (borrowed) to a normalized entry,
 * taking the package or remote @a select ("/packages/<i>", "/remotes/<i>",
 * or NULL when there is exactly one).  Every problem of the document is
 * reported, not only the first.
 * @return the normalized entry (caller owns, tools []), or NULL (errors appended).
 */
json_t *bw_catalog_from_server_json (const json_t *server, const char *select, const char *prefix,
                                     json_t *errors);

/**
 * Normalize tools/list output @a list (borrowed) for the entry named
 * @a name at @a version: every tool "blocked", sorted by name, with its
 * description text when it has one.  A partial page (non-null nextCursor)
 * is an error.
 * @return a new array (caller owns), or NULL (errors appended).
 */
json_t *bw_catalog_tools_from_list (const json_t *list, const char *name, const char *version,
                                    const char *prefix, json_t *errors);

/**
 * Carry tool states from an entry's earlier tool list @a previous
 * (normalized, borrowed) into @a tools (normalized, changed in place): a
 * tool keeps its state when one of the same name, description_sha256 and
 * annotations (all five hints and the title, compared as normalized JSON)
 * was in @a previous.  A new tool, or a changed one — its description hash
 * OR its annotations differ (readOnlyHint true -> false, destructiveHint
 * false -> true, a title added, …) — is "blocked" (DESIGN §5): the rules'
 * `when` sees the annotations, so a reviewer must approve them again.
 */
void bw_catalog_tools_carry (json_t *tools, const json_t *previous);

/**
 * Whether normalized entries @a a and @a b pin the same server: name,
 * version, kind, identity and tool list (names, hashes, annotations; not
 * states, nor description texts: the hash covers the text) equal.
 */
bool bw_catalog_same_pin (const json_t *a, const json_t *b);

/**
 * The pin of normalized entry @a entry as a digest: lowercase hex SHA-256
 * of the canonical JSON (lib/canonical_json.h) of {"name", "version",
 * "kind", "identity", "tools": [{"name", "description_sha256",
 * "annotations"}]} — exactly what bw_catalog_same_pin compares, so two
 * entries have the same digest iff they are the same pin (the
 * catalog_entries.pin_sha256 column).
 * @param[out] out  64 hex digits and a NUL
 * @return 0, or -1 when out of memory.
 */
int bw_catalog_pin_sha256 (const json_t *entry, char out[65]);

/**
 * Whether @a name is a package registry type an entry's identity takes
 * ("npm", "pypi", "nuget", "mcpb", "cargo"; exact, lowercase).  A decision
 * request's package identity names one too (lib/decision_request.c).
 */
bool bw_catalog_registry_type_known (const char *name);

/** A parsed approved slice.  Opaque; immutable. */
struct bw_catalog;

/**
 * Parse approved slice @a slice (borrowed; the format above).  Strict: a
 * malformed slice is refused, as a whole.
 * @param[out] why  a short reason on failure
 * @return the catalog (free with bw_catalog_free), or NULL.
 */
struct bw_catalog *bw_catalog_parse (const json_t *slice, char *why, size_t whylen);

/** Free @a c.  NULL-safe. */
void bw_catalog_free (struct bw_catalog *c);

/** Entries in @a c. */
size_t bw_catalog_size (const struct bw_catalog *c);

/**
 * Outcome of the catalog step (DESIGN §4 step 1) for one request; the
 * decision result carries it (struct bw_decision_result.catalog).
 */
enum bw_catalog_check
{
  BW_CATALOG_UNCHECKED = 0,        /**< not an MCP request, nor a credential toward an MCP server */
  BW_CATALOG_APPROVED,             /**< passed: the rules decide */
  BW_CATALOG_NOT_APPROVED,         /**< no approved entry of that server name */
  BW_CATALOG_EXPIRED,              /**< its approval expired (expires_at <= now) */
  BW_CATALOG_IDENTITY_MISSING,     /**< the request (mcp, or credentials toward an MCP
                                        server) names no identity, or leaves out the
                                        package's registry type or version or the sha256
                                        the entry pins */
  BW_CATALOG_IDENTITY_MISMATCH,    /**< an identity of another kind, or digest, URL,
                                        registry type, package, version or sha256 differ */
  BW_CATALOG_TOOL_NOT_APPROVED,    /**< invoke_tool of a tool not approved (blocked or unlisted) */
  BW_CATALOG_DESCRIPTION_MISSING,  /**< invoke_tool without the tool's description_sha256 */
  BW_CATALOG_DESCRIPTION_CHANGED,  /**< description_sha256 differs from the approved one */
  BW_CATALOG_CREDENTIAL_UNBOUND,   /**< the credential feeds no secret input of the server */
};

/** "unchecked", "approved", "not_approved", "expired", "identity_missing", … (the enum's names). */
const char *bw_catalog_check_name (enum bw_catalog_check c);

#endif
