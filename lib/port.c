/*
 * Port numbers and ranges.
 */
#include "config.h"
#include "lib/port.h"

/* One port number in [s, s+len): digits only, no leading zero, 1..65535. */
static const char *
number (const char *s, size_t len, uint16_t *out)
{
  uint32_t v = 0;
  if (0 == len)
    return "a port must be a number";
  if (len > 1 && '0' == s[0])
    return "a port must not have leading zeros";
  if (len > 5)
    return "a port must be 1..65535";
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return "a port must be a number or a range like 8000-8999";
      v = v * 10 + (uint32_t) (s[i] - '0');
    }
  if (v < 1 || v > BW_PORT_MAX)
    return "a port must be 1..65535";
  *out = (uint16_t) v;
  return NULL;
}

const char *
bw_port_range_parse (const char *s, size_t len, struct bw_port_range *out)
{
  size_t dash = len;
  const char *err;
  for (size_t i = 0; i < len; i++)
    if ('-' == s[i])
      {
        dash = i;
        break;
      }
  if (NULL != (err = number (s, dash, &out->lo)))
    return err;
  if (dash == len)
    {
      out->hi = out->lo;
      return NULL;
    }
  if (NULL != (err = number (s + dash + 1, len - dash - 1, &out->hi)))
    return err;
  if (out->lo > out->hi)
    return "a port range must not end below its start";
  return NULL;
}
