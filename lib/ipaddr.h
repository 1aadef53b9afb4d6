/**
 * @file lib/ipaddr.h
 * IP addresses and CIDR blocks of network rules (DESIGN §4 "IP").
 *
 * Every address is held as 16 bytes: an IPv4 address as its IPv4-mapped
 * IPv6 form ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), so an IPv4-mapped IPv6
 * address is matched exactly as the IPv4 address it maps, and an IPv4 CIDR
 * a.b.c.d/n is the block ::ffff:a.b.c.d/(96+n).  The two families stay
 * apart: an IPv6 block contains IPv6 addresses only, so "::/0" is every
 * IPv6 address and no IPv4 one ("0.0.0.0/0" is those) — except a block
 * inside ::ffff:0:0/96, which is an IPv4 block written in IPv6 notation
 * ("::ffff:10.0.0.0/104" is 10.0.0.0/8).
 *
 * Text forms accepted: IPv4 only as a canonical dotted quad (four decimal
 * parts 0..255 without leading zeros — no octal, hex, short or integer
 * forms); IPv6 as RFC 4291 §2.2 text (any case, "::" compression, embedded
 * dotted quad), without zone identifiers or brackets.  Internal to lib/.
 */
#ifndef BW_LIB_IPADDR_H
#define BW_LIB_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest address text accepted, in bytes (INET6_ADDRSTRLEN without NUL). */
#define BW_IP_TEXT_MAX 45
/** Room for a CIDR's text form, NUL included. */
#define BW_CIDR_TEXT_SIZE 64

/** An IP address as 16 bytes (IPv4 mapped into IPv6). */
struct bw_ip
{
  uint8_t b[16];
};

/** A CIDR block: network address (host bits zero) and prefix length 0..128 over the 16 bytes. */
struct bw_cidr
{
  uint8_t b[16];
  uint8_t bits;
  bool v4; /**< an IPv4 block (inside ::ffff:0:0/96); else it holds IPv6 addresses only */
};

/** Whether @a len bytes at @a s are a canonical dotted quad; sets @a out (4 bytes) when so. */
bool bw_ipv4_parse (const char *s, size_t len, uint8_t out[4]);

/**
 * Parse an IPv4 (canonical dotted quad) or IPv6 address.
 * @return NULL and sets *out, or a static error message.
 */
const char *bw_ip_parse (const char *s, size_t len, struct bw_ip *out);

/**
 * Parse "address/prefix" (prefix decimal without leading zeros, 0..32 for
 * IPv4, 0..128 for IPv6) or a bare address (a single-address block).  Host
 * bits set are an error whose message names the block meant.
 * @param msg buffer of BW_CIDR_TEXT_SIZE + 64 bytes for messages built here
 * @return NULL and sets *out, or the error message (static or in @a msg).
 */
const char *bw_cidr_parse (const char *s, size_t len, struct bw_cidr *out, char *msg);

/** Room @a msg of bw_cidr_parse needs. */
#define BW_CIDR_MSG_SIZE (BW_CIDR_TEXT_SIZE + 64)

/** Whether @a ip lies in @a c. */
bool bw_cidr_contains (const struct bw_cidr *c, const struct bw_ip *ip);

/** Whether @a ip is an IPv4 address (IPv4-mapped form). */
bool bw_ip_is_v4 (const struct bw_ip *ip);

/**
 * For a destination of a request: an IPv6 address that carries an IPv4
 * address a packet to it reaches — NAT64's well-known prefix 64:ff9b::/96
 * (RFC 6052 §2.1) or the deprecated IPv4-compatible ::a.b.c.d (RFC 4291
 * §2.5.5.1; not :: or ::1) — is turned into that IPv4 address in place, so
 * that IPv4 rules decide it.  Other addresses are left as they are.
 */
void bw_ip_unembed_v4 (struct bw_ip *ip);

#endif
