/**
 * @file lib/path.h
 * File system paths of filesystem rules and requests (DESIGN §4 "Paths").
 *
 * Paths are POSIX-style: absolute ("/..."), or relative to the user's home
 * ("~" or "~/...").  "~user" forms, relative paths and NUL are refused.
 *
 * Rule patterns are refused when they hold "." or ".." segments, repeated
 * '/' or a trailing '/'.  A segment "*" is any one segment; "**" is any
 * number of segments, none included, so ~/src with a last segment "**"
 * covers ~/src itself and everything below it; another segment with '*' is
 * a glob over that one
 * segment ("id_*", "*.pem"; see lib/glob.h); "**" must be a whole segment.
 * Matching is by whole segment: "/home/a" never matches "/home/ab".  With
 * case_insensitive, ASCII letters are folded on both sides, such a pattern
 * must be ASCII (Unicode folding is not guessed at), and the trailing dots
 * and spaces Windows drops from names are dropped from the path's segments.
 *
 * Request paths are resolved first: empty and "." segments dropped, ".."
 * takes the segment before it off; ".." above the root (or, for "~/..."
 * without a known home, above the home directory) is an error.  A trailing
 * '/' is allowed.  When the home directory is known (context.home), "~/x"
 * becomes home + "/x", and "~/" rules match absolute request paths under
 * home; without it, "~/" rules match "~/" requests only and absolute rules
 * never match a "~/" request.  Internal to lib/.
 */
#ifndef BW_LIB_PATH_H
#define BW_LIB_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/arena.h"

/** Longest path text accepted, in bytes (PATH_MAX). */
#define BW_PATH_MAX 4096
/** Longest segment, in bytes (NAME_MAX). */
#define BW_PATH_SEGMENT_MAX 255
/** Most segments in a path. */
#define BW_PATH_DEPTH_MAX 256

/** What a pattern segment matches. */
enum bw_pseg_kind
{
  BW_PSEG_LITERAL = 0, /**< exactly its text */
  BW_PSEG_GLOB,        /**< its text as a glob over one segment */
  BW_PSEG_ONE,         /**< "*": any one segment */
  BW_PSEG_ANY,         /**< "**": any number of segments */
};

/** One segment of a pattern. */
struct bw_pseg
{
  const char *s; /**< text (folded when the pattern is case-insensitive); in the arena */
  uint16_t len;
  uint8_t kind; /**< enum bw_pseg_kind */
};

/** A compiled path pattern. */
struct bw_path_pattern
{
  bool home;             /**< "~"-relative */
  bool case_insensitive; /**< segments are folded; compare against folded paths */
  uint16_t nsegs;
  const struct bw_pseg *segs; /**< in the arena */
};

/** One segment of a resolved path: offset and length in its text. */
struct bw_seg
{
  uint16_t off;
  uint16_t len;
};

/** A resolved request path. */
struct bw_path
{
  bool home_relative; /**< "~/..." with the home directory unknown */
  uint16_t nsegs;
  const char *text;          /**< "/a/b", "/" or "~/a/b"; in the arena */
  const char *folded;        /**< text with ASCII letters lowercased; same offsets */
  const struct bw_seg *segs; /**< in the arena */
  int16_t home_depth;        /**< segments of home that begin this path, -1 if not under it */
  int16_t home_depth_folded; /**< the same, comparing folded text */
};

/**
 * Compile rule pattern text of @a len bytes at @a s into @a out, allocating from @a a.
 * @return NULL, bw_arena_oom, or a static error message.
 */
const char *bw_path_pattern_parse (struct bw_arena *a, const char *s, size_t len,
                                   bool case_insensitive, struct bw_path_pattern *out);

/**
 * Resolve request path text of @a len bytes at @a s into @a out, allocating
 * from @a a.  @a home is the resolved home directory (absolute), or NULL
 * when unknown.
 * @return NULL, bw_arena_oom, or a static error message.
 */
const char *bw_path_parse (struct bw_arena *a, const char *s, size_t len,
                           const struct bw_path *home, struct bw_path *out);

/** Whether @a path matches @a pat. */
bool bw_path_match (const struct bw_path_pattern *pat, const struct bw_path *path);

#endif
