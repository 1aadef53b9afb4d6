/*
 * Agent check-in reports, in memory until flushed in bulk
 * (server/agent_status.h).  The pattern of the token last-used table in
 * server/auth.c: an open-addressing table under one mutex, emptied under
 * the lock and written outside it by a thread with its own connection.
 */
#include "config.h"
#include "server/agent_status.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "server/periodic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Open-addressing slots: a power of two, at most half full. */
#define STATUS_SLOTS (2 * BW_AGENT_STATUS_MAX)

_Static_assert (0 == (STATUS_SLOTS & (STATUS_SLOTS - 1)), "slots: power of two");

static struct
{
  pthread_mutex_t lock;
  struct db_agent_report *slots[STATUS_SLOTS]; /* owned; NULL when free */
  size_t used;
} st = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* FNV-1a (agent ids are database uuids, not attacker-chosen). */
static size_t
slot_of (const char *id)
{
  uint32_t h = 2166136261u;

  for (; '\0' != *id; id++)
    h = (h ^ (unsigned char) *id) * 16777619u;
  return h & (STATUS_SLOTS - 1);
}

static void
report_free (struct db_agent_report *r)
{
  if (NULL == r)
    return;
  free (r->last_error);
  free (r);
}

/*
 * Put @a r (taken over) into the table unless a newer report of the same
 * agent is there (then @a r is freed).  @return 0, or -1 when the table
 * is full (@a r is still the caller's).
 */
static int
put_locked (struct db_agent_report *r)
{
  size_t i = slot_of (r->agent_id);

  while (NULL != st.slots[i])
    {
      struct db_agent_report *old = st.slots[i];

      if (0 == strcmp (old->agent_id, r->agent_id))
        {
          if (r->seen_us >= old->seen_us)
            {
              st.slots[i] = r;
              report_free (old);
            }
          else
            report_free (r);
          return 0;
        }
      i = (i + 1) & (STATUS_SLOTS - 1);
    }
  if (st.used >= BW_AGENT_STATUS_MAX)
    return -1;
  st.slots[i] = r;
  st.used++;
  return 0;
}

struct flush_ctx
{
  struct db_agent_report *const *items;
  size_t n;
};

static enum db_qs
flush_tx (void *cls)
{
  const struct flush_ctx *fc = cls;

  return db_agent_status_flush (fc->items, fc->n);
}

/*
 * Move every pending report into one bulk UPDATE on this thread's
 * connection.  On failure the reports go back into the table for the next
 * flush (those that no longer fit are counted in the log).
 */
static void
flush (void)
{
  struct db_agent_report **batch;
  struct flush_ctx fc = { 0 };
  size_t dropped = 0;
  enum db_qs qs;

  pthread_mutex_lock (&st.lock);
  if (0 == st.used)
    {
      pthread_mutex_unlock (&st.lock);
      return;
    }
  batch = malloc (st.used * sizeof (*batch));
  if (NULL == batch)
    {
      pthread_mutex_unlock (&st.lock);
      bw_logf (BW_LOG_ERROR, "agent status flush: out of memory");
      return;
    }
  for (size_t i = 0; i < STATUS_SLOTS; i++)
    if (NULL != st.slots[i])
      {
        batch[fc.n++] = st.slots[i];
        st.slots[i] = NULL;
      }
  st.used = 0;
  pthread_mutex_unlock (&st.lock);

  fc.items = batch;
  /* a transaction, so a deadlock with another replica's flush is retried */
  qs = db_tx_run (DB_READ_COMMITTED, flush_tx, &fc);
  if (qs >= 0)
    {
      for (size_t i = 0; i < fc.n; i++)
        report_free (batch[i]);
    }
  else
    {
      pthread_mutex_lock (&st.lock);
      for (size_t i = 0; i < fc.n; i++)
        if (0 != put_locked (batch[i]))
          {
            report_free (batch[i]);
            dropped++;
          }
      pthread_mutex_unlock (&st.lock);
      bw_log_json (BW_LOG_WARN, "agent status flush failed",
                   json_pack ("{s:i, s:I, s:I}", "db_qs", (int) qs,
                              "kept", (json_int_t) (fc.n - dropped),
                              "dropped", (json_int_t) dropped));
    }
  free (batch);
}

/* A deep copy of @a r, seen now.  @return NULL when out of memory. */
static struct db_agent_report *
report_copy (const struct db_agent_report *r)
{
  struct db_agent_report *c = malloc (sizeof (*c));

  if (NULL == c)
    return NULL;
  *c = *r;
  c->seen_us = bw_realtime_us ();
  c->last_error = NULL;
  if (NULL != r->last_error && NULL == (c->last_error = strdup (r->last_error)))
    {
      free (c);
      return NULL;
    }
  return c;
}

void
bw_agent_status_record (const struct db_agent_report *r)
{
  struct db_agent_report *c = report_copy (r);
  int rc;

  if (NULL == c)
    {
      bw_logf (BW_LOG_WARN, "agent status: out of memory, one report not recorded");
      return;
    }
  pthread_mutex_lock (&st.lock);
  rc = put_locked (c);
  pthread_mutex_unlock (&st.lock);
  if (0 == rc)
    return;
  flush ();
  pthread_mutex_lock (&st.lock);
  rc = put_locked (c);
  pthread_mutex_unlock (&st.lock);
  if (0 != rc)
    {
      report_free (c);
      bw_logf (BW_LOG_WARN, "agent status table full, one report not recorded");
    }
}

/* Its last run, at stop, flushes what is pending. */
static struct bw_periodic flusher = {
  .period_s = BW_AGENT_STATUS_FLUSH_S, .run_at_stop = true, .run = flush
};

int
bw_agent_status_start (void)
{
  return bw_periodic_start (&flusher);
}

void
bw_agent_status_stop (void)
{
  bw_periodic_stop (&flusher); /* flushes, on the caller's connection if never started */
  /* what a failed last flush kept cannot be written any more */
  pthread_mutex_lock (&st.lock);
  for (size_t i = 0; i < STATUS_SLOTS; i++)
    {
      report_free (st.slots[i]);
      st.slots[i] = NULL;
    }
  st.used = 0;
  pthread_mutex_unlock (&st.lock);
}
