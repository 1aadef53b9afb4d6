/*
 * Parked check-ins (server/longpoll.h).
 *
 * Each parked request has a state record, owned by the request
 * (rq->longpoll) and freed in its completion callback.  While parked, the
 * record sits in two indexes under one mutex:
 *  - its org's list, so that waking an org costs O(parked in that org);
 *  - a binary min-heap by deadline, so that the timer thread sleeps until
 *    the earliest deadline and expiring k requests costs O(k log n).
 * A record leaves both indexes before its connection is resumed, and the
 * suspend and the resume happen under the mutex, so each parking is
 * resumed exactly once and never before it was suspended.  Lock order:
 * this mutex, then libmicrohttpd's internal one (MHD_suspend_connection /
 * MHD_resume_connection take it); libmicrohttpd never calls us with its
 * lock held.
 */
#include "config.h"
#include "server/longpoll.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "server/reply.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Buckets of the org index: a power of two. */
#define ORG_BUCKETS 1024
/* First capacity of the heap; it doubles as needed. */
#define HEAP_INITIAL 1024
/* heap_pos of a record that is not in the heap. */
#define NOT_IN_HEAP ((size_t) -1)

#define NS_PER_S 1000000000ull

_Static_assert (0 == (ORG_BUCKETS & (ORG_BUCKETS - 1)), "buckets: power of two");

struct org_node;

struct bw_longpoll
{
  struct MHD_Connection *connection; /* borrowed from the request */
  uint64_t deadline_ns;              /* CLOCK_MONOTONIC, fixed at the first park */
  unsigned int wait_s;               /* as first asked */
  size_t heap_pos;                   /* index in lp.heap, or NOT_IN_HEAP */
  struct org_node *org;              /* while parked */
  struct bw_longpoll *prev;          /* in org->head, while parked */
  struct bw_longpoll *next;
  bool parked;                       /* in the indexes, connection suspended */
  bool resumed;                      /* resumed at least once */
  bool expired;                      /* resumed by the timer or at shutdown */
};

/* The parked requests of one org. */
struct org_node
{
  char org_id[37];
  struct bw_longpoll *head;
  struct org_node *next; /* in its bucket */
};

static struct
{
  pthread_mutex_t lock;
  pthread_cond_t wake;   /* a new earliest deadline, or stop (CLOCK_MONOTONIC) */
  struct org_node *buckets[ORG_BUCKETS];
  struct bw_longpoll **heap;
  size_t heap_len;
  size_t heap_cap;
  uint64_t epoch;
  bool stopping;         /* every park resumes at once */
  bool running;
  pthread_t thread;
} lp = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* FNV-1a of an org id (database uuids, not attacker-chosen). */
static size_t
org_bucket (const char *org_id)
{
  uint32_t h = 2166136261u;

  for (; '\0' != *org_id; org_id++)
    h = (h ^ (unsigned char) *org_id) * 16777619u;
  return h & (ORG_BUCKETS - 1);
}

/* ---- the heap (lp.lock held) ---- */

static void
heap_set (size_t i, struct bw_longpoll *e)
{
  lp.heap[i] = e;
  e->heap_pos = i;
}

static void
heap_up (size_t i)
{
  struct bw_longpoll *e = lp.heap[i];

  while (i > 0)
    {
      size_t parent = (i - 1) / 2;

      if (lp.heap[parent]->deadline_ns <= e->deadline_ns)
        break;
      heap_set (i, lp.heap[parent]);
      i = parent;
    }
  heap_set (i, e);
}

static void
heap_down (size_t i)
{
  struct bw_longpoll *e = lp.heap[i];

  for (;;)
    {
      size_t child = 2 * i + 1;

      if (child >= lp.heap_len)
        break;
      if (child + 1 < lp.heap_len && lp.heap[child + 1]->deadline_ns < lp.heap[child]->deadline_ns)
        child++;
      if (e->deadline_ns <= lp.heap[child]->deadline_ns)
        break;
      heap_set (i, lp.heap[child]);
      i = child;
    }
  heap_set (i, e);
}

/* @return 0, or -1 when the heap cannot grow. */
static int
heap_push (struct bw_longpoll *e)
{
  if (lp.heap_len == lp.heap_cap)
    {
      size_t cap = (0 == lp.heap_cap) ? HEAP_INITIAL : 2 * lp.heap_cap;
      struct bw_longpoll **grown = realloc (lp.heap, cap * sizeof (*grown));

      if (NULL == grown)
        return -1;
      lp.heap = grown;
      lp.heap_cap = cap;
    }
  lp.heap[lp.heap_len] = e;
  e->heap_pos = lp.heap_len++;
  heap_up (e->heap_pos);
  return 0;
}

