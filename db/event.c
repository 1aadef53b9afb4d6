/*
 * Queries of decision events (see db/event.h): the intake transaction and
 * the partition upkeep.
 */
#include "config.h"
#include "db/event.h"
#include "db/row.h"
#include "lib/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The COPY of the intake; copy_row writes the columns in this order. */
#define EVENT_COPY_SQL                                                                      \
  "COPY events (org_id, agent_id, event_id, seq, time, user_id, reported_user, session, "  \
  "surface, action, resource, decision, mode, rule, reason, bundle_version) FROM STDIN"
/* Bytes of a decimal int64 with sign and NUL. */
#define INT_TEXT_SIZE 24
/* Bytes of "events_" before the YYYYMMDD of a partition name. */
#define PARTITION_PREFIX_LEN 7

/* ---- a growable byte buffer ---- */

struct buf
{
  char *p;
  size_t len;
  size_t cap;
  bool oom;
};

static void
buf_put (struct buf *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->len + n > b->cap)
    {
      size_t cap = (0 == b->cap) ? 4096 : b->cap;
      while (cap < b->len + n)
        cap *= 2;
      char *grown = realloc (b->p, cap);
      if (NULL == grown)
        {
          b->oom = true;
          return;
        }
      b->p = grown;
      b->cap = cap;
    }
  memcpy (b->p + b->len, s, n);
  b->len += n;
}

/*
 * One column in COPY text format, then @a end ('\t' or '\n').  NULL is
 * \N; backslash, newline, carriage return and tab are escaped (PostgreSQL
 * 15 docs, COPY, "Text Format"), so no value can end a row or the data.
 */
static void
buf_field (struct buf *b, const char *s, char end)
{
  if (NULL == s)
    buf_put (b, "\\N", 2);
  else
    for (const char *run = s;; s++)
      {
        const char *esc = NULL;
        switch (*s)
          {
          case '\\':
            esc = "\\\\";
            break;
          case '\n':
            esc = "\\n";
            break;
          case '\r':
            esc = "\\r";
            break;
          case '\t':
            esc = "\\t";
            break;
          case '\0':
            break;
          default:
            continue;
          }
        buf_put (b, run, (size_t) (s - run));
        if (NULL == esc)
          break;
        buf_put (b, esc, 2);
        run = s + 1;
      }
  buf_put (b, &end, 1);
}

static void
buf_int (struct buf *b, int64_t v, char end)
{
  char t[INT_TEXT_SIZE];
  snprintf (t, sizeof (t), "%" PRId64, v);
  buf_field (b, t, end);
}

/* ---- intake ---- */

void
db_event_intake_clear (struct db_event_intake *r)
{
  if (NULL == r)
    return;
  free (r->gaps);
  memset (r, 0, sizeof (*r));
}

/* State of one intake transaction. */
struct intake
{
  const char *org_id;
  const char *agent_id;
  const struct db_event *events;
  size_t n;
  const struct db_event **sorted; /* by (event_id, time, batch position) */
  bool *repeat;                   /* by batch position: an earlier event has its key */
  bool *stored;                   /* by batch position: already in the table (per attempt) */
  int64_t *seqs;                  /* every seq of the batch, ascending */
  char *ids;                      /* "{id,...}" of the batch */
  const char *tmin;               /* earliest and latest time of the batch */
  const char *tmax;
  struct db_event_intake *out; /* gaps preallocated: n entries */
  bool check_stored;           /* look for stored events before the COPY */
};

static int
cmp_key (const struct db_event *a, const struct db_event *b)
{
  int c = strcmp (a->event_id, b->event_id);
  return (0 != c) ? c : strcmp (a->time, b->time);
}

static int
cmp_sorted (const void *pa, const void *pb)
{
  const struct db_event *a = *(const struct db_event *const *) pa;
  const struct db_event *b = *(const struct db_event *const *) pb;
  int c = cmp_key (a, b);
  return (0 != c) ? c : (a < b) ? -1 : (a > b);
}

