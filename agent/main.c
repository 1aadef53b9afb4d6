/*
 * bulwark-agent: the reference enforcement client of Bulwark (DESIGN §6).
 *
 * Read this file first; each command lives in a file of its own:
 *   enroll.c   exchange an enroll secret for a credential and the org keyset
 *   sync.c     `run`: the check-in loop and the verification order
 *   check.c    decide one request locally and spool its event
 *   request.c  `request-mcp`: ask the org to approve an MCP server
 *   status.c   show the state
 * and under them: http.c (libcurl), state.c (the state directory),
 * spool.c (decision events on disk and their upload).
 */
#include "config.h"

#include "agent/check.h"
#include "agent/enroll.h"
#include "agent/request.h"
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
    "  check [--json] <surface> <resource...>\n"
    "      decide locally with the active bundle and spool a decision event:\n"
    "        network <host|ip> <port>\n"
    "        filesystem <path> read|write\n"
    "        credentials <credential> <host>\n"
    "        credentials <credential> <mcp-server>\n"
    "            [--image-digest sha256:HEX | --url URL |\n"
    "             --package P --package-version V --registry-type T [--sha256 HEX]]\n"
    "            [--version V]\n"
    "        mcp <server> [<tool>] [--action A]\n"
    "            [--image-digest sha256:HEX | --url URL |\n"
    "             --package P --package-version V --registry-type T [--sha256 HEX]]\n"
    "            [--version V]\n"
    "            [--description TEXT | --description-sha256 HEX]\n"
    "      --json prints the full result as JSON.\n"
    "      mcp: the server must be approved in the org's MCP catalog (the bundle's\n"
    "      approved slice) with the identity given: --image-digest for an image,\n"
    "      --url for a remote, --package, --package-version and --registry-type (npm,\n"
    "      pypi, nuget, mcpb or cargo: the same name in another registry is another\n"
    "      package; and --sha256 when the catalog pins one) for a package; --version,\n"
    "      the server version, is checked too when given with --image-digest or\n"
    "      --url.  Each option at most once.  With a <tool> the\n"
    "      action is invoke_tool: the tool must be approved and its description, as\n"
    "      the server lists it now, unchanged since the approval (--description hashes\n"
    "      TEXT with SHA-256; --description-sha256 gives the hash).  Without a <tool>\n"
    "      the action is list_tools: the server and its identity are checked, no tool.\n"
    "      --action sets another mcp action (register, read_resource, get_prompt,\n"
    "      list_tools; invoke_tool needs a <tool>).\n"
    "      credentials toward an MCP server (a name with '/'): the same identity\n"
    "      options name the process the credential goes to; it must be the approved\n"
    "      one (identity as for mcp), and the approval must bind the credential to\n"
    "      one of the server's secret inputs.\n"
    "  request-mcp <server.json> --reason TEXT [--select /packages/I|/remotes/I]\n"
    "      [--tools FILE]\n"
    "      ask the org to approve an MCP server: sends its registry server.json (and\n"
    "      the server's tools/list output from FILE) to the catalog's review queue as\n"
    "      this agent's user; --select picks the package or remote when it has several.\n"
    "      Prints the new entry's id and state.\n"
    "  status [--json]\n"
    "      show enrollment, keyset, active bundle, last error and the event spool\n"
    "\n"
    "state directory: --state-dir, else $BULWARK_AGENT_STATE_DIR, else\n"
    "$XDG_STATE_HOME/bulwark, else ~/.local/state/bulwark\n"
    "\n"
    "exit status: 0 success (check: allow; request-mcp: requested); 1 failure (check:\n"
    "deny or require_approval; request-mcp: refused); 2 usage; 3 the server revoked\n"
    "this agent: its bundle is no longer enforced, enroll again; 4 an administrator\n"
    "disabled this agent: no more updates, the last bundle stays in force\n";

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
    { "action", required_argument, NULL, 'a' },
    { "image-digest", required_argument, NULL, 'i' },
    { "url", required_argument, NULL, 'u' },
    { "package", required_argument, NULL, 'p' },
    { "package-version", required_argument, NULL, 'P' },
    { "registry-type", required_argument, NULL, 'r' },
    { "sha256", required_argument, NULL, 'h' },
    { "version", required_argument, NULL, 'v' },
    { "description", required_argument, NULL, 'D' },
    { "description-sha256", required_argument, NULL, 'H' },
    { "state-dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  /* clang-format on */
  struct ag_check_options o = { 0 };
  int c, li = 0;
  reset_getopt ();
  while (-1 != (c = getopt_long (argc, argv, ":", opts, &li)))
    {
      const char **slot = NULL;
      switch (c)
        {
        case 'j':
          o.json = true;
          break;
        case 'a':
          slot = &o.action;
          break;
        case 'i':
          slot = &o.image_digest;
          break;
        case 'u':
          slot = &o.url;
          break;
        case 'p':
          slot = &o.package;
          break;
        case 'P':
          slot = &o.package_version;
          break;
        case 'r':
          slot = &o.registry_type;
          break;
        case 'h':
          slot = &o.sha256;
          break;
        case 'v':
          slot = &o.version;
          break;
        case 'D':
          slot = &o.description;
          break;
        case 'H':
          slot = &o.description_sha256;
          break;
        case 'd':
          g_dir_flag = optarg;
          break;
        default:
          return bad_option (argv, c);
        }
      /* Each value at most once: "the last one wins" would decide `--url https://evil
         --url https://good` as good while the process talks to evil. */
      if (NULL != slot && NULL != *slot)
        return usage_error (argv[0], "--%s is given more than once", opts[li].name);
      if (NULL != slot)
        *slot = optarg;
    }
  if (0 != resolve_dir (dir))
    return AG_EXIT_USAGE;
  return ag_check_main (dir, argc - optind, argv + optind, &o);
}

static int
cmd_request_mcp (int argc, char **argv)
{
  char dir[AG_PATH_MAX];
  /* clang-format off */
  static const struct option opts[] = {
    { "reason", required_argument, NULL, 'r' },
    { "select", required_argument, NULL, 's' },
    { "tools", required_argument, NULL, 't' },
    { "state-dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  /* clang-format on */
  struct ag_request_options o = { 0 };
  int c;
  reset_getopt ();
  while (-1 != (c = getopt_long (argc, argv, ":", opts, NULL)))
    switch (c)
      {
      case 'r':
        o.reason = optarg;
        break;
      case 's':
        o.select = optarg;
        break;
      case 't':
        o.tools_file = optarg;
        break;
      case 'd':
        g_dir_flag = optarg;
        break;
      default:
        return bad_option (argv, c);
      }
  if (optind == argc)
    return usage_error (argv[0], "%s", "which server.json?");
  o.server_file = argv[optind++];
  if (optind != argc)
    return usage_error (argv[0], "unexpected argument \"%s\"", argv[optind]);
  if (NULL == o.reason)
    return usage_error (argv[0], "%s is required", "--reason");
  if (0 != resolve_dir (dir))
    return AG_EXIT_USAGE;
  return ag_request_mcp_main (dir, &o);
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
    return usage_error (NULL, "%s", "which command? enroll, run, check, request-mcp or status");
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
  if (0 == strcmp (cmd, "request-mcp"))
    return cmd_request_mcp (argc - i, argv + i);
  if (0 == strcmp (cmd, "status"))
    return cmd_status (argc - i, argv + i);
  return usage_error (NULL, "unknown command \"%s\"", cmd);
}
