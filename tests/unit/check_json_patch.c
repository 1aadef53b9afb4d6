/*
 * Unit tests of lib/json_patch.h: exact patches for the documented cases
 * (objects, arrays growing and shrinking at the tail, type changes, the
 * root, RFC 6901 escaping), and for many generated document pairs that
 * applying the patch (a small RFC 6902 applier below) turns the first
 * document into the second.
 */
#include "config.h"
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/json_patch.h"

#define ARRAY_LEN(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- an RFC 6902 applier for add, remove and replace ---- */

/* Unescape RFC 6901 token [s, s+n) into @a out (n+1 bytes).  false on a bad escape. */
static bool
unescape (const char *s, size_t n, char *out)
{
  size_t o = 0;
  for (size_t i = 0; i < n; i++)
    {
      if ('~' != s[i])
        {
          out[o++] = s[i];
          continue;
        }
      if (i + 1 >= n || ('0' != s[i + 1] && '1' != s[i + 1]))
        return false;
      out[o++] = ('0' == s[i + 1]) ? '~' : '/';
      i++;
    }
  out[o] = '\0';
  return true;
}

/* An array index token: digits without a leading zero. */
static bool
index_of (const char *tok, size_t *out)
{
  if ('\0' == tok[0] || ('0' == tok[0] && '\0' != tok[1]))
    return false;
  size_t v = 0;
  for (const char *p = tok; '\0' != *p; p++)
    {
      if (*p < '0' || *p > '9')
        return false;
      v = v * 10 + (size_t) (*p - '0');
    }
  *out = v;
  return true;
}

/*
 * Apply one operation to *@a doc (owned; may be replaced).
 * @return true on success.
 */
static bool
apply_op (json_t **doc, const json_t *op)
{
  const char *name = json_string_value (json_object_get (op, "op"));
  const char *path = json_string_value (json_object_get (op, "path"));
  json_t *value = json_object_get (op, "value");
  if (NULL == name || NULL == path)
    return false;
  if ('\0' == path[0])
    {
      if (0 != strcmp (name, "replace") || NULL == value)
        return false;
      json_decref (*doc);
      *doc = json_deep_copy (value);
      return true;
    }
  if ('/' != path[0])
    return false;
  /* walk to the parent of the last token */
  json_t *parent = *doc;
  const char *p = path + 1;
  char *tok = malloc (strlen (path) + 1);
  ck_assert_ptr_nonnull (tok);
  bool ok = false;
  for (;;)
    {
      const char *slash = strchr (p, '/');
      size_t n = (NULL != slash) ? (size_t) (slash - p) : strlen (p);
      if (!unescape (p, n, tok))
        goto done;
      if (NULL == slash)
        break;
      size_t i;
      if (json_is_object (parent))
        parent = json_object_get (parent, tok);
      else if (json_is_array (parent) && index_of (tok, &i))
        parent = json_array_get (parent, i);
      else
        goto done;
      if (NULL == parent)
        goto done;
      p = slash + 1;
    }
  if (json_is_object (parent))
    {
      bool exists = NULL != json_object_get (parent, tok);
      if (0 == strcmp (name, "add") && NULL != value)
        ok = 0 == json_object_set_new (parent, tok, json_deep_copy (value));
      else if (0 == strcmp (name, "replace") && NULL != value && exists)
        ok = 0 == json_object_set_new (parent, tok, json_deep_copy (value));
      else if (0 == strcmp (name, "remove") && NULL == value && exists)
        ok = 0 == json_object_del (parent, tok);
    }
  else if (json_is_array (parent))
    {
      size_t i;
      size_t size = json_array_size (parent);
      bool dash = 0 == strcmp (tok, "-");
      if (!dash && !index_of (tok, &i))
        goto done;
      if (0 == strcmp (name, "add") && NULL != value)
        {
          if (dash)
            i = size;
          ok = i <= size && 0 == json_array_insert_new (parent, i, json_deep_copy (value));
        }
      else if (dash)
        ok = false;
      else if (0 == strcmp (name, "replace") && NULL != value)
        ok = i < size && 0 == json_array_set_new (parent, i, json_deep_copy (value));
      else if (0 == strcmp (name, "remove") && NULL == value)
        ok = i < size && 0 == json_array_remove (parent, i);
    }
done:
  free (tok);
  return ok;
}

/* A copy of @a doc with @a patch applied, or NULL if an operation fails. */
static json_t *
apply_patch (const json_t *doc, const json_t *patch)
{
  json_t *out = json_deep_copy (doc);
  for (size_t i = 0; i < json_array_size (patch); i++)
    if (!apply_op (&out, json_array_get (patch, i)))
      {
        json_decref (out);
        return NULL;
      }
  return out;
}

