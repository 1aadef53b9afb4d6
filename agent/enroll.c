/*
 * Enrollment (DESIGN §6).  The only moment the agent trusts the server
 * without a signature chain behind it: the first keyset arrives here over
 * the connection the secret was sent on (TLS in production; see
 * ag_http_url_acceptable), and every later keyset and head must chain to it.
 */
#include "config.h"
#include "agent/enroll.h"

#include "agent/http.h"
#include "agent/state.h"
#include "agent/sync.h"
#include "lib/ident.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/** Seconds the enrollment request may take. */
#define ENROLL_TIMEOUT_S 30

/* "linux-x86_64": what the fleet view shows as platform. */
static void
platform (char out[64])
{
  struct utsname u;
  if (0 != uname (&u))
    {
      snprintf (out, 64, "unknown");
      return;
    }
  /* Both fields are short in practice; the API takes 64 bytes, so cut there. */
  size_t a = strnlen (u.sysname, 31), b = strnlen (u.machine, 31);
  memcpy (out, u.sysname, a);
  out[a] = '-';
  memcpy (out + a + 1, u.machine, b);
  out[a + 1 + b] = '\0';
  for (char *p = out; *p; p++)
    *p = (char) tolower ((unsigned char) *p);
}

/* Whether @url has no path but "/" (nor query, fragment): API paths are appended to it. */
static bool
url_is_base (const char *url)
{
  const char *host = strstr (url, "://");
  const char *rest = NULL != host ? strpbrk (host + 3, "/?#") : NULL;
  return NULL == rest || 0 == strcmp (rest, "/");
}

static void
print_problem (const struct ag_http_response *rs)
{
  json_t *p = json_loadb (rs->body, rs->len, 0, NULL);
  const char *detail = json_string_value (json_object_get (p, "detail"));
  const char *title = json_string_value (json_object_get (p, "title"));
  fprintf (stderr, "bulwark-agent: enrollment refused (%ld): %s\n", rs->status,
           detail  ? detail
           : title ? title
                   : "no details");
  json_decref (p);
}

/* Fill @id from the 201 body; the keyset is verified here.  0 or -1 (printed). */
static int
read_reply (const json_t *j, struct ag_identity *id, struct bw_keyset **ks)
{
  const char *agent_id = json_string_value (json_object_get (j, "agent_id"));
  const char *cred = json_string_value (json_object_get (j, "credential"));
  const json_t *org = json_object_get (j, "org"), *sub = json_object_get (j, "subject");
  const char *org_id = json_string_value (json_object_get (org, "id"));
  const char *slug = json_string_value (json_object_get (org, "slug"));
  const char *kind = json_string_value (json_object_get (sub, "kind"));
  const char *sub_id = json_string_value (json_object_get (sub, "id"));
  const json_t *ksv = json_object_get (j, "keyset_version");
  if (NULL == agent_id || !bw_uuid_valid (agent_id) || NULL == cred
      || 0 != strncmp (cred, "bwa_", 4) || NULL == org_id || !bw_uuid_valid (org_id) || NULL == slug
      || strlen (slug) >= sizeof (id->org_slug) || NULL == kind
      || (0 != strcmp (kind, "user") && 0 != strcmp (kind, "agent")) || NULL == sub_id
      || !bw_uuid_valid (sub_id) || !json_is_integer (ksv))
    {
      fprintf (stderr, "bulwark-agent: the enrollment reply is malformed\n");
      return -1;
    }
  enum bw_keyset_error e = bw_keyset_trust_first (json_object_get (j, "keyset"), org_id, ks);
  if (BW_KEYSET_OK != e)
    {
      fprintf (stderr, "bulwark-agent: the org keyset does not verify: %s\n",
               bw_keyset_error_name (e));
      return -1;
    }
  if (bw_keyset_version (*ks) != (uint64_t) json_integer_value (ksv))
    {
      fprintf (stderr, "bulwark-agent: the keyset is version %llu, the reply says %lld\n",
               (unsigned long long) bw_keyset_version (*ks), (long long) json_integer_value (ksv));
      return -1;
    }
  snprintf (id->agent_id, sizeof (id->agent_id), "%s", agent_id);
  snprintf (id->org_id, sizeof (id->org_id), "%s", org_id);
  snprintf (id->org_slug, sizeof (id->org_slug), "%s", slug);
  snprintf (id->subject_kind, sizeof (id->subject_kind), "%s", kind);
  snprintf (id->subject_id, sizeof (id->subject_id), "%s", sub_id);
  id->credential = strdup (cred);
  return NULL == id->credential ? -1 : 0;
}