static void
heap_remove (struct bw_longpoll *e)
{
  size_t i = e->heap_pos;
  struct bw_longpoll *last;

  if (NOT_IN_HEAP == i)
    return;
  e->heap_pos = NOT_IN_HEAP;
  last = lp.heap[--lp.heap_len];
  if (last == e)
    return;
  heap_set (i, last);
  if (i > 0 && lp.heap[(i - 1) / 2]->deadline_ns > last->deadline_ns)
    heap_up (i);
  else
    heap_down (i);
}

/* ---- the org index (lp.lock held) ---- */

static struct org_node *
org_find (const char *org_id, bool create)
{
  size_t b = org_bucket (org_id);
  struct org_node *n;

  for (n = lp.buckets[b]; NULL != n; n = n->next)
    if (0 == strcmp (n->org_id, org_id))
      return n;
  if (!create)
    return NULL;
  n = calloc (1, sizeof (*n));
  if (NULL == n)
    return NULL;
  strncpy (n->org_id, org_id, sizeof (n->org_id) - 1);
  n->next = lp.buckets[b];
  lp.buckets[b] = n;
  return n;
}

static void
org_free_if_empty (struct org_node *n)
{
  struct org_node **pp;

  if (NULL != n->head)
    return;
  for (pp = &lp.buckets[org_bucket (n->org_id)]; NULL != *pp; pp = &(*pp)->next)
    if (*pp == n)
      {
        *pp = n->next;
        free (n);
        return;
      }
}

static void
org_unlink (struct bw_longpoll *e)
{
  struct org_node *n = e->org;

  if (NULL == n)
    return;
  if (NULL != e->prev)
    e->prev->next = e->next;
  else
    n->head = e->next;
  if (NULL != e->next)
    e->next->prev = e->prev;
  e->prev = e->next = NULL;
  e->org = NULL;
  org_free_if_empty (n);
}

/* Take @a e out of both indexes and resume its connection (lp.lock held). */
static void
resume_locked (struct bw_longpoll *e, bool expired)
{
  heap_remove (e);
  org_unlink (e);
  e->parked = false;
  e->resumed = true;
  if (expired)
    e->expired = true;
  MHD_resume_connection (e->connection);
}

/* ---- the timer thread ---- */

static void *
timer_main (void *cls)
{
  (void) cls;
  pthread_mutex_lock (&lp.lock);
  while (!lp.stopping)
    {
      if (0 == lp.heap_len)
        {
          pthread_cond_wait (&lp.wake, &lp.lock);
          continue;
        }
      uint64_t first = lp.heap[0]->deadline_ns;
      if (first <= bw_monotonic_ns ())
        {
          resume_locked (lp.heap[0], true);
          continue;
        }
      struct timespec until = { .tv_sec = (time_t) (first / NS_PER_S),
                                .tv_nsec = (long) (first % NS_PER_S) };
      int rc = pthread_cond_timedwait (&lp.wake, &lp.lock, &until);
      if (0 != rc && ETIMEDOUT != rc)
        bw_logf (BW_LOG_ERROR, "long-poll timer: pthread_cond_timedwait failed (%d)", rc);
    }
  pthread_mutex_unlock (&lp.lock);
  return NULL;
}

/* ---- the interface ---- */

uint64_t
bw_longpoll_epoch (void)
{
  uint64_t e;

  pthread_mutex_lock (&lp.lock);
  e = lp.epoch;
  pthread_mutex_unlock (&lp.lock);
  return e;
}

