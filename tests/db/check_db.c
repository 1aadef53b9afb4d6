/*
 * Tests of the database layer (db/conn.c, db/tx.c, db/migrate.c) against a
 * real PostgreSQL.  BULWARK_TEST_DATABASE_URL names a superuser connection
 * (libpq URI or conninfo) of a throwaway cluster; without it the program
 * exits 77, which automake's test driver reports as SKIP.
 *
 * Each test case gets a fresh database, created by the checked fixture and
 * dropped after it; the databases of failed cases (Check does not run a
 * teardown after a failure in fork mode) are swept at the end of the run.
 * db_init is global state: every case calls it with its own database, so
 * the cases also pass with CK_FORK=no.
 */
#include "config.h"
#include "db/db.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/** Exit status that tells the automake test driver "skipped". */
#define EXIT_SKIP 77
/** Seconds one test case may take (sanitizer builds are slow). */
#define CASE_TIMEOUT_S 60
/** Bytes of a test database name "bwtest_<run pid>_<pid>_<n>". */
#define DB_NAME_SIZE 64
/** Milliseconds pg_terminate_backend waits for the backend to exit. */
#define TERMINATE_WAIT_MS "5000"
/** A call that must not wait for a connection attempt finishes within this (ms). */
#define FAST_FAIL_MS 1000

/** Superuser connection string of the scratch cluster (from the environment). */
static const char *admin_url;
/** pid of the test runner; part of every database name so the sweep finds ours only. */
static long run_pid;
/** Databases created by this process (more than one per process with CK_FORK=no). */
static unsigned int db_serial;

/** The current case's database. */
static struct
{
  char name[DB_NAME_SIZE]; /**< bwtest_... */
  char *conninfo;          /**< owned: admin_url with dbname replaced */
} tdb;


/* ---- helpers ---- */

static PGconn *
pq_connect (const char *conninfo)
{
  PGconn *c = PQconnectdb (conninfo);
  ck_assert_msg (CONNECTION_OK == PQstatus (c), "connect: %s", PQerrorMessage (c));
  return c;
}


/** Run @a sql with @a n text parameters on @a c; it must succeed.  Caller PQclear()s. */
static PGresult *
pq_run (PGconn *c, const char *sql, int n, const char *const *params)
{
  PGresult *r = PQexecParams (c, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType s = PQresultStatus (r);
  ck_assert_msg (PGRES_COMMAND_OK == s || PGRES_TUPLES_OK == s, "%s: %s", sql,
                 PQerrorMessage (c));
  return r;
}


/**
 * Run "<verb> <tdb.name><rest>" (CREATE or DROP DATABASE): an identifier
 * cannot be a parameter, so the name is spliced in; setup() builds it from
 * integers only, so nothing from outside ever reaches the SQL text.
 */
static void
admin_ddl (const char *verb, const char *rest)
{
  char sql[256];
  snprintf (sql, sizeof (sql), "%s %s%s", verb, tdb.name, rest);
  PGconn *c = pq_connect (admin_url);
  PQclear (pq_run (c, sql, 0, NULL));
  PQfinish (c);
}


/** Append 'value' to @a buf (conninfo quoting: \ and ' escaped). */
static void
append_quoted (char *buf, size_t size, const char *value)
{
  size_t len = strlen (buf);
  ck_assert (len + 1 < size);
  buf[len++] = '\'';
  for (const char *p = value; '\0' != *p; p++)
    {
      ck_assert (len + 3 < size);
      if ('\\' == *p || '\'' == *p)
        buf[len++] = '\\';
      buf[len++] = *p;
    }
  ck_assert (len + 2 < size);
  buf[len++] = '\'';
  buf[len] = '\0';
}


/** admin_url (URI or conninfo) with dbname = @a dbname, as a conninfo string.  Owned. */
static char *
conninfo_with_db (const char *dbname)
{
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse (admin_url, &err);
  ck_assert_msg (NULL != opts, "BULWARK_TEST_DATABASE_URL: %s", err ? err : "out of memory");
  char buf[2048] = "";
  for (PQconninfoOption *o = opts; NULL != o->keyword; o++)
    {
      if (NULL == o->val || 0 == strcmp (o->keyword, "dbname"))
        continue;
      ck_assert (strlen (buf) + strlen (o->keyword) + 2 < sizeof (buf));
      strcat (buf, o->keyword);
      strcat (buf, "=");
      append_quoted (buf, sizeof (buf), o->val);
      strcat (buf, " ");
    }
  strcat (buf, "dbname=");
  append_quoted (buf, sizeof (buf), dbname);
  PQconninfoFree (opts);
  char *copy = strdup (buf);
  ck_assert (NULL != copy);
  return copy;
}


static void
setup (void)
{
  /* only integers: the name is spliced into CREATE DATABASE (admin_ddl) */
  snprintf (tdb.name, sizeof (tdb.name), "bwtest_%ld_%ld_%u", run_pid, (long) getpid (),
            ++db_serial);
  admin_ddl ("CREATE DATABASE", " TEMPLATE template0");
  tdb.conninfo = conninfo_with_db (tdb.name);
  ck_assert_int_eq (0, db_init (tdb.conninfo));
}


static void
teardown (void)
{
  db_shutdown ();
  admin_ddl ("DROP DATABASE IF EXISTS", " WITH (FORCE)");
  free (tdb.conninfo);
  tdb.conninfo = NULL;
}


static uint64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}


