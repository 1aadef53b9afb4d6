/**
 * @file db/catalog.h
 * The MCP catalog (DESIGN §5, migration 0006 `catalog_entries`).
 *
 * Entry documents are validated in lib/catalog.h before they reach this
 * layer; the state machine lives in api/catalog.c.
 */
#ifndef BW_DB_CATALOG_H
#define BW_DB_CATALOG_H

#include <jansson.h>
#include "db/db.h"

/**
 * The approved slice of org @a org_id as a bundle carries it (lib/catalog.h
 * "The approved slice"): every entry in state approved whose expires_at is
 * unset or after the statement's now(), sorted by name (bytewise), with
 * only its approved tools.  One statement, so one snapshot.
 * @param[out] slice  a new JSON array (caller owns) on success
 * @return DB_QS_ONE_RESULT (also for an empty catalog), or a negative db_qs.
 */
enum db_qs db_catalog_slice (const char *org_id, json_t **slice);

#endif
