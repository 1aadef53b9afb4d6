/*
 * `bulwark-agent request-mcp` (DESIGN §5): a developer asks for an MCP
 * server from where they work.  The agent does not judge the document: the
 * server validates it with the same lib/catalog.h code as the admin import
 * and names every bad field, and this command prints what it said.  Only
 * the enrollment (server, credential) is read from the state directory,
 * after the same ownership check `check` makes; nothing is written.
 */
#include "config.h"
#include "agent/request.h"

#include "agent/http.h"
#include "agent/state.h"
#include "agent/sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Seconds the request may take. */
#define REQUEST_TIMEOUT_S 30
/** The agent API path (api/openapi.yaml). */
#define REQUEST_PATH "/api/v1/agent/catalog/requests"
/** Largest answer accepted: the entry echoes the server.json and the tools. */
#define ANSWER_MAX (2u * AG_REQUEST_FILE_MAX + AG_HTTP_JSON_MAX)
/** Validation errors printed at most (the server reports up to about 100). */
#define ERRORS_SHOWN_MAX 100

/*
 * Read JSON file @a path (at most AG_REQUEST_FILE_MAX bytes, duplicate keys
 * refused).  @return a new value, or NULL after a message naming @a what.
 */
static json_t *
read_json_file (const char *path, const char *what)
{
  FILE *f = fopen (path, "rb");
  if (NULL == f)
    {
      fprintf (stderr, "bulwark-agent request-mcp: cannot open the %s %s: %s\n", what, path,
               strerror (errno));
      return NULL;
    }
  char *buf = malloc (AG_REQUEST_FILE_MAX + 1);
  size_t len = (NULL != buf) ? fread (buf, 1, AG_REQUEST_FILE_MAX + 1, f) : 0;
  bool bad = NULL == buf || ferror (f);
  fclose (f);
  json_t *j = NULL;
  if (bad)
    fprintf (stderr, "bulwark-agent request-mcp: cannot read the %s %s\n", what, path);
  else if (len > AG_REQUEST_FILE_MAX)
    fprintf (stderr, "bulwark-agent request-mcp: the %s %s is larger than %u bytes\n", what, path,
             AG_REQUEST_FILE_MAX);
  else
    {
      json_error_t err;
      j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &err);
      if (NULL == j)
        fprintf (stderr, "bulwark-agent request-mcp: the %s %s is not JSON: line %d: %s\n", what,
                 path, err.line, err.text);
    }
  free (buf);
  return j;
}

/* The server's problem document on stderr: status, code, detail, each {pointer, message}. */
static void
print_problem (const struct ag_http_response *rs)
{
  json_t *p = json_loadb (rs->body, rs->len, 0, NULL);
  const char *code = json_string_value (json_object_get (p, "code"));
  const char *detail = json_string_value (json_object_get (p, "detail"));
  const char *title = json_string_value (json_object_get (p, "title"));
  fprintf (stderr, "bulwark-agent request-mcp: refused (%ld%s%s): %s\n", rs->status,
           NULL != code ? " " : "", NULL != code ? code : "",
           NULL != detail  ? detail
           : NULL != title ? title
                           : "no details");
  const char *existing = json_string_value (json_object_get (p, "entry_id"));
  if (NULL != existing)
    fprintf (stderr, "  the same server is already entry %s\n", existing);
  size_t i;
  const json_t *e;
  json_array_foreach (json_object_get (p, "errors"), i, e)
  {
    if (i >= ERRORS_SHOWN_MAX)
      break;
    const char *ptr = json_string_value (json_object_get (e, "pointer"));
    const char *msg = json_string_value (json_object_get (e, "message"));
    fprintf (stderr, "  %s: %s\n", NULL != ptr ? ptr : "?", NULL != msg ? msg : "?");
  }
  json_decref (p);
}

