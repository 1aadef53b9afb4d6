/*
 * Configuration from one table: each row a flag, its environment variable,
 * a default and a setter.  Flags override the environment.
 */
#include "config.h"
#include "server/settings.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind
{
  K_STRING,
  K_ULONG,
  K_LOGLEVEL,
};

struct option
{
  const char *flag;     /* "--listen", or NULL for environment-only secrets */
  const char *env;
  const char *dflt;     /* NULL: unset */
  enum kind kind;
  size_t offset;        /* into struct bw_config */
  unsigned long min, max; /* K_ULONG bounds */
  const char *help;
};

#define OFF(f) offsetof (struct bw_config, f)

static const struct option options[] = {
  { "--listen", "BULWARK_LISTEN", "127.0.0.1:8080", K_STRING, OFF (listen), 0, 0,
    "address:port to listen on ([::1]:8080 for IPv6)" },
  { "--database-url", "BULWARK_DATABASE_URL", NULL, K_STRING, OFF (database_url), 0, 0,
    "PostgreSQL connection URI or conninfo (required)" },
  { "--data-dir", "BULWARK_DATA_DIR", NULL, K_STRING, OFF (data_dir), 0, 0,
    "directory for local state" },
  { NULL, "BULWARK_BOOTSTRAP_TOKEN", NULL, K_STRING, OFF (bootstrap_token), 0, 0,
    "when set, this is the platform admin token (environment only)" },
  { "--pool-size", "BULWARK_POOL_SIZE", NULL, K_ULONG, OFF (pool_size), 1, BW_POOL_SIZE_MAX,
    "worker threads, each with one PostgreSQL connection [default: the online CPUs, at least "
    "2]" },
  { "--body-limit", "BULWARK_BODY_LIMIT", "1048576", K_ULONG, OFF (body_limit), 1024,
    BW_BODY_LIMIT_MAX, "largest request body in bytes (larger: 413)" },
  { "--log-level", "BULWARK_LOG_LEVEL", "info", K_LOGLEVEL, OFF (log_level), 0, 0,
    "debug, info, warn or error" },
  { "--connection-timeout", "BULWARK_CONNECTION_TIMEOUT", "60", K_ULONG,
    OFF (connection_timeout_s), 1, 3600, "seconds before an idle connection is closed" },
  { "--max-connections", "BULWARK_MAX_CONNECTIONS", "16384", K_ULONG, OFF (max_connections),
    16, 1000000, "concurrent connections in all (agents hold theirs open: 10,000 long-polls "
    "plus room for the rest; needs as many file descriptors)" },
  { "--per-ip-connections", "BULWARK_PER_IP_CONNECTIONS", "1000", K_ULONG,
    OFF (per_ip_connections), 1, 1000000, "concurrent connections allowed from one address" },
  { "--shutdown-timeout", "BULWARK_SHUTDOWN_TIMEOUT", "10", K_ULONG, OFF (shutdown_timeout_s),
    0, 600, "seconds in-flight requests may take to finish at shutdown" },
  { "--connection-memory", "BULWARK_CONNECTION_MEMORY", "8192", K_ULONG,
    OFF (connection_memory), 4096, 1048576,
    "bytes of buffer per connection: request headers must fit (bodies need not); every "
    "kept-alive connection holds all of it (PERF.md)" },
  { NULL, "BULWARK_MASTER_KEY", NULL, K_STRING, OFF (master_key), 0, 0,
    "64 hex characters: the key sealing the orgs' signing keys (environment only)" },
  { "--master-key-file", "BULWARK_MASTER_KEY_FILE", NULL, K_STRING, OFF (master_key_file), 0, 0,
    "file holding the master key; without either, <data dir>/master.key is used or created" },
  { "--head-ttl", "BULWARK_HEAD_TTL", "86400", K_ULONG, OFF (head_ttl_s), BW_HEAD_TTL_MIN_S,
    30ul * 86400, "seconds a signed bundle head is valid (re-signed at half)" },
  { "--public-url", "BULWARK_PUBLIC_URL", NULL, K_STRING, OFF (public_url), 0, 0,
    "public base URL of this service, the heads' issuer [default: http://<listen>]" },
  { "--checkin-interval", "BULWARK_CHECKIN_INTERVAL", "60", K_ULONG, OFF (checkin_interval_s),
    1, 86400, "seconds between agent check-ins" },
  { "--checkin-jitter", "BULWARK_CHECKIN_JITTER", "10", K_ULONG, OFF (checkin_jitter_s), 0,
    3600, "up to this many seconds agents add to each check-in interval" },
  { "--stale-limit", "BULWARK_STALE_LIMIT", "604800", K_ULONG, OFF (stale_limit_s), 0,
    365ul * 86400, "seconds after its head expired until an agent's decisions become deny" },
  { "--event-retention-days", "BULWARK_EVENT_RETENTION_DAYS", "30", K_ULONG,
    OFF (event_retention_days), 1, BW_EVENT_RETENTION_DAYS_MAX,
    "days decision events are kept (older ones are refused at intake and dropped)" },
};