static int
cmp_int64 (const void *pa, const void *pb)
{
  int64_t a = *(const int64_t *) pa;
  int64_t b = *(const int64_t *) pb;
  return (a < b) ? -1 : (a > b);
}

/* Mark every event of the batch whose key is (@a id, @a time) as stored. */
static void
mark_stored (struct intake *in, const char *id, const char *time)
{
  struct db_event key;
  snprintf (key.event_id, sizeof (key.event_id), "%s", id);
  snprintf (key.time, sizeof (key.time), "%s", time);
  size_t lo = 0;
  size_t hi = in->n;
  while (lo < hi) /* first element >= key */
    {
      size_t mid = lo + (hi - lo) / 2;
      if (cmp_key (in->sorted[mid], &key) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  for (; lo < in->n && 0 == cmp_key (in->sorted[lo], &key); lo++)
    in->stored[in->sorted[lo] - in->events] = true;
}

/* Gaps above @a last given the batch's ascending seqs: into in->out->gaps. */
static void
find_gaps (struct intake *in, int64_t last)
{
  int64_t expected = last + 1;
  for (size_t i = 0; i < in->n; i++)
    {
      int64_t s = in->seqs[i];
      if (s < expected)
        continue; /* late, resent or repeated: not a gap, and fills none */
      if (s > expected)
        in->out->gaps[in->out->ngaps++] = (struct db_event_gap){ expected, s - 1 };
      expected = s + 1;
    }
}

/* One row of the COPY for event @a e. */
static void
copy_row (struct buf *b, const struct intake *in, const struct db_event *e)
{
  buf_field (b, in->org_id, '\t');
  buf_field (b, in->agent_id, '\t');
  buf_field (b, e->event_id, '\t');
  buf_int (b, e->seq, '\t');
  buf_field (b, e->time, '\t');
  buf_field (b, e->user, '\t');
  buf_field (b, e->reported_user, '\t');
  buf_field (b, e->session, '\t');
  buf_field (b, e->surface, '\t');
  buf_field (b, e->action, '\t');
  buf_field (b, e->resource, '\t');
  buf_field (b, e->decision, '\t');
  buf_field (b, e->mode, '\t');
  buf_field (b, e->rule, '\t');
  buf_field (b, e->reason, '\t');
  buf_int (b, e->bundle_version, '\n');
}

/*
 * Lock the agent's row (so the batches of one agent are stored one after
 * the other) and advance its last seq to the batch's highest, in one
 * statement; the seq before is what the gaps are measured from.
 */
static struct db_stmt advance_stmt = DB_STMT (
  "event_seq_advance",
  "WITH prev AS (SELECT last_event_seq FROM agents"
  "  WHERE org_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL FOR NO KEY UPDATE)"
  " UPDATE agents a SET last_event_seq = GREATEST (a.last_event_seq, $3::bigint) FROM prev"
  " WHERE a.org_id = $1::uuid AND a.id = $2::uuid RETURNING prev.last_event_seq");

/* The time range lets the planner skip the partitions of other days. */
static struct db_stmt stored_stmt = DB_STMT (
  "event_stored",
  "SELECT event_id::text, " DB_SQL_TS (
    "time") " FROM events"
            " WHERE org_id = $1::uuid AND agent_id = $2::uuid AND event_id = ANY ($3::uuid[])"
            " AND time BETWEEN $4::timestamptz AND $5::timestamptz");

static struct db_stmt gaps_stmt = DB_STMT (
  "event_gaps_insert",
  "INSERT INTO event_seq_gaps (org_id, agent_id, from_seq, to_seq)"
  " SELECT $1::uuid, $2::uuid, g.f, g.t FROM unnest ($3::bigint[], $4::bigint[]) AS g (f, t)");

/* Lock the agent and advance its seq; *last is the seq before.  @return ONE, NO_RESULTS or
 * negative. */
static enum db_qs
advance (struct intake *in, int64_t *last)
{
  char max[INT_TEXT_SIZE];
  snprintf (max, sizeof (max), "%" PRId64, in->seqs[in->n - 1]);
  const char *params[] = { in->org_id, in->agent_id, max };
  PGresult *res;
  enum db_qs qs = db_exec (&advance_stmt, 3, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, last))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* Mark the events already in the table.  @return >= 0, or negative. */
static enum db_qs
find_stored (struct intake *in)
{
  const char *params[] = { in->org_id, in->agent_id, in->ids, in->tmin, in->tmax };
  PGresult *res;
  enum db_qs qs = db_exec (&stored_stmt, 5, params, &res);
  for (int row = 0; qs > 0 && row < PQntuples (res); row++)
    mark_stored (in, PQgetvalue (res, row, 0), PQgetvalue (res, row, 1));
  PQclear (res);
  return qs;
}

/* Bytes one COPY row of @a e takes at most (every byte of a text escaped). */
static size_t
copy_row_max (const struct intake *in, const struct db_event *e)
{
  const char *texts[] = { e->user,     e->reported_user, e->session, e->surface, e->action,
                          e->resource, e->decision,      e->mode,    e->rule,    e->reason };
  size_t n
    = 2 * 37 + 37 + 2 * INT_TEXT_SIZE + DB_EVENT_TIME_SIZE + 15; /* ids, ints, time, separators */
  for (size_t i = 0; i < sizeof (texts) / sizeof (texts[0]); i++)
    n += (NULL != texts[i]) ? 2 * strlen (texts[i]) : 2;
  return n;
}

/*
 * COPY the events neither repeated nor stored; counts them.  A duplicate
 * key means in->check_stored was false and an event was stored before:
 * DB_QS_CONFLICT, and the caller runs the transaction again with the check.
 * @return >= 0, or negative.
 */
static enum db_qs
copy_new (struct intake *in)
{
  struct buf b = { 0 };
  size_t rows = 0;
  size_t size = 0;
  for (size_t i = 0; i < in->n; i++)
    if (!in->repeat[i] && !in->stored[i])
      size += copy_row_max (in, &in->events[i]);
  b.p = malloc (size + 1); /* one allocation: the rows never outgrow it */
  b.cap = size + 1;
  b.oom = NULL == b.p;
  for (size_t i = 0; i < in->n; i++)
    if (in->repeat[i] || in->stored[i])
      in->out->duplicates++;
    else
      {
        copy_row (&b, in, &in->events[i]);
        rows++;
      }
  enum db_qs qs = DB_QS_NO_RESULTS;
  if (b.oom)
    qs = DB_QS_HARD_ERROR;
  else if (rows > 0)
    qs = db_copy_in ("event_copy", EVENT_COPY_SQL, b.p, b.len);
  free (b.p);
  if (DB_QS_CONFLICT == qs && in->check_stored)
    {
      /* cannot happen while the agent row is locked; if it does, start over */
      bw_logf (BW_LOG_WARN, "events: duplicate key despite the agent lock; retrying the batch");
      return DB_QS_SOFT_ERROR;
    }
  if (qs >= 0 && (size_t) qs != rows)
    {
      bw_logf (BW_LOG_ERROR, "events: COPY stored %d of %zu rows", (int) qs, rows);
      return DB_QS_HARD_ERROR;
    }
  if (qs >= 0)
    in->out->accepted = rows;
  return qs;
}

/* Insert in->out's gaps.  @return >= 0, or negative. */
static enum db_qs
insert_gaps (struct intake *in)
{
  size_t n = in->out->ngaps;
  size_t size = n * INT_TEXT_SIZE + 2;
  char *from = malloc (size);
  char *to = malloc (size);
  enum db_qs qs = DB_QS_HARD_ERROR;
  if (NULL != from && NULL != to)
    {
      size_t fl = 0;
      size_t tl = 0;
      from[fl++] = '{';
      to[tl++] = '{';
      for (size_t i = 0; i < n; i++)
        {
          const char *sep = (i + 1 < n) ? "," : "}";
          fl += (size_t) snprintf (from + fl, size - fl, "%" PRId64 "%s", in->out->gaps[i].from_seq,
                                   sep);
          tl += (size_t) snprintf (to + tl, size - tl, "%" PRId64 "%s", in->out->gaps[i].to_seq,
                                   sep);
        }
      const char *params[] = { in->org_id, in->agent_id, from, to };
      qs = db_exec (&gaps_stmt, 4, params, NULL);
    }
  free (from);
  free (to);
  return qs;
}

/*
 * The intake transaction.  Resent events are the exception, so the first
 * run COPYs without looking for them (PERF.md: the lookup costs about a
 * fifth of the COPY); a duplicate key then fails the COPY, the
 * transaction rolls back, and the second run looks first.
 */
static enum db_qs
intake_tx (void *cls)
{
  struct intake *in = cls;
  int64_t last = 0;
  in->out->accepted = 0;
  in->out->duplicates = 0;
  in->out->ngaps = 0;
  memset (in->stored, 0, in->n * sizeof (*in->stored));

  enum db_qs qs = advance (in, &last);
  if (qs <= 0)
    return qs;
  if (in->check_stored && (qs = find_stored (in)) < 0)
    return qs;
  if ((qs = copy_new (in)) < 0)
    return qs;
  find_gaps (in, last);
  if (in->out->ngaps > 0 && (qs = insert_gaps (in)) < 0)
    return qs;
  return DB_QS_ONE_RESULT;
}

/* Fill the parts of @a in that do not depend on the database.  @return 0, or -1 without memory. */
static int
intake_prepare (struct intake *in)
{
  size_t n = in->n;
  in->sorted = malloc (n * sizeof (*in->sorted));
  in->repeat = calloc (n, sizeof (*in->repeat));
  in->stored = calloc (n, sizeof (*in->stored));
  in->seqs = malloc (n * sizeof (*in->seqs));
  in->ids = malloc (n * 37 + 2);
  in->out->gaps = malloc (n * sizeof (*in->out->gaps));
  if (NULL == in->sorted || NULL == in->repeat || NULL == in->stored || NULL == in->seqs
      || NULL == in->ids || NULL == in->out->gaps)
    return -1;
  size_t il = 0;
  in->ids[il++] = '{';
  in->tmin = in->tmax = in->events[0].time;
  for (size_t i = 0; i < n; i++)
    {
      const struct db_event *e = &in->events[i];
      in->sorted[i] = e;
      in->seqs[i] = e->seq;
      memcpy (in->ids + il, e->event_id, 36);
      il += 36;
      in->ids[il++] = (i + 1 < n) ? ',' : '}';
      /* same-width UTC texts: byte order is time order */
      if (strcmp (e->time, in->tmin) < 0)
        in->tmin = e->time;
      if (strcmp (e->time, in->tmax) > 0)
        in->tmax = e->time;
    }
  in->ids[il] = '\0';
  qsort (in->sorted, n, sizeof (*in->sorted), cmp_sorted);
  qsort (in->seqs, n, sizeof (*in->seqs), cmp_int64);
  for (size_t k = 1; k < n; k++)
    if (0 == cmp_key (in->sorted[k - 1], in->sorted[k]))
      in->repeat[in->sorted[k] - in->events] = true; /* the first in batch order stays */
  return 0;
}

enum db_qs
db_event_intake (const char *org_id, const char *agent_id, const struct db_event *events, size_t n,
                 struct db_event_intake *out)
{
  memset (out, 0, sizeof (*out));
  if (0 == n || n > DB_EVENT_BATCH_MAX)
    return DB_QS_HARD_ERROR;
  struct intake in
    = { .org_id = org_id, .agent_id = agent_id, .events = events, .n = n, .out = out };
  enum db_qs qs = DB_QS_HARD_ERROR;
  if (0 == intake_prepare (&in))
    {
      qs = db_tx_run (DB_READ_COMMITTED, intake_tx, &in);
      if (DB_QS_CONFLICT == qs)
        {
          in.check_stored = true;
          qs = db_tx_run (DB_READ_COMMITTED, intake_tx, &in);
        }
    }
  free (in.sorted);
  free (in.repeat);
  free (in.stored);
  free (in.seqs);
  free (in.ids);
  if (qs <= 0)
    db_event_intake_clear (out);
  return qs;
}

/* ---- partitions ---- */

static struct db_stmt ensure_stmt
  = DB_STMT ("event_partition_ensure", "SELECT events_partition_ensure ($1::date)");

enum db_qs
db_event_partition_ensure (const char *day, bool *created)
{
  const char *params[] = { day };
  PGresult *res;
  enum db_qs qs = db_exec (&ensure_stmt, 1, params, &res);
  if (qs > 0 && NULL != created)
    *created = db_col_bool (res, 0, 0);
  PQclear (res);
  return (qs < 0) ? qs : DB_QS_ONE_RESULT;
}

void
db_event_dropped_clear (struct db_event_dropped *d)
{
  if (NULL == d)
    return;
  free (d->days);
  memset (d, 0, sizeof (*d));
}

static struct db_stmt upkeep_lock_stmt
  = DB_STMT ("event_upkeep_lock", "SELECT pg_try_advisory_xact_lock ($1::bigint)");

static struct db_stmt drop_stmt = DB_STMT (
  "event_partitions_drop", "SELECT d FROM events_partitions_drop_before ($1::date) AS d");

struct drop_ctx
{
  const char *lock_key;
  const char *cutoff;
  struct db_event_dropped *out;
};

static enum db_qs
drop_tx (void *cls)
{
  struct drop_ctx *dc = cls;
  const char *lock_params[] = { dc->lock_key };
  const char *drop_params[] = { dc->cutoff };
  PGresult *res;
  db_event_dropped_clear (dc->out);
  enum db_qs qs = db_exec (&upkeep_lock_stmt, 1, lock_params, &res);
  bool locked = qs > 0 && db_col_bool (res, 0, 0);
  PQclear (res);
  if (qs < 0 || !locked)
    return (qs < 0) ? qs : DB_QS_NO_RESULTS;
  dc->out->locked = true;
  qs = db_exec (&drop_stmt, 1, drop_params, &res);
  if (qs > 0)
    {
      dc->out->days = calloc ((size_t) qs, sizeof (*dc->out->days));
      if (NULL == dc->out->days)
        qs = DB_QS_HARD_ERROR;
    }
  for (int row = 0; qs > 0 && row < PQntuples (res); row++)
    {
      /* events_YYYYMMDD → YYYY-MM-DD */
      const char *d = PQgetvalue (res, row, 0) + PARTITION_PREFIX_LEN;
      snprintf (dc->out->days[dc->out->n++], DB_EVENT_DAY_SIZE, "%.4s-%.2s-%.2s", d, d + 4, d + 6);
    }
  PQclear (res);
  return (qs < 0) ? qs : (dc->out->n > 0) ? DB_QS_ONE_RESULT : DB_QS_NO_RESULTS;
}

enum db_qs
db_event_partitions_drop_before (int64_t lock_key, const char *cutoff, struct db_event_dropped *out)
{
  char key[INT_TEXT_SIZE];
  snprintf (key, sizeof (key), "%" PRId64, lock_key);
  memset (out, 0, sizeof (*out));
  struct drop_ctx dc = { .lock_key = key, .cutoff = cutoff, .out = out };
  enum db_qs qs = db_tx_run (DB_READ_COMMITTED, drop_tx, &dc);
  if (qs < 0)
    db_event_dropped_clear (out);
  return qs;
}
