/**
 * @file api/permission.h
 * Roles (DESIGN §3) and the one permission table that decides what each
 * role may do.  The table is printed in the README; a unit test keeps them
 * in step.
 */
#ifndef BW_API_PERMISSION_H
#define BW_API_PERMISSION_H

#include <stdbool.h>

/** Per-org roles of API tokens (and, later, console users). */
enum bw_role
{
  BW_ROLE_OWNER = 0,
  BW_ROLE_POLICY_ADMIN,
  BW_ROLE_CATALOG_REVIEWER,
  BW_ROLE_AUDITOR,
  BW_ROLE_VIEWER,
  BW_ROLE__COUNT
};

/** What a route needs. */
enum bw_perm
{
  BW_PERM_NONE = 0,        /**< public route, no credential */
  BW_PERM_PLATFORM,        /**< platform admin only (create/delete orgs) */
  BW_PERM_ORG_READ,        /**< read the org object */
  BW_PERM_ORG_WRITE,       /**< rename the org */
  BW_PERM_TOKEN_READ,      /**< list API tokens (never their secrets) */
  BW_PERM_TOKEN_WRITE,     /**< create and revoke API tokens */
  BW_PERM_AUDIT_READ,      /**< read and verify the audit log */
  BW_PERM_DIRECTORY_READ,  /**< read users, groups and memberships */
  BW_PERM_DIRECTORY_WRITE, /**< create, change and delete users, groups and memberships */
  BW_PERM_POLICY_READ,     /**< read policies, revisions, diffs, effective policies */
  BW_PERM_POLICY_WRITE,    /**< create, update, roll back and delete policies */
  BW_PERM_POLICY_EVALUATE, /**< ask for decisions and simulate drafts (changes nothing) */
  BW_PERM_AGENT_READ,      /**< read the fleet: agents, their status, enroll secrets (never secrets) */
  BW_PERM_AGENT_WRITE,     /**< create and revoke enroll secrets; disable and delete agents */
  BW_PERM_KEY_WRITE,       /**< rotate the org's signing key */
  BW_PERM_CATALOG_READ,    /**< read the MCP catalog and its review queue (DESIGN §5) */
  BW_PERM_CATALOG_REQUEST, /**< request catalog entries: create, import, attach tool lists */
  BW_PERM_CATALOG_REVIEW,  /**< move entries through the approval workflow, change approvals */
  BW_PERM_AGENT,           /**< agent API (/api/v1/agent/...): an agent credential, no role */
  BW_PERM__COUNT
};

/** "owner", "policy_admin", ...  for @a r < BW_ROLE__COUNT. */
const char *bw_role_name (enum bw_role r);

/** Parse a role name.  @return 0 and *out, or -1 if unknown. */
int bw_role_parse (const char *s, enum bw_role *out);

/** Stable name of a permission ("org.read", ...), for docs and logs. */
const char *bw_perm_name (enum bw_perm p);

/** Whether role @a r is granted @a p.  BW_PERM_PLATFORM is never granted to a role. */
bool bw_role_allows (enum bw_role r, enum bw_perm p);

#endif
