/**
 * @file server/settings.h
 * bulwarkd configuration: one table of options, each settable by a flag
 * or a BULWARK_* environment variable (flag wins), with defaults.
 */
#ifndef BW_SERVER_CONFIG_H
#define BW_SERVER_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include "lib/log.h"

/** What bulwarkd was asked to do. */
enum bw_command
{
  BW_CMD_SERVE = 0,
  BW_CMD_MIGRATE,
  BW_CMD_VERSION,
  BW_CMD_ADMIN_TOKEN,
  BW_CMD_HELP,
};

/** Effective configuration.  Strings are owned (freed by bw_config_free). */
struct bw_config
{
  char *listen;                     /**< "host:port" as given */
  struct sockaddr_storage listen_addr; /**< resolved listen address */
  socklen_t listen_addr_len;
  char *database_url;               /**< libpq URI or conninfo; NULL if unset */
  char *data_dir;                   /**< state directory (keys later); may be NULL */
  char *bootstrap_token;            /**< env only; NULL if unset */
  unsigned long pool_size;          /**< worker threads = DB connections */
  unsigned long body_limit;         /**< request body cap, bytes */
  enum bw_log_level log_level;
  unsigned long connection_timeout_s; /**< idle connection timeout, seconds */
  unsigned long max_connections;    /**< concurrent connections in all */
  unsigned long per_ip_connections; /**< concurrent connections per client IP */
  unsigned long shutdown_timeout_s; /**< grace for in-flight requests at shutdown */
  unsigned long connection_memory;  /**< libmicrohttpd per-connection memory, bytes */
  /* The bundle protocol (DESIGN §6). */
  char *master_key;                 /**< env only: 64 hex chars sealing the signing keys
                                         (server/master_key.h); wiped by bw_config_free; NULL if unset */
  char *master_key_file;            /**< file holding the master key; NULL if unset */
  unsigned long head_ttl_s;         /**< lifetime of a signed bundle head, seconds */
  char *public_url;                 /**< public base URL of the service: the heads' `iss`;
                                         "http://<listen>" unless set */
  unsigned long checkin_interval_s; /**< seconds between agent check-ins (bundle settings) */
  unsigned long checkin_jitter_s;   /**< up to this many seconds added to each interval */
  unsigned long stale_limit_s;      /**< seconds after its head expired until an agent's
                                         decisions become deny (DESIGN §4 step 7) */
  unsigned long event_retention_days; /**< decision events older than this many days are
                                           refused at intake and their partitions dropped
                                           (DESIGN §7, server/event_upkeep.h) */
};

/** Bounds of numeric options. */
#define BW_POOL_SIZE_MAX 256
/** Fewest workers of the default pool (the online CPUs). */
#define BW_POOL_SIZE_MIN_DEFAULT 2
#define BW_BODY_LIMIT_MAX (64ul * 1024 * 1024)
/** Shortest head lifetime, seconds (re-signing runs every quarter of it). */
#define BW_HEAD_TTL_MIN_S 60
/** Longest public URL (the heads' `iss`, lib/bundle_head.h BW_HEAD_ISS_MAX). */
#define BW_PUBLIC_URL_MAX 255
/** Longest event retention, days (ten years). */
#define BW_EVENT_RETENTION_DAYS_MAX 3650

/**
 * Parse @a argv (after the program name: an optional command word, then
 * flags) and the environment into @a cfg.
 * @param[out] cmd  the command
 * @param[out] err  a message naming the bad flag or variable, on failure
 * @return 0, or -1 with @a err set.
 */
int bw_config_load (int argc, char *const *argv, struct bw_config *cfg, enum bw_command *cmd,
                    char *err, size_t errlen);

/** Print --help (commands, flags, variables, defaults) to @a out. */
void bw_config_usage (FILE *out);

/** Free the strings of @a cfg.  NULL-safe. */
void bw_config_free (struct bw_config *cfg);

#endif
