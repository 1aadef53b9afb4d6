/**
 * @file db/agent_status.h
 * What agents report at check-in (DESIGN §6), written to their `agents`
 * rows (migration 0004: last_seen_at, reported_at and the reported_*
 * columns) in bulk: one statement per flush, never one per check-in
 * (server/agent_status.h keeps the reports in memory between flushes).
 */
#ifndef BW_DB_AGENT_STATUS_H
#define BW_DB_AGENT_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/agent.h"
#include "db/db.h"
#include "lib/crypto.h"
#include "lib/ident.h"

/** Most reports one db_agent_status_flush call takes. */
#define DB_AGENT_STATUS_FLUSH_MAX 16384

/** One agent's last check-in report.  Integers are within 0..INT64_MAX. */
struct db_agent_report
{
  char agent_id[BW_UUID_LEN + 1];
  char org_id[BW_UUID_LEN + 1];
  int64_t seen_us;                                  /**< wall clock of the check-in, µs since
                                                         the Unix epoch */
  char agent_version[DB_AGENT_VERSION_MAX + 1];     /**< 1..DB_AGENT_VERSION_MAX bytes */
  int64_t keyset_version;                           /**< keyset the agent holds */
  bool has_active;                                  /**< false: it runs no bundle yet */
  int64_t active_version;                           /**< when has_active */
  char active_sha256[BW_SHA256_HEX_LEN + 1];        /**< when has_active */
  int64_t active_head_serial;                       /**< when has_active */
  char *last_error;                                 /**< NULL for none, else at most
                                                         DB_AGENT_LAST_ERROR_MAX bytes; owned
                                                         by whoever holds the report */
  bool stale;                                       /**< running past its head's expiry */
  int64_t events_spooled;
  int64_t events_dropped;
};

/**
 * Store @a n (1..DB_AGENT_STATUS_FLUSH_MAX) reports with ONE statement
 * (UPDATE … FROM jsonb_to_recordset).  A report older than what the row
 * already holds (reported_at; another replica flushed a later one) is
 * skipped; last_seen_at only moves forward.  Rows of deleted agents, of
 * another org than the report's, and unknown ids are skipped too.
 * @return rows updated (>= 0), or a negative db_qs (DB_QS_SOFT_ERROR on a
 *         deadlock with a concurrent flush: run it inside db_tx_run).
 */
enum db_qs db_agent_status_flush (struct db_agent_report *const *items, size_t n);

#endif
