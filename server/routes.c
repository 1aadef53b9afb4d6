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
};

const size_t bw_routes_count = sizeof (bw_routes) / sizeof (bw_routes[0]);
