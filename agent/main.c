/*
 * bulwark-agent: the reference enforcement client of Bulwark (DESIGN §6).
 *
 * Read this file first; each command lives in a file of its own:
 *   enroll.c   exchange an enroll secret for a credential and the org keyset
 *   sync.c     `run`: the check-in loop and the verification order
 *   check.c    decide one request locally and spool its event
 *   status.c   show the state
 * and under them: http.c (libcurl), state.c (the state directory),
 * spool.c (decision events on disk and their upload).
 */
#include "config.h"

#include "agent/check.h"
#include "agent/enroll.h"
#include "agent/state.h"
#include "agent/status.h"
#include "agent/sync.h"
#include "lib/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[]
  = "usage: bulwark-agent [--state-dir DIR] <command> [options]\n"
    "\n"
    "commands:\n"
    "  enroll --server URL --secret bwe_... [--hostname H] [--force]\n"
    "      exchange an enroll secret for an agent credential; trusts the org keyset it\n"
    "      returns (the secret may also come from BULWARK_AGENT_ENROLL_SECRET)\n"
    "  run [--once] [--wait N]\n"
    "      check in, follow keyset rotations, verify and apply new bundles, upload\n"
    "      events; long-polls N seconds (default 55, at most 60; --once: none unless\n"
    "      given). --once prints a JSON summary line and exits.\n"
    "  check [--json] [--read-only] <surface> <resource...>\n"
    "      decide locally with the active bundle and spool a decision event:\n"
    "        network <host|ip> <port>\n"
    "        filesystem <path> read|write\n"
    "        credentials <credential> <host|mcp-server>\n"
    "        mcp <server> [<tool>]\n"
    "      --json prints the full result as JSON.\n"
    "      --read-only (mcp <server> <tool> only): the tool is annotated read-only\n"
    "      (MCP ToolAnnotations readOnlyHint); rules match it with \"when\": {\"read_only\"}\n"
    "  status [--json]\n"
    "      show enrollment, keyset, active bundle, last error and the event spool\n"
    "\n"
    "state directory: --state-dir, else $BULWARK_AGENT_STATE_DIR, else\n"
    "$XDG_STATE_HOME/bulwark, else ~/.local/state/bulwark\n"
    "\n"
    "exit status: 0 success (check: allow); 1 failure (check: deny or\n"
    "require_approval); 2 usage; 3 the server revoked this agent: its bundle is no\n"
    "longer enforced, enroll again; 4 an administrator disabled this agent: no more\n"
    "updates, the last bundle stays in force\n";

static int
usage (void)
{
  fputs (usage_text, stderr);
  return AG_EXIT_USAGE;
}

/* A bad command line: one line on what is wrong (@cmd: the command, or NULL), then the usage. */
static int
usage_error (const char *cmd, const char *fmt, const char *arg)
{
  fprintf (stderr, "bulwark-agent%s%s: ", NULL != cmd ? " " : "", NULL != cmd ? cmd : "");
  fprintf (stderr, fmt, arg);
  fputc ('\n', stderr);
  return usage ();
}

/* What getopt_long refused (@c ':' a missing value, else an unknown option; optind is past it). */
static int
bad_option (char **argv, int c)
{
  return usage_error (argv[0], ':' == c ? "%s needs a value" : "unknown option \"%s\"",
                      argv[optind - 1]);
}

/* --state-dir, before or after the command. */
static const char *g_dir_flag;

/* Each command runs getopt_long over its own words (argv[0] = the command). */
static void
reset_getopt (void)
{
  optind = 1;
  opterr = 0; /* bad_option says it, with the command */
}

static int
resolve_dir (char dir[AG_PATH_MAX])
{
  if (0 == ag_state_dir (g_dir_flag, dir))
    return 0;
  fprintf (stderr, "bulwark-agent: no state directory: set --state-dir or $HOME\n");
  return -1;
}

