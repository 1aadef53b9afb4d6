/*
 * Request metrics.  One mutex guards a small open-addressing table of
 * series; an observation is a handful of additions under it, far below the
 * cost of the request it describes.
 */
#include "config.h"
#include "server/metrics.h"
#include "server/router.h"
#include "db/db.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Upper bounds of the latency buckets, in seconds (+Inf is implicit). */
static const double bucket_le[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0 };
#define NBUCKETS (sizeof (bucket_le) / sizeof (bucket_le[0]))

/** Methods we label by name; anything else is "OTHER". */
static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER" };
#define NMETHODS (sizeof (methods) / sizeof (methods[0]))

struct series
{
  bool used;
  size_t route;         /* bw_routes index, or bw_routes_count for unmatched */
  unsigned int method;  /* index into methods */
  unsigned int status;
  uint64_t count;
  double sum;
  uint64_t buckets[NBUCKETS]; /* non-cumulative; summed when rendered */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series table[BW_METRICS_SERIES_MAX];

static unsigned int
method_index (const char *m)
{
  for (unsigned int i = 0; i < NMETHODS - 1; i++)
    if (0 == strcmp (m, methods[i]))
      return i;
  return NMETHODS - 1;
}

void
bw_metrics_observe (size_t route_index, const char *method, unsigned int status, double seconds)
{
  unsigned int mi = method_index (method);
  size_t h = (route_index * 31u + mi * 7u + status) % BW_METRICS_SERIES_MAX;
  pthread_mutex_lock (&lock);
  struct series *s = NULL;
  for (size_t probe = 0; probe < BW_METRICS_SERIES_MAX; probe++)
    {
      struct series *c = &table[(h + probe) % BW_METRICS_SERIES_MAX];
      if (!c->used)
        {
          *c = (struct series) { .used = true, .route = route_index, .method = mi, .status = status };
          s = c;
          break;
        }
      if (c->route == route_index && c->method == mi && c->status == status)
        {
          s = c;
          break;
        }
    }
  if (NULL != s)
    {
      s->count++;
      s->sum += seconds;
      for (size_t b = 0; b < NBUCKETS; b++)
        if (seconds <= bucket_le[b])
          {
            s->buckets[b]++;
            break;
          }
    }
  pthread_mutex_unlock (&lock);
}

static const char *
route_label (size_t route)
{
  return (route < bw_routes_count) ? bw_routes[route].pattern : "unmatched";
}

char *
bw_metrics_render (void)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);
  if (NULL == f)
    return NULL;

  fputs ("# HELP bulwark_http_requests_total HTTP requests answered.\n"
         "# TYPE bulwark_http_requests_total counter\n", f);
  pthread_mutex_lock (&lock);
  for (size_t i = 0; i < BW_METRICS_SERIES_MAX; i++)
    if (table[i].used)
      fprintf (f, "bulwark_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %" PRIu64 "\n",
               route_label (table[i].route), methods[table[i].method], table[i].status,
               table[i].count);
  fputs ("# HELP bulwark_http_request_duration_seconds Time from request line to response queued.\n"
         "# TYPE bulwark_http_request_duration_seconds histogram\n", f);
  for (size_t i = 0; i < BW_METRICS_SERIES_MAX; i++)
    {
      const struct series *s = &table[i];
      if (!s->used)
        continue;
      char labels[256];
      snprintf (labels, sizeof (labels), "route=\"%s\",method=\"%s\",status=\"%u\"",
                route_label (s->route), methods[s->method], s->status);
      uint64_t cum = 0;
      for (size_t b = 0; b < NBUCKETS; b++)
        {
          cum += s->buckets[b];
          fprintf (f, "bulwark_http_request_duration_seconds_bucket{%s,le=\"%g\"} %" PRIu64 "\n",
                   labels, bucket_le[b], cum);
        }
      fprintf (f, "bulwark_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n",
               labels, s->count);
      fprintf (f, "bulwark_http_request_duration_seconds_sum{%s} %.6f\n", labels, s->sum);
      fprintf (f, "bulwark_http_request_duration_seconds_count{%s} %" PRIu64 "\n", labels, s->count);
    }
  pthread_mutex_unlock (&lock);

  struct db_stats st;
  db_stats_get (&st);
  fprintf (f,
           "# HELP bulwark_db_connections_open Healthy PostgreSQL connections (one per worker thread that used one).\n"
           "# TYPE bulwark_db_connections_open gauge\n"
           "bulwark_db_connections_open %" PRIu64 "\n"
           "# HELP bulwark_db_connects_total Successful PostgreSQL (re)connects.\n"
           "# TYPE bulwark_db_connects_total counter\n"
           "bulwark_db_connects_total %" PRIu64 "\n"
           "# HELP bulwark_db_connect_failures_total Failed PostgreSQL connection attempts.\n"
           "# TYPE bulwark_db_connect_failures_total counter\n"
           "bulwark_db_connect_failures_total %" PRIu64 "\n"
           "# HELP bulwark_db_statements_total SQL statements executed.\n"
           "# TYPE bulwark_db_statements_total counter\n"
           "bulwark_db_statements_total %" PRIu64 "\n"
           "# HELP bulwark_db_errors_total SQL statements that failed.\n"
           "# TYPE bulwark_db_errors_total counter\n"
           "bulwark_db_errors_total %" PRIu64 "\n"
           "# HELP bulwark_db_tx_retries_total Transactions retried after a serialization failure or deadlock.\n"
           "# TYPE bulwark_db_tx_retries_total counter\n"
           "bulwark_db_tx_retries_total %" PRIu64 "\n",
           st.connections_open, st.connects_total, st.connect_failures, st.statements_total,
           st.errors_total, st.tx_retries_total);
  if (0 != fclose (f))
    {
      free (buf);
      return NULL;
    }
  return buf;
}
