/*
 * The transaction runner: BEGIN, the caller's callback, COMMIT, and the
 * retry of serialization failures and deadlocks (PostgreSQL 15 docs
 * §13.2.3: "applications using this level must be prepared to retry
 * transactions due to serialization failures").
 */
#include "config.h"
#include "db/db.h"
#include "db/internal.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <time.h>

/** Backoff before the second attempt, in microseconds; doubles per attempt. */
#define BACKOFF_BASE_US 1000
/** Upper bound of one backoff pause, in microseconds. */
#define BACKOFF_MAX_US 32000

/** BEGIN statements indexed by enum db_isolation. */
static struct db_stmt begin_stmts[] = {
  [DB_READ_COMMITTED] = DB_STMT ("tx_begin_read_committed",
                                 "BEGIN ISOLATION LEVEL READ COMMITTED"),
  [DB_REPEATABLE_READ] = DB_STMT ("tx_begin_repeatable_read",
                                  "BEGIN ISOLATION LEVEL REPEATABLE READ"),
  [DB_SERIALIZABLE] = DB_STMT ("tx_begin_serializable",
                               "BEGIN ISOLATION LEVEL SERIALIZABLE"),
};

static struct db_stmt commit_stmt = DB_STMT ("tx_commit", "COMMIT");

static struct db_stmt rollback_stmt = DB_STMT ("tx_rollback", "ROLLBACK");


/**
 * Roll back whatever this thread's connection has open.  A failed COMMIT
 * has already ended its transaction, so only a connection that is still
 * inside one gets a ROLLBACK (which would otherwise warn).
 * @return 0, or -1 if the ROLLBACK failed (the connection was then closed).
 */
static int
rollback (void)
{
  PGconn *c = db_conn_current ();
  if (NULL == c || PQTRANS_IDLE == PQtransactionStatus (c))
    return 0;
  if (db_exec (&rollback_stmt, 0, NULL, NULL) >= 0)
    return 0;
  /* A connection we cannot roll back must not serve the next request. */
  db_thread_close ();
  return -1;
}


/** Sleep a randomized, growing pause before attempt @a attempt + 1 (>= 1). */
static void
backoff (unsigned int attempt)
{
  unsigned long base = BACKOFF_BASE_US;
  for (unsigned int i = 1; i < attempt && base < BACKOFF_MAX_US; i++)
    base *= 2;
  if (base > BACKOFF_MAX_US)
    base = BACKOFF_MAX_US;
  /* uniform in [base/2, base): spreads retries of transactions that
     collided so that they do not collide again in lockstep */
  unsigned int r = 0;
  if (0 != bw_random (&r, sizeof (r)))
    r = 0;
  unsigned long us = base / 2 + r % (base / 2);
  struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) us * 1000L };
  while (0 != nanosleep (&ts, &ts))
    ; /* interrupted by a signal: sleep the rest */
}


/**
 * COMMIT what @a cb left open.  The connection must still be in a healthy
 * transaction: PostgreSQL answers COMMIT of an aborted transaction with a
 * successful ROLLBACK, which would hide a statement error @a cb ignored.
 */
static enum db_qs
commit (void)
{
  if (db_conn_tx_lost ())
    return DB_QS_UNAVAILABLE;
  PGconn *c = db_conn_current ();
  if (NULL == c || PQTRANS_INTRANS != PQtransactionStatus (c))
    {
      bw_logf (BW_LOG_ERROR, "db: transaction callback ended or broke its transaction "
               "(a failed statement was ignored?); rolling back");
      return DB_QS_HARD_ERROR;
    }
  enum db_qs qs = db_exec (&commit_stmt, 0, NULL, NULL);
  return (qs < 0) ? qs : DB_QS_NO_RESULTS;
}


enum db_qs
db_tx_run (enum db_isolation iso, db_tx_cb cb, void *cls)
{
  if (db_conn_tx_active ())
    {
      bw_logf (BW_LOG_ERROR, "db: db_tx_run called inside a transaction");
      return DB_QS_HARD_ERROR;
    }
  for (unsigned int attempt = 1; ; attempt++)
    {
      enum db_qs qs = db_exec (&begin_stmts[iso], 0, NULL, NULL);
      if (qs < 0)
        return qs;
      db_conn_tx_enter ();
      qs = cb (cls);
      if (qs >= 0)
        {
          enum db_qs cq = commit ();
          if (cq >= 0)
            {
              db_conn_tx_leave ();
              return qs;
            }
          qs = cq;
        }
      if (DB_QS_UNAVAILABLE != qs && db_conn_tx_lost ())
        qs = DB_QS_UNAVAILABLE;
      if (DB_QS_UNAVAILABLE != qs && 0 != rollback ())
        qs = DB_QS_UNAVAILABLE;
      db_conn_tx_leave ();
      if (DB_QS_SOFT_ERROR != qs || attempt >= DB_TX_MAX_ATTEMPTS)
        {
          if (DB_QS_SOFT_ERROR == qs)
            bw_logf (BW_LOG_WARN, "db: transaction still failing with serialization "
                     "failures after %u attempts", attempt);
          return qs;
        }
      db_stats_count_tx_retry ();
      backoff (attempt);
    }
}


/** Name of @a status for the logs. */
static const char *
status_name (PGTransactionStatusType status)
{
  switch (status)
    {
    case PQTRANS_IDLE:
      return "idle";
    case PQTRANS_ACTIVE:
      return "active";
    case PQTRANS_INTRANS:
      return "in transaction";
    case PQTRANS_INERROR:
      return "in failed transaction";
    case PQTRANS_UNKNOWN:
      break;
    }
  return "unknown";
}


bool
db_tx_leaked (void)
{
  bool lost = db_conn_tx_lost ();
  PGconn *c = db_conn_current ();
  PGTransactionStatusType status = (NULL != c) ? PQtransactionStatus (c) : PQTRANS_IDLE;
  if (! lost && PQTRANS_IDLE == status)
    {
      db_conn_tx_leave ();
      return false;
    }
  bw_log_json (BW_LOG_ERROR, "database transaction left open; rolling back",
               json_pack ("{s:b, s:s}", "connection_lost", lost, "transaction_status",
                          status_name (status)));
  if (PQTRANS_INTRANS == status || PQTRANS_INERROR == status)
    rollback ();
  else if (PQTRANS_IDLE != status)
    db_thread_close (); /* busy or unknown: no safe way to reuse it */
  db_conn_tx_leave ();
  return true;
}
