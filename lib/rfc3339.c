/*
 * RFC 3339 §5.6 date-time syntax, restricted to what PostgreSQL accepts.
 */
#include "config.h"
#include "lib/rfc3339.h"

#include <string.h>

/* Value of @a n decimal digits at @a p, or -1 if one is not a digit (a
 * short string stops at its NUL, which is not a digit). */
static int
digits (const char *p, int n)
{
  int v = 0;
  for (int i = 0; i < n; i++)
    {
      if (p[i] < '0' || p[i] > '9')
        return -1;
      v = v * 10 + (p[i] - '0');
    }
  return v;
}

/* Days in @a month (1..12) of @a year (proleptic Gregorian). */
static int
month_days (int year, int month)
{
  static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  bool leap = (0 == year % 4 && 0 != year % 100) || 0 == year % 400;
  return (2 == month && leap) ? 29 : days[month - 1];
}

bool
bw_rfc3339_valid (const char *s)
{
  size_t len = strlen (s);
  if (len < sizeof ("YYYY-MM-DDTHH:MM:SSZ") - 1 || len > BW_RFC3339_MAX)
    return false;
  int year = digits (s, 4);
  int month = digits (s + 5, 2);
  int day = digits (s + 8, 2);
  int hour = digits (s + 11, 2);
  int minute = digits (s + 14, 2);
  int second = digits (s + 17, 2);
  if ('-' != s[4] || '-' != s[7] || ('T' != s[10] && 't' != s[10]) || ':' != s[13]
      || ':' != s[16])
    return false;
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0
      || minute > 59 || second < 0 || second > 60 || day > month_days (year, month))
    return false;
  const char *p = s + 19;
  if ('.' == *p)
    {
      const char *frac = ++p;
      while (*p >= '0' && *p <= '9')
        {
          /* PostgreSQL refuses a leap second with a fraction. */
          if (60 == second && '0' != *p)
            return false;
          p++;
        }
      if (p == frac)
        return false;
    }
  if ('Z' == *p || 'z' == *p)
    return '\0' == p[1];
  if ('+' != *p && '-' != *p)
    return false;
  if (strlen (p) != sizeof ("+HH:MM") - 1 || ':' != p[3])
    return false;
  int oh = digits (p + 1, 2);
  int om = digits (p + 4, 2);
  return oh >= 0 && oh <= BW_RFC3339_OFFSET_HOURS_MAX && om >= 0 && om <= 59;
}