static json_t *
parse (const char *text)
{
  json_error_t err;
  json_t *v = json_loads (text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
  ck_assert_msg (NULL != v, "bad test JSON %s: %s", text, err.text);
  return v;
}

/* ---- exact patches ---- */

static const struct
{
  const char *from;
  const char *to;
  const char *patch;
} cases[] = {
  /* equal values, also with keys in another order */
  { "{\"a\":1,\"b\":[1,2]}", "{\"b\":[1,2],\"a\":1}", "[]" },
  { "null", "null", "[]" },
  /* the root */
  { "1", "2", "[{\"op\":\"replace\",\"path\":\"\",\"value\":2}]" },
  { "{\"a\":1}", "[1]", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]" },
  /* members: remove and recurse in key order, then add in key order */
  { "{\"b\":1,\"a\":1,\"c\":{\"x\":true}}", "{\"d\":4,\"c\":{\"x\":false},\"a\":2,\"e\":null}",
    "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":2},"
    "{\"op\":\"remove\",\"path\":\"/b\"},"
    "{\"op\":\"replace\",\"path\":\"/c/x\",\"value\":false},"
    "{\"op\":\"add\",\"path\":\"/d\",\"value\":4},"
    "{\"op\":\"add\",\"path\":\"/e\",\"value\":null}]" },
  /* RFC 6901 escaping of '~' and '/' (and nothing else) */
  { "{\"a/b\":1,\"m~n\":{\"~/\":1},\"c%d\":1}", "{\"a/b\":2,\"m~n\":{\"~/\":2},\"c%d\":2}",
    "[{\"op\":\"replace\",\"path\":\"/a~1b\",\"value\":2},"
    "{\"op\":\"replace\",\"path\":\"/c%d\",\"value\":2},"
    "{\"op\":\"replace\",\"path\":\"/m~0n/~0~1\",\"value\":2}]" },
  { "{\"\":1}", "{\"\":2}", "[{\"op\":\"replace\",\"path\":\"/\",\"value\":2}]" },
  /* arrays grow at the tail, ascending */
  { "[1]", "[1,2,3]",
    "[{\"op\":\"add\",\"path\":\"/1\",\"value\":2},{\"op\":\"add\",\"path\":\"/2\",\"value\":3}]" },
  /* and shrink from the tail, highest index first */
  { "[1,2,3,4]", "[1,5]",
    "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":5},"
    "{\"op\":\"remove\",\"path\":\"/3\"},{\"op\":\"remove\",\"path\":\"/2\"}]" },
  /* an insertion at the front is replacements plus an add (no moves) */
  { "[\"b\",\"c\"]", "[\"a\",\"b\",\"c\"]",
    "[{\"op\":\"replace\",\"path\":\"/0\",\"value\":\"a\"},"
    "{\"op\":\"replace\",\"path\":\"/1\",\"value\":\"b\"},"
    "{\"op\":\"add\",\"path\":\"/2\",\"value\":\"c\"}]" },
  /* elements are compared recursively */
  { "[{\"id\":\"x\",\"ports\":[443]}]", "[{\"id\":\"x\",\"ports\":[443,8443]}]",
    "[{\"op\":\"add\",\"path\":\"/0/ports/1\",\"value\":8443}]" },
  /* type changes below the root */
  { "{\"a\":[1],\"b\":\"1\",\"c\":1}", "{\"a\":{\"0\":1},\"b\":1,\"c\":1.5}",
    "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":{\"0\":1}},"
    "{\"op\":\"replace\",\"path\":\"/b\",\"value\":1},"
    "{\"op\":\"replace\",\"path\":\"/c\",\"value\":1.5}]" },
  /* a policy change: a rule added, a host changed, the mode switched */
  { "{\"schema\":\"bulwark.policy/v1\",\"name\":\"base\",\"mode\":\"enforce\","
    "\"network\":[{\"id\":\"npm\",\"decision\":\"allow\",\"hosts\":[\"registry.npmjs.org\"]}]}",
    "{\"schema\":\"bulwark.policy/v1\",\"name\":\"base\",\"mode\":\"audit\","
    "\"network\":[{\"id\":\"npm\",\"decision\":\"allow\",\"hosts\":[\"**.npmjs.org\"]},"
    "{\"id\":\"meta\",\"decision\":\"deny\",\"cidrs\":[\"169.254.0.0/16\"]}]}",
    "[{\"op\":\"replace\",\"path\":\"/mode\",\"value\":\"audit\"},"
    "{\"op\":\"replace\",\"path\":\"/network/0/hosts/0\",\"value\":\"**.npmjs.org\"},"
    "{\"op\":\"add\",\"path\":\"/network/1\",\"value\":"
    "{\"id\":\"meta\",\"decision\":\"deny\",\"cidrs\":[\"169.254.0.0/16\"]}}]" },
};

START_TEST (test_exact)
{
  json_t *from = parse (cases[_i].from);
  json_t *to = parse (cases[_i].to);
  json_t *want = parse (cases[_i].patch);
  json_t *got = bw_json_patch_diff (from, to);
  ck_assert_ptr_nonnull (got);
  char *g = json_dumps (got, JSON_COMPACT | JSON_ENCODE_ANY);
  ck_assert_msg (json_equal (got, want), "case %d: got %s", _i, g);
  free (g);
  json_t *applied = apply_patch (from, got);
  ck_assert_msg (NULL != applied && json_equal (applied, to), "case %d: applying fails", _i);
  json_decref (applied);
  json_decref (from);
  json_decref (to);
  json_decref (want);
  json_decref (got);
}
END_TEST

