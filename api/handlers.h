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

#endif
