/**
 * @file api/audit.h
 * Writing audit records from handlers (DESIGN §3): every mutation calls
 * api_audit() inside its transaction callback, so the record commits with
 * the change or not at all.
 */
#ifndef BW_API_AUDIT_H
#define BW_API_AUDIT_H

#include <jansson.h>
#include "db/db.h"
#include "server/request.h"

/**
 * Append an audit record for a mutation of @a rq in org @a org_id: actor,
 * request id and source address come from @a rq; @a before / @a after
 * (borrowed, either may be NULL) are digested with bw_json_digest.
 * Call only inside a db_tx_run callback.
 * @return DB_QS_ONE_RESULT or a negative db_qs (from db_audit_append).
 */
enum db_qs api_audit (const struct bw_request *rq, const char *org_id, const char *action,
                      const char *target_type, const char *target_id,
                      const json_t *before, const json_t *after);

/**
 * The API representation of one stored object (e.g. a `struct db_user`):
 * a new reference, or NULL on allocation failure.
 */
typedef json_t *(*api_audit_repr) (const void *object);

/**
 * api_audit() for a change of a stored object from @a before to @a after
 * (either NULL: created or deleted), each turned into its API
 * representation by @a repr before digesting.
 * @return DB_QS_ONE_RESULT, or a negative db_qs (DB_QS_HARD_ERROR when a
 *         representation could not be built).
 */
enum db_qs api_audit_change (const struct bw_request *rq, const char *org_id, const char *action,
                             const char *target_type, const char *target_id,
                             api_audit_repr repr, const void *before, const void *after);

#endif