/** Run a parameterless statement that returns one row of one column; copy the value. */
static void
query_value (struct db_stmt *st, int nparams, const char *const *params, char *out, size_t size)
{
  PGresult *res;
  ck_assert_int_eq (DB_QS_ONE_RESULT, db_exec (st, nparams, params, &res));
  ck_assert_uint_lt (strlen (PQgetvalue (res, 0, 0)), size);
  strcpy (out, PQgetvalue (res, 0, 0));
  PQclear (res);
}


/** Rows of table kv, counted on a connection of its own (not the layer's). */
static long
kv_rows_elsewhere (void)
{
  PGconn *c = pq_connect (tdb.conninfo);
  PGresult *r = pq_run (c, "SELECT count(*) FROM kv", 0, NULL);
  long n = strtol (PQgetvalue (r, 0, 0), NULL, 10);
  PQclear (r);
  PQfinish (c);
  return n;
}


static struct db_stmt create_kv = DB_STMT ("test_create_kv",
                                           "CREATE TABLE kv (k int PRIMARY KEY, v text)");
static struct db_stmt insert_kv = DB_STMT ("test_insert_kv",
                                           "INSERT INTO kv (k, v) VALUES ($1::int, $2::text)");
static struct db_stmt count_kv = DB_STMT ("test_count_kv", "SELECT count(*) FROM kv");
static struct db_stmt backend_pid = DB_STMT ("test_backend_pid", "SELECT pg_backend_pid()");


/** End the backend with pid @a pid from the admin connection and wait until it is gone. */
static void
terminate_backend (const char *pid)
{
  const char *params[] = { pid, TERMINATE_WAIT_MS };
  PGconn *c = pq_connect (admin_url);
  PGresult *r = pq_run (c, "SELECT pg_terminate_backend($1::int, $2::bigint)", 2, params);
  ck_assert_str_eq ("t", PQgetvalue (r, 0, 0));
  PQclear (r);
  PQfinish (c);
}