int
ag_enroll_main (const char *dir, const struct ag_enroll_options *o)
{
  struct ag_identity id = { 0 };
  struct bw_keyset *ks = NULL;
  struct ag_http *http = NULL;
  json_t *reply = NULL;
  char *body = NULL, *keyset_doc = NULL, plat[64], err[160];
  struct ag_http_response rs = { 0 };
  int code = AG_EXIT_FAIL;
  int lock;

  if (strlen (o->server) > AG_URL_MAX || !ag_http_url_acceptable (o->server))
    {
      fprintf (stderr, "bulwark-agent: --server must be an https:// URL (http:// only to "
                       "loopback; BULWARK_AGENT_ALLOW_HTTP=1 to override)\n");
      return AG_EXIT_USAGE;
    }
  if (!url_is_base (o->server))
    {
      fprintf (stderr,
               "bulwark-agent: --server takes the server's base URL with no path (e.g. "
               "https://bulwark.example.com), not \"%s\"\n",
               o->server);
      return AG_EXIT_USAGE;
    }
  if (0 != strncmp (o->secret, "bwe_", 4))
    {
      fprintf (stderr, "bulwark-agent: an enroll secret starts with bwe_\n");
      return AG_EXIT_USAGE;
    }
  /* run.lock, which `run` holds: no loop may go on with the enrollment replaced under it. */
  if (0 != ag_state_mkdir (dir))
    {
      fprintf (stderr, "bulwark-agent: cannot create %s: %s\n", dir, strerror (errno));
      return AG_EXIT_FAIL;
    }
  lock = ag_run_lock (dir);
  if (lock < 0)
    {
      fprintf (stderr, "bulwark-agent: a `run` is using %s (it holds %s/run.lock): stop it first\n",
               dir, dir);
      return AG_EXIT_FAIL;
    }
  struct ag_identity old;
  int have = ag_identity_load (dir, &old);
  ag_identity_clear (&old);
  if (1 != have && !o->force)
    {
      fprintf (stderr,
               "bulwark-agent: %s already holds an enrollment%s; --force enrolls "
               "again and discards its state\n",
               dir, 0 == have ? "" : " (unreadable)");
      close (lock);
      return AG_EXIT_FAIL;
    }
  if (NULL != o->hostname)
    snprintf (id.hostname, sizeof (id.hostname), "%s", o->hostname);
  else if (0 != gethostname (id.hostname, sizeof (id.hostname) - 1) || '\0' == id.hostname[0])
    snprintf (id.hostname, sizeof (id.hostname), "unknown");
  snprintf (id.server, sizeof (id.server), "%s", o->server);
  platform (plat);

  json_t *req = json_pack ("{s:s, s:s, s:s, s:s}", "enroll_secret", o->secret, "hostname",
                           id.hostname, "platform", plat, "agent_version", PACKAGE_VERSION);
  body = req ? json_dumps (req, JSON_COMPACT) : NULL;
  json_decref (req);
  http = ag_http_new (o->server, NULL, NULL);
  if (NULL == body || NULL == http)
    goto done;
  struct ag_http_request rq = { .method = "POST",
                                .path = "/api/v1/agent/enroll",
                                .body = body,
                                .body_len = strlen (body),
                                .max_bytes = AG_HTTP_JSON_MAX,
                                .timeout_s = ENROLL_TIMEOUT_S };
  if (0 != ag_http_do (http, &rq, &rs, err, sizeof (err)))
    {
      fprintf (stderr, "bulwark-agent: cannot reach %s: %s\n", o->server, err);
      goto done;
    }
  if (201 != rs.status)
    {
      print_problem (&rs);
      goto done;
    }
  reply = json_loadb (rs.body, rs.len, JSON_REJECT_DUPLICATES, NULL);
  if (NULL == reply || 0 != read_reply (reply, &id, &ks))
    {
      if (NULL == reply)
        fprintf (stderr, "bulwark-agent: the enrollment reply is not JSON\n");
      goto done;
    }
  keyset_doc = json_dumps (json_object_get (reply, "keyset"), JSON_COMPACT);
  if (NULL == keyset_doc)
    goto done;
  /* A new agent starts clean: the old one's bundle, keyset and events are not its own. */
  if (1 != have && 0 != ag_state_reset (dir))
    {
      fprintf (stderr, "bulwark-agent: cannot clear the old state in %s\n", dir);
      goto done;
    }
  /* Keyset before identity: identity.json is what makes the directory count as enrolled. */
  if (0 != ag_keyset_save (dir, keyset_doc, strlen (keyset_doc))
      || 0 != ag_identity_save (dir, &id))
    {
      fprintf (stderr, "bulwark-agent: cannot write the state in %s\n", dir);
      goto done;
    }
  printf ("enrolled: agent %s in org %s (%s), subject %s %s, keyset version %llu, state in %s\n",
          id.agent_id, id.org_slug, id.org_id, id.subject_kind, id.subject_id,
          (unsigned long long) bw_keyset_version (ks), dir);
  code = AG_EXIT_OK;
done:
  free (keyset_doc);
  free (body);
  json_decref (reply);
  ag_http_response_clear (&rs);
  ag_http_free (http);
  bw_keyset_free (ks);
  ag_identity_clear (&id);
  close (lock);
  return code;
}
