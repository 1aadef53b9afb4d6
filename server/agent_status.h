/**
 * @file server/agent_status.h
 * What agents report at check-in (DESIGN §6: version, keyset version,
 * active bundle, last error, staleness, spooled and dropped events) and
 * when they were last seen, kept in memory — the nothing-changed check-in
 * runs no SQL — and written to PostgreSQL in bulk every
 * BW_AGENT_STATUS_FLUSH_S seconds by one thread with its own connection
 * (db/agent_status.h: one statement per flush), and at stop.
 *
 * The table holds the latest report per agent, at most
 * BW_AGENT_STATUS_MAX agents between flushes; a full table is flushed at
 * once by the caller.  A failed flush keeps the reports for the next one
 * (unless a newer report of the same agent arrived meanwhile).
 */
#ifndef BW_SERVER_AGENT_STATUS_H
#define BW_SERVER_AGENT_STATUS_H

#include "db/agent_status.h"

/** Seconds between bulk flushes of reported status (the brief: 2 s). */
#define BW_AGENT_STATUS_FLUSH_S 2
/** Distinct agents held between flushes. */
#define BW_AGENT_STATUS_MAX DB_AGENT_STATUS_FLUSH_MAX

/**
 * Remember @a r as the latest report of agent r->agent_id, seen now
 * (r->seen_us is ignored and set to the wall clock).  Copies everything,
 * last_error included; @a r stays the caller's.  Thread-safe; runs no SQL
 * unless the table is full (then it flushes on the caller's connection).
 */
void bw_agent_status_record (const struct db_agent_report *r);

/** Start the flush thread.  @return 0, or -1. */
int bw_agent_status_start (void);

/** Stop the flush thread after a last flush (after the HTTP server stopped). */
void bw_agent_status_stop (void);

#endif