/** A TCP port on 127.0.0.1 where nothing listens (bound, then released). */
static int
closed_port (void)
{
  int s = socket (AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge (s, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  socklen_t len = sizeof (a);
  ck_assert_int_eq (0, bind (s, (struct sockaddr *) &a, sizeof (a)));
  ck_assert_int_eq (0, getsockname (s, (struct sockaddr *) &a, &len));
  close (s);
  return ntohs (a.sin_port);
}


/* ---- migrations ---- */

/** Check schema_migrations holds exactly the embedded migrations, with their sha256. */
static void
assert_recorded (void)
{
  static struct db_stmt rows = DB_STMT (
    "test_migrations", "SELECT version, name, sha256 FROM schema_migrations ORDER BY version");
  PGresult *res;
  ck_assert_int_eq ((int) db_migrations_count, db_exec (&rows, 0, NULL, &res));
  for (size_t i = 0; i < db_migrations_count; i++)
    {
      char version[16];
      char sha[BW_SHA256_HEX_LEN + 1];
      snprintf (version, sizeof (version), "%u", db_migrations[i].version);
      bw_sha256_hex (db_migrations[i].sql, strlen (db_migrations[i].sql), sha);
      ck_assert_str_eq (version, PQgetvalue (res, (int) i, 0));
      ck_assert_str_eq (db_migrations[i].name, PQgetvalue (res, (int) i, 1));
      ck_assert_str_eq (sha, PQgetvalue (res, (int) i, 2));
    }
  PQclear (res);
}


START_TEST (test_migrate_empty_db)
{
  static struct db_stmt orgs = DB_STMT ("test_orgs", "SELECT count(*) FROM orgs");
  unsigned int version = 99;
  const char *why = NULL;
  ck_assert_uint_ge (db_migrations_count, 1);
  ck_assert_uint_eq (db_migrations[db_migrations_count - 1].version,
                     db_schema_version_expected ());
  ck_assert_int_eq (0, db_schema_version (&version));
  ck_assert_uint_eq (0, version);
  ck_assert (! db_ready (&why));
  ck_assert_str_eq ("schema not current", why);

  unsigned int applied = 99;
  ck_assert_int_eq (0, db_migrate (&applied));
  ck_assert_uint_eq (db_migrations_count, applied);
  assert_recorded ();
  ck_assert_int_eq (0, db_schema_version (&version));
  ck_assert_uint_eq (db_schema_version_expected (), version);
  ck_assert_int_eq (DB_QS_ONE_RESULT, db_exec (&orgs, 0, NULL, NULL));
  ck_assert (db_ready (&why));
  ck_assert_ptr_null (why);
}
END_TEST


START_TEST (test_migrate_twice)
{
  unsigned int applied = 99;
  ck_assert_int_eq (0, db_migrate (&applied));
  ck_assert_uint_eq (db_migrations_count, applied);
  ck_assert_int_eq (0, db_migrate (&applied));
  ck_assert_uint_eq (0, applied);
  ck_assert_int_eq (0, db_migrate (NULL));
  assert_recorded ();
}
END_TEST


struct migrate_thread
{
  pthread_barrier_t *start;
  int rc;
  unsigned int applied;
};


static void *
migrate_thread_main (void *cls)
{
  struct migrate_thread *t = cls;
  pthread_barrier_wait (t->start);
  t->rc = db_migrate (&t->applied);
  db_thread_close ();
  return NULL;
}


START_TEST (test_migrate_concurrent)
{
  pthread_barrier_t start;
  struct migrate_thread t[2] = { { .start = &start, .rc = 99 }, { .start = &start, .rc = 99 } };
  pthread_t tid[2];
  ck_assert_int_eq (0, pthread_barrier_init (&start, NULL, 2));
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq (0, pthread_create (&tid[i], NULL, &migrate_thread_main, &t[i]));
  for (int i = 0; i < 2; i++)
    pthread_join (tid[i], NULL);
  pthread_barrier_destroy (&start);
  ck_assert_int_eq (0, t[0].rc);
  ck_assert_int_eq (0, t[1].rc);
  ck_assert_uint_eq (db_migrations_count, t[0].applied + t[1].applied);
  assert_recorded ();
}
END_TEST


START_TEST (test_migrate_newer_db)
{
  static struct db_stmt future = DB_STMT (
    "test_future",
    "INSERT INTO schema_migrations (version, name, sha256)"
    " VALUES ($1::int, 'future.sql', repeat('0', 64))");
  char version[16];
  const char *why = NULL;
  unsigned int applied = 99;
  ck_assert_int_eq (0, db_migrate (NULL));
  snprintf (version, sizeof (version), "%u", db_schema_version_expected () + 1);
  const char *params[] = { version };
  ck_assert_int_eq (1, db_exec (&future, 1, params, NULL));
  ck_assert_int_eq (-2, db_migrate (&applied));
  ck_assert_uint_eq (0, applied);
  ck_assert (! db_ready (&why));
  ck_assert_str_eq ("schema not current", why);
}
END_TEST


START_TEST (test_migrate_tampered)
{
  static struct db_stmt tamper = DB_STMT (
    "test_tamper", "UPDATE schema_migrations SET sha256 = repeat('f', 64) WHERE version = $1::int");
  char version[16];
  unsigned int applied = 99;
  ck_assert_int_eq (0, db_migrate (NULL));
  snprintf (version, sizeof (version), "%u", db_migrations[0].version);
  const char *params[] = { version };
  ck_assert_int_eq (1, db_exec (&tamper, 1, params, NULL));
  ck_assert_int_eq (-1, db_migrate (&applied));
  ck_assert_uint_eq (0, applied);
}
END_TEST


/* ---- db_exec ---- */

START_TEST (test_exec_row_counts)
{
  static struct db_stmt fill = DB_STMT (
    "test_fill", "INSERT INTO kv SELECT g, 'x' FROM generate_series($1::int, $2::int) g");
  static struct db_stmt all = DB_STMT ("test_all", "SELECT k, v FROM kv ORDER BY k");
  static struct db_stmt update = DB_STMT ("test_update",
                                          "UPDATE kv SET v = 'y' WHERE k >= $1::int");
  static struct db_stmt delete = DB_STMT ("test_delete", "DELETE FROM kv WHERE k = $1::int");
  static struct db_stmt none = DB_STMT ("test_none", "SELECT k FROM kv WHERE false");
  struct db_stats s0, s1;
  PGresult *res;
  db_stats_get (&s0);

  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&create_kv, 0, NULL, NULL));
  const char *one[] = { "1", "one" };
  const char *null_value[] = { "2", NULL };
  const char *range[] = { "3", "7" };
  ck_assert_int_eq (1, db_exec (&insert_kv, 2, one, NULL));
  ck_assert_int_eq (1, db_exec (&insert_kv, 2, null_value, NULL));
  ck_assert_int_eq (5, db_exec (&fill, 2, range, NULL));

  ck_assert_int_eq (7, db_exec (&all, 0, NULL, &res));
  ck_assert_ptr_nonnull (res);
  ck_assert_int_eq (7, PQntuples (res));
  ck_assert_str_eq ("1", PQgetvalue (res, 0, 0));
  ck_assert_str_eq ("one", PQgetvalue (res, 0, 1));
  ck_assert (PQgetisnull (res, 1, 1));
  ck_assert_str_eq ("7", PQgetvalue (res, 6, 0));
  PQclear (res);

  const char *from3[] = { "3" };
  const char *missing[] = { "100" };
  ck_assert_int_eq (5, db_exec (&update, 1, from3, NULL));
  ck_assert_int_eq (0, db_exec (&delete, 1, missing, NULL));
  ck_assert_int_eq (1, db_exec (&delete, 1, from3, NULL));
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&none, 0, NULL, &res));
  ck_assert_ptr_nonnull (res); /* success with no rows still hands over the result */
  PQclear (res);

  db_stats_get (&s1);
  ck_assert_uint_eq (s0.statements_total + 9, s1.statements_total);
  ck_assert_uint_eq (s0.errors_total, s1.errors_total);
  ck_assert_uint_eq (s0.connects_total + 1, s1.connects_total);
  ck_assert_uint_eq (1, s1.connections_open);
  ck_assert_uint_ne (0, insert_kv.id);
  ck_assert_uint_ne (insert_kv.id, fill.id);
}
END_TEST


