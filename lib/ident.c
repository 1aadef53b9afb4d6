/*
 * Identifier syntax.  A slug is never a UUID, so `{org}` can accept
 * either without ambiguity.
 */
#include "config.h"
#include "lib/ident.h"

#include <string.h>

bool
bw_slug_valid (const char *s)
{
  size_t len = strlen (s);
  if (len < 2 || len > BW_SLUG_MAX)
    return false;
  if (s[0] < 'a' || s[0] > 'z' || s[len - 1] == '-')
    return false;
  for (size_t i = 0; i < len; i++)
    {
      char c = s[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok || (c == '-' && s[i + 1] == '-'))
        return false;
    }
  /* A uuid that starts with a hex letter passes the rules above. */
  return !bw_uuid_valid (s);
}

bool
bw_uuid_valid (const char *s)
{
  if (strlen (s) != BW_UUID_LEN)
    return false;
  for (size_t i = 0; i < BW_UUID_LEN; i++)
    {
      char c = s[i];
      if (i == 8 || i == 13 || i == 18 || i == 23)
        {
          if (c != '-')
            return false;
        }
      else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
        return false;
    }
  return true;
}

void
bw_uuid_canonicalize (char *s)
{
  if (strlen (s) != BW_UUID_LEN)
    return;
  char lower[BW_UUID_LEN + 1];
  for (size_t i = 0; i <= BW_UUID_LEN; i++)
    lower[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char) (s[i] - 'A' + 'a') : s[i];
  if (bw_uuid_valid (lower))
    memcpy (s, lower, sizeof (lower));
}
