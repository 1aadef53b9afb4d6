/**
 * @file db/db.h
 * The database layer: one libpq connection per worker thread, statements
 * prepared once per connection, a transaction runner that retries
 * serialization failures, readiness, pool figures.
 *
 * Conventions (see STYLE.md): every statement is a `struct db_stmt` defined
 * beside the one function that runs it; parameters are text and cast in SQL
 * (`$1::uuid`); results are copied out before PQclear.
 */
#ifndef BW_DB_DB_H
#define BW_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

/** Outcome of a statement or transaction: negative is an error, else rows. */
enum db_qs
{
  DB_QS_UNAVAILABLE = -5, /**< no usable connection: reply 503 + Retry-After */
  DB_QS_ABORT = -4,       /**< a tx callback rolled back on purpose; its context says why */
  DB_QS_CONFLICT = -3,    /**< unique_violation (SQLSTATE 23505) */
  DB_QS_HARD_ERROR = -2,  /**< anything else; logged with the server message, reply 500 */
  DB_QS_SOFT_ERROR = -1,  /**< serialization_failure 40001 / deadlock 40P01: retry the tx */
  DB_QS_NO_RESULTS = 0,
  DB_QS_ONE_RESULT = 1,   /**< or more: the row count */
};

/**
 * A prepared statement.  Define one `static struct db_stmt` per query with
 * DB_STMT beside the function that runs it; `id` is assigned on first use
 * (atomically, from a global counter).  Names are prepared-statement names
 * on the server and must be unique across the binary: a second statement
 * with the same name fails with DB_QS_HARD_ERROR (SQLSTATE 42P05).
 */
struct db_stmt
{
  const char *name; /**< unique statement name */
  const char *sql;  /**< SQL with $n parameters, each cast to its type */
  unsigned int id;  /**< 0 until first use; then the index in each connection's prepared set */
};

/** Initializer for struct db_stmt. */
#define DB_STMT(n, s) { .name = (n), .sql = (s), .id = 0 }

/**
 * SQL expression that renders the timestamptz expression @a col (a string
 * literal) as RFC 3339 UTC with six fraction digits and `Z`, e.g.
 * `2026-11-29T12:00:00.123456Z` — the one format of every timestamp the
 * API returns and of the audit record's `time`.
 */
#define DB_SQL_TS(col) \
  "to_char ((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/** Bytes that hold one DB_SQL_TS timestamp (27 chars for years 1..9999) and its NUL. */
#define DB_TS_SIZE 28

/** Seconds a client is told to wait (Retry-After) when the database is down. */
#define DB_RETRY_AFTER_S 2
/**
 * After a failed connection attempt, a thread makes no new attempt for
 * this many milliseconds: while PostgreSQL is down, requests fail at once
 * with DB_QS_UNAVAILABLE instead of each waiting for a connect timeout.
 */
#define DB_RECONNECT_INTERVAL_MS 500
/** Attempts of a transaction that keeps hitting serialization failures. */
#define DB_TX_MAX_ATTEMPTS 8

/**
 * Set the connection string (libpq conninfo or URI, libpq docs §34.1.1)
 * used by every thread.  Call before any other db_ function.  @a conninfo
 * is copied.  bulwarkd adds connect_timeout=2 and application_name=bulwarkd
 * unless @a conninfo sets them itself.  Calling it again replaces the
 * string: this thread's connection is closed at once, other threads'
 * connections on their next db_conn (tests use this; a server calls it once).
 * @return 0, or -1 if @a conninfo is NULL or on allocation failure.
 */
int db_init (const char *conninfo);

/**
 * Close this thread's connection and free its state.  Optional: a thread
 * that exits closes its connection anyway (pthread key destructor), which
 * covers libmicrohttpd's pool threads.
 */
void db_thread_close (void);

/**
 * Close this thread's connection and free global state.  Other threads
 * must have closed theirs (or exited).  db_init may be called again after.
 */
void db_shutdown (void);

/**
 * This thread's connection, (re)connecting if it has none or it broke; no
 * new attempt within DB_RECONNECT_INTERVAL_MS of a failed one.
 * @return a healthy connection (borrowed: owned by the db layer, valid
 *         until the next db_ call on this thread), or NULL.
 */
PGconn *db_conn (void);

/**
 * Run @a st with @a nparams text parameters (NULL elements are SQL NULL).
 * Prepares it on this connection first if needed.  Outside a transaction a
 * lost connection is re-established and the statement retried once (so a
 * statement whose reply was lost may run twice: outside a transaction,
 * write only what a retry cannot duplicate).  Inside a transaction a lost
 * connection ends it: this and every further statement of it return
 * DB_QS_UNAVAILABLE, never running in autocommit on a new connection.
 * Errors other than CONFLICT and SOFT_ERROR are logged (statement name,
 * SQLSTATE, server message); none of it is meant for clients.
 * @param[out] res  the result on success, also with 0 rows (caller
 *                  PQclear()s it), else NULL; may be NULL when the caller
 *                  wants no rows.
 * @return rows returned (SELECT/RETURNING) or affected (0 for commands
 *         without a count), or a negative db_qs.
 */
