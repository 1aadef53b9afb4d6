/*
 * One libpq connection per thread, statements prepared once per
 * connection, SQLSTATE mapping, pool figures, readiness.
 *
 * Each thread keeps its connection in thread-local state together with a
 * bitset of the statement ids prepared on it; the bitset is cleared
 * whenever the connection is replaced, so statements are prepared again
 * after a reconnect.  A pthread key destructor closes the connection when
 * a thread exits (libmicrohttpd's pool threads included), so
 * db_thread_close is only needed to close it earlier.
 */
#include "config.h"
#include "db/db.h"
#include "db/internal.h"
#include "lib/clock.h"
#include "lib/log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/**
 * Connection timeout in seconds (libpq `connect_timeout`, a string).  A
 * conninfo that sets connect_timeout itself wins.
 */
#define CONNECT_TIMEOUT_S "2"
/** `application_name` reported to the server (pg_stat_activity). */
#define APPLICATION_NAME "bulwarkd"
/** Everything we send and read is UTF-8 (JSON). */
#define CLIENT_ENCODING "UTF8"
/** Smallest prepared-statement bitset, in bytes. */
#define PREPARED_MIN_BYTES 16

/** This thread's connection. */
struct conn_state
{
  PGconn *conn;              /**< owned; NULL when not connected */
  unsigned int gen;          /**< conninfo generation @a conn was opened with */
  bool failed;               /**< the last connection attempt failed */
  unsigned int failed_gen;   /**< conninfo generation of that attempt */
  uint64_t failed_at_ms;     /**< monotonic time of that attempt */
  unsigned char *prepared;   /**< owned bitset: bit id set = statement id prepared on @a conn */
  size_t prepared_bytes;     /**< size of @a prepared */
  bool in_tx;                /**< db_tx_run's transaction is open */
  bool tx_lost;              /**< the connection was lost inside a transaction */
};

static _Thread_local struct conn_state tls;

/** Guards @a conninfo. */
static pthread_mutex_t conninfo_lock = PTHREAD_MUTEX_INITIALIZER;
/** Owned copy of the string given to db_init, or NULL. */
static char *conninfo;
/** Bumped by each db_init so that threads drop connections to the old target. */
static atomic_uint conninfo_gen;

/** Last statement id handed out; ids start at 1 (0 = unassigned). */
static atomic_uint stmt_ids;

/** Closes a thread's connection at thread exit; its value is &tls while connected. */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static atomic_uint_fast64_t st_open;
static atomic_uint_fast64_t st_connects;
static atomic_uint_fast64_t st_connect_failures;
static atomic_uint_fast64_t st_statements;
static atomic_uint_fast64_t st_errors;
static atomic_uint_fast64_t st_tx_retries;


/** Monotonic clock in milliseconds. */

/** Length of @a msg without the line breaks libpq ends its messages with. */
static size_t
trimmed_len (const char *msg)
{
  size_t len = strlen (msg);
  while (len > 0 && ('\n' == msg[len - 1] || '\r' == msg[len - 1]))
    len--;
  return len;
}


/** Close this thread's connection, if any, and forget what was prepared on it. */
static void
conn_close (void)
{
  if (NULL == tls.conn)
    return;
  PQfinish (tls.conn);
  tls.conn = NULL;
  atomic_fetch_sub (&st_open, 1);
  if (NULL != tls.prepared)
    memset (tls.prepared, 0, tls.prepared_bytes);
}


/** pthread key destructor: the thread is exiting. */
static void
thread_exit_cb (void *unused)
{
  db_thread_close ();
}


static void
exit_key_create (void)
{
  if (0 != pthread_key_create (&exit_key, &thread_exit_cb))
    bw_logf (BW_LOG_WARN, "db: pthread_key_create failed; connections close at process exit only");
}


