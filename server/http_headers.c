/*
 * `Prefer: wait` and `If-None-Match` (server/http_headers.h).
 */
#include "config.h"
#include "server/http_headers.h"

#include <limits.h>
#include <microhttpd.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar. */
static bool
tchar (char c)
{
  return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
         || ('\0' != c && NULL != strchr ("!#$%&'*+-.^_`|~", c));
}

/* Skip OWS / BWS (RFC 9110 §5.6.3). */
static const char *
ows (const char *p)
{
  while (' ' == *p || '\t' == *p)
    p++;
  return p;
}

/* Length of the token at @a p (0 if none). */
static size_t
token_len (const char *p)
{
  size_t n = 0;

  while (tchar (p[n]))
    n++;
  return n;
}

/*
 * Length of the quoted-string at @a p (RFC 9110 §5.6.4), quotes included,
 * or 0 if @a p does not start a complete one.
 */
static size_t
quoted_len (const char *p)
{
  size_t n = 1;

  if ('"' != *p)
    return 0;
  for (;;)
    {
      unsigned char c = (unsigned char) p[n];

      if ('\0' == c)
        return 0;
      if ('"' == c)
        return n + 1;
      if ('\\' == c)
        {
          unsigned char q = (unsigned char) p[n + 1];

          if ('\0' == q || (q < 0x20 && '\t' != q) || 0x7f == q)
            return 0;
          n += 2;
          continue;
        }
      if ((c < 0x20 && '\t' != c) || 0x7f == c)
        return 0;
      n++;
    }
}

/* Length of the word (token / quoted-string) at @a p, or 0. */
static size_t
word_len (const char *p)
{
  return ('"' == *p) ? quoted_len (p) : token_len (p);
}

/* Skip to just after the next top-level comma (or to the end). */
static const char *
skip_element (const char *p)
{
  while ('\0' != *p && ',' != *p)
    {
      size_t q = ('"' == *p) ? quoted_len (p) : 0;

      p += (0 != q) ? q : 1;
    }
  return ('\0' != *p) ? p + 1 : p;
}

/* delta-seconds (RFC 9111 §1.2.2): 1*DIGIT, saturated. */
static bool
delta_seconds (const char *p, size_t len, unsigned int *out)
{
  unsigned long long v = 0;

  if (0 == len)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      if (p[i] < '0' || p[i] > '9')
        return false;
      if (v <= UINT_MAX)
        v = v * 10 + (unsigned long long) (p[i] - '0');
    }
  *out = (v > UINT_MAX) ? UINT_MAX : (unsigned int) v;
  return true;
}

enum bw_prefer_wait
bw_prefer_wait_parse (const char *value, unsigned int *seconds)
{
  const char *p = value;

  while ('\0' != *p)
    {
      const char *name;
      size_t nlen;
      const char *val = NULL;
      size_t vlen = 0;

      p = ows (p);
      if (',' == *p)
        {
          p++; /* an empty list element (RFC 9110 §5.6.1) */
          continue;
        }
      if ('\0' == *p)
        break;
      name = p;
      nlen = token_len (p);
      if (0 == nlen)
        {
          p = skip_element (p);
          continue;
        }
      p = ows (p + nlen);
      if ('=' == *p)
        {
          p = ows (p + 1);
          val = p;
          vlen = word_len (p);
          if (0 == vlen)
            {
              if (4 == nlen && 0 == strncasecmp (name, "wait", 4))
                return BW_PREFER_WAIT_INVALID;
              p = skip_element (p);
              continue;
            }
          p = ows (p + vlen);
        }
      /* parameters: *( OWS ";" [ OWS parameter ] ) */
      bool bad = false;
      while (';' == *p && !bad)
        {
          size_t plen;

          p = ows (p + 1);
          plen = token_len (p);
          if (0 == plen)
            continue; /* ";" with no parameter */
          p = ows (p + plen);
          if ('=' == *p)
            {
              size_t wl;

              p = ows (p + 1);
              wl = word_len (p);
              if (0 == wl)
                bad = true;
              p = ows (p + wl);
            }
        }
      if (bad || (',' != *p && '\0' != *p))
        {
          if (4 == nlen && 0 == strncasecmp (name, "wait", 4))
            return BW_PREFER_WAIT_INVALID;
          p = skip_element (p);
          continue;
        }
      if (4 == nlen && 0 == strncasecmp (name, "wait", 4))
        return (NULL != val && '"' != *val && delta_seconds (val, vlen, seconds))
                 ? BW_PREFER_WAIT_VALID
                 : BW_PREFER_WAIT_INVALID;
      if (',' == *p)
        p++;
    }
  return BW_PREFER_WAIT_ABSENT;
}

struct prefer_scan
{
  enum bw_prefer_wait found;
  unsigned int seconds;
};

static enum MHD_Result
prefer_field (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct prefer_scan *ps = cls;

  (void) kind;
  if (NULL == value || 0 != strcasecmp (key, "Prefer"))
    return MHD_YES;
  ps->found = bw_prefer_wait_parse (value, &ps->seconds);
  return (BW_PREFER_WAIT_ABSENT == ps->found) ? MHD_YES : MHD_NO;
}

bool
bw_request_prefer_wait (const struct bw_request *rq, unsigned int *seconds)
{
  struct prefer_scan ps = { BW_PREFER_WAIT_ABSENT, 0 };

  MHD_get_connection_values (rq->connection, MHD_HEADER_KIND, prefer_field, &ps);
  if (BW_PREFER_WAIT_VALID != ps.found)
    return false;
  *seconds = ps.seconds;
  return true;
}

bool
bw_if_none_match_parse (const char *value, const char *opaque)
{
  const char *p = ows (value);
  size_t olen = strlen (opaque);
  bool match = false;

  if ('*' == *p)
    return '\0' == *ows (p + 1);
  for (;;)
    {
      const char *end;

      p = ows (p);
      if (',' == *p)
        {
          p++;
          continue;
        }
      if ('\0' == *p)
        return match;
      if (0 == strncmp (p, "W/", 2))
        p += 2;
      if ('"' != *p)
        return false;
      /* etagc = %x21 / %x23-7E / obs-text: anything but '"', controls, space, DEL */
      for (end = p + 1; '"' != *end; end++)
        if ((unsigned char) *end <= 0x20 || 0x7f == (unsigned char) *end)
          return false;
      if ((size_t) (end - p - 1) == olen && 0 == memcmp (p + 1, opaque, olen))
        match = true;
      p = ows (end + 1);
      if (',' != *p && '\0' != *p)
        return false;
    }
}

struct inm_scan
{
  const char *opaque;
  bool seen;
  bool match;
};

static enum MHD_Result
inm_field (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct inm_scan *is = cls;

  (void) kind;
  if (NULL == value || 0 != strcasecmp (key, "If-None-Match"))
    return MHD_YES;
  is->seen = true;
  if (bw_if_none_match_parse (value, is->opaque))
    {
      is->match = true;
      return MHD_NO;
    }
  return MHD_YES;
}

bool
bw_request_if_none_match (const struct bw_request *rq, const char *opaque)
{
  struct inm_scan is = { opaque, false, false };

  MHD_get_connection_values (rq->connection, MHD_HEADER_KIND, inm_field, &is);
  return is.match;
}
