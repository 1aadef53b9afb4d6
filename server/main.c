/*
 * bulwarkd: parse the configuration, then serve, migrate, mint a platform
 * admin token, or print the version.
 */
#include "config.h"
#include "api/policy_cache.h"
#include "server/agent_status.h"
#include "server/agent_auth.h"
#include "server/auth.h"
#include "server/catalog_expiry.h"
#include "server/event_upkeep.h"
#include "server/heads.h"
#include "server/master_key.h"
#include "server/notify.h"
#include "server/settings.h"
#include "server/http.h"
#include "db/db.h"
#include "lib/log.h"

#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/** Attempts (one per second) to reach the database at start-up. */
#define STARTUP_DB_ATTEMPTS 30

/* Apply migrations, waiting for the database to come up.  0, or an exit status. */
static int
migrate_at_start (bool wait)
{
  for (int attempt = 1;; attempt++)
    {
      unsigned int applied = 0;
      int rc = db_migrate (&applied);
      if (0 == rc)
        {
          bw_log_json (BW_LOG_INFO, "schema current",
                       json_pack ("{s:i, s:i}", "schema_version",
                                  (int) db_schema_version_expected (), "applied", (int) applied));
          return 0;
        }
      if (-2 == rc)
        {
          fprintf (stderr, "bulwarkd: the database schema is newer than this binary (which "
                           "knows version %u); refusing to start: run a newer bulwarkd\n",
                   db_schema_version_expected ());
          return 1;
        }
      if (!wait || attempt >= STARTUP_DB_ATTEMPTS)
        {
          fprintf (stderr, "bulwarkd: cannot migrate the database (see the log above)\n");
          return 1;
        }
      bw_log_json (BW_LOG_WARN, "database not ready, retrying",
                   json_pack ("{s:i}", "attempt", attempt));
      sleep (1);
    }
}

static void
print_token (const char *label, char *token)
{
  printf ("%s: %s\n", label, token);
  fflush (stdout);
  OPENSSL_cleanse (token, strlen (token));
  free (token);
}

