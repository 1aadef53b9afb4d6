/*
 * Host name normalization and host patterns.
 */
#include "config.h"
#include "lib/host.h"

#include <string.h>

/* The last label of @a s (len bytes, no trailing dot) is numeric: all digits,
   or "0x" followed by hex digits (WHATWG URL "ends in a number"). */
static bool
ends_in_number (const char *s, size_t len)
{
  size_t start = len;
  while (start > 0 && '.' != s[start - 1])
    start--;
  const char *l = s + start;
  size_t n = len - start;
  if (0 == n)
    return false;
  bool digits = true;
  for (size_t i = 0; i < n; i++)
    digits = digits && l[i] >= '0' && l[i] <= '9';
  if (digits)
    return true;
  if (n < 2 || '0' != l[0] || ('x' != l[1] && 'X' != l[1]))
    return false;
  for (size_t i = 2; i < n; i++)
    {
      char c = l[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
        return false;
    }
  return true;
}

/* Normalize a host name of len bytes at s into buf; sets *host.  The caller
   has already taken out wildcards, ports and IP literals. */
static const char *
normalize_name (const char *s, size_t len, char *buf, struct bw_host *host)
{
  if (0 == len)
    return "a host name must not be empty";
  if (NULL != memchr (s, '@', len))
    return "userinfo is not allowed in a host";
  if ('.' == s[len - 1])
    len--;
  if (0 == len)
    return "a host name must not be empty";
  if (len > BW_HOST_MAX)
    return "a host name must be at most 253 bytes";
  size_t label_start = 0;
  uint16_t labels = 0;
  for (size_t i = 0; i <= len; i++)
    {
      if (i == len || '.' == s[i])
        {
          size_t llen = i - label_start;
          if (0 == llen)
            return "a host name must not have empty labels";
          if (llen > BW_HOST_LABEL_MAX)
            return "a host label must be at most 63 bytes";
          if ('-' == buf[label_start] || '-' == buf[i - 1])
            return "a host label must not start or end with '-'";
          labels++;
          label_start = i + 1;
          if (i < len)
            buf[i] = '.';
          continue;
        }
      unsigned char c = (unsigned char) s[i];
      if (c >= 0x80)
        return "internationalized names must be given as A-labels (xn--...)";
      if (c >= 'A' && c <= 'Z')
        c = (unsigned char) (c - 'A' + 'a');
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || '-' == c || '_' == c))
        return "a host name may only contain letters, digits, '-', '_' and '.'";
      buf[i] = (char) c;
    }
  buf[len] = '\0';
  host->name = buf;
  host->len = (uint16_t) len;
  host->labels = labels;
  return NULL;
}

enum bw_host_parse
bw_host_parse (const char *s, size_t len, char *buf, struct bw_host *host, struct bw_ip *ip,
               const char **err)
{
  if (len > 0 && '[' == s[0])
    {
      if (len < 2 || ']' != s[len - 1] || NULL == memchr (s, ':', len))
        {
          *err = "brackets are only allowed around an IPv6 address";
          return BW_HOST_PARSED_INVALID;
        }
      s++;
      len -= 2;
    }
  if (NULL != memchr (s, '@', len))
    {
      *err = "userinfo is not allowed in a host";
      return BW_HOST_PARSED_INVALID;
    }
  if (NULL != memchr (s, ':', len))
    {
      *err = bw_ip_parse (s, len, ip);
      if (NULL != *err)
        {
          *err = "not a host name or IPv6 address (a port belongs in \"port\")";
          return BW_HOST_PARSED_INVALID;
        }
      return BW_HOST_PARSED_IP;
    }
  size_t nlen = (len > 0 && '.' == s[len - 1]) ? len - 1 : len;
  if (ends_in_number (s, nlen))
    {
      memcpy (ip->b, (const uint8_t[12]){ [10] = 0xff, [11] = 0xff }, 12);
      if (!bw_ipv4_parse (s, nlen, ip->b + 12))
        {
          *err = "not a canonical IPv4 address (a dotted quad without leading zeros)";
          return BW_HOST_PARSED_INVALID;
        }
      return BW_HOST_PARSED_IP;
    }
  *err = normalize_name (s, len, buf, host);
  return (NULL == *err) ? BW_HOST_PARSED_NAME : BW_HOST_PARSED_INVALID;
}