/** Route server notices and warnings to the JSON log instead of raw stderr. */
static void
notice_cb (void *arg, const PGresult *res)
{
  const char *severity = PQresultErrorField (res, PG_DIAG_SEVERITY_NONLOCALIZED);
  enum bw_log_level level = (NULL != severity && 0 == strcmp (severity, "WARNING"))
                              ? BW_LOG_WARN : BW_LOG_DEBUG;
  bw_log_json (level, "database notice",
               json_pack ("{s:s?, s:s?, s:s?}",
                          "severity", severity,
                          "sqlstate", PQresultErrorField (res, PG_DIAG_SQLSTATE),
                          "server_message", PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY)));
}


/** Copy of the conninfo under the lock.  @return owned string, or NULL. */
static char *
conninfo_copy (void)
{
  char *copy = NULL;
  pthread_mutex_lock (&conninfo_lock);
  if (NULL != conninfo)
    copy = strdup (conninfo);
  pthread_mutex_unlock (&conninfo_lock);
  return copy;
}


/**
 * Open this thread's connection for conninfo generation @a gen.
 * @return the connection, or NULL (failure counted and logged).
 */
static PGconn *
conn_open (unsigned int gen)
{
  char *target = conninfo_copy ();
  tls.failed = true;
  tls.failed_gen = gen;
  tls.failed_at_ms = (bw_monotonic_ns () / 1000000u);
  if (NULL == target)
    {
      bw_logf (BW_LOG_ERROR, "db: no connection string (db_init not called or out of memory)");
      atomic_fetch_add (&st_connect_failures, 1);
      return NULL;
    }
  /* Defaults first: with expand_dbname the fields of the conninfo or URI
     given as dbname override the entries before it (libpq §34.1). */
  static const char *const keys[] = {
    "connect_timeout", "application_name", "client_encoding", "dbname", NULL
  };
  const char *const values[] = {
    CONNECT_TIMEOUT_S, APPLICATION_NAME, CLIENT_ENCODING, target, NULL
  };
  PGconn *c = PQconnectdbParams (keys, values, 1);
  free (target);
  if (NULL == c || CONNECTION_OK != PQstatus (c))
    {
      const char *msg = (NULL != c) ? PQerrorMessage (c) : "out of memory";
      bw_log_json (BW_LOG_WARN, "database connection failed",
                   json_pack ("{s:s%}", "error", msg, trimmed_len (msg)));
      PQfinish (c);
      atomic_fetch_add (&st_connect_failures, 1);
      return NULL;
    }
  PQsetNoticeReceiver (c, &notice_cb, NULL);
  tls.failed = false;
  tls.conn = c;
  tls.gen = gen;
  if (NULL != tls.prepared)
    memset (tls.prepared, 0, tls.prepared_bytes);
  pthread_once (&exit_key_once, &exit_key_create);
  pthread_setspecific (exit_key, &tls);
  atomic_fetch_add (&st_connects, 1);
  atomic_fetch_add (&st_open, 1);
  return c;
}


int
db_init (const char *info)
{
  if (NULL == info)
    return -1;
  char *copy = strdup (info);
  if (NULL == copy)
    return -1;
  pthread_mutex_lock (&conninfo_lock);
  free (conninfo);
  conninfo = copy;
  atomic_fetch_add (&conninfo_gen, 1);
  pthread_mutex_unlock (&conninfo_lock);
  db_thread_close ();
  return 0;
}


void
db_thread_close (void)
{
  conn_close ();
  free (tls.prepared);
  memset (&tls, 0, sizeof (tls));
  /* The key stays set while the prepared set is allocated, so a thread
     that exits after losing its connection still frees it. */
  pthread_once (&exit_key_once, &exit_key_create);
  pthread_setspecific (exit_key, NULL);
}


void
db_shutdown (void)
{
  db_thread_close ();
  pthread_mutex_lock (&conninfo_lock);
  free (conninfo);
  conninfo = NULL;
  pthread_mutex_unlock (&conninfo_lock);
}