#define NOPTIONS (sizeof (options) / sizeof (options[0]))

static const struct
{
  const char *word;
  enum bw_command cmd;
  const char *help;
} commands[] = {
  { "serve", BW_CMD_SERVE, "run the server (default): apply migrations, then serve" },
  { "migrate", BW_CMD_MIGRATE, "apply pending database migrations and exit" },
  { "admin-token", BW_CMD_ADMIN_TOKEN, "mint a new platform admin token, print it once, exit" },
  { "version", BW_CMD_VERSION, "print the version and exit" },
};

static int
set_value (struct bw_config *cfg, const struct option *o, const char *value, const char *source,
           char *err, size_t errlen)
{
  void *field = (char *) cfg + o->offset;
  switch (o->kind)
    {
    case K_STRING:
      {
        char **s = field;
        free (*s);
        *s = strdup (value);
        if (NULL == *s)
          {
            snprintf (err, errlen, "out of memory");
            return -1;
          }
        return 0;
      }
    case K_ULONG:
      {
        char *end;
        errno = 0;
        unsigned long v = strtoul (value, &end, 10);
        if (0 != errno || end == value || '\0' != *end || '-' == value[0] || v < o->min
            || v > o->max)
          {
            snprintf (err, errlen, "%s: must be a whole number from %lu to %lu, got \"%s\"",
                      source, o->min, o->max, value);
            return -1;
          }
        *(unsigned long *) field = v;
        return 0;
      }
    case K_LOGLEVEL:
      if (0 != bw_log_level_parse (value, (enum bw_log_level *) field))
        {
          snprintf (err, errlen, "%s: must be debug, info, warn or error, got \"%s\"", source,
                    value);
          return -1;
        }
      return 0;
    }
  return -1;
}

/* Split "host:port" / "[v6]:port" / ":port" and resolve it. */
static int
resolve_listen (struct bw_config *cfg, char *err, size_t errlen)
{
  char host[256];
  const char *spec = cfg->listen;
  const char *colon = strrchr (spec, ':');
  if (NULL == colon || '\0' == colon[1])
    {
      snprintf (err, errlen, "--listen/BULWARK_LISTEN: expected host:port, got \"%s\"", spec);
      return -1;
    }
  size_t hlen = (size_t) (colon - spec);
  if (hlen >= sizeof (host))
    {
      snprintf (err, errlen, "--listen/BULWARK_LISTEN: host too long");
      return -1;
    }
  memcpy (host, spec, hlen);
  host[hlen] = '\0';
  char *h = host;
  if (hlen >= 2 && '[' == host[0] && ']' == host[hlen - 1])
    {
      host[hlen - 1] = '\0';
      h = host + 1;
    }
  char *end;
  errno = 0;
  unsigned long port = strtoul (colon + 1, &end, 10);
  if (0 != errno || '\0' != *end || port < 1 || port > 65535 || '+' == colon[1] || '-' == colon[1])
    {
      snprintf (err, errlen, "--listen/BULWARK_LISTEN: port must be 1..65535, got \"%s\"",
                colon + 1);
      return -1;
    }
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                            .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
  struct addrinfo *res = NULL;
  int rc = getaddrinfo (('\0' == *h) ? NULL : h, colon + 1, &hints, &res);
  if (0 != rc)
    {
      snprintf (err, errlen, "--listen/BULWARK_LISTEN: cannot use \"%s\": %s", spec,
                gai_strerror (rc));
      return -1;
    }
  memcpy (&cfg->listen_addr, res->ai_addr, res->ai_addrlen);
  cfg->listen_addr_len = res->ai_addrlen;
  freeaddrinfo (res);
  return 0;
}

/*
 * The heads' `iss`: BULWARK_PUBLIC_URL as given (an http or https URL of
 * printable ASCII, at most BW_PUBLIC_URL_MAX bytes), else http://<listen>.
 */
static int
public_url (struct bw_config *cfg, char *err, size_t errlen)
{
  if (NULL == cfg->public_url)
    {
      size_t len = strlen ("http://") + strlen (cfg->listen) + 1;
      cfg->public_url = malloc (len);
      if (NULL == cfg->public_url)
        {
          snprintf (err, errlen, "out of memory");
          return -1;
        }
      snprintf (cfg->public_url, len, "http://%s", cfg->listen);
    }
  const char *u = cfg->public_url;
  bool printable = true;
  for (const char *p = u; '\0' != *p; p++)
    if (*p <= ' ' || *p > '~')
      printable = false;
  if (strlen (u) > BW_PUBLIC_URL_MAX || !printable
      || (0 != strncmp (u, "http://", 7) && 0 != strncmp (u, "https://", 8)))
    {
      snprintf (err, errlen, "--public-url/BULWARK_PUBLIC_URL: expected an http:// or https:// "
                "URL of at most %d printable characters", BW_PUBLIC_URL_MAX);
      return -1;
    }
  return 0;
}

