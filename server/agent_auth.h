/**
 * @file server/agent_auth.h
 * Agent credentials (DESIGN §6): `bwa_`-prefixed secrets, stored as
 * SHA-256, looked up once and then answered from memory so the
 * nothing-changed check-in runs no SQL.  Entries are dropped on NOTIFY
 * bulwark_agent '<agent id>' (migration 0004 triggers: disable, delete,
 * user deactivated or deleted, org deleted) and re-read after
 * BW_AGENT_AUTH_TTL_S as a backstop.
 */
#ifndef BW_SERVER_AGENT_AUTH_H
#define BW_SERVER_AGENT_AUTH_H

#include <stdbool.h>
#include "server/request.h"

/** Prefix of agent credentials. */
#define BW_AGENT_CREDENTIAL_PREFIX "bwa_"
/** Seconds a cached credential is trusted without a NOTIFY before it is read again. */
#define BW_AGENT_AUTH_TTL_S 300

/** Outcome of authenticating an agent. */
enum bw_agent_auth_result
{
  BW_AGENT_AUTH_OK = 0,      /**< rq->principal is the agent */
  BW_AGENT_AUTH_INVALID,     /**< missing, unknown or deleted: 401 + node_invalid */
  BW_AGENT_AUTH_DISABLED,    /**< disabled by an admin: 403, do not re-enroll */
  BW_AGENT_AUTH_DB_UNAVAILABLE,
  BW_AGENT_AUTH_ERROR,
};

/** Authenticate the Bearer agent credential of @a rq into rq->principal. */
enum bw_agent_auth_result bw_agent_auth (struct bw_request *rq);

/**
 * Authenticate like bw_agent_auth and, on failure, reply with the agent
 * API's refusal, each with one meaning (DESIGN §6): 401 with
 * `"node_invalid": true` (enroll again), 403 agent_disabled (do not), 503
 * when the database cannot tell.  Also used when a parked check-in
 * resumes, so a credential revoked meanwhile is refused, not answered.
 * @return true when rq->principal is the agent; false when a reply was queued.
 */
bool bw_agent_auth_or_reply (struct bw_request *rq);

/** Reply 401 with `"node_invalid": true`: this agent must enroll again. */
enum bw_step bw_agent_reply_node_invalid (struct bw_request *rq);

/** Subscribe to bulwark_agent (before bw_notify_start). */
int bw_agent_auth_start (void);

/** Drop every cached credential. */
void bw_agent_auth_stop (void);

/**
 * Drop the cached credential of agent @a agent_id (a uuid) in this
 * process now, as its NOTIFY will: called after an admin change commits
 * so that the next request through this replica already sees it.
 */
void bw_agent_auth_forget (const char *agent_id);

#endif