const char *
bw_host_pattern_parse (const char *s, size_t len, bool port_allowed, char *buf,
                       struct bw_host_pattern *out)
{
  const char *err;
  struct bw_host h;

  memset (out, 0, sizeof (*out));
  if (len > BW_HOST_PATTERN_MAX)
    return "a host pattern is too long";
  if (NULL != memchr (s, '@', len))
    return "userinfo is not allowed in a host";
  if (len > 0 && '[' == s[0])
    return "IP addresses belong in \"cidrs\"";
  const char *colon = memchr (s, ':', len);
  if (NULL != colon)
    {
      if (!port_allowed)
        return "a port is not allowed here";
      if (NULL != memchr (colon + 1, ':', len - (size_t) (colon - s) - 1))
        return "IP addresses belong in \"cidrs\"";
      err = bw_port_range_parse (colon + 1, len - (size_t) (colon - s) - 1, &out->port);
      if (NULL != err)
        return err;
      out->has_port = true;
      len = (size_t) (colon - s);
    }
  out->kind = BW_HOST_EXACT;
  if (1 == len && '*' == s[0])
    out->kind = BW_HOST_ONE;
  else if (2 == len && '*' == s[0] && '*' == s[1])
    out->kind = BW_HOST_MANY;
  else if (len >= 2 && '*' == s[0] && '.' == s[1])
    out->kind = BW_HOST_ONE;
  else if (len >= 3 && '*' == s[0] && '*' == s[1] && '.' == s[2])
    out->kind = BW_HOST_MANY;
  size_t skip = (BW_HOST_EXACT == out->kind) ? 0 : (size_t) out->kind;
  bool dotted = BW_HOST_EXACT != out->kind && len > skip;
  if (dotted)
    skip++; /* the '.' after the wildcard */
  s += skip;
  len -= skip;
  /* "*." and "**." are not the bare wildcards: a dot promises a domain. */
  if (dotted && (0 == len || (1 == len && '.' == s[0])))
    return "a wildcard label must be followed by a domain (\"*.example.com\")";
  if (NULL != memchr (s, '*', len))
    return "a wildcard may only be the whole first label (\"*.\" or \"**.\")";
  if (0 == len && BW_HOST_EXACT != out->kind)
    {
      buf[0] = '\0';
      out->suffix = buf;
      return NULL;
    }
  if (0 == len)
    return "a host name must not be empty";
  if ('.' == s[0])
    return "a host name must not have empty labels";
  size_t nlen = ('.' == s[len - 1]) ? len - 1 : len;
  if (ends_in_number (s, nlen))
    return "IP addresses belong in \"cidrs\"";
  if (NULL != (err = normalize_name (s, len, buf, &h)))
    return err;
  out->suffix = h.name;
  out->len = h.len;
  out->labels = h.labels;
  return NULL;
}

bool
bw_host_match (const struct bw_host_pattern *p, const struct bw_host *h)
{
  switch (p->kind)
    {
    case BW_HOST_EXACT:
      return h->len == p->len && 0 == memcmp (h->name, p->suffix, p->len);
    case BW_HOST_ONE:
      if (h->labels != p->labels + 1)
        return false;
      break;
    case BW_HOST_MANY:
      if (h->labels <= p->labels)
        return false;
      break;
    }
  if (0 == p->len)
    return true;
  return h->len > p->len && '.' == h->name[h->len - p->len - 1]
         && 0 == memcmp (h->name + h->len - p->len, p->suffix, p->len);
}