/* Print what an answer other than 201 means (DESIGN §6 "Status codes").  @return the exit code. */
static int
refused (const struct ag_http_response *rs)
{
  if (401 == rs->status)
    {
      json_t *p = json_loadb (rs->body, rs->len, 0, NULL);
      bool invalid = json_is_true (json_object_get (p, "node_invalid"));
      json_decref (p);
      if (invalid)
        {
          fprintf (stderr, "bulwark-agent request-mcp: the server revoked this agent (401 "
                           "node_invalid): enroll again\n");
          return AG_EXIT_REENROLL;
        }
    }
  if (403 == rs->status)
    {
      fprintf (stderr, "bulwark-agent request-mcp: an administrator disabled this agent (403)\n");
      return AG_EXIT_DISABLED;
    }
  print_problem (rs);
  return AG_EXIT_FAIL;
}

/* The 201 body: one line.  @return AG_EXIT_OK, or AG_EXIT_FAIL when it is not an entry. */
static int
print_entry (const struct ag_http_response *rs)
{
  json_t *j = json_loadb (rs->body, rs->len, JSON_REJECT_DUPLICATES, NULL);
  const char *id = json_string_value (json_object_get (j, "id"));
  const char *state = json_string_value (json_object_get (j, "state"));
  const char *name = json_string_value (json_object_get (j, "name"));
  const char *version = json_string_value (json_object_get (j, "version"));
  int code = AG_EXIT_FAIL;
  if (NULL == id || NULL == state || NULL == name || NULL == version)
    fprintf (stderr, "bulwark-agent request-mcp: the server's answer is not a catalog entry\n");
  else
    {
      printf ("requested: entry %s, state %s, %s %s\n", id, state, name, version);
      code = AG_EXIT_OK;
    }
  json_decref (j);
  return code;
}

int
ag_request_mcp_main (const char *dir, const struct ag_request_options *o)
{
  struct ag_identity id = { 0 };
  struct ag_http *http = NULL;
  struct ag_http_response rs = { 0 };
  json_t *body = NULL, *tools = NULL;
  char *text = NULL, why[160], err[160];
  int code = AG_EXIT_FAIL;

  json_t *server = read_json_file (o->server_file, "server.json");
  if (NULL == server
      || (NULL != o->tools_file && NULL == (tools = read_json_file (o->tools_file, "tools file"))))
    {
      code = AG_EXIT_USAGE;
      goto done;
    }
  int sec = ag_state_secure (dir, why, sizeof (why));
  if (sec < 0)
    {
      fprintf (stderr, "bulwark-agent request-mcp: refusing the state directory %s: %s\n", dir,
               why);
      goto done;
    }
  int have = (0 == sec) ? ag_identity_load (dir, &id) : 1;
  if (0 != have)
    {
      fprintf (stderr, "bulwark-agent request-mcp: %s %s: enroll first\n",
               1 == have ? "not enrolled in" : "the enrollment is unreadable in", dir);
      goto done;
    }
  body = json_pack ("{s:O, s:s}", "server", server, "reason", o->reason);
  if (NULL == body)
    {
      fprintf (stderr, "bulwark-agent request-mcp: --reason is not UTF-8\n");
      code = AG_EXIT_USAGE;
      goto done;
    }
  if ((NULL != o->select && 0 != json_object_set_new (body, "select", json_string (o->select)))
      || (NULL != tools && 0 != json_object_set (body, "tools", tools)))
    {
      fprintf (stderr, "bulwark-agent request-mcp: --select is not UTF-8\n");
      code = AG_EXIT_USAGE;
      goto done;
    }
  text = json_dumps (body, JSON_COMPACT);
  http = ag_http_new (id.server, id.credential, NULL);
  if (NULL == text || NULL == http)
    goto done;
  struct ag_http_request rq = { .method = "POST",
                                .path = REQUEST_PATH,
                                .body = text,
                                .body_len = strlen (text),
                                .max_bytes = ANSWER_MAX,
                                .timeout_s = REQUEST_TIMEOUT_S };
  if (0 != ag_http_do (http, &rq, &rs, err, sizeof (err)))
    {
      fprintf (stderr, "bulwark-agent request-mcp: cannot reach %s: %s\n", id.server, err);
      goto done;
    }
  code = (201 == rs.status) ? print_entry (&rs) : refused (&rs);
done:
  ag_http_response_clear (&rs);
  ag_http_free (http);
  free (text);
  json_decref (body);
  json_decref (tools);
  json_decref (server);
  ag_identity_clear (&id);
  return code;
}
