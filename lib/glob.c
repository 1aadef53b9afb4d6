/*
 * '*' globs.  The classic iterative matcher: on a mismatch, go back to the
 * last '*' and let it take one more byte.  O(len(pat) * len(name)) at worst,
 * no recursion, no allocation.
 */
#include "config.h"
#include "lib/glob.h"

bool
bw_glob_match_bytes (const char *pat, size_t plen, const char *name, size_t nlen)
{
  size_t p = 0, n = 0;
  size_t star = SIZE_MAX, star_n = 0;

  while (n < nlen)
    {
      if (p < plen && '*' == pat[p])
        {
          star = p++;
          star_n = n;
        }
      else if (p < plen && pat[p] == name[n])
        {
          p++;
          n++;
        }
      else if (SIZE_MAX != star)
        {
          p = star + 1;
          n = ++star_n;
        }
      else
        return false;
    }
  while (p < plen && '*' == pat[p])
    p++;
  return p == plen;
}
