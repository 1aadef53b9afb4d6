/**
 * @file lib/host.h
 * Host names and host patterns of network and credential rules
 * (DESIGN §4 "Hosts").
 *
 * A host name is normalized before anything compares it: ASCII letters
 * lowercased, one trailing dot removed; then it must be 1..253 bytes of
 * labels of 1..63 bytes of [a-z0-9_-], a label neither starting nor ending
 * with '-'.  Bytes outside ASCII are refused (internationalized names are
 * given as A-labels, "xn--..."), and so is a userinfo part ("user@host").
 * A name whose last label is numeric (all digits, or "0x" and hex digits)
 * is an IPv4 address to every resolver and URL parser: in a request it must
 * be a canonical dotted quad and is then matched as an IP address; in a
 * rule it is refused (addresses belong in "cidrs").
 *
 * Patterns: "example.com" is that name alone; "*.example.com" is exactly one
 * more label; "**.example.com" one or more more labels, never the apex;
 * "*" alone is any single-label name ("localhost"), "**" alone any name.
 * Wildcards appear nowhere else.  A pattern may end with ":port" or
 * ":lo-hi".  Patterns match host names, never IP addresses.
 * Internal to lib/.
 */
#ifndef BW_LIB_HOST_H
#define BW_LIB_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/ipaddr.h"
#include "lib/port.h"

/** Longest host name, in bytes, after normalization (RFC 1035 §2.3.4, no trailing dot). */
#define BW_HOST_MAX 253
/** Longest label, in bytes. */
#define BW_HOST_LABEL_MAX 63
/** Longest host pattern text accepted, in bytes ("**." + name + ".:65535-65535"). */
#define BW_HOST_PATTERN_MAX (BW_HOST_MAX + 20)

/** A normalized host name. */
struct bw_host
{
  const char *name; /**< lowercase, no trailing dot; borrowed */
  uint16_t len;     /**< bytes of name */
  uint16_t labels;  /**< labels in name */
};

/** What a host pattern's first label is. */
enum bw_host_kind
{
  BW_HOST_EXACT = 0, /**< "example.com" */
  BW_HOST_ONE,       /**< "*.example.com" or "*" */
  BW_HOST_MANY,      /**< "**.example.com" or "**" */
};

/** A compiled host pattern. */
struct bw_host_pattern
{
  const char
    *suffix;    /**< normalized name after the wildcard label ("" for a bare wildcard); borrowed */
  uint16_t len; /**< bytes of suffix */
  uint16_t labels; /**< labels in suffix (0 for a bare wildcard) */
  enum bw_host_kind kind;
  bool has_port;             /**< a ":port" part was given */
  struct bw_port_range port; /**< its ports, when has_port */
};

/** What a request's host text turned out to be. */
enum bw_host_parse
{
  BW_HOST_PARSED_INVALID = 0,
  BW_HOST_PARSED_NAME,
  BW_HOST_PARSED_IP,
};

/**
 * Normalize a request's host text of @a len bytes at @a s.  An IPv6
 * address may be given bare or in brackets ("[::1]"); an IPv4 address must
 * be a canonical dotted quad.
 * @param buf at least @a len + 1 bytes; receives the normalized name
 * @param host set (pointing into @a buf) when a name is returned
 * @param ip set when an address is returned
 * @param err set to a static message when invalid
 */
enum bw_host_parse bw_host_parse (const char *s, size_t len, char *buf, struct bw_host *host,
                                  struct bw_ip *ip, const char **err);

/**
 * Compile pattern text of @a len bytes at @a s.
 * @param port_allowed whether a ":port" part may be given
 * @param buf at least @a len + 1 bytes; receives the normalized suffix
 * @return NULL and sets *out (pointing into @a buf), or a static error message.
 */
const char *bw_host_pattern_parse (const char *s, size_t len, bool port_allowed, char *buf,
                                   struct bw_host_pattern *out);

/** Whether name @a h matches pattern @a p (the port part is not looked at). */
bool bw_host_match (const struct bw_host_pattern *p, const struct bw_host *h);

#endif