PGconn *
db_conn (void)
{
  unsigned int gen = atomic_load (&conninfo_gen);
  if (NULL != tls.conn)
    {
      if (tls.gen == gen && CONNECTION_OK == PQstatus (tls.conn))
        return tls.conn;
      if (tls.in_tx)
        tls.tx_lost = true;
      conn_close ();
    }
  if (tls.failed && tls.failed_gen == gen
      && (bw_monotonic_ns () / 1000000u) - tls.failed_at_ms < DB_RECONNECT_INTERVAL_MS)
    return NULL;
  return conn_open (gen);
}


PGconn *
db_conn_current (void)
{
  return tls.conn;
}


void
db_conn_tx_enter (void)
{
  tls.in_tx = true;
  tls.tx_lost = false;
}


void
db_conn_tx_leave (void)
{
  tls.in_tx = false;
  tls.tx_lost = false;
}


bool
db_conn_tx_active (void)
{
  return tls.in_tx;
}


bool
db_conn_tx_lost (void)
{
  return tls.tx_lost;
}


void
db_stats_count_tx_retry (void)
{
  atomic_fetch_add (&st_tx_retries, 1);
}


/**
 * The id of @a st, assigning the next one on first use.  Two threads
 * racing on a fresh statement both draw an id; the compare-and-swap keeps
 * one and the other id is simply never used.
 */
