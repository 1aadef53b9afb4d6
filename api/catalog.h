/**
 * @file api/catalog.h
 * The part of the catalog workflow (api/catalog.c, DESIGN §5) that runs
 * without a request: the expiry of approvals, driven every second by
 * server/catalog_expiry.c.
 */
#ifndef BW_API_CATALOG_H
#define BW_API_CATALOG_H

#include <stddef.h>
#include "db/db.h"

/** Audit actor of what the server does by itself (approval expiry). */
#define API_CATALOG_SYSTEM_ACTOR "system"
/** source_addr of the audit records of the system actor: no client is involved. */
#define API_CATALOG_SYSTEM_ADDR "internal"

/**
 * In one transaction: lock org @a org_id, retire each of its live
 * (approved or suspended) entries whose expires_at has passed: state
 * deprecated, expired_at set (db_catalog_expire_mark, at most
 * DB_CATALOG_EXPIRY_BATCH), audit each as `catalog.entry.expire` (actor
 * API_CATALOG_SYSTEM_ACTOR, request id @a request_id), and bump the org's
 * policy version once when an approved one was among them (a suspended
 * entry is in no bundle).  Replicas may run it at once: the org lock and
 * the state change make each expiry happen once.  Never inside db_tx_run
 * (it runs its own).
 * @param request_id  the audit records' request id (1..64 characters)
 * @param[out] marked  entries retired
 * @return DB_QS_ONE_RESULT (also when nothing was due), or a negative db_qs.
 */
enum db_qs api_catalog_expire_org (const char *org_id, const char *request_id, size_t *marked);

#endif
