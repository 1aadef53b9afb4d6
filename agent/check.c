/*
 * The local decision (DESIGN §4) and its event (DESIGN §7).
 *
 * The agent decides offline, from the bundle on disk, with the server's own
 * evaluator: a laptop on a plane enforces the same policy as one online.
 * What it cannot know it does not guess: no bundle, a damaged or edited
 * one (agent/state.h verifies keysets, head and bundle on every load), one
 * stale past its limit, or an agent the server revoked decides deny with
 * reason policy_error.  An MCP server is decided against the approved
 * catalog slice the bundle carries (DESIGN §4 step 1): the identity and the
 * tool description the command line gives are what the catalog compares,
 * so a client that runs another image or sees a changed description is
 * denied (and so is a credential asked for by a process that does not name
 * the approved identity), and an approval whose expires_at has passed is denied by this
 * clock, whether or not a new bundle has arrived.
 */
#include "config.h"
#include "agent/check.h"

#include "agent/spool.h"
#include "agent/state.h"
#include "agent/sync.h"
#include "lib/crypto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/** Longest context string the request format takes (lib/decision_request.c). */
#define CONTEXT_TEXT_MAX 200

/* ---- the request (DESIGN §4 "Decision requests") ---- */

/* Say what is wrong with the command line; NULL, for build_request to return. */
static json_t *
usage_error (const char *msg)
{
  fprintf (stderr, "bulwark-agent check: %s\n", msg);
  return NULL;
}

static int
parse_port (const char *s, json_int_t *out)
{
  char *end;
  errno = 0;
  long v = strtol (s, &end, 10);
  if (0 != errno || end == s || '\0' != *end || v < 1 || v > 65535)
    return -1;
  *out = v;
  return 0;
}

/* An IP literal (IPv4 dotted quad, IPv6 bare or in brackets) goes in `ip`, a name in `host`. */
static bool
is_ip (const char *s)
{
  unsigned char buf[16];
  char tmp[64];
  size_t n = strlen (s);
  if (n >= 2 && '[' == s[0] && ']' == s[n - 1] && n - 2 < sizeof (tmp))
    {
      memcpy (tmp, s + 1, n - 2);
      tmp[n - 2] = '\0';
      s = tmp;
    }
  return 1 == inet_pton (AF_INET, s, buf) || 1 == inet_pton (AF_INET6, s, buf);
}

/* A path as the request wants it: absolute or "~/"; a relative one is taken from the cwd. */
static json_t *
request_path (const char *p)
{
  if ('/' == p[0] || 0 == strncmp (p, "~/", 2))
    return json_string (p);
  if (0 == strcmp (p, "~"))
    return json_string ("~/");
  char cwd[4096];
  if (NULL == getcwd (cwd, sizeof (cwd)))
    return NULL;
  size_t n = strlen (cwd) + strlen (p) + 2;
  char *abs = malloc (n);
  if (NULL == abs)
    return NULL;
  snprintf (abs, n, "%s/%s", cwd, p);
  json_t *j = json_string (abs);
  free (abs);
  return j;
}

/* Whether any identity option was given (mcp, credentials toward an MCP server). */
static bool
any_identity_option (const struct ag_check_options *o)
{
  return NULL != o->image_digest || NULL != o->url || NULL != o->package
         || NULL != o->package_version || NULL != o->registry_type || NULL != o->sha256
         || NULL != o->version;
}

/* Whether any option only the mcp surface takes was given. */
static bool
any_mcp_only_option (const struct ag_check_options *o)
{
  return NULL != o->action || NULL != o->description || NULL != o->description_sha256;
}

/*
 * The identity of an mcp resource (or of a credentials one toward an MCP
 * server) from the options: a new object, json_null () when none was given
 * (the caller leaves it out), or NULL after a usage message.
 */
