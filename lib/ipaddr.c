/*
 * IP addresses and CIDR blocks, as 16 bytes.
 */
#include "config.h"
#include "lib/ipaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool
bw_ipv4_parse (const char *s, size_t len, uint8_t out[4])
{
  size_t i = 0;
  for (int part = 0; part < 4; part++)
    {
      if (part > 0)
        {
          if (i >= len || '.' != s[i])
            return false;
          i++;
        }
      size_t start = i;
      unsigned v = 0;
      while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
        v = v * 10 + (unsigned) (s[i++] - '0');
      size_t digits = i - start;
      if (0 == digits || v > 255 || (digits > 1 && '0' == s[start]))
        return false;
      out[part] = (uint8_t) v;
    }
  return i == len;
}

bool
bw_ip_is_v4 (const struct bw_ip *ip)
{
  return 0 == memcmp (ip->b, v4_mapped_prefix, sizeof (v4_mapped_prefix));
}

void
bw_ip_unembed_v4 (struct bw_ip *ip)
{
  static const uint8_t nat64_prefix[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
  static const uint8_t zero[12] = { 0 };
  bool nat64 = 0 == memcmp (ip->b, nat64_prefix, sizeof (nat64_prefix));
  bool compatible = 0 == memcmp (ip->b, zero, sizeof (zero))
                    && (0 != ip->b[12] || 0 != ip->b[13] || 0 != ip->b[14] || ip->b[15] > 1);
  if (nat64 || compatible)
    memcpy (ip->b, v4_mapped_prefix, sizeof (v4_mapped_prefix));
}

const char *
bw_ip_parse (const char *s, size_t len, struct bw_ip *out)
{
  char buf[BW_IP_TEXT_MAX + 1];

  if (NULL == memchr (s, ':', len))
    {
      memcpy (out->b, v4_mapped_prefix, sizeof (v4_mapped_prefix));
      if (!bw_ipv4_parse (s, len, out->b + 12))
        return "not an IP address (IPv4 must be a dotted quad without leading zeros)";
      return NULL;
    }
  if (len > BW_IP_TEXT_MAX)
    return "not an IPv6 address";
  memcpy (buf, s, len);
  buf[len] = '\0';
  if (1 != inet_pton (AF_INET6, buf, out->b))
    return "not an IPv6 address";
  return NULL;
}

const char *
bw_cidr_parse (const char *s, size_t len, struct bw_cidr *out, char *msg)
{
  const char *slash = memchr (s, '/', len);
  size_t alen = (NULL != slash) ? (size_t) (slash - s) : len;
  struct bw_ip ip;
  const char *err = bw_ip_parse (s, alen, &ip);
  if (NULL != err)
    return err;
  bool v4 = (NULL == memchr (s, ':', alen));
  unsigned max = v4 ? 32 : 128;
  unsigned bits = max;
  if (NULL != slash)
    {
      const char *p = slash + 1;
      size_t plen = len - alen - 1;
      if (0 == plen || plen > 3 || (plen > 1 && '0' == p[0]))
        return "a prefix length must be a number without leading zeros";
      bits = 0;
      for (size_t i = 0; i < plen; i++)
        {
          if (p[i] < '0' || p[i] > '9')
            return "a prefix length must be a number without leading zeros";
          bits = bits * 10 + (unsigned) (p[i] - '0');
        }
      if (bits > max)
        return v4 ? "an IPv4 prefix length must be 0..32" : "an IPv6 prefix length must be 0..128";
    }
  unsigned total = v4 ? 96 + bits : bits;
  bool host_bits = false;
  struct bw_cidr c = { .bits = (uint8_t) total };
  for (unsigned i = 0; i < 16; i++)
    {
      unsigned keep = (total >= 8 * (i + 1)) ? 8 : (total > 8 * i) ? total - 8 * i : 0;
      uint8_t mask = (uint8_t) (0xff00u >> keep);
      c.b[i] = ip.b[i] & mask;
      host_bits = host_bits || (c.b[i] != ip.b[i]);
    }
  if (host_bits)
    {
      char net[INET6_ADDRSTRLEN];
      if (v4)
        inet_ntop (AF_INET, c.b + 12, net, sizeof (net));
      else
        inet_ntop (AF_INET6, c.b, net, sizeof (net));
      snprintf (msg, BW_CIDR_MSG_SIZE, "host bits are set (the block is %s/%u)", net, bits);
      return msg;
    }
  c.v4 = total >= 96 && 0 == memcmp (c.b, v4_mapped_prefix, sizeof (v4_mapped_prefix));
  *out = c;
  return NULL;
}

bool
bw_cidr_contains (const struct bw_cidr *c, const struct bw_ip *ip)
{
  if (!c->v4 && bw_ip_is_v4 (ip))
    return false;
  unsigned full = c->bits / 8;
  unsigned rest = c->bits % 8;
  if (0 != memcmp (c->b, ip->b, full))
    return false;
  if (0 == rest)
    return true;
  uint8_t mask = (uint8_t) (0xff00u >> rest);
  return (ip->b[full] & mask) == c->b[full];
}
