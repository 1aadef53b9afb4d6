/**
 * @file tests/unit/json_table.h
 * Helpers of the table-driven lib/ tests (check_policy, check_catalog):
 * table JSON with ' for ", compact text for failure messages, the shape of
 * error arrays (lib/policy.h), and a policy that must parse.  Included by
 * one test program each, so the functions are static inline.
 */
#ifndef BW_TESTS_JSON_TABLE_H
#define BW_TESTS_JSON_TABLE_H

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy.h"

/** Room for one table_show () text. */
#define TABLE_SHOW_MAX 4096

/** Table JSON @a text (' for ") to a value, any JSON; duplicate keys are a test bug. */
static inline json_t *
table_load (const char *text)
{
  char *s = strdup (text);
  json_error_t e;
  json_t *v;

  ck_assert_ptr_nonnull (s);
  for (char *c = s; *c; c++)
    if ('\'' == *c)
      *c = '"';
  v = json_loads (s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg (NULL != v, "table JSON does not parse (%s): %s", e.text, s);
  free (s);
  return v;
}

/** Compact text of @a v (keys sorted) for failure messages; static buffer, one at a time. */
static inline const char *
table_show (const json_t *v)
{
  static char buf[TABLE_SHOW_MAX];
  char *s = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);

  snprintf (buf, sizeof (buf), "%s", s ? s : "(null)");
  free (s);
  return buf;
}

/**
 * Whether @a errors holds an entry whose pointer is exactly @a pointer;
 * every entry must be {"pointer": RFC 6901 pointer, "message": non-empty string}.
 */
static inline bool
table_has_pointer (const json_t *errors, const char *pointer)
{
  size_t i;
  json_t *e;
  bool found = false;

  json_array_foreach (errors, i, e)
  {
    const char *p = json_string_value (json_object_get (e, "pointer"));
    const char *m = json_string_value (json_object_get (e, "message"));

    ck_assert_msg (NULL != p && NULL != m && '\0' != m[0], "malformed error entry %s",
                   table_show (e));
    ck_assert_msg (2 == json_object_size (e), "malformed error entry %s", table_show (e));
    ck_assert_msg ('\0' == p[0] || '/' == p[0], "pointer not RFC 6901: %s", table_show (e));
    if (0 == strcmp (p, pointer))
      found = true;
  }
  return found;
}

/** Parse table policy @a text; it must be valid, without errors. */
static inline struct bw_policy *
table_policy_ok (const char *text)
{
  json_t *doc = table_load (text);
  json_t *errors = json_array ();
  struct bw_policy *p = bw_policy_parse (doc, "", errors);

  ck_assert_msg (NULL != p, "policy rejected: %s\n  errors: %s", text, table_show (errors));
  ck_assert_int_eq (json_array_size (errors), 0);
  json_decref (errors);
  json_decref (doc);
  return p;
}

#endif