static json_t *
mcp_identity (const struct ag_check_options *o)
{
  int kinds = (NULL != o->image_digest) + (NULL != o->url) + (NULL != o->package);
  if (kinds > 1)
    return usage_error ("give one of --image-digest, --url or --package");
  if ((NULL != o->package_version || NULL != o->registry_type || NULL != o->sha256)
      && NULL == o->package)
    return usage_error ("--package-version, --registry-type and --sha256 go with --package");
  if (NULL != o->package && NULL == o->package_version)
    return usage_error ("--package needs --package-version");
  /* the registry is part of the identity: npm's @x/y is not PyPI's */
  if (NULL != o->package && NULL == o->registry_type)
    return usage_error ("--package needs --registry-type (npm, pypi, nuget, mcpb or cargo)");
  if (NULL != o->version && NULL == o->image_digest && NULL == o->url)
    return usage_error ("--version goes with --image-digest or --url (a package's version is "
                        "--package-version)");
  if (0 == kinds)
    return json_null ();
  json_t *id = json_object ();
  if (NULL == id)
    return usage_error ("out of memory");
  if (NULL != o->image_digest)
    json_object_set_new (id, "image_digest", json_string (o->image_digest));
  if (NULL != o->url)
    json_object_set_new (id, "url", json_string (o->url));
  if (NULL != o->package)
    {
      json_object_set_new (id, "registry_type", json_string (o->registry_type));
      json_object_set_new (id, "package", json_string (o->package));
      json_object_set_new (id, "version", json_string (o->package_version));
      if (NULL != o->sha256)
        json_object_set_new (id, "sha256", json_string (o->sha256));
    }
  if (NULL != o->version)
    json_object_set_new (id, "version", json_string (o->version));
  /* json_string refuses text that is not UTF-8 */
  if (json_object_size (id)
      != (size_t) (1 + 2 * (NULL != o->package) + (NULL != o->sha256) + (NULL != o->version)))
    {
      json_decref (id);
      return usage_error ("an identity option is not UTF-8");
    }
  return id;
}

/*
 * {surface: "mcp", action, resource} from <server> [<tool>] and the
 * options; NULL after a usage message.
 */
static json_t *
mcp_request (int argc, char **argv, const struct ag_check_options *o)
{
  if (2 != argc && 3 != argc)
    return usage_error ("mcp <server> [<tool>]");
  if (NULL != o->description && NULL != o->description_sha256)
    return usage_error ("give one of --description or --description-sha256");
  if ((NULL != o->description || NULL != o->description_sha256) && 3 != argc)
    return usage_error ("--description and --description-sha256 go with mcp <server> <tool>");
  json_t *identity = mcp_identity (o);
  if (NULL == identity)
    return NULL;
  json_t *res = json_pack ("{s:s}", "server", argv[1]);
  if (NULL == res)
    {
      json_decref (identity);
      return usage_error ("the server name is not UTF-8");
    }
  if (3 == argc && 0 != json_object_set_new (res, "tool", json_string (argv[2])))
    {
      json_decref (identity);
      json_decref (res);
      return usage_error ("the tool name is not UTF-8");
    }
  if (!json_is_null (identity))
    json_object_set (res, "identity", identity);
  json_decref (identity);
  if (NULL != o->description)
    {
      /* SHA-256 of the description's UTF-8 bytes, as the catalog hashes it (lib/catalog.h) */
      char hex[BW_SHA256_HEX_LEN + 1];
      bw_sha256_hex (o->description, strlen (o->description), hex);
      json_object_set_new (res, "description_sha256", json_string (hex));
    }
  else if (NULL != o->description_sha256
           && 0
                != json_object_set_new (res, "description_sha256",
                                        json_string (o->description_sha256)))
    {
      json_decref (res);
      return usage_error ("--description-sha256 is not UTF-8");
    }
  const char *action = NULL != o->action ? o->action : 3 == argc ? "invoke_tool" : "list_tools";
  json_t *req = json_pack ("{s:s, s:s, s:o}", "surface", "mcp", "action", action, "resource", res);
  return NULL != req ? req : usage_error ("the action is not UTF-8");
}