/* One worker per CPU: more only queue behind each other, and bench/checkin.sh measured the
   extra threads in check-in p99 (2 CPUs: p99 at 256 connections 11.7 ms with 4 workers, 7.5 ms
   with 2).  At least 2, so one slow database call does not stall every request. */
static unsigned long
default_pool_size (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  if (n < BW_POOL_SIZE_MIN_DEFAULT)
    return BW_POOL_SIZE_MIN_DEFAULT;
  return ((unsigned long) n > BW_POOL_SIZE_MAX) ? BW_POOL_SIZE_MAX : (unsigned long) n;
}

int
bw_config_load (int argc, char *const *argv, struct bw_config *cfg, enum bw_command *cmd,
                char *err, size_t errlen)
{
  memset (cfg, 0, sizeof (*cfg));
  *cmd = BW_CMD_SERVE;
  for (size_t i = 0; i < NOPTIONS; i++)
    if (NULL != options[i].dflt
        && 0 != set_value (cfg, &options[i], options[i].dflt, "default", err, errlen))
      return -1;
  for (size_t i = 0; i < NOPTIONS; i++)
    {
      const char *v = getenv (options[i].env);
      if (NULL != v && 0 != set_value (cfg, &options[i], v, options[i].env, err, errlen))
        return -1;
    }

  int a = 0;
  if (a < argc && '-' != argv[a][0])
    {
      size_t c;
      for (c = 0; c < sizeof (commands) / sizeof (commands[0]); c++)
        if (0 == strcmp (argv[a], commands[c].word))
          break;
      if (c == sizeof (commands) / sizeof (commands[0]))
        {
          snprintf (err, errlen, "unknown command \"%s\" (see --help)", argv[a]);
          return -1;
        }
      *cmd = commands[c].cmd;
      a++;
    }
  for (; a < argc; a++)
    {
      const char *arg = argv[a];
      if (0 == strcmp (arg, "--help") || 0 == strcmp (arg, "-h"))
        {
          *cmd = BW_CMD_HELP;
          return 0;
        }
      if (0 == strcmp (arg, "--version"))
        {
          *cmd = BW_CMD_VERSION;
          return 0;
        }
      const char *eq = strchr (arg, '=');
      size_t nlen = (NULL != eq) ? (size_t) (eq - arg) : strlen (arg);
      const struct option *o = NULL;
      for (size_t i = 0; i < NOPTIONS; i++)
        if (NULL != options[i].flag && strlen (options[i].flag) == nlen
            && 0 == strncmp (options[i].flag, arg, nlen))
          o = &options[i];
      if (NULL == o)
        {
          snprintf (err, errlen, "unknown option \"%.*s\" (see --help)", (int) nlen, arg);
          return -1;
        }
      const char *value = (NULL != eq) ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
      if (NULL == value)
        {
          snprintf (err, errlen, "%s needs a value", o->flag);
          return -1;
        }
      if (0 != set_value (cfg, o, value, o->flag, err, errlen))
        return -1;
    }
  if (0 == cfg->pool_size)
    cfg->pool_size = default_pool_size ();
  if (0 != resolve_listen (cfg, err, errlen))
    return -1;
  return public_url (cfg, err, errlen);
}

void
bw_config_usage (FILE *out)
{
  fprintf (out, "Usage: bulwarkd [COMMAND] [OPTIONS]\n\nBulwark policy control plane server.\n\n"
                "Commands:\n");
  for (size_t c = 0; c < sizeof (commands) / sizeof (commands[0]); c++)
    fprintf (out, "  %-12s %s\n", commands[c].word, commands[c].help);
  fprintf (out, "\nOptions (each also set by its environment variable; a flag wins):\n");
  for (size_t i = 0; i < NOPTIONS; i++)
    {
      const struct option *o = &options[i];
      char left[64];
      snprintf (left, sizeof (left), "%s", (NULL != o->flag) ? o->flag : "(no flag)");
      fprintf (out, "  %-22s %-28s %s", left, o->env, o->help);
      if (NULL != o->dflt)
        fprintf (out, " [default: %s]", o->dflt);
      fputc ('\n', out);
    }
  fprintf (out, "  %-22s %-28s %s\n", "--help", "", "show this help");
}

void
bw_config_free (struct bw_config *cfg)
{
  if (NULL == cfg)
    return;
  free (cfg->listen);
  free (cfg->database_url);
  free (cfg->data_dir);
  if (NULL != cfg->bootstrap_token)
    {
      OPENSSL_cleanse (cfg->bootstrap_token, strlen (cfg->bootstrap_token));
      free (cfg->bootstrap_token);
    }
  if (NULL != cfg->master_key)
    {
      OPENSSL_cleanse (cfg->master_key, strlen (cfg->master_key));
      free (cfg->master_key);
    }
  free (cfg->master_key_file);
  free (cfg->public_url);
  memset (cfg, 0, sizeof (*cfg));
}