enum db_qs db_exec (struct db_stmt *st, int nparams, const char *const *params,
                    PGresult **res);

/**
 * Bulk load: run @a sql, a constant `COPY <table> (<columns>) FROM STDIN`
 * (COPY cannot be prepared: it goes out with PQexecParams and no
 * parameters, so it must never be built from input), then send the
 * @a len bytes of @a data, rows in COPY's text format (PostgreSQL 15 docs,
 * COPY, "Text Format": tab-separated, `\N` for NULL, backslash escapes).
 * The fastest way in (../shared/PERF.md).  Like db_exec inside db_tx_run,
 * a lost connection ends the transaction; outside one there is no retry.
 * @param name  label for the logs
 * @return rows copied, or a negative db_qs (CONFLICT on a unique violation).
 */
enum db_qs db_copy_in (const char *name, const char *sql, const char *data, size_t len);

/** Transaction isolation levels (PostgreSQL 15 docs §13.2). */
enum db_isolation
{
  DB_READ_COMMITTED,
  DB_REPEATABLE_READ,
  DB_SERIALIZABLE,
};

/**
 * Body of a transaction.  Runs only db_exec calls; touches no HTTP state.
 * Return >= 0 to commit; DB_QS_SOFT_ERROR to retry; any other negative
 * value rolls back and is returned to the caller of db_tx_run.
 */
typedef enum db_qs (*db_tx_cb) (void *cls);

/**
 * BEGIN at @a iso, run @a cb, COMMIT.  Serialization failures and
 * deadlocks (in @a cb or at COMMIT) roll back and run @a cb again, up to
 * DB_TX_MAX_ATTEMPTS times with a short randomized backoff, so @a cb must
 * reset its outputs on entry.
 * @return what @a cb returned (>= 0) after a successful COMMIT, or a
 *         negative db_qs; DB_QS_SOFT_ERROR when attempts ran out.
 */
enum db_qs db_tx_run (enum db_isolation iso, db_tx_cb cb, void *cls);

/**
 * After each request: if this thread's connection is left inside a
 * transaction, log it and roll back.  @return true if one was open.
 */
bool db_tx_leaked (void);

/** Pool figures for /metrics.  All counters since start. */
struct db_stats
{
  uint64_t connections_open;   /**< healthy connections now (one per thread that used one) */
  uint64_t connects_total;     /**< successful (re)connects */
  uint64_t connect_failures;   /**< failed connection attempts */
  uint64_t statements_total;   /**< statements executed */
  uint64_t errors_total;       /**< statements that failed (any negative db_qs) */
  uint64_t tx_retries_total;   /**< transaction attempts retried */
};

/** Copy the current figures into @a out. */
void db_stats_get (struct db_stats *out);

/**
 * Readiness (/readyz): the database answers and its schema version equals
 * the binary's.
 * @param[out] why  NULL when ready, else a static reason ("database
 *                  unavailable", "schema version unknown", "schema not
 *                  current"); may be NULL.
 * @return true if ready.
 */
bool db_ready (const char **why);

/* ---- migrations (db/migrate.c) ---- */

/** One embedded migration, generated from migrations/NNNN_name.sql. */
struct db_migration
{
  unsigned int version; /**< NNNN, strictly increasing from 1 */
  const char *name;     /**< file name */
  const char *sql;      /**< file contents */
};

/** The migrations built into this binary, in order, and their count. */
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

/** Schema version this binary expects (the last embedded migration). */
unsigned int db_schema_version_expected (void);

/**
 * Apply pending migrations on this thread's connection, each in its own
 * transaction together with its schema_migrations row (version, name,
 * sha256 of the file), holding a session advisory lock so that replicas
 * starting together apply each migration exactly once.  Creates
 * schema_migrations if missing.  A migration must not contain transaction
 * control or statements that cannot run in a transaction block.
 * @param[out] applied  number applied now (may be NULL).
 * @return 0 on success; -1 on database error, or when an applied
 *         migration's sha256 differs from the embedded file's (a landed
 *         migration was edited) or is unknown to this binary; -2 when the
 *         database schema is newer than this binary (refuse to start).
 */
int db_migrate (unsigned int *applied);

/**
 * Current schema version recorded in the database (0 for an empty database).
 * @return 0 and *version, or -1 on error.
 */
int db_schema_version (unsigned int *version);

#endif
