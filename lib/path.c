/*
 * Path patterns and request path resolution.
 */
#include "config.h"
#include "lib/path.h"
#include "lib/glob.h"

#include <string.h>

static char
fold (char c)
{
  return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

/* Where the segments of a "/..." or "~/..." text start, and whether it is home-relative.
   @return NULL or an error. */
static const char *
split_root (const char *s, size_t len, bool *home, size_t *rest)
{
  if (0 == len)
    return "a path must not be empty";
  if (len > BW_PATH_MAX)
    return "a path must be at most 4096 bytes";
  if (NULL != memchr (s, '\0', len))
    return "a path must not contain NUL";
  if ('/' == s[0])
    {
      *home = false;
      *rest = 0;
      return NULL;
    }
  if ('~' == s[0] && (1 == len || '/' == s[1]))
    {
      *home = true;
      *rest = 1;
      return NULL;
    }
  if ('~' == s[0])
    return "\"~user\" paths are not supported; use \"~/\" or an absolute path";
  return "a path must be absolute or start with \"~/\"";
}

const char *
bw_path_pattern_parse (struct bw_arena *a, const char *s, size_t len, bool case_insensitive,
                       struct bw_path_pattern *out)
{
  size_t i;
  const char *err = split_root (s, len, &out->home, &i);
  if (NULL != err)
    return err;
  out->case_insensitive = case_insensitive;
  out->nsegs = 0;
  out->segs = NULL;
  /* The root alone, or "~" alone: no segments. */
  if (i + 1 == len && '/' == s[i] && !out->home)
    return NULL;
  if (i == len)
    return NULL;
  size_t n = 0;
  for (size_t j = i; j < len; j++)
    n += ('/' == s[j]);
  if (n > BW_PATH_DEPTH_MAX)
    return "a path must have at most 256 segments";
  struct bw_pseg *segs = bw_arena_alloc (a, n * sizeof (*segs));
  char *text = bw_arena_strndup (a, s, len);
  if (NULL == segs || NULL == text)
    return bw_arena_oom;
  if (case_insensitive)
    for (size_t j = 0; j < len; j++)
      {
        /* Only ASCII letters fold; "ä" against "Ä" or a decomposed "a\u0308"
           would need Unicode case folding and normalization, so a
           case-insensitive rule naming them would silently miss: refuse. */
        if (0 != (0x80 & (unsigned char) text[j]))
          return "a case-insensitive path must be ASCII (use * for other characters)";
        text[j] = fold (text[j]);
      }
  /* Every segment follows a '/': s[i] is '/'. */
  for (size_t k = 0; k < n; k++)
    {
      size_t start = i + 1;
      size_t end = start;
      while (end < len && '/' != s[end])
        end++;
      size_t slen = end - start;
      const char *seg = s + start;
      if (0 == slen)
        return (end == len) ? "a trailing '/' is not allowed (\"dir/**\" covers a directory)"
                            : "repeated '/' is not allowed";
      if ((1 == slen && '.' == seg[0]) || (2 == slen && '.' == seg[0] && '.' == seg[1]))
        return "\".\" and \"..\" segments are not allowed";
      if (slen > BW_PATH_SEGMENT_MAX)
        return "a path segment must be at most 255 bytes";
      enum bw_pseg_kind kind = BW_PSEG_LITERAL;
      if (1 == slen && '*' == seg[0])
        kind = BW_PSEG_ONE;
      else if (2 == slen && '*' == seg[0] && '*' == seg[1])
        kind = BW_PSEG_ANY;
      else if (NULL != memchr (seg, '*', slen))
        {
          for (size_t j = 0; j + 1 < slen; j++)
            if ('*' == seg[j] && '*' == seg[j + 1])
              return "\"**\" must be a whole segment";
          kind = BW_PSEG_GLOB;
        }
      segs[k]
        = (struct bw_pseg){ .s = text + start, .len = (uint16_t) slen, .kind = (uint8_t) kind };
      i = end;
    }
  out->nsegs = (uint16_t) n;
  out->segs = segs;
  return NULL;
}

const char *
bw_path_parse (struct bw_arena *a, const char *s, size_t len, const struct bw_path *home,
               struct bw_path *out)
{
  bool rel;
  size_t i;
  const char *err = split_root (s, len, &rel, &i);
  if (NULL != err)
    return err;
  size_t cap = len + 2 + ((rel && NULL != home) ? strlen (home->text) : 0);
  char *text = bw_arena_alloc (a, cap);
  char *folded = bw_arena_alloc (a, cap);
  struct bw_seg *segs = bw_arena_alloc (a, BW_PATH_DEPTH_MAX * sizeof (*segs));
  if (NULL == text || NULL == folded || NULL == segs)
    return bw_arena_oom;
  size_t tlen = 0;
  size_t n = 0;
  out->home_relative = rel && NULL == home;
  if (out->home_relative)
    text[tlen++] = '~';
  else if (rel)
    {
      memcpy (text, home->text, strlen (home->text));
      for (n = 0; n < home->nsegs; n++)
        segs[n] = home->segs[n];
      tlen = (0 == n) ? 0 : strlen (home->text);
    }
  while (i < len)
    {
      /* s[i] is '/' */
      size_t start = i + 1;
      size_t end = start;
      while (end < len && '/' != s[end])
        end++;
      size_t slen = end - start;
      const char *seg = s + start;
      i = end;
      if (0 == slen || (1 == slen && '.' == seg[0]))
        continue;
      if (2 == slen && '.' == seg[0] && '.' == seg[1])
        {
          if (0 == n)
            return out->home_relative
                     ? "\"..\" leaves the home directory, and context.home is not given"
                     : "\"..\" goes above the root";
          n--;
          tlen = segs[n].off - 1;
          continue;
        }
      if (slen > BW_PATH_SEGMENT_MAX)
        return "a path segment must be at most 255 bytes";
      if (n == BW_PATH_DEPTH_MAX)
        return "a path must have at most 256 segments";
      text[tlen++] = '/';
      segs[n++] = (struct bw_seg){ .off = (uint16_t) tlen, .len = (uint16_t) slen };
      memcpy (text + tlen, seg, slen);
      tlen += slen;
    }
  if (0 == tlen)
    text[tlen++] = '/';
  text[tlen] = '\0';
  for (size_t j = 0; j <= tlen; j++)
    folded[j] = fold (text[j]);
  out->text = text;
  out->folded = folded;
  out->segs = segs;
  out->nsegs = (uint16_t) n;
  out->home_depth = -1;
  out->home_depth_folded = -1;
  if (out->home_relative)
    {
      out->home_depth = 0;
      out->home_depth_folded = 0;
    }
  else if (NULL != home && home->nsegs <= n)
    {
      bool same = true, same_folded = true;
      for (size_t k = 0; k < home->nsegs; k++)
        {
          const struct bw_seg *h = &home->segs[k], *p = &segs[k];
          bool lens = h->len == p->len;
          same = same && lens && 0 == memcmp (home->text + h->off, text + p->off, p->len);
          same_folded
            = same_folded && lens && 0 == memcmp (home->folded + h->off, folded + p->off, p->len);
        }
      out->home_depth = same ? (int16_t) home->nsegs : -1;
      out->home_depth_folded = same_folded ? (int16_t) home->nsegs : -1;
    }
  return NULL;
}

/* Does segment @a s of text @a t match pattern segment @a p?  Against a
 * case-insensitive pattern (macOS and Windows volumes), the trailing dots
 * and spaces Windows drops from a name are dropped too, so "Secret." and
 * "Secret " are the folder "Secret". */
static bool
seg_match (const struct bw_pseg *p, bool case_insensitive, const char *t, const struct bw_seg *s)
{
  size_t len = s->len;
  if (case_insensitive)
    while (len > 0 && ('.' == t[s->off + len - 1] || ' ' == t[s->off + len - 1]))
      len--;
  switch (p->kind)
    {
    case BW_PSEG_LITERAL:
      return p->len == len && 0 == memcmp (p->s, t + s->off, len);
    case BW_PSEG_GLOB:
      return bw_glob_match_bytes (p->s, p->len, t + s->off, len);
    default:
      return true;
    }
}

bool
bw_path_match (const struct bw_path_pattern *pat, const struct bw_path *path)
{
  size_t j = 0;
  if (pat->home)
    {
      int d = pat->case_insensitive ? path->home_depth_folded : path->home_depth;
      if (d < 0)
        return false;
      j = (size_t) d;
    }
  else if (path->home_relative)
    return false;
  const char *t = pat->case_insensitive ? path->folded : path->text;
  const struct bw_pseg *p = pat->segs;
  size_t m = pat->nsegs, n = path->nsegs, i = 0;
  size_t star = SIZE_MAX, star_j = 0;

  /* The matcher of lib/glob.c, over segments: "**" is the star. */
  while (j < n)
    {
      if (i < m && BW_PSEG_ANY == p[i].kind)
        {
          star = i++;
          star_j = j;
        }
      else if (i < m && seg_match (&p[i], pat->case_insensitive, t, &path->segs[j]))
        {
          i++;
          j++;
        }
      else if (SIZE_MAX != star)
        {
          i = star + 1;
          j = ++star_j;
        }
      else
        return false;
    }
  while (i < m && BW_PSEG_ANY == p[i].kind)
    i++;
  return i == m;
}
