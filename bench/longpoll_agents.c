/*
 * longpoll_agents: N simulated agents, each on its own keep-alive connection,
 * long-polling bulwarkd's check-in (DESIGN §6), for bench/longpoll.sh.
 *
 *   longpoll_agents -p PORT -n N -C CREDENTIALS_FILE [-H HOST] [-w WAIT_S] [-k RAMP]
 *                   [-t TIMEOUT_S]
 *
 * CREDENTIALS_FILE holds agent credentials, one a line; connection i uses
 * line i mod (lines).  Each connection: one check-in with bundle null to
 * learn the current {version, sha256, head_serial}, then the nothing-changed
 * check-in with `Prefer: wait=WAIT_S`, which the server parks.  A `current` answer (the
 * wait ran out) is sent again, as an agent would; an `update` or `refresh`
 * answer is timestamped and ends that connection's work (it stays open).
 * At most RAMP connections are between connect and parking at once, so the
 * listen backlog never overflows.
 *
 * Output on stdout, one line each, realtime clock in ns:
 *   parked N <ns>          every connection has sent its parked check-in
 *   result answered=.. update=.. refresh=.. rewaits=.. errors=.. unanswered=.. first_ns=..
 *          p50_ns=.. p99_ns=.. last_ns=..
 * The exit status is 0 when every connection got its update or refresh.
 * Epoll, level-triggered, one thread; jansson parses the replies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/** Largest reply we accept (a check-in reply with its head is ~1–2 KB). */
#define REPLY_MAX (256 * 1024)
/** Descriptors kept beyond the connections (stdio, epoll, slack). */
#define FD_SLACK 32
/** epoll_wait batch. */
#define EVENTS_MAX 1024

enum stage
{
  S_IDLE,       /* not opened yet */
  S_CONNECTING,
  S_FIRST,      /* first check-in (bundle null) sent */
  S_PARKED,     /* long-poll check-in sent */
  S_DONE,       /* got update/refresh */
  S_FAILED,
};

struct conn
{
  int fd;
  enum stage stage;
  const char *cred;       /* bearer credential (borrowed from creds) */
  char *req;              /* the parked check-in request, resent on `current` */
  size_t req_len;
  const char *out;        /* bytes being written */
  size_t out_len, out_off;
  char *in;               /* reply buffer */
  size_t in_len, in_cap;
};

static const char *host = "127.0.0.1";
static unsigned int port;
static unsigned int nconns;
static char **creds;            /* -C, one a line */
static size_t ncreds;
static unsigned int wait_s = 60;
static unsigned int ramp = 200;
static unsigned int timeout_s = 90;

static int epfd;
static struct conn *conns;
static unsigned int opened, active, parked, done, failed, rewaits, updates, refreshes;
static uint64_t *answer_ns;

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
usage (void)
{
  fprintf (stderr, "usage: longpoll_agents -p PORT -n N -C CREDENTIALS_FILE [-H HOST] "
                   "[-w WAIT_S] [-k RAMP] [-t TIMEOUT_S]\n");
  exit (2);
}

static char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *s;
  va_start (ap, fmt);
  int n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    {
      perror ("vasprintf");
      exit (1);
    }
  return s;
}

