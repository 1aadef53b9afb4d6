/**
 * @file server/periodic.h
 * A background job on its own thread: the bulk flushes (token last-used
 * times, agent status) and the event partition upkeep.  The job's
 * function runs every period; stopping wakes the thread at once.  The
 * thread's database connection (db/conn.c, per thread) is closed when it
 * ends.
 */
#ifndef BW_SERVER_PERIODIC_H
#define BW_SERVER_PERIODIC_H

#include <pthread.h>
#include <stdbool.h>

/** One job.  Set the public fields, then bw_periodic_start; static storage is the norm. */
struct bw_periodic
{
  unsigned int period_s; /**< seconds between runs, ≥ 1 */
  bool run_at_start;     /**< run once as soon as the thread starts (upkeep) */
  bool run_at_stop;      /**< run once more when stopped, so nothing pending is lost (flushes) */
  void (*run) (void);    /**< the work; called on the job's thread only (or see stop) */

  /* private to server/periodic.c */
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stop;
  bool running;
};

/** Start @a job's thread.  A running job is left alone.  @return 0, or -1. */
int bw_periodic_start (struct bw_periodic *job);

/**
 * Stop @a job and join its thread (its last run, with run_at_stop, ends
 * first).  A job that never started with run_at_stop set runs once on the
 * caller's thread instead.
 */
void bw_periodic_stop (struct bw_periodic *job);

#endif
