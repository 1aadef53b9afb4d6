/*
 * Partition upkeep of the events table (see server/event_upkeep.h).
 *
 * Known days: a sorted array of day numbers under a mutex.  It holds the
 * days this process created or saw created, from the retention cutoff up
 * to a few days ahead, so it stays small; each round drops what fell out.
 */
#include "config.h"
#include "server/event_upkeep.h"
#include "server/periodic.h"
#include "db/event.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** Seconds in a UTC day (POSIX time has no leap seconds). */
#define DAY_S 86400

static struct
{
  pthread_mutex_t lock;
  int64_t *days; /* ascending */
  size_t n;
  size_t cap;
} known = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct
{
  pthread_mutex_t lock;
  unsigned long retention_days;
} job = { .lock = PTHREAD_MUTEX_INITIALIZER, .retention_days = BW_EVENT_RETENTION_DAYS_DEFAULT };

unsigned long
bw_event_retention_days (void)
{
  pthread_mutex_lock (&job.lock);
  unsigned long d = job.retention_days;
  pthread_mutex_unlock (&job.lock);
  return d;
}

/* "YYYY-MM-DD" of day number @a day. */
static void
day_text (int64_t day, char out[DB_EVENT_DAY_SIZE])
{
  time_t t = (time_t) (day * DAY_S);
  struct tm tm;
  gmtime_r (&t, &tm);
  strftime (out, DB_EVENT_DAY_SIZE, "%Y-%m-%d", &tm);
}

/* Day number of "YYYY-MM-DD".  @return 0, or -1 if it does not parse. */
static int
day_parse (const char *s, int64_t *day)
{
  struct tm tm = { 0 };
  const char *end = strptime (s, "%Y-%m-%d", &tm);
  if (NULL == end || '\0' != *end)
    return -1;
  *day = (int64_t) timegm (&tm) / DAY_S;
  return 0;
}

/* Index of the first known day >= @a day (lock held). */
static size_t
known_find_locked (int64_t day)
{
  size_t lo = 0;
  size_t hi = known.n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (known.days[mid] < day)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

static bool
known_has (int64_t day)
{
  pthread_mutex_lock (&known.lock);
  size_t i = known_find_locked (day);
  bool has = i < known.n && known.days[i] == day;
  pthread_mutex_unlock (&known.lock);
  return has;
}

/* Remember @a day (on allocation failure it is simply asked for again next time). */
static void
known_add (int64_t day)
{
  pthread_mutex_lock (&known.lock);
  size_t i = known_find_locked (day);
  if (i == known.n || known.days[i] != day)
    {
      if (known.n == known.cap)
        {
          size_t cap = (0 == known.cap) ? 16 : 2 * known.cap;
          int64_t *grown = realloc (known.days, cap * sizeof (*grown));
          if (NULL == grown)
            {
              pthread_mutex_unlock (&known.lock);
              return;
            }
          known.days = grown;
          known.cap = cap;
        }
      memmove (known.days + i + 1, known.days + i, (known.n - i) * sizeof (*known.days));
      known.days[i] = day;
      known.n++;
    }
  pthread_mutex_unlock (&known.lock);
}

/* Forget @a day. */
static void
known_remove (int64_t day)
{
  pthread_mutex_lock (&known.lock);
  size_t i = known_find_locked (day);
  if (i < known.n && known.days[i] == day)
    {
      memmove (known.days + i, known.days + i + 1, (known.n - i - 1) * sizeof (*known.days));
      known.n--;
    }
  pthread_mutex_unlock (&known.lock);
}

/* Forget every day before @a day. */
static void
known_prune_before (int64_t day)
{
  pthread_mutex_lock (&known.lock);
  size_t i = known_find_locked (day);
  if (i > 0)
    {
      memmove (known.days, known.days + i, (known.n - i) * sizeof (*known.days));
      known.n -= i;
    }
  pthread_mutex_unlock (&known.lock);
}

enum db_qs
bw_event_partitions_ensure (const int64_t *days, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      if (known_has (days[i]))
        continue;
      char text[DB_EVENT_DAY_SIZE];
      bool created = false;
      day_text (days[i], text);
      enum db_qs qs = db_event_partition_ensure (text, &created);
      if (qs < 0)
        return qs;
      if (created)
        bw_log_json (BW_LOG_INFO, "events partition created", json_pack ("{s:s}", "day", text));
      known_add (days[i]);
    }
  return DB_QS_ONE_RESULT;
}

void
bw_event_partitions_forget (const int64_t *days, size_t n)
{
  for (size_t i = 0; i < n; i++)
    known_remove (days[i]);
}

/* One round: partitions ahead, then retention. */
static void
upkeep_round (void)
{
  int64_t today = (int64_t) time (NULL) / DAY_S;
  int64_t ahead[BW_EVENT_PARTITIONS_AHEAD_DAYS + 1];
  for (size_t i = 0; i <= BW_EVENT_PARTITIONS_AHEAD_DAYS; i++)
    ahead[i] = today + (int64_t) i;
  enum db_qs qs = bw_event_partitions_ensure (ahead, BW_EVENT_PARTITIONS_AHEAD_DAYS + 1);
  if (qs < 0)
    bw_log_json (BW_LOG_WARN, "events partitions ahead: not created",
                 json_pack ("{s:i}", "db_qs", (int) qs));

  /* a partition goes when its whole day lies before now - retention */
  int64_t cutoff = ((int64_t) time (NULL) - (int64_t) bw_event_retention_days () * DAY_S) / DAY_S;
  char cutoff_text[DB_EVENT_DAY_SIZE];
  day_text (cutoff, cutoff_text);
  struct db_event_dropped dropped;
  qs = db_event_partitions_drop_before (BW_EVENT_UPKEEP_LOCK_KEY, cutoff_text, &dropped);
  if (qs < 0)
    bw_log_json (BW_LOG_WARN, "events retention round failed (retried next round)",
                 json_pack ("{s:i}", "db_qs", (int) qs));
  json_t *names = (dropped.n > 0) ? json_array () : NULL;
  for (size_t i = 0; i < dropped.n; i++)
    {
      int64_t day;
      if (0 == day_parse (dropped.days[i], &day))
        known_remove (day);
      json_array_append_new (names, json_string (dropped.days[i]));
    }
  if (NULL != names)
    bw_log_json (BW_LOG_INFO, "events partitions dropped past retention",
                 json_pack ("{s:o, s:s, s:I}", "days", names, "cutoff", cutoff_text,
                            "retention_days", (json_int_t) bw_event_retention_days ()));
  /* another replica may have dropped older ones: forget every day before the cutoff */
  known_prune_before (cutoff);
  db_event_dropped_clear (&dropped);
}

static struct bw_periodic upkeep = {
  .period_s = BW_EVENT_UPKEEP_PERIOD_S, .run_at_start = true, .run = upkeep_round
};

int
bw_event_upkeep_start (const struct bw_config *cfg)
{
  pthread_mutex_lock (&job.lock);
  job.retention_days = cfg->event_retention_days;
  pthread_mutex_unlock (&job.lock);
  return bw_periodic_start (&upkeep);
}

void
bw_event_upkeep_stop (void)
{
  bw_periodic_stop (&upkeep);
  pthread_mutex_lock (&known.lock);
  free (known.days);
  known.days = NULL;
  known.n = known.cap = 0;
  pthread_mutex_unlock (&known.lock);
}