/* An HTTP/1.1 POST of @body to @path; caller frees. */
static char *
make_post (const char *path, const char *cred, const char *prefer, const char *body, size_t *len)
{
  char *auth = cred ? xasprintf ("Authorization: Bearer %s\r\n", cred) : strdup ("");
  char *pref = prefer ? xasprintf ("Prefer: %s\r\n", prefer) : strdup ("");
  char *r = xasprintf ("POST %s HTTP/1.1\r\nHost: %s:%u\r\n%s%sContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       path, host, port, auth, pref, strlen (body), body);
  free (auth);
  free (pref);
  *len = strlen (r);
  return r;
}

static void
fail (struct conn *c, const char *why, const char *detail)
{
  if (failed < 10)
    fprintf (stderr, "longpoll_agents: connection %td: %s%s%.300s\n", c - conns, why,
             detail ? ": " : "", detail ? detail : "");
  if (S_CONNECTING == c->stage || S_FIRST == c->stage)
    active--;
  c->stage = S_FAILED;
  failed++;
  epoll_ctl (epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  c->fd = -1;
}

static void
want (struct conn *c, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.ptr = c };
  epoll_ctl (epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what is left of c->out; wait for EPOLLOUT when the socket is full. */
static void
flush_out (struct conn *c)
{
  while (c->out_off < c->out_len)
    {
      ssize_t n = write (c->fd, c->out + c->out_off, c->out_len - c->out_off);
      if (n < 0 && (EAGAIN == errno || EWOULDBLOCK == errno))
        {
          want (c, EPOLLIN | EPOLLOUT);
          return;
        }
      if (n <= 0)
        {
          fail (c, "write", strerror (errno));
          return;
        }
      c->out_off += (size_t) n;
    }
  c->out = NULL;
}

/* Start writing @out (not owned; lives until written) on @c. */
static void
send_bytes (struct conn *c, const char *out, size_t len)
{
  c->out = out;
  c->out_len = len;
  c->out_off = 0;
  flush_out (c);
}

static void
send_first (struct conn *c)
{
  static const char body[] = "{\"agent_version\":\"bench/1\",\"keyset_version\":1,\"bundle\":null,"
                             "\"last_error\":null,\"stale\":false,"
                             "\"events\":{\"spooled\":0,\"dropped\":0,\"last_seq\":0}}";
  free (c->req);
  c->req = make_post ("/api/v1/agent/checkin", c->cred, NULL, body, &c->req_len);
  c->stage = S_FIRST;
  send_bytes (c, c->req, c->req_len);
}

static void open_more (void);

static void
open_conn (struct conn *c)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      perror ("socket");
      exit (1);
    }
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
  if (1 != inet_pton (AF_INET, host, &sa.sin_addr))
    {
      fprintf (stderr, "longpoll_agents: -H wants an IPv4 address\n");
      exit (2);
    }
  c->fd = fd;
  c->stage = S_CONNECTING;
  active++;
  opened++;
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
  epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev);
  if (0 != connect (fd, (struct sockaddr *) &sa, sizeof (sa)) && EINPROGRESS != errno)
    fail (c, "connect", strerror (errno));
}

static void
open_more (void)
{
  while (active < ramp && opened < nconns)
    open_conn (&conns[opened]);
}

/* Value of header @name in the head @h (NUL-terminated), or NULL; points into @h. */
static const char *
header (const char *h, const char *name, size_t *vlen)
{
  size_t nl = strlen (name);
  for (const char *p = strstr (h, "\r\n"); NULL != p; p = strstr (p, "\r\n"))
    {
      p += 2;
      if (0 == strncasecmp (p, name, nl) && ':' == p[nl])
        {
          const char *v = p + nl + 1;
          while (' ' == *v || '\t' == *v)
            v++;
          const char *e = strstr (v, "\r\n");
          *vlen = e ? (size_t) (e - v) : strlen (v);
          return v;
        }
    }
  return NULL;
}

/* One complete reply (@status, JSON @body) on @c. */
static void
on_reply (struct conn *c, int status, json_t *body, const char *raw)
{
  json_t *b = json_object_get (body, "bundle");
  const char *state = json_string_value (json_object_get (b, "state"));
  if (200 != status || NULL == state)
    {
      fail (c, "check-in", raw);
      return;
    }
  if (S_FIRST == c->stage)
    {
      json_t *nb = json_pack ("{s:s, s:O, s:{s:O, s:O, s:O}, s:n, s:b, s:{s:i, s:i, s:i}}",
                              "agent_version", "bench/1", "keyset_version",
                              json_object_get (body, "keyset_version"), "bundle", "version",
                              json_object_get (b, "version"), "sha256",
                              json_object_get (b, "sha256"), "head_serial",
                              json_object_get (b, "head_serial"), "last_error", "stale", 0,
                              "events", "spooled", 0, "dropped", 0, "last_seq", 0);
      if (NULL == nb)
        {
          fail (c, "first check-in: missing bundle fields", raw);
          return;
        }
      char *s = json_dumps (nb, JSON_COMPACT);
      json_decref (nb);
      char pref[32];
      snprintf (pref, sizeof (pref), "wait=%u", wait_s);
      free (c->req);
      c->req = make_post ("/api/v1/agent/checkin", c->cred, pref, s, &c->req_len);
      free (s);
      c->stage = S_PARKED;
      active--;
      parked++;
      send_bytes (c, c->req, c->req_len);
      return;
    }
  if (S_PARKED != c->stage)
    {
      fail (c, "unexpected reply", raw);
      return;
    }
  if (0 == strcmp (state, "current"))
    {
      rewaits++;
      send_bytes (c, c->req, c->req_len);
      return;
    }
  if (0 == strcmp (state, "update"))
    updates++;
  else if (0 == strcmp (state, "refresh"))
    refreshes++;
  else
    {
      fail (c, "unknown state", raw);
      return;
    }
  answer_ns[done++] = now_ns ();
  c->stage = S_DONE;
}