START_TEST (test_exec_conflict)
{
  struct db_stats s0, s1;
  static char sentinel;
  PGresult *res = (PGresult *) &sentinel; /* db_exec must reset it to NULL */
  const char *row[] = { "1", "a" };
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&create_kv, 0, NULL, NULL));
  ck_assert_int_eq (1, db_exec (&insert_kv, 2, row, NULL));
  db_stats_get (&s0);
  ck_assert_int_eq (DB_QS_CONFLICT, db_exec (&insert_kv, 2, row, &res));
  ck_assert_ptr_null (res);
  db_stats_get (&s1);
  ck_assert_uint_eq (s0.errors_total + 1, s1.errors_total);
  ck_assert_int_eq (1, db_exec (&count_kv, 0, NULL, NULL));
}
END_TEST


START_TEST (test_exec_hard_error)
{
  static struct db_stmt syntax = DB_STMT ("test_syntax", "SELEC 1");
  static struct db_stmt divide = DB_STMT ("test_divide", "SELECT 1 / $1::int");
  static struct db_stmt cast = DB_STMT ("test_cast", "SELECT $1::int");
  struct db_stats s0, s1;
  PGresult *res = NULL;
  const char *zero[] = { "0" };
  const char *word[] = { "abc" };
  db_stats_get (&s0);
  ck_assert_int_eq (DB_QS_HARD_ERROR, db_exec (&syntax, 0, NULL, &res));
  ck_assert_ptr_null (res);
  ck_assert_int_eq (DB_QS_HARD_ERROR, db_exec (&syntax, 0, NULL, NULL)); /* prepare again */
  ck_assert_int_eq (DB_QS_HARD_ERROR, db_exec (&divide, 1, zero, NULL));
  ck_assert_int_eq (DB_QS_HARD_ERROR, db_exec (&cast, 1, word, NULL));
  ck_assert_int_eq (1, db_exec (&cast, 1, zero, NULL));
  db_stats_get (&s1);
  ck_assert_uint_eq (s0.errors_total + 4, s1.errors_total);
  ck_assert_uint_eq (s0.connects_total + 1, s1.connects_total); /* never reconnected */
}
END_TEST


