/*
 * The replica's LISTEN connection (see server/notify.h).  One thread owns
 * one libpq connection of its own (not the db layer's per-thread one, which
 * the callbacks may use for their queries), waits in poll() on its socket
 * and on a stop pipe, and dispatches each notification to the callbacks of
 * its channel in the order they subscribed.
 *
 * After every successful (re)connect — the first one included, since a
 * change may have committed between start-up and the first LISTEN — every
 * callback is called once with a NULL payload: "you may have missed
 * something".  An idle connection is pinged every NOTIFY_PING_S so that a
 * silently dropped one is noticed; a broken one is replaced after a pause
 * that grows from NOTIFY_RETRY_MIN_MS to NOTIFY_RETRY_MAX_MS.
 */
#include "config.h"
#include "server/notify.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/** Seconds of silence after which the connection is pinged. */
#define NOTIFY_PING_S 30
/** Pause after the first failed connection attempt, milliseconds; doubles up to the max. */
#define NOTIFY_RETRY_MIN_MS 250
#define NOTIFY_RETRY_MAX_MS 5000
/** Longest channel name (PostgreSQL identifiers: NAMEDATALEN - 1). */
#define NOTIFY_CHANNEL_MAX 63

struct subscription
{
  const char *channel; /* a literal */
  bw_notify_cb cb;
  void *cls;
};

static struct subscription subs[BW_NOTIFY_MAX];
static size_t nsubs;
static bool started;
static char *conninfo;
static pthread_t thread;
static int stop_pipe[2] = { -1, -1 };

int
bw_notify_subscribe (const char *channel, bw_notify_cb cb, void *cls)
{
  if (started || nsubs == BW_NOTIFY_MAX || NULL == channel || NULL == cb
      || strlen (channel) > NOTIFY_CHANNEL_MAX)
    {
      bw_log_json (BW_LOG_ERROR, "cannot subscribe to a notification channel",
                   json_pack ("{s:s?, s:b, s:i}", "channel", channel, "started", started,
                              "subscriptions", (int) nsubs));
      return -1;
    }
  subs[nsubs++] = (struct subscription){ .channel = channel, .cb = cb, .cls = cls };
  return 0;
}

static void
dispatch (const char *channel, const char *payload)
{
  for (size_t i = 0; i < nsubs; i++)
    if (NULL == channel || 0 == strcmp (subs[i].channel, channel))
      subs[i].cb (subs[i].cls, subs[i].channel, payload);
}

static bool
stop_requested (void)
{
  char c;
  return 1 == read (stop_pipe[0], &c, 1);
}

/* Sleep @a ms unless stopped meanwhile.  @return true if stop was requested. */
static bool
pause_ms (int ms)
{
  struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };
  return poll (&p, 1, ms) > 0;
}

/*
 * Server notices and the errors PostgreSQL sends outside a query (e.g.
 * "terminating connection due to administrator command") go to the JSON
 * log, not to libpq's default stderr printer.
 */
static void
notice_cb (void *arg, const PGresult *res)
{
  const char *msg = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
  bw_log_json (BW_LOG_WARN, "notification connection notice",
               json_pack ("{s:s?, s:s?, s:s?}", "severity",
                          PQresultErrorField (res, PG_DIAG_SEVERITY_NONLOCALIZED), "sqlstate",
                          PQresultErrorField (res, PG_DIAG_SQLSTATE), "server_message", msg));
}

/* LISTEN on channel @a ch.  @return 0, or -1 (logged). */
static int
listen_on (PGconn *c, const char *ch)
{
  /* LISTEN takes no parameters: the channel is one of our literals, quoted. */
  char *ident = PQescapeIdentifier (c, ch, strlen (ch));
  if (NULL == ident)
    return -1;
  char sql[2 * NOTIFY_CHANNEL_MAX + 16];
  snprintf (sql, sizeof (sql), "LISTEN %s", ident);
  PQfreemem (ident);
  PGresult *r = PQexec (c, sql);
  int rc = (PGRES_COMMAND_OK == PQresultStatus (r)) ? 0 : -1;
  if (0 != rc)
    bw_log_json (BW_LOG_WARN, "LISTEN failed",
                 json_pack ("{s:s, s:s}", "channel", ch, "error", PQerrorMessage (c)));
  PQclear (r);
  return rc;
}

