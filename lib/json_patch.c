/*
 * RFC 6902 diff (see lib/json_patch.h).  The path of the value being
 * compared is kept in one growable buffer: each level appends its token
 * and cuts it off again on return.
 */
#include "config.h"
#include "lib/json_patch.h"
#include "lib/json_errors.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Bytes of an array index token ("/" + SIZE_MAX in decimal) with its NUL. */
#define INDEX_TOKEN_SIZE 24

/** State of one diff. */
struct diff
{
  json_t *ops; /**< the patch being built, owned */
  char *path;  /**< JSON pointer of the current value, NUL-terminated, owned */
  size_t len;  /**< strlen (path) */
  size_t cap;  /**< bytes allocated at path */
  bool failed; /**< an allocation failed: the result is NULL */
};

/** Make room for @a more bytes plus a NUL after the current path.  @return false on failure. */
static bool
reserve (struct diff *d, size_t more)
{
  if (d->len + more + 1 <= d->cap)
    return true;
  size_t cap = d->cap;
  while (cap < d->len + more + 1)
    cap *= 2;
  char *p = realloc (d->path, cap);
  if (NULL == p)
    return false;
  d->path = p;
  d->cap = cap;
  return true;
}

/** Append "/" and the RFC 6901 escape of @a key.  @return false on allocation failure. */
static bool
push_key (struct diff *d, const char *key)
{
  /* every character may double ("~0", "~1"); room for the '/' and a spare */
  size_t room = 2 * strlen (key) + 2;
  if (!reserve (d, 1 + room))
    return false;
  d->path[d->len++] = '/';
  bw_pointer_escape (key, d->path + d->len, room + 1);
  d->len += strlen (d->path + d->len);
  return true;
}

/** Append "/<index>".  @return false on allocation failure. */
static bool
push_index (struct diff *d, size_t index)
{
  char tok[INDEX_TOKEN_SIZE];
  int n = snprintf (tok, sizeof (tok), "/%zu", index);
  if (!reserve (d, (size_t) n))
    return false;
  memcpy (d->path + d->len, tok, (size_t) n + 1);
  d->len += (size_t) n;
  return true;
}

/** Cut the path back to @a len bytes. */
static void
pop (struct diff *d, size_t len)
{
  d->len = len;
  d->path[len] = '\0';
}

/** Append operation @a op at the current path, with a copy of @a value unless NULL. */
static void
emit (struct diff *d, const char *op, const json_t *value)
{
  json_t *o = json_pack ("{s:s, s:s}", "op", op, "path", d->path);
  if (NULL == o)
    {
      d->failed = true;
      return;
    }
  if (NULL != value && 0 != json_object_set_new (o, "value", json_deep_copy (value)))
    {
      json_decref (o);
      d->failed = true;
      return;
    }
  if (0 != json_array_append_new (d->ops, o))
    d->failed = true;
}

static int
cmp_keys (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/**
 * The keys of object @a o in byte order.  @return a malloc'd array of
 * json_object_size (@a o) borrowed keys (NULL for an empty object), or
 * NULL with *failed set.
 */
static const char **
sorted_keys (const json_t *o, bool *failed)
{
  size_t n = json_object_size (o);
  if (0 == n)
    return NULL;
  const char **keys = malloc (n * sizeof (*keys));
  if (NULL == keys)
    {
      *failed = true;
      return NULL;
    }
  size_t i = 0;
  /* jansson's iterators take a non-const object; iterating changes nothing */
  json_t *obj = (json_t *) o;
  for (void *it = json_object_iter (obj); NULL != it; it = json_object_iter_next (obj, it))
    keys[i++] = json_object_iter_key (it);
  qsort (keys, n, sizeof (*keys), cmp_keys);
  return keys;
}

static void diff_value (struct diff *d, const json_t *from, const json_t *to);

static void
diff_object (struct diff *d, const json_t *from, const json_t *to)
{
  size_t base = d->len;
  size_t nf = json_object_size (from);
  size_t nt = json_object_size (to);
  const char **fk = sorted_keys (from, &d->failed);
  const char **tk = sorted_keys (to, &d->failed);
  for (size_t i = 0; !d->failed && i < nf; i++)
    {
      if (!push_key (d, fk[i]))
        {
          d->failed = true;
          break;
        }
      const json_t *t = json_object_get (to, fk[i]);
      if (NULL == t)
        emit (d, "remove", NULL);
      else
        diff_value (d, json_object_get (from, fk[i]), t);
      pop (d, base);
    }
  for (size_t i = 0; !d->failed && i < nt; i++)
    {
      if (NULL != json_object_get (from, tk[i]))
        continue;
      if (!push_key (d, tk[i]))
        {
          d->failed = true;
          break;
        }
      emit (d, "add", json_object_get (to, tk[i]));
      pop (d, base);
    }
  free (fk);
  free (tk);
}

static void
diff_array (struct diff *d, const json_t *from, const json_t *to)
{
  size_t base = d->len;
  size_t nf = json_array_size (from);
  size_t nt = json_array_size (to);
  size_t common = (nf < nt) ? nf : nt;
  for (size_t i = 0; !d->failed && i < common; i++)
    {
      if (!push_index (d, i))
        {
          d->failed = true;
          break;
        }
      diff_value (d, json_array_get (from, i), json_array_get (to, i));
      pop (d, base);
    }
  for (size_t i = common; !d->failed && i < nt; i++)
    {
      if (!push_index (d, i))
        {
          d->failed = true;
          break;
        }
      emit (d, "add", json_array_get (to, i));
      pop (d, base);
    }
  for (size_t i = nf; !d->failed && i > common; i--)
    {
      if (!push_index (d, i - 1))
        {
          d->failed = true;
          break;
        }
      emit (d, "remove", NULL);
      pop (d, base);
    }
}

static void
diff_value (struct diff *d, const json_t *from, const json_t *to)
{
  if (json_equal (from, to))
    return;
  if (json_is_object (from) && json_is_object (to))
    diff_object (d, from, to);
  else if (json_is_array (from) && json_is_array (to))
    diff_array (d, from, to);
  else
    emit (d, "replace", to);
}

json_t *
bw_json_patch_diff (const json_t *from, const json_t *to)
{
  struct diff d = { .ops = json_array (), .cap = 64 };
  d.path = malloc (d.cap);
  if (NULL == d.ops || NULL == d.path)
    {
      json_decref (d.ops);
      free (d.path);
      return NULL;
    }
  d.path[0] = '\0';
  diff_value (&d, from, to);
  free (d.path);
  if (d.failed)
    {
      json_decref (d.ops);
      return NULL;
    }
  return d.ops;
}
