/**
 * @file lib/port.h
 * TCP/UDP ports and port ranges of network rules (DESIGN §4 "Ports"):
 * a number 1..65535, or a range "8000-8999" with both ends in that interval
 * and the first not above the second.  Decimal without sign or leading zeros.
 * Internal to lib/.
 */
#ifndef BW_LIB_PORT_H
#define BW_LIB_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Highest port number. */
#define BW_PORT_MAX 65535

/** An inclusive range of ports; a single port has lo == hi. */
struct bw_port_range
{
  uint16_t lo;
  uint16_t hi;
};

/**
 * Parse @a len bytes at @a s as "N" or "N-M".
 * @return NULL and sets *out, or a static error message.
 */
const char *bw_port_range_parse (const char *s, size_t len, struct bw_port_range *out);

/** Whether @a port is in one of the @a n ranges @a r; true when @a n is 0 (any port). */
static inline bool
bw_port_in (const struct bw_port_range *r, size_t n, uint16_t port)
{
  if (0 == n)
    return true;
  for (size_t i = 0; i < n; i++)
    if (port >= r[i].lo && port <= r[i].hi)
      return true;
  return false;
}

#endif