/* Parse every complete reply in c->in. */
static void
parse (struct conn *c)
{
  while (c->in_len > 0 && S_FAILED != c->stage)
    {
      char *end = memmem (c->in, c->in_len, "\r\n\r\n", 4);
      if (NULL == end)
        return;
      size_t hlen = (size_t) (end - c->in) + 4;
      char save = c->in[hlen - 2];
      c->in[hlen - 2] = '\0';
      int status = 0;
      if (1 != sscanf (c->in, "HTTP/1.%*c %d", &status))
        {
          fail (c, "bad status line", c->in);
          return;
        }
      size_t vlen;
      const char *cl = header (c->in, "Content-Length", &vlen);
      const char *conn_hdr = header (c->in, "Connection", &vlen);
      bool closing = NULL != conn_hdr && 0 == strncasecmp (conn_hdr, "close", 5);
      if (NULL == cl)
        {
          fail (c, "reply without Content-Length", c->in);
          return;
        }
      size_t blen = strtoul (cl, NULL, 10);
      c->in[hlen - 2] = save;
      if (c->in_len < hlen + blen)
        return;
      json_t *body = json_loadb (c->in + hlen, blen, 0, NULL);
      char raw[512];
      snprintf (raw, sizeof (raw), "%d %.*s", status, (int) (blen < 400 ? blen : 400),
                c->in + hlen);
      enum stage before = c->stage;
      on_reply (c, status, body, raw);
      json_decref (body);
      if (S_FAILED == c->stage)
        return;
      memmove (c->in, c->in + hlen + blen, c->in_len - hlen - blen);
      c->in_len -= hlen + blen;
      if (closing && S_DONE != c->stage)
        {
          fail (c, "server closed the connection (Connection: close)",
                S_PARKED == before ? "while parked" : NULL);
          return;
        }
    }
}

