/*
 * Background jobs: one thread each, waiting on a condition variable with
 * a CLOCK_MONOTONIC deadline so that stopping does not wait out a period.
 */
#include "config.h"
#include "server/periodic.h"
#include "db/db.h"

#include <errno.h>
#include <time.h>

static void *
job_main (void *cls)
{
  struct bw_periodic *job = cls;
  bool stopping = false;

  if (job->run_at_start)
    job->run ();
  while (!stopping)
    {
      struct timespec deadline;

      clock_gettime (CLOCK_MONOTONIC, &deadline);
      deadline.tv_sec += job->period_s;
      pthread_mutex_lock (&job->lock);
      while (!job->stop && ETIMEDOUT != pthread_cond_timedwait (&job->wake, &job->lock, &deadline))
        ;
      stopping = job->stop;
      pthread_mutex_unlock (&job->lock);
      if (!stopping || job->run_at_stop)
        job->run ();
    }
  db_thread_close ();
  return NULL;
}

int
bw_periodic_start (struct bw_periodic *job)
{
  pthread_condattr_t attr;
  int rc;

  if (job->running)
    return 0;
  if (0 != pthread_mutex_init (&job->lock, NULL))
    return -1;
  if (0 != pthread_condattr_init (&attr))
    {
      pthread_mutex_destroy (&job->lock);
      return -1;
    }
  rc = pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  if (0 == rc)
    rc = pthread_cond_init (&job->wake, &attr);
  pthread_condattr_destroy (&attr);
  if (0 != rc)
    {
      pthread_mutex_destroy (&job->lock);
      return -1;
    }
  job->stop = false;
  if (0 != pthread_create (&job->thread, NULL, job_main, job))
    {
      pthread_cond_destroy (&job->wake);
      pthread_mutex_destroy (&job->lock);
      return -1;
    }
  job->running = true;
  return 0;
}

void
bw_periodic_stop (struct bw_periodic *job)
{
  if (!job->running)
    {
      if (job->run_at_stop)
        job->run ();
      return;
    }
  pthread_mutex_lock (&job->lock);
  job->stop = true;
  pthread_cond_signal (&job->wake);
  pthread_mutex_unlock (&job->lock);
  pthread_join (job->thread, NULL);
  pthread_cond_destroy (&job->wake);
  pthread_mutex_destroy (&job->lock);
  job->running = false;
}