/*
 * {surface: "credentials", action: "use", resource} from <credential>
 * <host|mcp-server> and the identity options (an MCP server's only); NULL
 * after a usage message.
 */
static json_t *
credentials_request (int argc, char **argv, const struct ag_check_options *o)
{
  if (3 != argc)
    return usage_error ("credentials <credential> <host|mcp-server>");
  /* Hosts never contain '/'; MCP server names (io.github.x/y) always do. */
  bool to_server = NULL != strchr (argv[2], '/');
  if (!to_server && any_identity_option (o))
    return usage_error ("the identity options go with an MCP server: credentials <credential> "
                        "<mcp-server>");
  json_t *identity = to_server ? mcp_identity (o) : json_null ();
  if (NULL == identity)
    return NULL;
  json_t *res = json_pack ("{s:s, s:s}", "credential", argv[1],
                           to_server ? "mcp_server" : "host", argv[2]);
  if (NULL == res)
    {
      json_decref (identity);
      return usage_error ("the credential or target name is not UTF-8");
    }
  if (!json_is_null (identity))
    json_object_set (res, "identity", identity);
  json_decref (identity);
  json_t *req = json_pack ("{s:s, s:s, s:o}", "surface", "credentials", "action", "use", "resource",
                           res);
  return NULL != req ? req : usage_error ("out of memory");
}

/* {surface, action, resource} from the command line; NULL after a usage message. */
static json_t *
build_request (int argc, char **argv, const struct ag_check_options *o)
{
  if (argc < 1)
    return usage_error ("which surface? network, filesystem, credentials or mcp");
  const char *surface = argv[0];
  json_int_t port;
  if (0 == strcmp (surface, "mcp"))
    return mcp_request (argc, argv, o);
  if (0 == strcmp (surface, "credentials"))
    {
      if (any_mcp_only_option (o))
        return usage_error ("--action and the description options go with mcp only");
      return credentials_request (argc, argv, o);
    }
  if (any_mcp_only_option (o) || any_identity_option (o))
    return usage_error ("--action, the identity and the description options go with mcp only "
                        "(the identity options also with credentials toward an MCP server)");
  if (0 == strcmp (surface, "network"))
    {
      if (3 != argc || 0 != parse_port (argv[2], &port))
        return usage_error ("network <host|ip> <port 1-65535>");
      return json_pack ("{s:s, s:s, s:{s:s, s:I}}", "surface", surface, "action", "connect",
                        "resource", is_ip (argv[1]) ? "ip" : "host", argv[1], "port", port);
    }
  if (0 == strcmp (surface, "filesystem"))
    {
      if (3 != argc || (0 != strcmp (argv[2], "read") && 0 != strcmp (argv[2], "write")))
        return usage_error ("filesystem <path> read|write");
      json_t *path = request_path (argv[1]);
      if (NULL == path)
        return usage_error ("cannot resolve the path");
      return json_pack ("{s:s, s:s, s:{s:o, s:s}}", "surface", surface, "action", argv[2],
                        "resource", "path", path, "access", argv[2]);
    }
  return usage_error ("unknown surface (network, filesystem, credentials, mcp)");
}

/* context: {home, session, client}; *session is the id used (borrowed from the object). */
static int
add_context (json_t *req, const char **session)
{
  char id[37];
  const char *home = getenv ("HOME");
  const char *sid = getenv ("BULWARK_SESSION_ID");
  json_t *ctx = json_object ();
  if (NULL != home && '/' == home[0])
    json_object_set_new (ctx, "home", json_string (home));
  if (NULL == sid || '\0' == sid[0] || strlen (sid) > CONTEXT_TEXT_MAX)
    {
      if (0 != ag_uuid7 (id))
        return -1;
      sid = id;
    }
  json_object_set_new (ctx, "session", json_string (sid));
  json_object_set_new (ctx, "client", json_string ("bulwark-agent"));
  json_object_set_new (req, "context", ctx);
  *session = json_string_value (json_object_get (ctx, "session"));
  return NULL == *session ? -1 : 0;
}

