/*
 * The permission table (DESIGN §3): the single place that decides what
 * each role may do.  The README prints the same table.
 */
#include "config.h"
#include "api/permission.h"

#include <string.h>

static const char *const role_names[BW_ROLE__COUNT] = {
  [BW_ROLE_OWNER] = "owner",
  [BW_ROLE_POLICY_ADMIN] = "policy_admin",
  [BW_ROLE_CATALOG_REVIEWER] = "catalog_reviewer",
  [BW_ROLE_AUDITOR] = "auditor",
  [BW_ROLE_VIEWER] = "viewer",
};

#define R(role) (1u << (role))
#define ALL_ROLES ((1u << BW_ROLE__COUNT) - 1)

static const struct
{
  const char *name;
  unsigned int roles; /* bit set of enum bw_role */
} perms[BW_PERM__COUNT] = {
  [BW_PERM_NONE] = { "public", ALL_ROLES },
  [BW_PERM_PLATFORM] = { "platform", 0 },
  [BW_PERM_ORG_READ] = { "org.read", ALL_ROLES },
  [BW_PERM_ORG_WRITE] = { "org.write", R (BW_ROLE_OWNER) },
  [BW_PERM_TOKEN_READ] = { "token.read", R (BW_ROLE_OWNER) | R (BW_ROLE_AUDITOR) },
  [BW_PERM_TOKEN_WRITE] = { "token.write", R (BW_ROLE_OWNER) },
  [BW_PERM_AUDIT_READ] = { "audit.read", R (BW_ROLE_OWNER) | R (BW_ROLE_AUDITOR) },
  [BW_PERM_DIRECTORY_READ] = { "directory.read", ALL_ROLES },
  [BW_PERM_DIRECTORY_WRITE] = { "directory.write", R (BW_ROLE_OWNER) | R (BW_ROLE_POLICY_ADMIN) },
  [BW_PERM_POLICY_READ] = { "policy.read", ALL_ROLES },
  [BW_PERM_POLICY_WRITE] = { "policy.write", R (BW_ROLE_OWNER) | R (BW_ROLE_POLICY_ADMIN) },
  [BW_PERM_POLICY_EVALUATE] = { "policy.evaluate", ALL_ROLES },
  [BW_PERM_AGENT_READ] = { "agent.read", ALL_ROLES },
  [BW_PERM_AGENT_WRITE] = { "agent.write", R (BW_ROLE_OWNER) | R (BW_ROLE_POLICY_ADMIN) },
  [BW_PERM_KEY_WRITE] = { "key.write", R (BW_ROLE_OWNER) },
  [BW_PERM_CATALOG_READ] = { "catalog.read", ALL_ROLES },
  [BW_PERM_CATALOG_REQUEST] = { "catalog.request", ALL_ROLES },
  [BW_PERM_CATALOG_REVIEW] = { "catalog.review", R (BW_ROLE_OWNER) | R (BW_ROLE_CATALOG_REVIEWER) },
  [BW_PERM_AGENT] = { "agent", 0 },
};

const char *
bw_role_name (enum bw_role r)
{
  return role_names[r];
}

int
bw_role_parse (const char *s, enum bw_role *out)
{
  for (int r = 0; r < BW_ROLE__COUNT; r++)
    if (0 == strcmp (s, role_names[r]))
      {
        *out = (enum bw_role) r;
        return 0;
      }
  return -1;
}

const char *
bw_perm_name (enum bw_perm p)
{
  return perms[p].name;
}

bool
bw_role_allows (enum bw_role r, enum bw_perm p)
{
  return 0 != (perms[p].roles & R (r));
}
