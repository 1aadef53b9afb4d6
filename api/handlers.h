/**
 * @file api/handlers.h
 * Every route handler, one group per resource file.  The route table in
 * server/routes.c binds them to methods, patterns and permissions; by the
 * time a handler runs, the caller is authenticated and authorized, the
 * `{org}` parameter (if any) is resolved into rq->org, and a JSON body (if
 * the route takes one) is parsed into rq->json.
 */
#ifndef BW_API_HANDLERS_H
#define BW_API_HANDLERS_H

#include "server/request.h"

/* api/health.c: liveness, readiness (DB + schema), Prometheus metrics. */
enum bw_step api_healthz (struct bw_request *rq);
enum bw_step api_readyz (struct bw_request *rq);
enum bw_step api_metrics (struct bw_request *rq);

/* api/docs.c: the error registry as a page (GET /docs/errors). */
enum bw_step api_docs_errors (struct bw_request *rq);

/* api/orgs.c: /api/v1/orgs and /api/v1/orgs/{org}. */
enum bw_step api_orgs_create (struct bw_request *rq);
enum bw_step api_orgs_list (struct bw_request *rq);
enum bw_step api_orgs_get (struct bw_request *rq);
enum bw_step api_orgs_update (struct bw_request *rq);
enum bw_step api_orgs_delete (struct bw_request *rq);

/* api/tokens.c: /api/v1/orgs/{org}/tokens. */
enum bw_step api_tokens_create (struct bw_request *rq);
enum bw_step api_tokens_list (struct bw_request *rq);
enum bw_step api_tokens_get (struct bw_request *rq);
enum bw_step api_tokens_revoke (struct bw_request *rq);

/* api/audit.c: /api/v1/orgs/{org}/audit and /audit/verify. */
enum bw_step api_audit_list (struct bw_request *rq);
enum bw_step api_audit_verify (struct bw_request *rq);

/* api/users.c: /api/v1/orgs/{org}/users and a user's groups. */
enum bw_step api_users_create (struct bw_request *rq);
enum bw_step api_users_list (struct bw_request *rq);
enum bw_step api_users_get (struct bw_request *rq);
enum bw_step api_users_update (struct bw_request *rq);
enum bw_step api_users_delete (struct bw_request *rq);
enum bw_step api_users_groups (struct bw_request *rq);

/* api/groups.c: /api/v1/orgs/{org}/groups and their members. */
enum bw_step api_groups_create (struct bw_request *rq);
enum bw_step api_groups_list (struct bw_request *rq);
enum bw_step api_groups_get (struct bw_request *rq);
enum bw_step api_groups_update (struct bw_request *rq);
enum bw_step api_groups_delete (struct bw_request *rq);
enum bw_step api_groups_members (struct bw_request *rq);
enum bw_step api_groups_member_add (struct bw_request *rq);
enum bw_step api_groups_member_remove (struct bw_request *rq);

/* api/policies.c: /api/v1/orgs/{org}/policies, their revisions, diff and rollback. */
enum bw_step api_policies_create (struct bw_request *rq);
enum bw_step api_policies_list (struct bw_request *rq);
enum bw_step api_policies_get (struct bw_request *rq);
enum bw_step api_policies_update (struct bw_request *rq);
enum bw_step api_policies_delete (struct bw_request *rq);
enum bw_step api_policies_revisions (struct bw_request *rq);
enum bw_step api_policies_revision_get (struct bw_request *rq);
enum bw_step api_policies_diff (struct bw_request *rq);
enum bw_step api_policies_rollback (struct bw_request *rq);

/* api/evaluate.c: decisions — /evaluate, /evaluate/batch, /policies/simulate, and
   /users/{id}/effective-policy. */
enum bw_step api_evaluate (struct bw_request *rq);
enum bw_step api_evaluate_batch (struct bw_request *rq);
enum bw_step api_policies_simulate (struct bw_request *rq);
enum bw_step api_users_effective_policy (struct bw_request *rq);

/* api/agent_checkin.c: POST /api/v1/agent/checkin (agent credential; long-poll). */
enum bw_step api_agent_checkin (struct bw_request *rq);

/* api/agent_bundles.c: GET /api/v1/agent/bundles/{sha256} (agent credential). */
enum bw_step api_agent_bundle_get (struct bw_request *rq);

/* api/agent_events.c: POST /api/v1/agent/events (agent credential; decision event intake). */
enum bw_step api_agent_events (struct bw_request *rq);

/* api/enroll_secrets.c: /api/v1/orgs/{org}/enroll-secrets (agent.write, agent.read). */
enum bw_step api_enroll_secrets_create (struct bw_request *rq);
enum bw_step api_enroll_secrets_list (struct bw_request *rq);
enum bw_step api_enroll_secrets_get (struct bw_request *rq);
enum bw_step api_enroll_secrets_revoke (struct bw_request *rq);

/* api/agent_enroll.c: POST /api/v1/agent/enroll (public: the enroll secret is the credential). */
enum bw_step api_agent_enroll (struct bw_request *rq);

/* api/keys.c: the org's signing keys: rotation, and the signed keysets for admins and agents. */
enum bw_step api_keys_rotate (struct bw_request *rq);
enum bw_step api_keysets_get (struct bw_request *rq);
enum bw_step api_agent_keysets_get (struct bw_request *rq);

/* api/agents.c: the fleet view, /api/v1/orgs/{org}/agents and /fleet/summary. */
enum bw_step api_agents_list (struct bw_request *rq);
enum bw_step api_agents_get (struct bw_request *rq);
enum bw_step api_agents_update (struct bw_request *rq);
enum bw_step api_agents_delete (struct bw_request *rq);
enum bw_step api_fleet_summary (struct bw_request *rq);

/* api/catalog.c: the MCP catalog (DESIGN §5) — /api/v1/orgs/{org}/catalog/... (entries, import,
   review queue, tool lists, the transitions of the approval workflow) and
   POST /api/v1/agent/catalog/requests (agent credential). */
enum bw_step api_catalog_create (struct bw_request *rq);
enum bw_step api_catalog_import (struct bw_request *rq);
enum bw_step api_catalog_list (struct bw_request *rq);
enum bw_step api_catalog_queue (struct bw_request *rq);
enum bw_step api_catalog_get (struct bw_request *rq);
enum bw_step api_catalog_update (struct bw_request *rq);
enum bw_step api_catalog_tools (struct bw_request *rq);
enum bw_step api_catalog_review (struct bw_request *rq);
enum bw_step api_catalog_approve (struct bw_request *rq);
enum bw_step api_catalog_reject (struct bw_request *rq);
enum bw_step api_catalog_suspend (struct bw_request *rq);
enum bw_step api_catalog_resume (struct bw_request *rq);
enum bw_step api_catalog_revoke (struct bw_request *rq);
enum bw_step api_catalog_deprecate (struct bw_request *rq);
enum bw_step api_agent_catalog_request (struct bw_request *rq);

#endif
