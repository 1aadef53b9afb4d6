/*
 * Route matching: split the path into segments and compare with each
 * pattern; `{name}` segments capture.  The table is small, so a linear scan
 * is both simplest and fast.
 */
#include "config.h"
#include "server/router.h"
#include "lib/ident.h"

#include <stdlib.h>
#include <string.h>

/** Most path segments considered; longer paths match nothing. */
#define MAX_SEGMENTS 16

/* Split @a path in place at '/', skipping the leading one.  Empty
 * segments (from "//" or a trailing '/') are kept so they never match. */
static int
split (char *path, char *seg[MAX_SEGMENTS])
{
  int n = 0;
  char *p = ('/' == path[0]) ? path + 1 : path;
  while (n < MAX_SEGMENTS)
    {
      seg[n++] = p;
      char *slash = strchr (p, '/');
      if (NULL == slash)
        return n;
      *slash = '\0';
      p = slash + 1;
    }
  return -1;
}

/* Does @a pattern match the segments?  Fills @a params when it does. */
static bool
match_pattern (const char *pattern, char *const seg[], int nseg, const char *params[])
{
  const char *p = pattern + 1;
  int i = 0;
  int np = 0;
  while (i < nseg)
    {
      const char *end = strchr (p, '/');
      size_t plen = (NULL != end) ? (size_t) (end - p) : strlen (p);
      if (plen > 0 && '{' == p[0])
        {
          if ('\0' == seg[i][0] || np >= BW_ROUTE_PARAMS_MAX)
            return false;
          params[np++] = seg[i];
        }
      else if (strlen (seg[i]) != plen || 0 != strncmp (seg[i], p, plen))
        return false;
      i++;
      if (NULL == end)
        return i == nseg;
      p = end + 1;
    }
  return false;
}

int
bw_route_find (struct bw_request *rq, const char *method, const char *path,
               struct bw_route_match *m)
{
  memset (m, 0, sizeof (*m));
  free (rq->path_params_buf);
  rq->path_params_buf = strdup (path);
  if (NULL == rq->path_params_buf)
    return -1;
  char *seg[MAX_SEGMENTS];
  int nseg = split (rq->path_params_buf, seg);
  if (nseg < 0)
    return 0;
  /* HEAD is GET without the body (RFC 9110 §9.3.2); libmicrohttpd drops the body. */
  const char *as = (0 == strcmp (method, "HEAD")) ? "GET" : method;
  for (size_t r = 0; r < bw_routes_count; r++)
    {
      const char *params[BW_ROUTE_PARAMS_MAX] = { NULL };
      if (!match_pattern (bw_routes[r].pattern, seg, nseg, params))
        continue;
      if (0 == strcmp (bw_routes[r].method, as))
        {
          m->route = &bw_routes[r];
          memcpy (rq->params, params, sizeof (params));
          /* Ids are matched in canonical form; the params live in our copy. */
          for (size_t k = 0; k < BW_ROUTE_PARAMS_MAX && NULL != params[k]; k++)
            bw_uuid_canonicalize ((char *) params[k]);
        }
      size_t used = strlen (m->allow);
      snprintf (m->allow + used, sizeof (m->allow) - used, "%s%s", m->path_known ? ", " : "",
                bw_routes[r].method);
      m->path_known = true;
    }
  return 0;
}

size_t
bw_route_index (const struct bw_route *r)
{
  return (size_t) (r - bw_routes);
}