static void *
exit_without_close_main (void *cls)
{
  enum db_qs *qs = cls;
  *qs = db_exec (&backend_pid, 0, NULL, NULL);
  return NULL; /* no db_thread_close: the thread-exit destructor closes it */
}


START_TEST (test_thread_exit_closes)
{
  struct db_stats s0, s1;
  enum db_qs qs = 99;
  pthread_t tid;
  db_stats_get (&s0);
  ck_assert_int_eq (0, pthread_create (&tid, NULL, &exit_without_close_main, &qs));
  pthread_join (tid, NULL);
  db_stats_get (&s1);
  ck_assert_int_eq (1, qs);
  ck_assert_uint_eq (s0.connects_total + 1, s1.connects_total);
  ck_assert_uint_eq (s0.connections_open, s1.connections_open);
}
END_TEST


/* ---- transactions ---- */

/** One side of the write-skew: read both balances, then debit our own row. */
struct skew
{
  pthread_barrier_t *read_done;
  const char *id;     /**< row this side updates */
  unsigned int runs;  /**< times the callback ran */
  enum db_qs rc;      /**< what db_tx_run returned */
};


static enum db_qs
skew_cb (void *cls)
{
  static struct db_stmt sum = DB_STMT ("test_skew_sum", "SELECT sum(balance) FROM acct");
  static struct db_stmt debit = DB_STMT (
    "test_skew_debit", "UPDATE acct SET balance = balance - 10 WHERE id = $1::int");
  struct skew *s = cls;
  s->runs++;
  enum db_qs qs = db_exec (&sum, 0, NULL, NULL);
  /* Both first attempts read before either writes: under SERIALIZABLE one
     of the two transactions must then fail (PostgreSQL docs §13.2.3). */
  if (1 == s->runs)
    pthread_barrier_wait (s->read_done);
  if (qs < 0)
    return qs;
  const char *params[] = { s->id };
  return db_exec (&debit, 1, params, NULL);
}


static void *
skew_thread_main (void *cls)
{
  struct skew *s = cls;
  s->rc = db_tx_run (DB_SERIALIZABLE, &skew_cb, s);
  db_thread_close ();
  return NULL;
}


START_TEST (test_tx_serialization_retry)
{
  static struct db_stmt create = DB_STMT (
    "test_acct", "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL)");
  static struct db_stmt fill = DB_STMT ("test_acct_fill",
                                        "INSERT INTO acct VALUES (1, 100), (2, 100)");
  static struct db_stmt balances = DB_STMT ("test_acct_balances",
                                            "SELECT balance FROM acct ORDER BY id");
  pthread_barrier_t read_done;
  struct skew s[2] = { { .read_done = &read_done, .id = "1", .rc = 99 },
                       { .read_done = &read_done, .id = "2", .rc = 99 } };
  pthread_t tid[2];
  struct db_stats s0, s1;
  PGresult *res;
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&create, 0, NULL, NULL));
  ck_assert_int_eq (2, db_exec (&fill, 0, NULL, NULL));
  db_stats_get (&s0);
  ck_assert_int_eq (0, pthread_barrier_init (&read_done, NULL, 2));
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq (0, pthread_create (&tid[i], NULL, &skew_thread_main, &s[i]));
  for (int i = 0; i < 2; i++)
    pthread_join (tid[i], NULL);
  pthread_barrier_destroy (&read_done);
  db_stats_get (&s1);

  ck_assert_int_eq (1, s[0].rc); /* both committed, each debiting one row */
  ck_assert_int_eq (1, s[1].rc);
  ck_assert_uint_ge (s[0].runs + s[1].runs, 3); /* at least one ran again */
  ck_assert_uint_ge (s1.tx_retries_total, s0.tx_retries_total + 1);
  ck_assert_int_eq (2, db_exec (&balances, 0, NULL, &res));
  ck_assert_str_eq ("90", PQgetvalue (res, 0, 0));
  ck_assert_str_eq ("90", PQgetvalue (res, 1, 0));
  PQclear (res);
}
END_TEST


