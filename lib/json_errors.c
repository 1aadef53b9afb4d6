/*
 * Validation error collection with RFC 6901 pointers.
 */
#include "config.h"
#include "lib/json_errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
bw_errors_init (struct bw_errors *e, json_t *array, const char *prefix)
{
  e->array = array;
  e->prefix = (NULL != prefix) ? prefix : "";
  e->added = 0;
  e->failed = false;
}

void
bw_errors_add (struct bw_errors *e, const char *message, const char *fmt, ...)
{
  char rel[BW_POINTER_MAX];
  char ptr[BW_POINTER_MAX];
  va_list ap;

  e->failed = true;
  if (e->added > BW_ERRORS_MAX)
    return;
  if (e->added == BW_ERRORS_MAX)
    {
      /* Enough to fix for one round trip; the rest is noise a client can't use yet. */
      message = "further errors were not reported";
      rel[0] = '\0';
    }
  else
    {
      va_start (ap, fmt);
      vsnprintf (rel, sizeof (rel), fmt, ap);
      va_end (ap);
    }
  snprintf (ptr, sizeof (ptr), "%s%s", e->prefix, rel);
  e->added++;
  json_array_append_new (e->array, json_pack ("{s:s, s:s}", "pointer", ptr, "message", message));
}

void
bw_pointer_escape (const char *key, char *out, size_t outlen)
{
  size_t o = 0;
  if (0 == outlen)
    return;
  for (const char *k = key; '\0' != *k && o + 3 < outlen; k++)
    {
      if ('~' == *k || '/' == *k)
        {
          out[o++] = '~';
          out[o++] = ('~' == *k) ? '0' : '1';
        }
      else
        out[o++] = *k;
    }
  out[o] = '\0';
}

bool
bw_errors_check_keys (struct bw_errors *e, const json_t *obj, const char *const *allowed,
                      const char *base)
{
  const char *key;
  json_t *value;
  bool ok = true;

  json_object_foreach ((json_t *) obj, key, value)
  {
    bool known = false;
    for (size_t i = 0; NULL != allowed[i] && !known; i++)
      known = (0 == strcmp (key, allowed[i]));
    if (!known)
      {
        char esc[BW_POINTER_MAX / 2];
        bw_pointer_escape (key, esc, sizeof (esc));
        bw_errors_add (e, "unknown field", "%s/%s", base, esc);
        ok = false;
      }
  }
  return ok;
}

const char *
bw_errors_string (struct bw_errors *e, const json_t *obj, const char *key, bool required,
                  size_t max, const char *base)
{
  const json_t *v = json_object_get (obj, key);
  char msg[64];

  if (NULL == v)
    {
      if (required)
        bw_errors_add (e, "is required", "%s/%s", base, key);
      return NULL;
    }
  if (!json_is_string (v))
    {
      bw_errors_add (e, "must be a string", "%s/%s", base, key);
      return NULL;
    }
  size_t len = json_string_length (v);
  const char *s = json_string_value (v);
  if (strlen (s) != len)
    {
      bw_errors_add (e, "must not contain NUL characters", "%s/%s", base, key);
      return NULL;
    }
  if (0 == len)
    {
      bw_errors_add (e, "must not be empty", "%s/%s", base, key);
      return NULL;
    }
  if (len > max)
    {
      snprintf (msg, sizeof (msg), "must be at most %zu bytes", max);
      bw_errors_add (e, msg, "%s/%s", base, key);
      return NULL;
    }
  return s;
}

int
bw_errors_bool (struct bw_errors *e, const json_t *obj, const char *key, bool required,
                const char *base)
{
  const json_t *v = json_object_get (obj, key);
  if (NULL == v)
    {
      if (required)
        bw_errors_add (e, "is required", "%s/%s", base, key);
      return -1;
    }
  if (!json_is_boolean (v))
    {
      bw_errors_add (e, "must be a boolean", "%s/%s", base, key);
      return -1;
    }
  return json_is_true (v) ? 1 : 0;
}