static int
serve (const struct bw_config *cfg)
{
  /* first: without a master key no org can sign (message printed) */
  if (0 != bw_master_key_init (cfg))
    return 1;
  int rc = migrate_at_start (true);
  if (0 != rc)
    return rc;
  char *token = NULL;
  if (0 != bw_auth_platform_init (cfg->bootstrap_token, &token))
    {
      fprintf (stderr, "bulwarkd: cannot set up the platform admin credential\n");
      return 1;
    }
  if (NULL != token)
    print_token ("platform admin token", token);
  else if (NULL == cfg->bootstrap_token)
    printf ("platform admin token: shown at first start only; mint a new one with "
            "`bulwarkd admin-token` (or ./dev admin-token)\n");

  db_thread_close (); /* the workers open their own; this thread serves no requests */

  /* Block the stop signals before any thread starts, so only sigwait sees them. */
  sigset_t stop;
  /* A shell starts background jobs with SIGINT ignored; an ignored signal
     never reaches sigwait, so take the default disposition back first. */
  signal (SIGINT, SIG_DFL);
  signal (SIGTERM, SIG_DFL);
  sigemptyset (&stop);
  sigaddset (&stop, SIGINT);
  sigaddset (&stop, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &stop, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (0 != bw_auth_start ())
    return 1;
  /* subscribes to NOTIFY bulwark_agent: before the listener starts */
  if (0 != bw_agent_auth_start ())
    {
      bw_auth_stop ();
      return 1;
    }
  if (0 != bw_agent_status_start ())
    {
      bw_auth_stop ();
      return 1;
    }
  /* subscribes to NOTIFY bulwark_policy, bulwark_heads and bulwark_keys; starts the bundle
     compiler and the re-signing job */
  if (0 != bw_heads_start (cfg))
    {
      bw_agent_status_stop ();
      bw_auth_stop ();
      return 1;
    }
  /* the LISTEN connection: LAST of the subscribers (every bw_notify_subscribe above: agent
     auth, heads); it calls each subscriber once when it connects */
  if (0 != bw_notify_start (cfg->database_url))
    {
      bw_heads_stop ();
      bw_agent_status_stop ();
      bw_auth_stop ();
      return 1;
    }
  if (0 != bw_http_start (cfg))
    {
      fprintf (stderr, "bulwarkd: cannot listen on %s (in use by another process? choose "
                       "another address with --listen or BULWARK_LISTEN)\n", cfg->listen);
      bw_notify_stop ();
      bw_heads_stop ();
      bw_agent_status_stop ();
      bw_auth_stop ();
      return 1;
    }
  /* after the listener: a failure here no longer has a thread to stop but its own */
  if (0 != bw_event_upkeep_start (cfg))
    bw_log_json (BW_LOG_ERROR, "event partition upkeep did not start; intake creates partitions "
                               "on demand, retention is not applied", NULL);
  if (0 != bw_catalog_expiry_start ())
    bw_log_json (BW_LOG_ERROR, "catalog expiry did not start; expired approvals drop out of "
                               "bundles but are not deprecated, audited or pushed to agents", NULL);
  printf ("bulwarkd %s listening on http://%s (API under /api/v1, health at /healthz)\n",
          PACKAGE_VERSION, cfg->listen);
  fflush (stdout);
  bw_log_json (BW_LOG_INFO, "listening", json_pack ("{s:s}", "listen", cfg->listen));

  int sig = 0;
  sigwait (&stop, &sig);
  bw_log_json (BW_LOG_INFO, "stopping", json_pack ("{s:i}", "signal", sig));
  bw_http_stop (cfg->shutdown_timeout_s);
  bw_notify_stop (); /* no more callbacks into heads, agent auth, long-poll */
  bw_heads_stop ();
  bw_event_upkeep_stop ();
  bw_catalog_expiry_stop ();
  bw_agent_status_stop (); /* after the last check-in: its last flush */
  bw_agent_auth_stop ();
  bw_auth_stop ();
  api_policy_cache_clear ();
  bw_master_key_wipe ();
  bw_log_json (BW_LOG_INFO, "stopped", NULL);
  return 0;
}

int
main (int argc, char **argv)
{
  struct bw_config cfg;
  enum bw_command cmd;
  char err[512];
  if (0 != bw_config_load (argc - 1, argv + 1, &cfg, &cmd, err, sizeof (err)))
    {
      fprintf (stderr, "bulwarkd: %s\n", err);
      bw_config_free (&cfg);
      return 2;
    }
  bw_log_set_level (cfg.log_level);
  int rc = 0;
  switch (cmd)
    {
    case BW_CMD_HELP:
      bw_config_usage (stdout);
      break;
    case BW_CMD_VERSION:
      printf ("bulwarkd %s (schema %u)\n", PACKAGE_VERSION, db_schema_version_expected ());
      break;
    case BW_CMD_SERVE:
    case BW_CMD_MIGRATE:
    case BW_CMD_ADMIN_TOKEN:
      if (NULL == cfg.database_url)
        {
          fprintf (stderr, "bulwarkd: set BULWARK_DATABASE_URL or --database-url\n");
          rc = 2;
          break;
        }
      if (0 != db_init (cfg.database_url))
        {
          rc = 1;
          break;
        }
      if (BW_CMD_SERVE == cmd)
        rc = serve (&cfg);
      else if (BW_CMD_MIGRATE == cmd)
        rc = migrate_at_start (false);
      else if (0 == (rc = migrate_at_start (false)))
        {
          char *token = NULL;
          if (0 != bw_auth_platform_rotate (&token))
            {
              fprintf (stderr, "bulwarkd: cannot store the new platform admin token\n");
              rc = 1;
            }
          else
            print_token ("platform admin token", token);
        }
      db_thread_close ();
      db_shutdown ();
      break;
    }
  bw_config_free (&cfg);
  return rc;
}
