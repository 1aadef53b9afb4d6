/**
 * @file db/event.h
 * Decision events (DESIGN §7): batch intake into the day-partitioned
 * `events` table with duplicate and seq-gap accounting, and the partition
 * upkeep (migration 0004: events_partition_ensure,
 * events_partitions_drop_before).
 *
 * Intake runs as one transaction per batch: the agent's row is locked
 * (so batches of one agent are stored one after the other and the
 * duplicate handling below is exact) and its last_event_seq advanced, the
 * events go in with one COPY (../shared/PERF.md: the fastest way in), the
 * seq gaps are recorded.  A resent event makes the COPY fail on the
 * primary key; the transaction then runs again, this time looking up the
 * (event_id, time) pairs already stored first and leaving them out.
 * Acknowledged means committed.
 */
#ifndef BW_DB_EVENT_H
#define BW_DB_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db/db.h"

/**
 * Bytes of an event time as the intake stores and compares it: RFC 3339
 * UTC with exactly six fraction digits, "2026-11-29T12:00:00.123456Z" —
 * the DB_SQL_TS form, so the texts of equal instants are equal — and NUL.
 */
#define DB_EVENT_TIME_SIZE DB_TS_SIZE
/** Bytes of a "YYYY-MM-DD" date and NUL. */
#define DB_EVENT_DAY_SIZE 11
/** Most events db_event_intake takes in one call (DESIGN §7 batch limit). */
#define DB_EVENT_BATCH_MAX 1000

/** One validated event; strings borrowed for the call. */
struct db_event
{
  char event_id[37];             /**< canonical lowercase UUIDv7 */
  int64_t seq;                   /**< >= 1 */
  char time[DB_EVENT_TIME_SIZE]; /**< see DB_EVENT_TIME_SIZE */
  const char *user;              /**< the agent's directory user (from its credential), or NULL */
  const char *reported_user;     /**< the account a userless agent reported, or NULL */
  const char *session;           /**< compact JSON object text, or NULL */
  const char *surface;
  const char *action;
  const char *resource; /**< compact JSON object text */
  const char *decision;
  const char *mode;
  const char *rule; /**< compact JSON object text, or NULL */
  const char *reason;
  int64_t bundle_version; /**< >= 0 */
};

/** A run of seq numbers never received: from_seq..to_seq inclusive. */
struct db_event_gap
{
  int64_t from_seq;
  int64_t to_seq;
};

/** What db_event_intake did. */
struct db_event_intake
{
  size_t accepted;   /**< events stored now */
  size_t duplicates; /**< events already stored, or repeated in the batch */
  size_t ngaps;
  struct db_event_gap *gaps; /**< owned: gaps found by this batch, ascending */
};

/** Free what @a r owns and zero it.  NULL-safe. */
void db_event_intake_clear (struct db_event_intake *r);

/**
 * Store the @a n (1..DB_EVENT_BATCH_MAX) events of one batch of agent
 * @a agent_id of org @a org_id, in one transaction (runs db_tx_run; call
 * outside a transaction).  An event whose (event_id, time) is already
 * stored for the agent, or repeats an earlier one of the batch, is counted
 * as a duplicate and not stored again.  Gaps: every seq above the agent's
 * last_event_seq that neither this batch nor an earlier one brought, up to
 * the highest seq of the batch, is recorded in event_seq_gaps (seqs at or
 * below it — late or resent — are not gaps, and fill nothing); then
 * last_event_seq becomes the highest seq seen.  The partitions of the
 * events' days must exist (db_event_partition_ensure).
 * @param[out] out  filled on success (clear it); zeroed otherwise
 * @return DB_QS_ONE_RESULT when committed; DB_QS_NO_RESULTS when the agent
 *         does not exist or is deleted (nothing stored); negative on error.
 */
enum db_qs db_event_intake (const char *org_id, const char *agent_id, const struct db_event *events,
                            size_t n, struct db_event_intake *out);

/**
 * Create the events partition of UTC day @a day ("YYYY-MM-DD") unless it
 * exists (autocommit; never inside db_tx_run: creating a partition locks
 * the parent table until commit).
 * @param[out] created  whether this call created it; may be NULL
 * @return DB_QS_ONE_RESULT, or negative.
 */
enum db_qs db_event_partition_ensure (const char *day, bool *created);

/** Partitions dropped by one db_event_partitions_drop_before call. */
struct db_event_dropped
{
  bool locked; /**< this replica held the lock and did the round */
  size_t n;
  char (*days)[DB_EVENT_DAY_SIZE]; /**< owned: the days dropped, "YYYY-MM-DD", ascending */
};

/** Free what @a d owns and zero it.  NULL-safe. */
void db_event_dropped_clear (struct db_event_dropped *d);

/**
 * One retention round: in one transaction, take the advisory lock
 * @a lock_key (pg_try_advisory_xact_lock, so one replica at a time; the
 * others skip the round), then drop every events partition whose whole
 * UTC day lies before @a cutoff ("YYYY-MM-DD").
 * @param[out] out  what was dropped (clear it)
 * @return DB_QS_NO_RESULTS or ONE_RESULT (dropped something), or negative.
 */
enum db_qs db_event_partitions_drop_before (int64_t lock_key, const char *cutoff,
                                            struct db_event_dropped *out);

#endif