static unsigned int
stmt_id (struct db_stmt *st)
{
  unsigned int id = __atomic_load_n (&st->id, __ATOMIC_ACQUIRE);
  if (0 != id)
    return id;
  unsigned int fresh = atomic_fetch_add (&stmt_ids, 1) + 1;
  if (__atomic_compare_exchange_n (&st->id, &id, fresh, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return fresh;
  return id; /* set by the other thread */
}


static bool
is_prepared (unsigned int id)
{
  return id / CHAR_BIT < tls.prepared_bytes
         && 0 != (tls.prepared[id / CHAR_BIT] & (1u << (id % CHAR_BIT)));
}


/** Record @a id as prepared on this connection.  @return 0, or -1 out of memory. */
static int
mark_prepared (unsigned int id)
{
  size_t need = (size_t) id / CHAR_BIT + 1;
  if (need > tls.prepared_bytes)
    {
      size_t size = (0 == tls.prepared_bytes) ? PREPARED_MIN_BYTES : tls.prepared_bytes;
      while (size < need)
        size *= 2;
      unsigned char *grown = realloc (tls.prepared, size);
      if (NULL == grown)
        return -1;
      memset (grown + tls.prepared_bytes, 0, size - tls.prepared_bytes);
      tls.prepared = grown;
      tls.prepared_bytes = size;
    }
  tls.prepared[id / CHAR_BIT] |= (unsigned char) (1u << (id % CHAR_BIT));
  return 0;
}


/**
 * SQLSTATEs that mean the session is gone: class 08 (connection
 * exception) and class 57P (operator intervention: admin or crash
 * shutdown, cannot connect now, database dropped).
 */
static bool
sqlstate_is_disconnect (const char *state)
{
  return NULL != state
         && (0 == strncmp (state, "08", 2) || 0 == strncmp (state, "57P", 3));
}


/** Rows returned or affected by a successful @a res. */
static enum db_qs
row_count (PGresult *res)
{
  if (PGRES_TUPLES_OK == PQresultStatus (res))
    return (enum db_qs) PQntuples (res);
  const char *n = PQcmdTuples (res);
  if ('\0' == *n)
    return DB_QS_NO_RESULTS; /* a command without a count (CREATE, BEGIN, ...) */
  errno = 0;
  unsigned long long rows = strtoull (n, NULL, 10);
  if (0 != errno || rows > INT_MAX)
    return (enum db_qs) INT_MAX;
  return (enum db_qs) rows;
}


/**
 * Map the outcome of one libpq call on @a c.  @a res may be NULL (libpq
 * could not even build a result).  Sets *lost when the session is gone.
 * @return the row count, or a negative db_qs (logged if unexpected).
 */
static enum db_qs
classify (PGconn *c, PGresult *res, const char *what, bool *lost)
{
  ExecStatusType status = (NULL != res) ? PQresultStatus (res) : PGRES_FATAL_ERROR;
  if (PGRES_COMMAND_OK == status || PGRES_TUPLES_OK == status)
    return row_count (res);
  const char *state = (NULL != res) ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = (NULL != res) ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (NULL == msg)
    msg = PQerrorMessage (c); /* errors raised by libpq itself carry no fields */
  size_t msg_len = trimmed_len (msg);
  if (CONNECTION_BAD == PQstatus (c) || sqlstate_is_disconnect (state))
    {
      *lost = true;
      bw_log_json (BW_LOG_WARN, "database connection lost",
                   json_pack ("{s:s, s:s?, s:s%}", "statement", what,
                              "sqlstate", state, "server_message", msg, msg_len));
      return DB_QS_UNAVAILABLE;
    }
  if (NULL != state && 0 == strcmp (state, "23505"))
    return DB_QS_CONFLICT;
  if (NULL != state && (0 == strcmp (state, "40001") || 0 == strcmp (state, "40P01")))
    {
      bw_log_json (BW_LOG_DEBUG, "database serialization failure",
                   json_pack ("{s:s, s:s}", "statement", what, "sqlstate", state));
      return DB_QS_SOFT_ERROR;
    }
  bw_log_json (BW_LOG_ERROR, "database statement failed",
               json_pack ("{s:s, s:s?, s:s%, s:s?}", "statement", what, "sqlstate", state,
                          "server_message", msg, msg_len,
                          "detail", (NULL != res) ? PQresultErrorField (res, PG_DIAG_MESSAGE_DETAIL)
                                                  : NULL));
  return DB_QS_HARD_ERROR;
}


/** Prepare @a st on @a c if needed and run it once.  Sets *lost as classify. */
static enum db_qs
exec_once (PGconn *c, struct db_stmt *st, unsigned int id, int nparams,
           const char *const *params, PGresult **res, bool *lost)
{
  enum db_qs qs;
  if (! is_prepared (id))
    {
      PGresult *prep = PQprepare (c, st->name, st->sql, 0, NULL);
      qs = classify (c, prep, st->name, lost);
      PQclear (prep);
      if (qs < 0)
        return qs;
      if (0 != mark_prepared (id))
        {
          /* Without the mark the next use would prepare again and fail
             with "already exists": drop the connection instead. */
          bw_logf (BW_LOG_ERROR, "db: out of memory recording prepared statement %s", st->name);
          *lost = true;
          return DB_QS_HARD_ERROR;
        }
    }
  PGresult *r = PQexecPrepared (c, st->name, nparams, params, NULL, NULL, 0);
  qs = classify (c, r, st->name, lost);
  if (qs >= 0 && NULL != res)
    *res = r;
  else
    PQclear (r);
  return qs;
}


enum db_qs
db_exec (struct db_stmt *st, int nparams, const char *const *params, PGresult **res)
{
  if (NULL != res)
    *res = NULL;
  atomic_fetch_add (&st_statements, 1);
  unsigned int id = stmt_id (st);
  enum db_qs qs = DB_QS_UNAVAILABLE;
  for (int attempt = 0; attempt < 2; attempt++)
    {
      if (tls.tx_lost)
        break; /* never run the rest of a lost transaction in autocommit */
      PGconn *c = db_conn ();
      if (NULL == c)
        break;
      bool in_tx = tls.in_tx || PQTRANS_IDLE != PQtransactionStatus (c);
      bool lost = false;
      qs = exec_once (c, st, id, nparams, params, res, &lost);
      if (! lost)
        break;
      conn_close ();
      qs = DB_QS_UNAVAILABLE;
      if (in_tx)
        {
          tls.tx_lost = true;
          break;
        }
      /* outside a transaction the session held nothing else that was
         lost with it: reconnect and run the statement once more */
    }
  if (qs < 0)
    atomic_fetch_add (&st_errors, 1);
  return qs;
}


enum db_qs
db_exec_script (const char *name, const char *sql)
{
  atomic_fetch_add (&st_statements, 1);
  enum db_qs qs = DB_QS_UNAVAILABLE;
  PGconn *c = tls.tx_lost ? NULL : db_conn ();
  if (NULL != c)
    {
      bool in_tx = tls.in_tx || PQTRANS_IDLE != PQtransactionStatus (c);
      bool lost = false;
      PGresult *r = PQexec (c, sql);
      qs = classify (c, r, name, &lost);
      PQclear (r);
      if (lost)
        {
          tls.tx_lost = in_tx;
          conn_close ();
          qs = DB_QS_UNAVAILABLE;
        }
      else if (qs > 0)
        qs = DB_QS_NO_RESULTS;
    }
  if (qs < 0)
    atomic_fetch_add (&st_errors, 1);
  return qs;
}


/** Largest piece handed to PQputCopyData, whose length is an int. */
#define COPY_PIECE_MAX (1024 * 1024)

enum db_qs
db_copy_in (const char *name, const char *sql, const char *data, size_t len)
{
  atomic_fetch_add (&st_statements, 1);
  enum db_qs qs = DB_QS_UNAVAILABLE;
  PGconn *c = tls.tx_lost ? NULL : db_conn ();
  if (NULL != c)
    {
      bool in_tx = tls.in_tx || PQTRANS_IDLE != PQtransactionStatus (c);
      bool lost = false;
      PGresult *r = PQexecParams (c, sql, 0, NULL, NULL, NULL, NULL, 0);
      if (PGRES_COPY_IN == PQresultStatus (r))
        {
          PQclear (r);
          /* blocking connection: libpq sends what the socket does not take at once */
          int ok = 1;
          for (size_t off = 0; 1 == ok && off < len; off += COPY_PIECE_MAX)
            ok = PQputCopyData (c, data + off,
                                (int) ((len - off < COPY_PIECE_MAX) ? len - off : COPY_PIECE_MAX));
          if (1 == ok)
            ok = PQputCopyEnd (c, NULL);
          r = PQgetResult (c); /* on a failed send, the error result of the COPY */
        }
      /* a result still in COPY state means the end never went out: drop the session */
      bool stuck = PGRES_COPY_IN == PQresultStatus (r);
      qs = stuck ? DB_QS_UNAVAILABLE : classify (c, r, name, &lost);
      PQclear (r);
      while (!stuck && NULL != (r = PQgetResult (c)))
        {
          stuck = PGRES_COPY_IN == PQresultStatus (r);
          PQclear (r);
        }
      if (lost || stuck)
        {
          tls.tx_lost = in_tx;
          conn_close ();
          qs = DB_QS_UNAVAILABLE;
        }
    }
  if (qs < 0)
    atomic_fetch_add (&st_errors, 1);
  return qs;
}


void
db_stats_get (struct db_stats *out)
{
  out->connections_open = atomic_load (&st_open);
  out->connects_total = atomic_load (&st_connects);
  out->connect_failures = atomic_load (&st_connect_failures);
  out->statements_total = atomic_load (&st_statements);
  out->errors_total = atomic_load (&st_errors);
  out->tx_retries_total = atomic_load (&st_tx_retries);
}


bool
db_ready (const char **why)
{
  static struct db_stmt ping = DB_STMT ("db_ready_ping", "SELECT 1");
  unsigned int version;
  const char *reason = NULL;
  if (db_exec (&ping, 0, NULL, NULL) < 0)
    reason = "database unavailable";
  else if (0 != db_schema_version (&version))
    reason = "schema version unknown";
  else if (version != db_schema_version_expected ())
    reason = "schema not current";
  if (NULL != why)
    *why = reason;
  return NULL == reason;
}