/** Inserts cls->rows (NULL-terminated keys) into kv, then returns cls->outcome. */
struct insert_tx
{
  const char *const *keys;
  enum db_qs outcome;
};


static enum db_qs
insert_cb (void *cls)
{
  const struct insert_tx *t = cls;
  for (const char *const *k = t->keys; NULL != *k; k++)
    {
      const char *params[] = { *k, "v" };
      enum db_qs qs = db_exec (&insert_kv, 2, params, NULL);
      if (qs < 0)
        return qs;
    }
  return t->outcome;
}


/** Ignores a failed statement and asks for a commit anyway. */
static enum db_qs
careless_cb (void *cls)
{
  static struct db_stmt bad = DB_STMT ("test_careless", "SELECT 1 / 0");
  const char *params[] = { "5", "v" };
  ck_assert_int_eq (1, db_exec (&insert_kv, 2, params, NULL));
  ck_assert_int_eq (DB_QS_HARD_ERROR, db_exec (&bad, 0, NULL, NULL));
  return DB_QS_ONE_RESULT;
}


START_TEST (test_tx_rollback)
{
  static const char *const first[] = { "1", NULL };
  static const char *const second[] = { "2", "1", NULL };
  static const char *const third[] = { "3", NULL };
  char count[16];
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&create_kv, 0, NULL, NULL));

  /* insert_kv is first prepared inside this transaction, which rolls back:
     the prepared statement must survive it */
  struct insert_tx abort_tx = { .keys = first, .outcome = DB_QS_ABORT };
  ck_assert_int_eq (DB_QS_ABORT, db_tx_run (DB_READ_COMMITTED, &insert_cb, &abort_tx));
  ck_assert_int_eq (0, kv_rows_elsewhere ());

  struct insert_tx commit_tx = { .keys = first, .outcome = 7 };
  ck_assert_int_eq (7, db_tx_run (DB_REPEATABLE_READ, &insert_cb, &commit_tx));
  ck_assert_int_eq (1, kv_rows_elsewhere ());

  struct insert_tx conflict_tx = { .keys = second, .outcome = 1 };
  ck_assert_int_eq (DB_QS_CONFLICT, db_tx_run (DB_SERIALIZABLE, &insert_cb, &conflict_tx));
  ck_assert_int_eq (1, kv_rows_elsewhere ()); /* "2" rolled back with it */

  ck_assert_int_eq (DB_QS_HARD_ERROR, db_tx_run (DB_READ_COMMITTED, &careless_cb, NULL));
  ck_assert_int_eq (1, kv_rows_elsewhere ());

  struct insert_tx after = { .keys = third, .outcome = 1 };
  ck_assert_int_eq (1, db_tx_run (DB_READ_COMMITTED, &insert_cb, &after));
  query_value (&count_kv, 0, NULL, count, sizeof (count));
  ck_assert_str_eq ("2", count);
  ck_assert (! db_tx_leaked ());
}
END_TEST


START_TEST (test_tx_leaked)
{
  static struct db_stmt begin = DB_STMT ("test_begin", "BEGIN");
  const char *row[] = { "1", "a" };
  char count[16];
  ck_assert (! db_tx_leaked ()); /* no connection yet */
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&create_kv, 0, NULL, NULL));
  ck_assert (! db_tx_leaked ());
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&begin, 0, NULL, NULL));
  ck_assert_int_eq (1, db_exec (&insert_kv, 2, row, NULL));
  ck_assert_int_eq (PQTRANS_INTRANS, PQtransactionStatus (db_conn ()));
  ck_assert (db_tx_leaked ());
  ck_assert_int_eq (PQTRANS_IDLE, PQtransactionStatus (db_conn ()));
  ck_assert (! db_tx_leaked ());
  query_value (&count_kv, 0, NULL, count, sizeof (count));
  ck_assert_str_eq ("0", count);
  ck_assert_int_eq (0, kv_rows_elsewhere ());
}
END_TEST


