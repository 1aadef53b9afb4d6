/**
 * @file api/agents.h
 * The fleet view's representation of an agent (API contract "Agents
 * admin"), shared by the admin handlers (api/agents.c) and enrollment
 * (api/agent_enroll.c), which audits the new agent with it.
 */
#ifndef BW_API_AGENTS_H
#define BW_API_AGENTS_H

#include <jansson.h>
#include "db/agent.h"
#include "lib/crypto.h"

/** Seconds past the check-in interval within which an agent still counts as online (DESIGN §6). */
#define API_AGENT_ONLINE_GRACE_S 60
/** Bytes of an agent ETag with its NUL: '"' + 64 hex + '"'. */
#define API_AGENT_ETAG_SIZE (BW_SHA256_HEX_LEN + 3)

/**
 * The agent object: {id, user_id|null, hostname, platform, agent_version,
 * enrolled_at, last_seen_at|null, online, disabled, desired|null,
 * active|null, drift, stale, last_error|null, keyset_version|null,
 * events:{spooled, dropped, last_seq}}, desired/active being
 * {bundle_version, sha256, head_serial}.
 * @return a new object, or NULL on allocation failure.
 */
json_t *api_agent_json (const struct db_agent *a);

/**
 * The agent's strong ETag: `"<hex SHA-256 of the canonical JSON of {id,
 * disabled_at}>"`, i.e. of what an admin changes (PATCH); the status the
 * agent reports does not change it.
 * @return 0, or -1 on allocation failure.
 */
int api_agent_etag (const struct db_agent *a, char out[API_AGENT_ETAG_SIZE]);

/**
 * Seconds since last_seen_at within which an agent is online: the
 * configured check-in interval (BULWARK_CHECKIN_INTERVAL) plus
 * API_AGENT_ONLINE_GRACE_S.
 */
unsigned int api_agents_online_window_s (void);

#endif
