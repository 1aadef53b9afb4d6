/**
 * @file db/internal.h
 * Private to db/conn.c, db/tx.c and db/migrate.c: the hooks the
 * transaction runner and the migration runner need into this thread's
 * connection state.  Query files and handlers use db/db.h only.
 */
#ifndef BW_DB_INTERNAL_H
#define BW_DB_INTERNAL_H

#include <stdbool.h>
#include "db/db.h"

/**
 * This thread's connection if it has one, without (re)connecting.
 * @return the connection (borrowed; owned by db/conn.c), or NULL.
 */
PGconn *db_conn_current (void);

/**
 * db_tx_run opened a transaction (its BEGIN succeeded).  From now until
 * db_conn_tx_leave, a lost connection poisons the transaction: every
 * db_exec returns DB_QS_UNAVAILABLE instead of reconnecting, so that no
 * statement of the transaction runs in autocommit on a new connection.
 */
void db_conn_tx_enter (void);

/** The transaction ended (committed, rolled back or lost): clear the marks. */
void db_conn_tx_leave (void);

/** @return true while db_tx_run's transaction is open on this thread. */
bool db_conn_tx_active (void);

/**
 * @return true if this thread's connection was lost while a transaction
 *         was open and nobody has cleared that yet (db_conn_tx_leave).
 */
bool db_conn_tx_lost (void);

/** Count one retried transaction attempt in db_stats. */
void db_stats_count_tx_retry (void);

/**
 * Run @a sql, which may hold several statements, with PQexec (simple
 * query protocol, no parameters).  The ONE exception to "prepared
 * statements only": db_migrate uses it for the body of an embedded
 * migration file, which is our own SQL compiled into the binary and never
 * input.  Errors are mapped and counted as by db_exec; no retry.
 * @param name  label for the logs (the migration file name)
 * @return DB_QS_NO_RESULTS, or a negative db_qs.
 */
enum db_qs db_exec_script (const char *name, const char *sql);

#endif
