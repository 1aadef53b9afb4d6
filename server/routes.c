/*
 * The route table: every endpoint bulwarkd serves, its handler and the
 * permission it needs.  api/openapi.yaml describes the same set; the API
 * tests check that the two agree.
 */
#include "config.h"
#include "api/handlers.h"
#include "server/router.h"

const struct bw_route bw_routes[] = {
  { "GET", "/healthz", api_healthz, BW_PERM_NONE, false },
  { "GET", "/readyz", api_readyz, BW_PERM_NONE, false },
  { "GET", "/metrics", api_metrics, BW_PERM_NONE, false },
  { "GET", "/docs/errors", api_docs_errors, BW_PERM_NONE, false },

  { "POST", "/api/v1/orgs", api_orgs_create, BW_PERM_PLATFORM, true },
  { "GET", "/api/v1/orgs", api_orgs_list, BW_PERM_ORG_READ, false },
  { "GET", "/api/v1/orgs/{org}", api_orgs_get, BW_PERM_ORG_READ, false },
  { "PATCH", "/api/v1/orgs/{org}", api_orgs_update, BW_PERM_ORG_WRITE, true },
  { "DELETE", "/api/v1/orgs/{org}", api_orgs_delete, BW_PERM_PLATFORM, false },

  { "POST", "/api/v1/orgs/{org}/tokens", api_tokens_create, BW_PERM_TOKEN_WRITE, true },
  { "GET", "/api/v1/orgs/{org}/tokens", api_tokens_list, BW_PERM_TOKEN_READ, false },
  { "GET", "/api/v1/orgs/{org}/tokens/{id}", api_tokens_get, BW_PERM_TOKEN_READ, false },
  { "DELETE", "/api/v1/orgs/{org}/tokens/{id}", api_tokens_revoke, BW_PERM_TOKEN_WRITE, false },

  { "GET", "/api/v1/orgs/{org}/audit", api_audit_list, BW_PERM_AUDIT_READ, false },
  { "GET", "/api/v1/orgs/{org}/audit/verify", api_audit_verify, BW_PERM_AUDIT_READ, false },

  { "POST", "/api/v1/orgs/{org}/users", api_users_create, BW_PERM_DIRECTORY_WRITE, true },
  { "GET", "/api/v1/orgs/{org}/users", api_users_list, BW_PERM_DIRECTORY_READ, false },
  { "GET", "/api/v1/orgs/{org}/users/{id}", api_users_get, BW_PERM_DIRECTORY_READ, false },
  { "PATCH", "/api/v1/orgs/{org}/users/{id}", api_users_update, BW_PERM_DIRECTORY_WRITE, true },
  { "DELETE", "/api/v1/orgs/{org}/users/{id}", api_users_delete, BW_PERM_DIRECTORY_WRITE, false },
  { "GET", "/api/v1/orgs/{org}/users/{id}/groups", api_users_groups, BW_PERM_DIRECTORY_READ,
    false },
  { "POST", "/api/v1/orgs/{org}/groups", api_groups_create, BW_PERM_DIRECTORY_WRITE, true },
  { "GET", "/api/v1/orgs/{org}/groups", api_groups_list, BW_PERM_DIRECTORY_READ, false },
  { "GET", "/api/v1/orgs/{org}/groups/{id}", api_groups_get, BW_PERM_DIRECTORY_READ, false },
  { "PATCH", "/api/v1/orgs/{org}/groups/{id}", api_groups_update, BW_PERM_DIRECTORY_WRITE,
    true },
  { "DELETE", "/api/v1/orgs/{org}/groups/{id}", api_groups_delete, BW_PERM_DIRECTORY_WRITE,
    false },
  { "GET", "/api/v1/orgs/{org}/groups/{id}/members", api_groups_members, BW_PERM_DIRECTORY_READ,
    false },
  { "PUT", "/api/v1/orgs/{org}/groups/{id}/members/{user_id}", api_groups_member_add,
    BW_PERM_DIRECTORY_WRITE, false },
  { "DELETE", "/api/v1/orgs/{org}/groups/{id}/members/{user_id}", api_groups_member_remove,
    BW_PERM_DIRECTORY_WRITE, false },

  { "POST", "/api/v1/orgs/{org}/policies", api_policies_create, BW_PERM_POLICY_WRITE, true },
  { "GET", "/api/v1/orgs/{org}/policies", api_policies_list, BW_PERM_POLICY_READ, false },
  { "POST", "/api/v1/orgs/{org}/policies/simulate", api_policies_simulate,
    BW_PERM_POLICY_EVALUATE, true },
  { "GET", "/api/v1/orgs/{org}/policies/{id}", api_policies_get, BW_PERM_POLICY_READ, false },
  { "PUT", "/api/v1/orgs/{org}/policies/{id}", api_policies_update, BW_PERM_POLICY_WRITE, true },
  { "DELETE", "/api/v1/orgs/{org}/policies/{id}", api_policies_delete, BW_PERM_POLICY_WRITE,
    false },
  { "GET", "/api/v1/orgs/{org}/policies/{id}/revisions", api_policies_revisions,
    BW_PERM_POLICY_READ, false },
  { "GET", "/api/v1/orgs/{org}/policies/{id}/revisions/{rev}", api_policies_revision_get,
    BW_PERM_POLICY_READ, false },
  { "GET", "/api/v1/orgs/{org}/policies/{id}/diff", api_policies_diff, BW_PERM_POLICY_READ,
    false },
  { "POST", "/api/v1/orgs/{org}/policies/{id}/rollback", api_policies_rollback,
    BW_PERM_POLICY_WRITE, true },
  { "POST", "/api/v1/orgs/{org}/evaluate", api_evaluate, BW_PERM_POLICY_EVALUATE, true },
  { "POST", "/api/v1/orgs/{org}/evaluate/batch", api_evaluate_batch, BW_PERM_POLICY_EVALUATE,
    true },
  { "GET", "/api/v1/orgs/{org}/users/{id}/effective-policy", api_users_effective_policy,
    BW_PERM_POLICY_READ, false },

  { "POST", "/api/v1/orgs/{org}/enroll-secrets", api_enroll_secrets_create, BW_PERM_AGENT_WRITE,
    true },
  { "GET", "/api/v1/orgs/{org}/enroll-secrets", api_enroll_secrets_list, BW_PERM_AGENT_READ,
    false },
  { "GET", "/api/v1/orgs/{org}/enroll-secrets/{id}", api_enroll_secrets_get, BW_PERM_AGENT_READ,
    false },
  { "DELETE", "/api/v1/orgs/{org}/enroll-secrets/{id}", api_enroll_secrets_revoke,
    BW_PERM_AGENT_WRITE, false },
  { "GET", "/api/v1/orgs/{org}/agents", api_agents_list, BW_PERM_AGENT_READ, false },
  { "GET", "/api/v1/orgs/{org}/agents/{id}", api_agents_get, BW_PERM_AGENT_READ, false },
  { "PATCH", "/api/v1/orgs/{org}/agents/{id}", api_agents_update, BW_PERM_AGENT_WRITE, true },
  { "DELETE", "/api/v1/orgs/{org}/agents/{id}", api_agents_delete, BW_PERM_AGENT_WRITE, false },
  { "GET", "/api/v1/orgs/{org}/fleet/summary", api_fleet_summary, BW_PERM_AGENT_READ, false },
  { "POST", "/api/v1/agent/enroll", api_agent_enroll, BW_PERM_NONE, true },
  { "POST", "/api/v1/orgs/{org}/keys/rotate", api_keys_rotate, BW_PERM_KEY_WRITE, false },
  { "GET", "/api/v1/orgs/{org}/keysets/{version}", api_keysets_get, BW_PERM_AGENT_READ, false },
  { "GET", "/api/v1/agent/keysets/{version}", api_agent_keysets_get, BW_PERM_AGENT, false },

  { "POST", "/api/v1/agent/checkin", api_agent_checkin, BW_PERM_AGENT, true },
  { "GET", "/api/v1/agent/bundles/{sha256}", api_agent_bundle_get, BW_PERM_AGENT, false },
  { "POST", "/api/v1/agent/events", api_agent_events, BW_PERM_AGENT, true },
};

const size_t bw_routes_count = sizeof (bw_routes) / sizeof (bw_routes[0]);