/* ---- connection loss ---- */

static enum db_qs
never_cb (void *cls)
{
  unsigned int *runs = cls;
  (*runs)++;
  return DB_QS_NO_RESULTS;
}


START_TEST (test_unreachable)
{
  static struct db_stmt one = DB_STMT ("test_one", "SELECT 1");
  char conninfo[128];
  struct db_stats s0, s1, s2, s3;
  const char *why = NULL;
  PGresult *res = NULL;
  unsigned int runs = 0;
  snprintf (conninfo, sizeof (conninfo),
            "host=127.0.0.1 port=%d dbname=none user=none connect_timeout=2", closed_port ());
  ck_assert_int_eq (0, db_init (conninfo));

  db_stats_get (&s0);
  ck_assert_int_eq (DB_QS_UNAVAILABLE, db_exec (&one, 0, NULL, &res));
  ck_assert_ptr_null (res);
  db_stats_get (&s1);
  ck_assert_uint_eq (s0.connect_failures + 1, s1.connect_failures);
  ck_assert_uint_eq (s0.errors_total + 1, s1.errors_total);

  /* within DB_RECONNECT_INTERVAL_MS: no new attempt, immediate answer */
  uint64_t t0 = now_ms ();
  ck_assert_int_eq (DB_QS_UNAVAILABLE, db_exec (&one, 0, NULL, NULL));
  ck_assert_ptr_null (db_conn ());
  ck_assert (! db_ready (&why));
  ck_assert_str_eq ("database unavailable", why);
  ck_assert_int_eq (DB_QS_UNAVAILABLE, db_tx_run (DB_SERIALIZABLE, &never_cb, &runs));
  ck_assert_uint_eq (0, runs);
  ck_assert (! db_tx_leaked ());
  uint64_t elapsed = now_ms () - t0;
  ck_assert_uint_lt (elapsed, FAST_FAIL_MS);
  db_stats_get (&s2);
  ck_assert_uint_eq (s1.connect_failures, s2.connect_failures);
  ck_assert_uint_eq (0, s2.connections_open);

  /* after the interval: one new attempt */
  struct timespec pause = { .tv_sec = 0, .tv_nsec = (DB_RECONNECT_INTERVAL_MS + 100) * 1000000L };
  nanosleep (&pause, NULL);
  ck_assert_int_eq (DB_QS_UNAVAILABLE, db_exec (&one, 0, NULL, NULL));
  db_stats_get (&s3);
  ck_assert_uint_eq (s2.connect_failures + 1, s3.connect_failures);

  /* a new db_init does not wait for the interval */
  ck_assert_int_eq (0, db_init (tdb.conninfo));
  ck_assert_int_eq (1, db_exec (&one, 0, NULL, NULL));
}
END_TEST


START_TEST (test_reconnect_outside_tx)
{
  char pid1[16], pid2[16];
  struct db_stats s0, s1;
  query_value (&backend_pid, 0, NULL, pid1, sizeof (pid1));
  db_stats_get (&s0);
  terminate_backend (pid1);
  query_value (&backend_pid, 0, NULL, pid2, sizeof (pid2)); /* reconnected, retried */
  db_stats_get (&s1);
  ck_assert_str_ne (pid1, pid2);
  ck_assert_uint_eq (s0.connects_total + 1, s1.connects_total);
  ck_assert_uint_eq (s0.errors_total, s1.errors_total);
  ck_assert_uint_eq (1, s1.connections_open);
}
END_TEST


/** Kills its own backend midway; records what the next statement returned. */
struct lost_tx
{
  unsigned int runs;
  enum db_qs after_kill;
};