enum bw_step
bw_longpoll_park (struct bw_request *rq, const char *org_id, unsigned int wait_s,
                  uint64_t epoch)
{
  struct bw_longpoll *e = rq->longpoll;
  uint64_t now = bw_monotonic_ns ();
  bool at_once;
  bool oom = false;

  if (NULL == e)
    {
      e = calloc (1, sizeof (*e));
      if (NULL == e)
        return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
      if (wait_s > BW_LONGPOLL_WAIT_MAX_S)
        wait_s = BW_LONGPOLL_WAIT_MAX_S;
      e->connection = rq->connection;
      e->wait_s = wait_s;
      e->deadline_ns = now + (uint64_t) wait_s * NS_PER_S;
      e->heap_pos = NOT_IN_HEAP;
      rq->longpoll = e;
    }
  pthread_mutex_lock (&lp.lock);
  MHD_suspend_connection (e->connection);
  at_once = lp.stopping || now >= e->deadline_ns || epoch != lp.epoch;
  if (!at_once)
    {
      e->org = org_find (org_id, true);
      if (NULL == e->org || 0 != heap_push (e))
        {
          if (NULL != e->org)
            org_free_if_empty (e->org);
          e->org = NULL;
          bw_logf (BW_LOG_WARN, "long-poll: out of memory, answering without waiting");
          at_once = oom = true;
        }
    }
  if (at_once)
    {
      /* the wait is over, or something changed since the caller looked:
         run the handler again at once */
      e->resumed = true;
      e->expired = e->expired || lp.stopping || now >= e->deadline_ns || oom;
      MHD_resume_connection (e->connection);
    }
  else
    {
      e->prev = NULL;
      e->next = e->org->head;
      if (NULL != e->next)
        e->next->prev = e;
      e->org->head = e;
      e->parked = true;
      if (0 == e->heap_pos)
        pthread_cond_signal (&lp.wake);
    }
  pthread_mutex_unlock (&lp.lock);
  return BW_SUSPENDED;
}

bool
bw_longpoll_resumed (const struct bw_request *rq)
{
  return NULL != rq->longpoll && rq->longpoll->resumed;
}

bool
bw_longpoll_timed_out (const struct bw_request *rq)
{
  const struct bw_longpoll *e = rq->longpoll;
  bool over;

  if (NULL == e)
    return false;
  pthread_mutex_lock (&lp.lock);
  over = e->expired || lp.stopping || bw_monotonic_ns () >= e->deadline_ns;
  pthread_mutex_unlock (&lp.lock);
  return over;
}

unsigned int
bw_longpoll_wait_s (const struct bw_request *rq)
{
  return (NULL != rq->longpoll) ? rq->longpoll->wait_s : 0;
}

void
bw_longpoll_wake_org (const char *org_id)
{
  pthread_mutex_lock (&lp.lock);
  lp.epoch++;
  if (NULL != org_id)
    {
      struct org_node *n = org_find (org_id, false);

      /* resume_locked frees the node with its last record */
      while (NULL != n && NULL != n->head)
        {
          bool last = (NULL == n->head->next);

          resume_locked (n->head, false);
          if (last)
            break;
        }
    }
  else
    while (lp.heap_len > 0)
      resume_locked (lp.heap[lp.heap_len - 1], false);
  pthread_mutex_unlock (&lp.lock);
}

void
bw_longpoll_release (struct bw_request *rq)
{
  struct bw_longpoll *e = rq->longpoll;

  if (NULL == e)
    return;
  rq->longpoll = NULL;
  pthread_mutex_lock (&lp.lock);
  if (e->parked)
    {
      /* libmicrohttpd closed a suspended connection (only at its stop):
         drop the record without resuming */
      heap_remove (e);
      org_unlink (e);
    }
  pthread_mutex_unlock (&lp.lock);
  free (e);
}

int
bw_longpoll_start (void)
{
  pthread_condattr_t attr;
  int rc;

  if (lp.running)
    return 0;
  if (0 != pthread_condattr_init (&attr))
    return -1;
  rc = pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  if (0 == rc)
    rc = pthread_cond_init (&lp.wake, &attr);
  pthread_condattr_destroy (&attr);
  if (0 != rc)
    return -1;
  lp.stopping = false;
  if (0 != pthread_create (&lp.thread, NULL, timer_main, NULL))
    {
      pthread_cond_destroy (&lp.wake);
      return -1;
    }
  lp.running = true;
  return 0;
}

void
bw_longpoll_stop (void)
{
  pthread_mutex_lock (&lp.lock);
  lp.stopping = true;
  lp.epoch++;
  while (lp.heap_len > 0)
    resume_locked (lp.heap[lp.heap_len - 1], true);
  if (lp.running)
    pthread_cond_signal (&lp.wake);
  pthread_mutex_unlock (&lp.lock);
  if (!lp.running)
    return;
  pthread_join (lp.thread, NULL);
  pthread_cond_destroy (&lp.wake);
  lp.running = false;
  pthread_mutex_lock (&lp.lock);
  free (lp.heap);
  lp.heap = NULL;
  lp.heap_cap = 0;
  pthread_mutex_unlock (&lp.lock);
}

size_t
bw_longpoll_parked (void)
{
  size_t n;

  pthread_mutex_lock (&lp.lock);
  n = lp.heap_len;
  pthread_mutex_unlock (&lp.lock);
  return n;
}