static int
cmd_enroll (int argc, char **argv)
{
  char dir[AG_PATH_MAX];
  /* clang-format off */
  static const struct option opts[] = {
    { "server", required_argument, NULL, 's' },
    { "secret", required_argument, NULL, 'k' },
    { "hostname", required_argument, NULL, 'h' },
    { "force", no_argument, NULL, 'f' },
    { "state-dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  /* clang-format on */
  struct ag_enroll_options o = { .secret = getenv ("BULWARK_AGENT_ENROLL_SECRET") };
  int c;
  reset_getopt ();
  while (-1 != (c = getopt_long (argc, argv, ":", opts, NULL)))
    switch (c)
      {
      case 's':
        o.server = optarg;
        break;
      case 'k':
        o.secret = optarg;
        break;
      case 'h':
        o.hostname = optarg;
        break;
      case 'f':
        o.force = true;
        break;
      case 'd':
        g_dir_flag = optarg;
        break;
      default:
        return bad_option (argv, c);
      }
  if (optind != argc)
    return usage_error (argv[0], "unexpected argument \"%s\"", argv[optind]);
  if (NULL == o.server)
    return usage_error (argv[0], "%s is required", "--server");
  if (NULL == o.secret)
    return usage_error (argv[0], "%s (or BULWARK_AGENT_ENROLL_SECRET) is required", "--secret");
  if (0 != resolve_dir (dir))
    return AG_EXIT_USAGE;
  return ag_enroll_main (dir, &o);
}

static int
cmd_run (int argc, char **argv)
{
  char dir[AG_PATH_MAX];
  /* clang-format off */
  static const struct option opts[] = {
    { "once", no_argument, NULL, 'o' },
    { "wait", required_argument, NULL, 'w' },
    { "state-dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  /* clang-format on */
  struct ag_run_options o = { .wait_s = -1 };
  int c;
  long wait;
  char *end;
  reset_getopt ();
  while (-1 != (c = getopt_long (argc, argv, ":", opts, NULL)))
    switch (c)
      {
      case 'o':
        o.once = true;
        break;
      case 'w':
        wait = strtol (optarg, &end, 10);
        if ('\0' != *end || end == optarg || wait < 0 || wait > AG_WAIT_MAX_S)
          return usage_error (argv[0], "--wait takes whole seconds from 0 to 60, not \"%s\"",
                              optarg);
        o.wait_s = (int) wait;
        break;
      case 'd':
        g_dir_flag = optarg;
        break;
      default:
        return bad_option (argv, c);
      }
  if (optind != argc)
    return usage_error (argv[0], "unexpected argument \"%s\"", argv[optind]);
  if (0 != resolve_dir (dir))
    return AG_EXIT_USAGE;
  return ag_run_main (dir, &o);
}

static int
cmd_check (int argc, char **argv)
{
  char dir[AG_PATH_MAX];
  /* clang-format off */
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "read-only", no_argument, NULL, 'r' },
    { "state-dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  /* clang-format on */
  struct ag_check_options o = { 0 };
  int c;
  reset_getopt ();
  while (-1 != (c = getopt_long (argc, argv, ":", opts, NULL)))
    switch (c)
      {
      case 'j':
        o.json = true;
        break;
      case 'r':
        o.read_only = true;
        break;
      case 'd':
        g_dir_flag = optarg;
        break;
      default:
        return bad_option (argv, c);
      }
  if (0 != resolve_dir (dir))
    return AG_EXIT_USAGE;
  return ag_check_main (dir, argc - optind, argv + optind, &o);
}

static int
cmd_status (int argc, char **argv)
{
  char dir[AG_PATH_MAX];
  /* clang-format off */
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "state-dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  /* clang-format on */
  bool json = false;
  int c;
  reset_getopt ();
  while (-1 != (c = getopt_long (argc, argv, ":", opts, NULL)))
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'd':
        g_dir_flag = optarg;
        break;
      default:
        return bad_option (argv, c);
      }
  if (optind != argc)
    return usage_error (argv[0], "unexpected argument \"%s\"", argv[optind]);
  if (0 != resolve_dir (dir))
    return AG_EXIT_USAGE;
  return ag_status_main (dir, json);
}

int
main (int argc, char **argv)
{
  int i = 1;
  /* Global options come before the command. */
  while (i < argc && 0 == strncmp (argv[i], "--", 2))
    {
      if (0 == strcmp (argv[i], "--state-dir") && i + 1 < argc)
        g_dir_flag = argv[i + 1], i += 2;
      else if (0 == strncmp (argv[i], "--state-dir=", 12))
        g_dir_flag = argv[i] + 12, i++;
      else if (0 == strcmp (argv[i], "--help"))
        return fputs (usage_text, stdout), AG_EXIT_OK;
      else if (0 == strcmp (argv[i], "--version"))
        return puts ("bulwark-agent " PACKAGE_VERSION), AG_EXIT_OK;
      else
        return usage_error (NULL, "unknown option \"%s\"", argv[i]);
    }
  if (i >= argc)
    return usage_error (NULL, "%s", "which command? enroll, run, check or status");
  const char *level = getenv ("BULWARK_AGENT_LOG_LEVEL");
  enum bw_log_level lv;
  if (NULL != level && 0 == bw_log_level_parse (level, &lv))
    bw_log_set_level (lv);
  const char *cmd = argv[i];
  if (0 == strcmp (cmd, "enroll"))
    return cmd_enroll (argc - i, argv + i);
  if (0 == strcmp (cmd, "run"))
    return cmd_run (argc - i, argv + i);
  if (0 == strcmp (cmd, "check"))
    return cmd_check (argc - i, argv + i);
  if (0 == strcmp (cmd, "status"))
    return cmd_status (argc - i, argv + i);
  return usage_error (NULL, "unknown command \"%s\"", cmd);
}
