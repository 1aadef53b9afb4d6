/*
 * Email address syntax (see lib/email.h).
 */
#include "config.h"
#include "lib/email.h"
#include "lib/json_errors.h"
#include "lib/text.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/** RFC 5322 §3.2.3 atext: ALPHA / DIGIT and these specials. */
static bool
is_atext (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || (NULL != strchr ("!#$%&'*+-/=?^_`{|}~", c) && '\0' != c);
}

static bool
is_let_dig (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/** A dot-atom of @a len bytes: atext runs separated by single dots. */
static bool
local_valid (const char *s, size_t len)
{
  if (0 == len || len > BW_EMAIL_LOCAL_MAX || '.' == s[0] || '.' == s[len - 1])
    return false;
  for (size_t i = 0; i < len; i++)
    if ('.' == s[i] ? '.' == s[i + 1] : !is_atext (s[i]))
      return false;
  return true;
}

/** A host name of @a len bytes: two or more LDH labels, the last not all digits. */
static bool
domain_valid (const char *s, size_t len)
{
  size_t labels = 0;
  size_t start = 0;
  if (0 == len || len > BW_EMAIL_DOMAIN_MAX)
    return false;
  for (;;)
    {
      const char *dot = memchr (s + start, '.', len - start);
      size_t end = (NULL != dot) ? (size_t) (dot - s) : len;
      size_t n = end - start;
      bool digits_only = true;
      if (0 == n || n > BW_EMAIL_LABEL_MAX || '-' == s[start] || '-' == s[end - 1])
        return false;
      for (size_t i = start; i < end; i++)
        {
          if (!is_let_dig (s[i]) && '-' != s[i])
            return false;
          digits_only = digits_only && s[i] >= '0' && s[i] <= '9';
        }
      labels++;
      if (NULL == dot)
        return labels >= 2 && !digits_only;
      start = end + 1; /* a trailing dot leaves an empty last label: refused above */
    }
}

bool
bw_email_valid (const char *s)
{
  if (NULL == s)
    return false;
  size_t len = strnlen (s, BW_EMAIL_MAX + 1);
  if (len > BW_EMAIL_MAX)
    return false;
  const char *at = memchr (s, '@', len);
  if (NULL == at)
    return false;
  size_t local_len = (size_t) (at - s);
  return local_valid (s, local_len) && domain_valid (at + 1, len - local_len - 1);
}

/**
 * Check item @a i of a list, reporting each problem.  @return the address
 * when the item is valid, else NULL.
 */
static const char *
item_valid (struct bw_errors *e, const json_t *item, size_t i)
{
  static const char *const members[] = { "value", "type", "primary", NULL };
  char base[24];
  snprintf (base, sizeof (base), "/%zu", i);
  if (!json_is_object (item))
    {
      bw_errors_add (e, "must be an object {value, type?, primary?}", "%s", base);
      return NULL;
    }
  bool ok = bw_errors_check_keys (e, item, members, base);
  const char *value = bw_errors_string (e, item, "value", true, BW_EMAIL_MAX, base);
  if (NULL != value && !bw_email_valid (value))
    {
      bw_errors_add (e, "must be an email address local@domain (ASCII)", "%s/value", base);
      value = NULL;
    }
  if (NULL != json_object_get (item, "type"))
    {
      const char *type = bw_errors_string (e, item, "type", false, BW_EMAIL_TYPE_MAX, base);
      const char *bad
        = (NULL != type) ? bw_text_fault_message (bw_text_check (type, strlen (type))) : NULL;
      if (NULL != bad)
        bw_errors_add (e, bad, "%s/type", base);
      ok = ok && NULL != type && NULL == bad; /* a NULL type was reported by bw_errors_string */
    }
  const json_t *primary = json_object_get (item, "primary");
  if (NULL != primary && !json_is_boolean (primary))
    {
      bw_errors_add (e, "must be a boolean", "%s/primary", base);
      ok = false;
    }
  return ok ? value : NULL;
}

json_t *
bw_emails_normalize (const json_t *emails, const char *prefix, json_t *errors)
{
  struct bw_errors e;
  size_t primary_seen = 0;
  json_t *out;
  bw_errors_init (&e, errors, prefix);
  if (!json_is_array (emails))
    {
      bw_errors_add (&e, "must be an array", "%s", "");
      return NULL;
    }
  if (json_array_size (emails) > BW_EMAILS_MAX)
    {
      char msg[48];
      snprintf (msg, sizeof (msg), "must hold at most %d addresses", BW_EMAILS_MAX);
      bw_errors_add (&e, msg, "%s", "");
      return NULL;
    }
  out = json_array ();
  for (size_t i = 0; NULL != out && i < json_array_size (emails); i++)
    {
      const json_t *item = json_array_get (emails, i);
      const char *value = item_valid (&e, item, i);
      if (NULL == value)
        continue;
      for (size_t j = 0; j < json_array_size (out); j++)
        if (0
            == strcasecmp (value,
                           json_string_value (json_object_get (json_array_get (out, j), "value"))))
          {
            bw_errors_add (&e, "appears twice in the list", "/%zu/value", i);
            break;
          }
      bool primary = json_is_true (json_object_get (item, "primary"));
      if (primary && primary_seen++ > 0)
        bw_errors_add (&e, "only one address may be primary", "/%zu/primary", i);
      json_t *type = json_object_get (item, "type");
      json_t *norm = json_pack ("{s:s, s:b}", "value", value, "primary", primary);
      if (NULL == norm || (NULL != type && 0 != json_object_set (norm, "type", type))
          || 0 != json_array_append_new (out, norm))
        {
          json_decref (out);
          out = NULL;
        }
    }
  if (e.failed)
    {
      json_decref (out);
      out = NULL;
    }
  return out;
}