static void
on_event (struct conn *c, uint32_t ev)
{
  if (S_CONNECTING == c->stage)
    {
      int err = 0;
      socklen_t len = sizeof (err);
      getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (0 != err)
        {
          fail (c, "connect", strerror (err));
          return;
        }
      want (c, EPOLLIN);
      send_first (c);
      return;
    }
  if ((ev & EPOLLOUT) && NULL != c->out)
    {
      flush_out (c);
      if (NULL == c->out)
        want (c, EPOLLIN);
      if (S_FAILED == c->stage)
        return;
    }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
    {
      if (c->in_cap - c->in_len < 4096)
        {
          size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
          if (cap > REPLY_MAX)
            {
              fail (c, "reply too large", NULL);
              return;
            }
          c->in = realloc (c->in, cap);
          c->in_cap = cap;
        }
      ssize_t n = read (c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
      if (n < 0 && (EAGAIN == errno || EINTR == errno))
        return;
      if (n <= 0)
        {
          fail (c, n == 0 ? "server closed the connection" : "read",
                n == 0 ? (S_PARKED == c->stage ? "while parked" : NULL) : strerror (errno));
          return;
        }
      c->in_len += (size_t) n;
      parse (c);
    }
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  int opt;
  const char *cred_file = NULL;
  while (-1 != (opt = getopt (argc, argv, "H:p:n:C:w:k:t:")))
    switch (opt)
      {
      case 'H': host = optarg; break;
      case 'p': port = (unsigned int) strtoul (optarg, NULL, 10); break;
      case 'n': nconns = (unsigned int) strtoul (optarg, NULL, 10); break;
      case 'C': cred_file = optarg; break;
      case 'w': wait_s = (unsigned int) strtoul (optarg, NULL, 10); break;
      case 'k': ramp = (unsigned int) strtoul (optarg, NULL, 10); break;
      case 't': timeout_s = (unsigned int) strtoul (optarg, NULL, 10); break;
      default: usage ();
      }
  if (0 == port || 0 == nconns || NULL == cred_file || 0 == ramp)
    usage ();
  FILE *f = fopen (cred_file, "r");
  if (NULL == f)
    {
      perror (cred_file);
      return 1;
    }
  char line[256];
  while (NULL != fgets (line, sizeof (line), f))
    {
      line[strcspn (line, "\r\n")] = '\0';
      if ('\0' == line[0])
        continue;
      char **grown = realloc (creds, (ncreds + 1) * sizeof (*creds));
      if (NULL == grown || NULL == (grown[ncreds] = strdup (line)))
        {
          perror ("credentials");
          return 1;
        }
      creds = grown;
      ncreds++;
    }
  fclose (f);
  if (0 == ncreds)
    {
      fprintf (stderr, "longpoll_agents: no credentials in %s\n", cred_file);
      return 2;
    }

  struct rlimit rl;
  getrlimit (RLIMIT_NOFILE, &rl);
  if (rl.rlim_max < (rlim_t) nconns + FD_SLACK)
    {
      fprintf (stderr, "longpoll_agents: %u connections need %u descriptors; the hard limit is "
                       "%llu\n", nconns, nconns + FD_SLACK, (unsigned long long) rl.rlim_max);
      return 1;
    }
  rl.rlim_cur = rl.rlim_max;
  setrlimit (RLIMIT_NOFILE, &rl);

  conns = calloc (nconns, sizeof (*conns));
  answer_ns = calloc (nconns, sizeof (*answer_ns));
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (NULL == conns || NULL == answer_ns || epfd < 0)
    {
      perror ("setup");
      return 1;
    }
  for (unsigned int i = 0; i < nconns; i++)
    {
      conns[i].fd = -1;
      conns[i].cred = creds[i % ncreds];
    }

  open_more ();
  struct epoll_event evs[EVENTS_MAX];
  uint64_t parked_at = 0, start = now_ns ();
  while (done + failed < nconns)
    {
      int n = epoll_wait (epfd, evs, EVENTS_MAX, 1000);
      if (n < 0 && EINTR != errno)
        {
          perror ("epoll_wait");
          return 1;
        }
      for (int i = 0; i < n; i++)
        on_event (evs[i].data.ptr, evs[i].events);
      open_more ();
      uint64_t t = now_ns ();
      if (0 == parked_at && opened == nconns && 0 == active)
        {
          parked_at = t;
          printf ("parked %u %llu\n", parked, (unsigned long long) t);
          fflush (stdout);
        }
      if ((0 != parked_at && t - parked_at > (uint64_t) timeout_s * 1000000000u)
          || (0 == parked_at && t - start > (uint64_t) (timeout_s + wait_s) * 1000000000u))
        {
          fprintf (stderr, "longpoll_agents: timed out: %u parked, %u answered, %u failed\n",
                   parked, done, failed);
          break;
        }
    }

  qsort (answer_ns, done, sizeof (*answer_ns), cmp_u64);
  unsigned long long first = done ? answer_ns[0] : 0, last = done ? answer_ns[done - 1] : 0;
  unsigned long long p50 = done ? answer_ns[(done - 1) / 2] : 0;
  unsigned long long p99 = done ? answer_ns[(size_t) ((done - 1) * 0.99)] : 0;
  printf ("result answered=%u update=%u refresh=%u rewaits=%u errors=%u unanswered=%u first_ns=%llu p50_ns=%llu "
          "p99_ns=%llu last_ns=%llu\n",
          done, updates, refreshes, rewaits, failed, nconns - done - failed, first, p50, p99,
          last);
  fflush (stdout);
  return (done == nconns) ? 0 : 1;
}
