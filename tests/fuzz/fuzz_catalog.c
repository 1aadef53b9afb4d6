/*
 * libFuzzer target over the MCP catalog parsers of lib/catalog.h: import
 * of registry server.json documents, entry documents, tools/list results
 * and approved slices, with the catalog step run over what parsed.
 *
 * Input: a JSON object with any of {"server": server.json, "select":
 * string, "entry": entry document, "tools": tools/list result, "slice":
 * approved slice, "request": decision request or array of them, "now":
 * integer}; any other JSON value is fed to every parser as it is.
 * Invariants checked:
 *   - every parser either succeeds with no error appended, or fails with at
 *     least one well-formed error under its prefix;
 *   - a normalized entry normalizes to itself, is its own pin (same pin,
 *     same pin digest), and in the slice form the server builds from it
 *     (db_catalog_slice) is accepted by bw_catalog_parse, with its
 *     approved tools and the catalog step passing its own identity;
 *   - a tool list is sorted, unique, all blocked, and carrying its own
 *     states keeps them;
 *   - the catalog step on any request: a denial is deny / reason catalog
 *     with no rule matched.
 *
 * Build and run: tests/fuzz/run.sh SECONDS fuzz_catalog.
 */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/catalog.h"
#include "lib/policy.h"

/** Most requests taken from one input. */
#define FUZZ_ITEMS_MAX 8

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
  do                                                                                     \
    {                                                                                    \
      if (!(cond))                                                                       \
        {                                                                                \
          fprintf (stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
          abort ();                                                                      \
        }                                                                                \
    }                                                                                    \
  while (0)

/* Errors from index @a from on are {"pointer" under @a prefix, "message"}; there is one at least
   when @a failed. */
static void
check_errors (const json_t *errors, size_t from, const char *prefix, bool failed)
{
  CHECK (!failed || json_array_size (errors) > from);
  CHECK (failed || json_array_size (errors) == from);
  for (size_t i = from; i < json_array_size (errors); i++)
    {
      const json_t *e = json_array_get (errors, i);
      const char *ptr = json_string_value (json_object_get (e, "pointer"));
      const char *msg = json_string_value (json_object_get (e, "message"));
      CHECK (2 == json_object_size (e));
      CHECK (NULL != ptr && 0 == strncmp (ptr, prefix, strlen (prefix)));
      CHECK ('\0' == ptr[strlen (prefix)] || '/' == ptr[strlen (prefix)]);
      CHECK (NULL != msg && '\0' != msg[0]);
    }
}

/* The slice the server builds from normalized entry @a e (db/catalog.c). */
static json_t *
slice_of (const json_t *e)
{
  json_t *inputs = json_array (), *tools = json_array ();
  size_t i;
  json_t *v;
  json_array_foreach (json_object_get (e, "inputs"), i, v)
  {
    json_t *o = json_pack ("{s:O, s:O}", "name", json_object_get (v, "name"), "secret",
                           json_object_get (v, "secret"));
    if (NULL != json_object_get (v, "credential"))
      json_object_set (o, "credential", json_object_get (v, "credential"));
    json_array_append_new (inputs, o);
  }
  json_array_foreach (
    json_object_get (e, "tools"), i,
    v) if (0 == strcmp ("approved", json_string_value (json_object_get (v, "state"))))
    json_array_append_new (tools, json_pack ("{s:O, s:O, s:O}", "name", json_object_get (v, "name"),
                                             "description_sha256",
                                             json_object_get (v, "description_sha256"),
                                             "annotations", json_object_get (v, "annotations")));
  return json_pack ("[{s:s, s:O, s:O, s:O, s:O, s:o, s:o}]", "id",
                    "00000000-0000-4000-8000-000000000000", "name", json_object_get (e, "name"),
                    "version", json_object_get (e, "version"), "kind", json_object_get (e, "kind"),
                    "identity", json_object_get (e, "identity"), "inputs", inputs, "tools", tools);
}

/* A request for the entry's first approved tool (or list_tools) naming its identity. */
static json_t *
request_for (const json_t *e)
{
  const json_t *id = json_object_get (e, "identity");
  json_t *ident = json_object ();
  const char *kind = json_string_value (json_object_get (e, "kind"));
  if (0 == strcmp (kind, "image"))
    json_object_set (ident, "image_digest", json_object_get (id, "image_digest"));
  else if (0 == strcmp (kind, "remote"))
    json_object_set (ident, "url", json_object_get (id, "url"));
  else
    {
      json_object_set (ident, "package", json_object_get (id, "package"));
      json_object_set (ident, "version", json_object_get (id, "version"));
      if (NULL != json_object_get (id, "sha256"))
        json_object_set (ident, "sha256", json_object_get (id, "sha256"));
    }
  json_t *res = json_pack ("{s:O, s:o}", "server", json_object_get (e, "name"), "identity", ident);
  const char *action = "list_tools";
  size_t i;
  json_t *t;
  json_array_foreach (
    json_object_get (e, "tools"), i,
    t) if (0 == strcmp ("approved", json_string_value (json_object_get (t, "state"))))
  {
    json_object_set (res, "tool", json_object_get (t, "name"));
    json_object_set (res, "description_sha256", json_object_get (t, "description_sha256"));
    action = "invoke_tool";
    break;
  }
  return json_pack ("{s:s, s:s, s:o}", "surface", "mcp", "action", action, "resource", res);
}

/* Invariants of a normalized entry. */
static void
check_entry (const json_t *e)
{
  json_t *errors = json_array ();
  json_t *again = bw_catalog_entry_normalize (e, "", errors);
  CHECK (NULL != again && json_equal (again, e) && 0 == json_array_size (errors));
  CHECK (bw_catalog_same_pin (e, again));
  char d1[65], d2[65];
  CHECK (0 == bw_catalog_pin_sha256 (e, d1) && 0 == bw_catalog_pin_sha256 (again, d2));
  CHECK (0 == strcmp (d1, d2));
  json_decref (again);

  /* the server's slice of it parses, and the step lets the entry's own identity through */
  json_t *slice = slice_of (e);
  char why[160];
  struct bw_catalog *c = bw_catalog_parse (slice, why, sizeof (why));
  if (NULL == c)
    {
      fprintf (stderr, "slice of a normalized entry refused: %s\n", why);
      abort ();
    }
  CHECK (1 == bw_catalog_size (c));
  json_t *rq = request_for (e);
  struct bw_decision_request *r = bw_decision_request_parse (rq, "", errors);
  if (NULL != r) /* an mcpb URL or a name the request syntax refuses may not make a request */
    {
      struct bw_decision_result res;
      bw_evaluate (NULL, 0, c, 0, r, &res);
      CHECK (BW_CATALOG_APPROVED == res.catalog);
      CHECK (BW_REASON_DEFAULT == res.reason && BW_DECISION_DENY == res.decision);
      bw_decision_request_free (r);
    }
  json_decref (rq);
  bw_catalog_free (c);
  json_decref (slice);
  json_decref (errors);
}

/* Invariants of a normalized tool list. */
static void
check_tools (json_t *tools)
{
  for (size_t i = 0; i < json_array_size (tools); i++)
    {
      const json_t *t = json_array_get (tools, i);
      CHECK (0 == strcmp ("blocked", json_string_value (json_object_get (t, "state"))));
      if (i > 0)
        CHECK (strcmp (json_string_value (json_object_get (json_array_get (tools, i - 1), "name")),
                       json_string_value (json_object_get (t, "name")))
               < 0);
    }
  json_t *copy = json_deep_copy (tools);
  bw_catalog_tools_carry (copy, tools);
  CHECK (json_equal (copy, tools));
  json_decref (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  json_error_t jerr;
  json_t *in = json_loadb ((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (NULL == in)
    return 0;
  bool obj = json_is_object (in)
             && (NULL != json_object_get (in, "server") || NULL != json_object_get (in, "entry")
                 || NULL != json_object_get (in, "tools") || NULL != json_object_get (in, "slice"));
  const json_t *server = obj ? json_object_get (in, "server") : in;
  const json_t *entry = obj ? json_object_get (in, "entry") : in;
  const json_t *list = obj ? json_object_get (in, "tools") : in;
  const json_t *slice = obj ? json_object_get (in, "slice") : in;
  const json_t *sv = obj ? json_object_get (in, "select") : NULL;
  const json_t *nv = obj ? json_object_get (in, "now") : NULL;
  const char *select = json_string_value (sv);
  int64_t now = json_is_integer (nv) ? (int64_t) json_integer_value (nv) : 1767225600;
  json_t *errors = json_array ();
  json_t *imported = NULL;

  if (NULL != server)
    {
      size_t before = json_array_size (errors);
      imported = bw_catalog_from_server_json (server, select, "/server", errors);
      check_errors (errors, before, "/server", NULL == imported);
      if (NULL != imported)
        {
          CHECK (0 == json_array_size (json_object_get (imported, "tools")));
          check_entry (imported);
        }
    }
  if (NULL != entry)
    {
      size_t before = json_array_size (errors);
      json_t *e = bw_catalog_entry_normalize (entry, "/entry", errors);
      check_errors (errors, before, "/entry", NULL == e);
      if (NULL != e)
        check_entry (e);
      json_decref (e);
    }
  if (NULL != list)
    {
      size_t before = json_array_size (errors);
      const char *name = json_string_value (json_object_get (imported, "name"));
      const char *version = json_string_value (json_object_get (imported, "version"));
      json_t *tools = bw_catalog_tools_from_list (list, name, version, "/tools", errors);
      check_errors (errors, before, "/tools", NULL == tools);
      if (NULL != tools)
        {
          check_tools (tools);
          if (NULL != imported)
            {
              /* the imported entry with these tools, some approved, is still an entry */
              for (size_t i = 0; i < json_array_size (tools); i += 2)
                json_object_set_new (json_array_get (tools, i), "state", json_string ("approved"));
              json_object_set (imported, "tools", tools);
              check_entry (imported);
            }
        }
      json_decref (tools);
    }
  if (NULL != slice)
    {
      char why[160] = "";
      struct bw_catalog *c = bw_catalog_parse (slice, why, sizeof (why));
      CHECK (NULL != c || 0 == strncmp (why, "catalog", 7));
      CHECK (NULL == c || bw_catalog_size (c) == json_array_size (slice));
      const json_t *rv = obj ? json_object_get (in, "request") : NULL;
      size_t nr = json_is_array (rv) ? json_array_size (rv) : (NULL != rv);
      for (size_t i = 0; i < nr && i < FUZZ_ITEMS_MAX; i++)
        {
          const json_t *q = json_is_array (rv) ? json_array_get (rv, i) : rv;
          struct bw_decision_request *r = bw_decision_request_parse (q, "/request", errors);
          if (NULL == r)
            continue;
          struct bw_decision_result res;
          bw_evaluate (NULL, 0, c, now, r, &res);
          bool denied = BW_CATALOG_UNCHECKED != res.catalog && BW_CATALOG_APPROVED != res.catalog;
          CHECK (!denied || (BW_REASON_CATALOG == res.reason && 0 == res.nmatched));
          CHECK (denied || BW_REASON_DEFAULT == res.reason);
          CHECK (BW_DECISION_DENY == res.decision);
          json_t *j = bw_decision_result_json (&res);
          CHECK (NULL != j);
          CHECK ((BW_CATALOG_UNCHECKED == res.catalog) == (NULL == json_object_get (j, "catalog")));
          json_decref (j);
          bw_decision_request_free (r);
        }
      bw_catalog_free (c);
    }
  json_decref (imported);
  json_decref (errors);
  json_decref (in);
  return 0;
}