START_TEST (test_values_are_copies)
{
  json_t *from = parse ("{}");
  json_t *to = parse ("{\"a\":{\"b\":[1]}}");
  json_t *patch = bw_json_patch_diff (from, to);
  ck_assert_ptr_nonnull (patch);
  /* changing the patch does not change the document it came from */
  json_t *v = json_object_get (json_array_get (patch, 0), "value");
  json_object_set_new (v, "c", json_true ());
  ck_assert_ptr_null (json_object_get (json_object_get (to, "a"), "c"));
  json_decref (patch);
  json_decref (from);
  json_decref (to);
}
END_TEST

/* ---- generated pairs ---- */

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t
next_rand (uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

/* A small random value; containers reuse few keys so that pairs overlap. */
static json_t *
random_value (uint64_t *s, int depth)
{
  static const char *const keys[] = { "a", "b", "c/d", "e~f", "", "~1" };
  unsigned int kind = (unsigned int) (next_rand (s) % (depth > 3 ? 4 : 6));
  switch (kind)
    {
    case 0:
      return json_integer ((json_int_t) (next_rand (s) % 3));
    case 1:
      return json_string ((next_rand (s) & 1) ? "x" : "y");
    case 2:
      return json_null ();
    case 3:
      return json_boolean (next_rand (s) & 1);
    case 4:
      {
        json_t *a = json_array ();
        size_t n = (size_t) (next_rand (s) % 5);
        for (size_t i = 0; i < n; i++)
          json_array_append_new (a, random_value (s, depth + 1));
        return a;
      }
    default:
      {
        json_t *o = json_object ();
        size_t n = (size_t) (next_rand (s) % 5);
        for (size_t i = 0; i < n; i++)
          json_object_set_new (o, keys[next_rand (s) % ARRAY_LEN (keys)],
                               random_value (s, depth + 1));
        return o;
      }
    }
}

/* @a v with a few random changes (in place, may replace it). */
static json_t *
mutate (json_t *v, uint64_t *s, int depth)
{
  if (0 == next_rand (s) % 5)
    {
      json_decref (v);
      return random_value (s, depth);
    }
  if (json_is_array (v))
    {
      size_t n = json_array_size (v);
      for (size_t i = 0; i < n; i++)
        json_array_set_new (v, i, mutate (json_incref (json_array_get (v, i)), s, depth + 1));
      if (n > 0 && 0 == next_rand (s) % 3)
        json_array_remove (v, (size_t) (next_rand (s) % n));
      if (0 == next_rand (s) % 3)
        json_array_append_new (v, random_value (s, depth + 1));
    }
  else if (json_is_object (v))
    {
      void *it = json_object_iter (v);
      while (NULL != it)
        {
          /* the next position is taken before the current member may go */
          void *next = json_object_iter_next (v, it);
          const char *key = json_object_iter_key (it);
          if (0 == next_rand (s) % 4)
            json_object_del (v, key);
          else
            json_object_iter_set_new (
              v, it, mutate (json_incref (json_object_iter_value (it)), s, depth + 1));
          it = next;
        }
      if (0 == next_rand (s) % 3)
        json_object_set_new (v, "new/key~", random_value (s, depth + 1));
    }
  return v;
}

START_TEST (test_generated_pairs_apply_back)
{
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  for (int n = 0; n < 2000; n++)
    {
      json_t *from = random_value (&seed, 0);
      json_t *to = mutate (json_deep_copy (from), &seed, 0);
      json_t *patch = bw_json_patch_diff (from, to);
      ck_assert_ptr_nonnull (patch);
      json_t *applied = apply_patch (from, patch);
      if (NULL == applied || !json_equal (applied, to))
        {
          char *f = json_dumps (from, JSON_COMPACT | JSON_ENCODE_ANY);
          char *t = json_dumps (to, JSON_COMPACT | JSON_ENCODE_ANY);
          char *p = json_dumps (patch, JSON_COMPACT);
          ck_abort_msg ("pair %d: %s -> %s, patch %s does not apply back", n, f, t, p);
        }
      /* the patch of a value to itself is empty */
      json_t *none = bw_json_patch_diff (to, to);
      ck_assert_uint_eq (json_array_size (none), 0);
      json_decref (none);
      json_decref (applied);
      json_decref (patch);
      json_decref (from);
      json_decref (to);
    }
}
END_TEST

static Suite *
json_patch_suite (void)
{
  Suite *s = suite_create ("json_patch");
  TCase *tc = tcase_create ("diff");
  tcase_add_loop_test (tc, test_exact, 0, (int) ARRAY_LEN (cases));
  tcase_add_test (tc, test_values_are_copies);
  tcase_add_test (tc, test_generated_pairs_apply_back);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (json_patch_suite ());
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return (0 == failed) ? EXIT_SUCCESS : EXIT_FAILURE;
}
