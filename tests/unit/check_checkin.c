/*
 * Unit tests of the server side of check-in that need no database:
 *  - the `Prefer: wait` parser (RFC 7240) and `If-None-Match` (RFC 9110
 *    §13.1.2) of server/http_headers.c;
 *  - server/longpoll.c against a real libmicrohttpd daemon configured as
 *    bulwarkd's (thread pool, epoll, suspend/resume): hundreds of parked
 *    requests woken by org, expired in deadline order by the timer thread,
 *    kept parked across an unrelated org's wake, re-parked with their first
 *    deadline, resumed at once after a missed wake-up (epoch), and all
 *    answered at stop.
 */
#include "config.h"
#include "server/http_headers.h"
#include "server/longpoll.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ORG_A "0190a000-0000-7000-8000-00000000000a"
#define ORG_B "0190a000-0000-7000-8000-00000000000b"

/* ---- Prefer: wait ---- */

static enum bw_prefer_wait
wait_of (const char *value, unsigned int *s)
{
  *s = 12345;
  return bw_prefer_wait_parse (value, s);
}

START_TEST (test_prefer_wait)
{
  unsigned int s;

  ck_assert_int_eq (wait_of ("wait=30", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 30);
  ck_assert_int_eq (wait_of ("respond-async, wait=30", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 30);
  ck_assert_int_eq (wait_of ("respond-async,wait = 7", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 7);
  ck_assert_int_eq (wait_of ("WAIT=5", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 5);
  ck_assert_int_eq (wait_of ("return=minimal; foo=\"a,b;c\", wait=9;x=1", &s),
                    BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 9);
  ck_assert_int_eq (wait_of ("handling=lenient, , wait=0", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 0);
  ck_assert_int_eq (wait_of ("wait=99999999999999999999", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, UINT_MAX);
  /* only the first instance counts (RFC 7240 §2) */
  ck_assert_int_eq (wait_of ("wait=3, wait=50", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 3);
  ck_assert_int_eq (wait_of ("wait=abc, wait=50", &s), BW_PREFER_WAIT_INVALID);
  /* a malformed element is skipped, the rest still read */
  ck_assert_int_eq (wait_of ("@@@, wait=4", &s), BW_PREFER_WAIT_VALID);
  ck_assert_uint_eq (s, 4);
  /* an unterminated quote is no quoted-string: the element ends at the comma */
  ck_assert_int_eq (wait_of ("x=\"unterminated, wait=4", &s), BW_PREFER_WAIT_VALID);

  ck_assert_int_eq (wait_of ("", &s), BW_PREFER_WAIT_ABSENT);
  ck_assert_int_eq (wait_of ("respond-async", &s), BW_PREFER_WAIT_ABSENT);
  ck_assert_int_eq (wait_of ("waiting=5, await=5", &s), BW_PREFER_WAIT_ABSENT);
  ck_assert_uint_eq (s, 12345);
  ck_assert_int_eq (wait_of ("wait", &s), BW_PREFER_WAIT_INVALID);
  ck_assert_int_eq (wait_of ("wait=", &s), BW_PREFER_WAIT_INVALID);
  ck_assert_int_eq (wait_of ("wait=-1", &s), BW_PREFER_WAIT_INVALID);
  ck_assert_int_eq (wait_of ("wait=1.5", &s), BW_PREFER_WAIT_INVALID);
  ck_assert_int_eq (wait_of ("wait=\"10\"", &s), BW_PREFER_WAIT_INVALID);
  ck_assert_int_eq (wait_of ("wait=10 junk", &s), BW_PREFER_WAIT_INVALID);
}
END_TEST

/* ---- If-None-Match ---- */

START_TEST (test_if_none_match)
{
  const char *t = "abc123";

  ck_assert (bw_if_none_match_parse ("\"abc123\"", t));
  ck_assert (bw_if_none_match_parse ("W/\"abc123\"", t));
  ck_assert (bw_if_none_match_parse ("\"x\", W/\"abc123\"", t));
  ck_assert (bw_if_none_match_parse (" \"x\" ,, \"abc123\" ", t));
  ck_assert (bw_if_none_match_parse ("*", t));
  ck_assert (bw_if_none_match_parse (" * ", t));

  ck_assert (!bw_if_none_match_parse ("\"abc1234\"", t));
  ck_assert (!bw_if_none_match_parse ("\"ABC123\"", t));
  ck_assert (!bw_if_none_match_parse ("abc123", t));
  ck_assert (!bw_if_none_match_parse ("\"abc123", t));
  ck_assert (!bw_if_none_match_parse ("w/\"abc123\"", t));
  ck_assert (!bw_if_none_match_parse ("\"abc123\" junk", t));
  ck_assert (!bw_if_none_match_parse ("*, \"abc123\"", t));
  ck_assert (!bw_if_none_match_parse ("\"ab c123\"", t));
  ck_assert (!bw_if_none_match_parse ("", t));
}
END_TEST

/* ---- long-poll against a real libmicrohttpd ---- */

static struct MHD_Daemon *daemon_h;
static unsigned short port;

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static enum MHD_Result
reply (struct MHD_Connection *c, const char *text)
{
  struct MHD_Response *r = MHD_create_response_from_buffer (strlen (text), (void *) text,
                                                            MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret = MHD_queue_response (c, 200, r);

  MHD_destroy_response (r);
  return ret;
}

/*
 * GET /?org=<id>&wait=<s>[&stale=1][&repark=1]: the first run parks (with
 * an outdated epoch when stale); a rerun answers "woken" or "timeout", or
 * with repark parks once more after a wake-up.
 */
static enum MHD_Result
on_access (void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
  struct bw_request *rq = *con_cls;
  const char *org = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "org");
  const char *wait = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "wait");
  bool stale = NULL != MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "stale");
  bool repark = NULL != MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "repark");

  if (NULL == rq)
    {
      rq = calloc (1, sizeof (*rq));
      ck_assert_ptr_nonnull (rq);
      rq->connection = c;
      *con_cls = rq;
      return MHD_YES;
    }
  if (!bw_longpoll_resumed (rq))
    {
      uint64_t epoch = bw_longpoll_epoch ();

      bw_longpoll_park (rq, org, (unsigned int) atoi (wait), stale ? epoch - 1 : epoch);
      return MHD_YES;
    }
  if (repark && !bw_longpoll_timed_out (rq) && 0 == rq->status)
    {
      rq->status = 1; /* once */
      bw_longpoll_park (rq, org, 0, bw_longpoll_epoch ());
      return MHD_YES;
    }
  return reply (c, bw_longpoll_timed_out (rq) ? "timeout" : "woken");
}

static void
on_completed (void *cls, struct MHD_Connection *c, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
  struct bw_request *rq = *con_cls;

  if (NULL == rq)
    return;
  bw_longpoll_release (rq);
  free (rq);
  *con_cls = NULL;
}

static void
server_start (void)
{
  struct rlimit rl;
  const union MHD_DaemonInfo *di;

  if (0 == getrlimit (RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  ck_assert_int_eq (bw_longpoll_start (), 0);
  daemon_h = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC
                                 | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME,
                               0, NULL, NULL, &on_access, NULL,
                               MHD_OPTION_THREAD_POOL_SIZE, 2u,
                               MHD_OPTION_CONNECTION_LIMIT, 4000u,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 8192,
                               MHD_OPTION_NOTIFY_COMPLETED, &on_completed, NULL,
                               MHD_OPTION_END);
  ck_assert_ptr_nonnull (daemon_h);
  di = MHD_get_daemon_info (daemon_h, MHD_DAEMON_INFO_BIND_PORT);
  ck_assert_ptr_nonnull (di);
  port = di->port;
}

static void
server_stop (void)
{
  bw_longpoll_stop ();
  MHD_stop_daemon (daemon_h);
  daemon_h = NULL;
}

/* Open a connection and send one request; @return the socket. */
static int
send_request (const char *org, unsigned int wait, const char *extra)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
  char req[256];
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  int n;

  ck_assert_int_ge (fd, 0);
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ck_assert_int_eq (connect (fd, (struct sockaddr *) &sa, sizeof (sa)), 0);
  n = snprintf (req, sizeof (req), "GET /?org=%s&wait=%u%s HTTP/1.1\r\nHost: x\r\n\r\n", org,
                wait, extra);
  ck_assert_int_eq (write (fd, req, (size_t) n), n);
  return fd;
}

/*
 * Read the answer on @a fd within @a timeout_s.  @return "woken",
 * "timeout", or NULL when nothing complete came.
 */
static const char *
read_answer (int fd, double timeout_s)
{
  char buf[1024];
  size_t len = 0;
  double end = now_s () + timeout_s;

  for (;;)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      double left = end - now_s ();
      ssize_t n;

      if (left <= 0 || poll (&p, 1, (int) (left * 1000) + 1) <= 0)
        return NULL;
      n = read (fd, buf + len, sizeof (buf) - 1 - len);
      if (n <= 0)
        return NULL;
      len += (size_t) n;
      buf[len] = '\0';
      ck_assert_msg (0 == strncmp (buf, "HTTP/1.1 200", 12) || len < 12, "answer: %s", buf);
      if (NULL != strstr (buf, "\r\n\r\nwoken"))
        return "woken";
      if (NULL != strstr (buf, "\r\n\r\ntimeout"))
        return "timeout";
    }
}

/* Whether @a fd has nothing to read now (its request is still parked). */
static bool
quiet (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };

  return 0 == poll (&p, 1, 0);
}

static void
wait_parked (size_t n)
{
  double end = now_s () + 10;

  while (bw_longpoll_parked () < n && now_s () < end)
    usleep (5000);
  ck_assert_uint_eq (bw_longpoll_parked (), n);
}

#define NA 600
#define NB 300

START_TEST (test_wake_by_org)
{
  static int a[NA], b[NB];

  server_start ();
  for (size_t i = 0; i < NA; i++)
    a[i] = send_request (ORG_A, 30, "");
  for (size_t i = 0; i < NB; i++)
    b[i] = send_request (ORG_B, 30, "");
  wait_parked (NA + NB);
  for (size_t i = 0; i < NA; i++)
    ck_assert (quiet (a[i]));

  bw_longpoll_wake_org (ORG_A);
  ck_assert_uint_eq (bw_longpoll_parked (), NB);
  for (size_t i = 0; i < NA; i++)
    {
      const char *ans = read_answer (a[i], 10);

      ck_assert_ptr_nonnull (ans);
      ck_assert_str_eq (ans, "woken");
      close (a[i]);
    }
  for (size_t i = 0; i < NB; i++)
    ck_assert (quiet (b[i]));

  /* an org with nothing parked, then all */
  bw_longpoll_wake_org ("0190a000-0000-7000-8000-0000000000ff");
  ck_assert_uint_eq (bw_longpoll_parked (), NB);
  bw_longpoll_wake_org (NULL);
  ck_assert_uint_eq (bw_longpoll_parked (), 0);
  for (size_t i = 0; i < NB; i++)
    {
      ck_assert_str_eq (read_answer (b[i], 10), "woken");
      close (b[i]);
    }
  server_stop ();
}
END_TEST

#define NT 240

START_TEST (test_timer_in_deadline_order)
{
  static int fds[NT];
  static double answered[NT];
  double t0;

  server_start ();
  t0 = now_s ();
  /* deadlines 1, 2 and 3 s, interleaved, so heap order differs from arrival */
  for (size_t i = 0; i < NT; i++)
    fds[i] = send_request (ORG_A, 1 + (unsigned int) (i % 3), "");
  wait_parked (NT);
  for (size_t done = 0; done < NT;)
    {
      struct pollfd p[NT];

      for (size_t i = 0; i < NT; i++)
        p[i] = (struct pollfd) { .fd = (answered[i] > 0) ? -1 : fds[i], .events = POLLIN };
      ck_assert_int_gt (poll (p, NT, 10000), 0);
      for (size_t i = 0; i < NT; i++)
        if (0 != (p[i].revents & POLLIN))
          {
            ck_assert_str_eq (read_answer (fds[i], 5), "timeout");
            answered[i] = now_s () - t0;
            done++;
          }
    }
  for (size_t i = 0; i < NT; i++)
    {
      double wait = 1 + (double) (i % 3);

      /* never before its own deadline; the slack is only for a loaded machine */
      ck_assert_msg (answered[i] >= wait - 0.05 && answered[i] < wait + 5,
                     "wait %.0f s answered after %.3f s", wait, answered[i]);
      close (fds[i]);
    }
  ck_assert_uint_eq (bw_longpoll_parked (), 0);
  server_stop ();
}
END_TEST

START_TEST (test_missed_wake_and_repark)
{
  int stale;
  int repark;
  double t0;

  server_start ();
  /* a wake-up between the caller's look and its park: resumed at once */
  stale = send_request (ORG_A, 30, "&stale=1");
  ck_assert_str_eq (read_answer (stale, 5), "woken");
  close (stale);
  ck_assert_uint_eq (bw_longpoll_parked (), 0);

  /* woken, parked again: answered at the first deadline, not later */
  t0 = now_s ();
  repark = send_request (ORG_B, 2, "&repark=1");
  wait_parked (1);
  bw_longpoll_wake_org (ORG_B);
  wait_parked (1);
  ck_assert (quiet (repark));
  ck_assert_str_eq (read_answer (repark, 10), "timeout");
  ck_assert (now_s () - t0 >= 1.95);
  ck_assert (now_s () - t0 < 7);
  close (repark);
  server_stop ();
}
END_TEST

#define NS 400

START_TEST (test_stop_answers_everything)
{
  static int fds[NS];
  int late;

  server_start ();
  for (size_t i = 0; i < NS; i++)
    fds[i] = send_request ((i % 2) ? ORG_A : ORG_B, 60, "");
  wait_parked (NS);
  bw_longpoll_stop ();
  ck_assert_uint_eq (bw_longpoll_parked (), 0);
  for (size_t i = 0; i < NS; i++)
    {
      ck_assert_str_eq (read_answer (fds[i], 10), "timeout");
      close (fds[i]);
    }
  /* a park after the stop resumes at once */
  late = send_request (ORG_A, 60, "");
  ck_assert_str_eq (read_answer (late, 5), "timeout");
  close (late);
  MHD_stop_daemon (daemon_h);
}
END_TEST

static Suite *
checkin_suite (void)
{
  Suite *s = suite_create ("checkin");
  TCase *headers = tcase_create ("headers");
  TCase *lp = tcase_create ("longpoll");

  tcase_add_test (headers, test_prefer_wait);
  tcase_add_test (headers, test_if_none_match);
  suite_add_tcase (s, headers);
  tcase_set_timeout (lp, 60);
  tcase_add_test (lp, test_wake_by_org);
  tcase_add_test (lp, test_timer_in_deadline_order);
  tcase_add_test (lp, test_missed_wake_and_repark);
  tcase_add_test (lp, test_stop_answers_everything);
  suite_add_tcase (s, lp);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (checkin_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return (0 == failed) ? EXIT_SUCCESS : EXIT_FAILURE;
}
