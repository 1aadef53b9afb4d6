/**
 * @file lib/glob.h
 * Name globs (DESIGN §4 "Tool and server names"): '*' matches any run of
 * bytes (also none, also '/'); every other byte matches itself, case
 * counting.  A glob always covers the whole name.  Path segments with '*'
 * use the same matcher.  Internal to lib/.
 */
#ifndef BW_LIB_GLOB_H
#define BW_LIB_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** A compiled glob. */
struct bw_glob
{
  const char *s; /**< pattern text; borrowed */
  uint16_t len;  /**< bytes of s */
  bool literal;  /**< no '*': plain equality */
};

/** Whether @a nlen bytes at @a name match pattern @a plen bytes at @a pat. */
bool bw_glob_match_bytes (const char *pat, size_t plen, const char *name, size_t nlen);

/** Whether @a nlen bytes at @a name match @a g. */
static inline bool
bw_glob_match (const struct bw_glob *g, const char *name, size_t nlen)
{
  if (g->literal)
    return g->len == nlen && 0 == memcmp (g->s, name, nlen);
  return bw_glob_match_bytes (g->s, g->len, name, nlen);
}

#endif
