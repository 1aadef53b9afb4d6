/*
 * Text checks (see lib/text.h).  The decoder follows RFC 3629 §4 (the
 * UTF8-octets grammar), so overlong forms and surrogates are refused as
 * well-formedness errors, not decoded.
 */
#include "config.h"
#include "lib/text.h"

#include <stdbool.h>
#include <stdint.h>

/** Code point a decoding error yields (never a valid scalar value). */
#define BAD_CP UINT32_MAX

/**
 * Decode the UTF-8 sequence at @a s (@a left bytes remain, at least one)
 * and store its length in *@a n.  @return the code point, or BAD_CP.
 */
static uint32_t
utf8_decode (const unsigned char *s, size_t left, size_t *n)
{
  uint32_t cp;
  size_t len;
  uint32_t min;
  if (s[0] < 0x80)
    {
      *n = 1;
      return s[0];
    }
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    {
      len = 2;
      min = 0x80;
      cp = s[0] & 0x1f;
    }
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    {
      len = 3;
      min = 0x800;
      cp = s[0] & 0x0f;
    }
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    {
      len = 4;
      min = 0x10000;
      cp = s[0] & 0x07;
    }
  else
    return BAD_CP; /* a continuation byte, 0xc0/0xc1 (overlong) or 0xf5.. */
  if (left < len)
    return BAD_CP;
  for (size_t i = 1; i < len; i++)
    {
      if (0x80 != (s[i] & 0xc0))
        return BAD_CP;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return BAD_CP;
  *n = len;
  return cp;
}

/**
 * Unicode White_Space code points that are not controls (Zs, U+2028,
 * U+2029), and U+FEFF ZERO WIDTH NO-BREAK SPACE: invisible, and white
 * space to JavaScript's `\s` (ECMA-262 WhiteSpace), so the API's schema
 * patterns and this agree.
 */
static bool
is_space (uint32_t cp)
{
  return 0x20 == cp || 0xa0 == cp || 0x1680 == cp || (cp >= 0x2000 && cp <= 0x200a) || 0x2028 == cp
         || 0x2029 == cp || 0x202f == cp || 0x205f == cp || 0x3000 == cp || 0xfeff == cp;
}

/** Unicode general category Cc. */
static bool
is_control (uint32_t cp)
{
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

enum bw_text_fault
bw_text_check (const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *) s;
  bool control = false;
  bool visible = false;
  bool first_space = false;
  bool last_space = false;
  size_t i = 0;
  while (i < len)
    {
      size_t n;
      uint32_t cp = utf8_decode (p + i, len - i, &n);
      if (BAD_CP == cp)
        return BW_TEXT_INVALID_UTF8;
      control = control || is_control (cp);
      last_space = is_space (cp);
      if (0 == i)
        first_space = last_space;
      visible = visible || !last_space;
      i += n;
    }
  if (control)
    return BW_TEXT_CONTROL;
  if (!visible)
    return BW_TEXT_BLANK;
  return (first_space || last_space) ? BW_TEXT_PADDED : BW_TEXT_OK;
}

const char *
bw_text_fault_message (enum bw_text_fault f)
{
  switch (f)
    {
    case BW_TEXT_INVALID_UTF8:
      return "must be UTF-8";
    case BW_TEXT_CONTROL:
      return "must not contain control characters";
    case BW_TEXT_BLANK:
      return "must not be empty or only whitespace";
    case BW_TEXT_PADDED:
      return "must not begin or end with whitespace";
    case BW_TEXT_OK:
      break;
    }
  return NULL;
}
