/**
 * @file server/event_upkeep.h
 * The daily partitions of the events table (DESIGN §7, migration 0004):
 * created ahead of time for today and the next BW_EVENT_PARTITIONS_AHEAD_DAYS
 * UTC days, created on demand at intake for an event's day, and dropped
 * once their whole day lies more than the retention
 * (BULWARK_EVENT_RETENTION_DAYS) in the past.  A thread with its own
 * database connection runs one round at start and then every
 * BW_EVENT_UPKEEP_PERIOD_S; the drops run on one replica at a time, the
 * one that gets the advisory lock BW_EVENT_UPKEEP_LOCK_KEY for the round.
 * Days known to have a partition are remembered, so intake asks the
 * database only for a day it has not seen.
 */
#ifndef BW_SERVER_EVENT_UPKEEP_H
#define BW_SERVER_EVENT_UPKEEP_H

#include <stddef.h>
#include <stdint.h>
#include "db/db.h"
#include "server/settings.h"

/** Advisory lock key of the retention round (pg_try_advisory_xact_lock; "BWEVNTS" 1). */
#define BW_EVENT_UPKEEP_LOCK_KEY INT64_C (0x425745564e545301)
/** Seconds between upkeep rounds. */
#define BW_EVENT_UPKEEP_PERIOD_S 3600
/** Partitions exist ahead of time for today and this many following UTC days. */
#define BW_EVENT_PARTITIONS_AHEAD_DAYS 2
/** Retention, in days, before bw_event_upkeep_start is called (the setting's default). */
#define BW_EVENT_RETENTION_DAYS_DEFAULT 30

/**
 * Start the upkeep thread for @a cfg (retention from
 * cfg->event_retention_days).  Its first round runs at once.
 * @return 0, or -1 if the thread cannot start.
 */
int bw_event_upkeep_start (const struct bw_config *cfg);

/** Stop the thread (waits for a round in progress) and forget the known days. */
void bw_event_upkeep_stop (void);

/** The retention in days: events older than this are refused at intake. */
unsigned long bw_event_retention_days (void);

/**
 * Make sure the partitions of the @a n UTC days @a days (days since
 * 1970-01-01) exist, creating the missing ones (autocommit, on this
 * thread's connection; never inside db_tx_run).
 * @return DB_QS_ONE_RESULT, or the negative db_qs of the first failure.
 */
enum db_qs bw_event_partitions_ensure (const int64_t *days, size_t n);

/**
 * Forget that the @a n days @a days have partitions (after an intake that
 * failed, in case one was dropped behind our back): the next intake for
 * them asks the database again.
 */
void bw_event_partitions_forget (const int64_t *days, size_t n);

#endif