/* ---- the event (DESIGN §7) ---- */

static void
rfc3339_now (char out[32])
{
  struct timespec ts;
  struct tm tm;
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  size_t n = strftime (out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static json_t *
rule_json (const struct bw_decision_result *r)
{
  if (r->deciding < 0)
    return json_null ();
  const struct bw_rule_match *m = &r->matched[r->deciding];
  return json_pack ("{s:s, s:I, s:s}", "policy_id", m->policy_id, "revision",
                    (json_int_t) m->revision, "rule_id", m->rule_id);
}

/*
 * The event of one decision.  No argument values, prompts or secrets: the
 * resource is what the request named, nothing more.  event_id and seq are
 * added by the spool.
 */
static json_t *
build_event (const json_t *req, const struct bw_decision_result *r, const struct ag_identity *id,
             const char *session, const struct ag_active *act)
{
  char now[32];
  rfc3339_now (now);
  const char *agent = getenv ("BULWARK_SESSION_AGENT");
  bool user = 0 == strcmp (id->subject_kind, "user");
  const char *mode
    = r->deciding >= 0 && BW_MODE_AUDIT == r->matched[r->deciding].mode ? "audit" : "enforce";
  json_t *session_j = json_pack ("{s:s, s:s}", "id", session, "client", "bulwark-agent");
  /* The resource as the request named it, minus the description hash: an event's mcp
     resource is {server, tool?, identity?} (api/agent_events.c); result.catalog says why. */
  json_t *resource = json_deep_copy (json_object_get (req, "resource"));
  json_object_del (resource, "description_sha256");
  if (NULL != agent && '\0' != agent[0] && strlen (agent) <= CONTEXT_TEXT_MAX)
    json_object_set_new (session_j, "agent", json_string (agent));
  return json_pack ("{s:s, s:o, s:o, s:O, s:O, s:o, s:s, s:s, s:o, s:s, s:I}", "time", now, "user",
                    user ? json_string (id->subject_id) : json_null (), "session", session_j,
                    "surface", json_object_get (req, "surface"), "action",
                    json_object_get (req, "action"), "resource", resource, "decision",
                    bw_decision_name (r->decision), "mode", mode, "rule", rule_json (r), "reason",
                    bw_reason_name (r->reason), "bundle_version",
                    /* 0: decided without a bundle */
                    (json_int_t) (NULL != act->bundle ? act->head.bundle_version : 0));
}

/* ---- output ---- */

static void
print_line (const struct bw_decision_result *r, const struct ag_active *act, bool stale)
{
  printf ("%s reason=%s", bw_decision_name (r->decision), bw_reason_name (r->reason));
  if (BW_CATALOG_UNCHECKED != r->catalog)
    printf (" catalog=%s", bw_catalog_check_name (r->catalog));
  if (r->deciding >= 0)
    {
      const struct bw_rule_match *m = &r->matched[r->deciding];
      printf (" policy_id=%s revision=%lld rule_id=%s", m->policy_id, (long long) m->revision,
              m->rule_id);
    }
  else
    printf (" rule=none");
  if (NULL != act->bundle)
    printf (" bundle_version=%llu", (unsigned long long) act->head.bundle_version);
  else
    printf (" bundle_version=none");
  printf ("%s\n", stale ? " stale" : "");
}

static void
print_json (const struct bw_decision_result *r, const struct ag_active *act, bool stale,
            json_t *req, const char *spooled, uint64_t seq)
{
  json_t *j = bw_decision_result_json (r);
  if (NULL == j)
    return;
  json_object_set_new (j, "bundle_version",
                       NULL != act->bundle ? json_integer ((json_int_t) act->head.bundle_version)
                                           : json_null ());
  json_object_set_new (j, "stale", json_boolean (stale));
  json_object_set (j, "request", req);
  json_object_set_new (j, "event",
                       json_pack ("{s:s, s:o}", "spool", spooled, "seq",
                                  seq ? json_integer ((json_int_t) seq) : json_null ()));
  char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  if (NULL != s)
    printf ("%s\n", s);
  free (s);
  json_decref (j);
}

int
ag_check_main (const char *dir, int argc, char **argv, const struct ag_check_options *o)
{
  struct ag_state st = { 0 };
  const struct ag_active *act = &st.active;
  struct bw_decision_request *dreq = NULL;
  struct bw_decision_result res;
  const char *session = NULL;
  int code = AG_EXIT_USAGE;

  json_t *req = build_request (argc, argv, o);
  json_t *errors = json_array ();
  if (NULL == req || NULL == errors || 0 != add_context (req, &session))
    goto done;
  dreq = bw_decision_request_parse (req, "", errors);
  if (NULL == dreq)
    {
      /* Not normalizable (DESIGN §4): an error, never a guess. */
      size_t i;
      json_t *e;
      json_array_foreach (errors, i, e) fprintf (
        stderr, "bulwark-agent check: %s: %s\n", json_string_value (json_object_get (e, "pointer")),
        json_string_value (json_object_get (e, "message")));
      goto done;
    }

  ag_state_load (dir, &st);
  bool enrolled = 0 == st.enrolled;
  if ('\0' != st.unsafe[0])
    fprintf (stderr, "bulwark-agent check: refusing the state directory %s: %s; deciding deny\n",
             dir, st.unsafe);
  else if (1 == st.enrolled)
    fprintf (stderr, "bulwark-agent check: not enrolled in %s; deciding deny\n", dir);
  else if (!enrolled)
    fprintf (stderr,
             "bulwark-agent check: the enrollment in %s is unreadable (identity.json or "
             "credential); deciding deny: enroll again with --force\n",
             dir);
  if ('\0' != st.damage[0])
    fprintf (stderr, "bulwark-agent check: the stored state is damaged (%s): deciding deny\n",
             st.damage);
  if (ag_state_revoked (&st))
    {
      fprintf (stderr, "bulwark-agent check: agent revoked: enroll again; deciding deny\n");
      ag_active_clear (&st.active); /* `run` removed it; should it still be there, it is not used */
    }
  const int64_t now = (int64_t) time (NULL);
  bool have = NULL != act->bundle;
  bool stale = have && now >= act->head.exp;
  bool past_limit = stale && now - act->head.exp > (int64_t) act->bundle->settings.stale_limit_s;
  if (have && !past_limit)
    bw_evaluate (act->bundle->refs, act->bundle->n, act->bundle->catalog, now, dreq, &res);
  else
    {
      /* Nothing usable to decide with (DESIGN §4 step 7): deny, policy_error, before any
         catalog step — "not approved" would blame a catalog this agent does not have. */
      memset (&res, 0, sizeof (res));
      res.decision = BW_DECISION_DENY;
      res.reason = BW_REASON_POLICY_ERROR;
      res.deciding = -1;
      res.catalog = BW_CATALOG_UNCHECKED;
    }

  /* The event is written before the answer is shown: a decision is never unrecorded. */
  const char *spooled = "none";
  uint64_t seq = 0;
  if (enrolled)
    {
      json_t *ev = build_event (req, &res, &st.id, session, act);
      errno = 0;
      int sr = NULL == ev ? -1 : ag_spool_append (dir, ev, &seq);
      json_decref (ev);
      spooled = 0 == sr ? "spooled" : 1 == sr ? "dropped" : "error";
      if (sr < 0)
        fprintf (stderr, "bulwark-agent check: cannot spool the event in %s: %s\n", dir,
                 0 != errno ? strerror (errno) : "the spool files are unusable");
    }
  if (o->json)
    print_json (&res, act, stale, req, spooled, seq);
  else
    print_line (&res, act, stale);
  code = BW_DECISION_ALLOW == res.decision ? AG_EXIT_OK : AG_EXIT_FAIL;
done:
  bw_decision_request_free (dreq);
  json_decref (req);
  json_decref (errors);
  ag_state_clear (&st);
  return code;
}