/* A connection listening on every channel, or NULL (logged). */
static PGconn *
connect_listen (void)
{
  static const char *const keys[] = { "connect_timeout",  "application_name", "client_encoding",
                                      "keepalives",       "keepalives_idle",  "keepalives_interval",
                                      "keepalives_count", "dbname",           NULL };
  const char *const values[]
    = { "2", "bulwarkd-listen", "UTF8", "1", "30", "10", "3", conninfo, NULL };
  PGconn *c = PQconnectdbParams (keys, values, 1);
  if (NULL == c || CONNECTION_OK != PQstatus (c))
    {
      bw_log_json (
        BW_LOG_WARN, "notification connection failed",
        json_pack ("{s:s}", "error", (NULL != c) ? PQerrorMessage (c) : "out of memory"));
      PQfinish (c);
      return NULL;
    }
  PQsetNoticeReceiver (c, &notice_cb, NULL);
  for (size_t i = 0; i < nsubs; i++)
    {
      bool dup = false;
      for (size_t j = 0; j < i; j++)
        dup = dup || 0 == strcmp (subs[i].channel, subs[j].channel);
      if (!dup && 0 != listen_on (c, subs[i].channel))
        {
          PQfinish (c);
          return NULL;
        }
    }
  if (0 != PQsetnonblocking (c, 1))
    {
      PQfinish (c);
      return NULL;
    }
  return c;
}

/* Dispatch every notification that has arrived.  @return 0, or -1 when the connection broke. */
static int
drain (PGconn *c)
{
  if (1 != PQconsumeInput (c))
    return -1;
  PGnotify *n;
  while (NULL != (n = PQnotifies (c)))
    {
      dispatch (n->relname, n->extra);
      PQfreemem (n);
    }
  return (CONNECTION_OK == PQstatus (c)) ? 0 : -1;
}

/* A round trip on the idle connection.  @return 0, or -1 when it is broken. */
static int
ping (PGconn *c)
{
  if (0 != PQsetnonblocking (c, 0))
    return -1;
  PGresult *r = PQexec (c, "SELECT 1");
  int rc = (PGRES_TUPLES_OK == PQresultStatus (r)) ? 0 : -1;
  PQclear (r);
  if (0 != rc || 0 != PQsetnonblocking (c, 1))
    return -1;
  return drain (c); /* notifications that came with the reply */
}

static void *
run (void *unused)
{
  int retry_ms = NOTIFY_RETRY_MIN_MS;
  for (;;)
    {
      PGconn *c = connect_listen ();
      if (NULL == c)
        {
          if (pause_ms (retry_ms))
            break;
          retry_ms = (retry_ms * 2 > NOTIFY_RETRY_MAX_MS) ? NOTIFY_RETRY_MAX_MS : retry_ms * 2;
          continue;
        }
      retry_ms = NOTIFY_RETRY_MIN_MS;
      bw_log_json (BW_LOG_INFO, "listening for notifications",
                   json_pack ("{s:i}", "channels", (int) nsubs));
      dispatch (NULL, NULL);
      bool stop = false;
      int rc = 0;
      while (0 == rc)
        {
          struct pollfd p[2] = {
            { .fd = stop_pipe[0], .events = POLLIN },
            { .fd = PQsocket (c), .events = POLLIN },
          };
          int n = poll (p, 2, NOTIFY_PING_S * 1000);
          if (n < 0 && EINTR != errno)
            rc = -1;
          else if (n > 0 && 0 != p[0].revents && stop_requested ())
            {
              stop = true;
              break;
            }
          else if (n > 0)
            rc = drain (c);
          else if (0 == n)
            rc = ping (c);
        }
      PQfinish (c);
      if (stop)
        break;
      bw_log_json (BW_LOG_WARN, "notification connection lost; reconnecting", NULL);
    }
  return NULL;
}

int
bw_notify_start (const char *database_url)
{
  if (started)
    return -1;
  conninfo = strdup (database_url);
  if (NULL == conninfo || 0 != pipe (stop_pipe))
    {
      free (conninfo);
      conninfo = NULL;
      return -1;
    }
  fcntl (stop_pipe[0], F_SETFL, O_NONBLOCK);
  started = true;
  if (0 != pthread_create (&thread, NULL, &run, NULL))
    {
      started = false;
      close (stop_pipe[0]);
      close (stop_pipe[1]);
      stop_pipe[0] = stop_pipe[1] = -1;
      free (conninfo);
      conninfo = NULL;
      return -1;
    }
  return 0;
}

void
bw_notify_stop (void)
{
  if (!started)
    return;
  char c = 's';
  while (1 != write (stop_pipe[1], &c, 1) && EINTR == errno)
    ;
  pthread_join (thread, NULL);
  close (stop_pipe[0]);
  close (stop_pipe[1]);
  stop_pipe[0] = stop_pipe[1] = -1;
  free (conninfo);
  conninfo = NULL;
  started = false;
  nsubs = 0;
}