static enum db_qs
lost_cb (void *cls)
{
  struct lost_tx *t = cls;
  char pid[16];
  const char *row[] = { "1", "a" };
  t->runs++;
  ck_assert_int_eq (1, db_exec (&insert_kv, 2, row, NULL));
  query_value (&backend_pid, 0, NULL, pid, sizeof (pid));
  terminate_backend (pid);
  t->after_kill = db_exec (&insert_kv, 2, (const char *[]) { "2", "b" }, NULL);
  /* a careless callback carrying on must not run in autocommit either */
  ck_assert_int_eq (DB_QS_UNAVAILABLE, db_exec (&insert_kv, 2, (const char *[]) { "3", "c" },
                                                NULL));
  return DB_QS_ONE_RESULT;
}


START_TEST (test_connection_lost_in_tx)
{
  struct lost_tx t = { .runs = 0, .after_kill = 99 };
  char count[16];
  ck_assert_int_eq (DB_QS_NO_RESULTS, db_exec (&create_kv, 0, NULL, NULL));
  ck_assert_int_eq (DB_QS_UNAVAILABLE, db_tx_run (DB_READ_COMMITTED, &lost_cb, &t));
  ck_assert_uint_eq (1, t.runs);
  ck_assert_int_eq (DB_QS_UNAVAILABLE, t.after_kill);
  ck_assert (! db_tx_leaked ());
  query_value (&count_kv, 0, NULL, count, sizeof (count)); /* reconnects */
  ck_assert_str_eq ("0", count);
}
END_TEST


/* ---- runner ---- */

/** Drop the databases of this run that a failed case left behind. */
static void
sweep (void)
{
  char pattern[64];
  snprintf (pattern, sizeof (pattern), "bwtest\\_%ld\\_%%", run_pid);
  const char *params[] = { pattern };
  PGconn *c = PQconnectdb (admin_url);
  PGresult *r = PQexecParams (c, "SELECT datname FROM pg_database WHERE datname LIKE $1::text",
                              1, NULL, params, NULL, NULL, 0);
  for (int i = 0; PGRES_TUPLES_OK == PQresultStatus (r) && i < PQntuples (r); i++)
    {
      long pid;
      unsigned int n;
      /* rebuilt from the integers, never spliced from the catalog */
      if (2 != sscanf (PQgetvalue (r, i, 0), "bwtest_%*d_%ld_%u", &pid, &n))
        continue;
      char sql[128];
      snprintf (sql, sizeof (sql), "DROP DATABASE IF EXISTS bwtest_%ld_%ld_%u WITH (FORCE)",
                run_pid, pid, n);
      PQclear (PQexec (c, sql));
    }
  PQclear (r);
  PQfinish (c);
}


static Suite *
db_suite (void)
{
  Suite *s = suite_create ("db");
  struct
  {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
    { "migrate", { test_migrate_empty_db, test_migrate_twice, test_migrate_concurrent,
                   test_migrate_newer_db, test_migrate_tampered, NULL } },
    { "exec", { test_exec_row_counts, test_exec_conflict, test_exec_hard_error,
                test_thread_exit_closes, NULL } },
    { "tx", { test_tx_serialization_retry, test_tx_rollback, test_tx_leaked, NULL } },
    { "connection", { test_unreachable, test_reconnect_outside_tx, test_connection_lost_in_tx,
                      NULL } },
  };
  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      TCase *tc = tcase_create (cases[i].name);
      tcase_add_checked_fixture (tc, &setup, &teardown);
      tcase_set_timeout (tc, CASE_TIMEOUT_S);
      for (const TTest *const *t = cases[i].tests; NULL != *t; t++)
        tcase_add_test (tc, *t);
      suite_add_tcase (s, tc);
    }
  return s;
}


int
main (void)
{
  admin_url = getenv ("BULWARK_TEST_DATABASE_URL");
  if (NULL == admin_url || '\0' == *admin_url)
    {
      fprintf (stderr, "check_db: BULWARK_TEST_DATABASE_URL not set; skipping\n");
      return EXIT_SKIP;
    }
  const char *level = getenv ("BULWARK_LOG_LEVEL");
  enum bw_log_level lv = BW_LOG_WARN;
  if (NULL != level)
    bw_log_level_parse (level, &lv);
  bw_log_set_level (lv);
  run_pid = (long) getpid ();

  SRunner *sr = srunner_create (db_suite ());
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  sweep ();
  return (0 == failed) ? EXIT_SUCCESS : EXIT_FAILURE;
}
