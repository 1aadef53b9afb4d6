/*
 * Column accessors (see db/row.h).
 */
#include "config.h"
#include "db/row.h"
#include "lib/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
db_col_text (const PGresult *res, int row, int col, char *dst, size_t size)
{
  size_t len = PQgetisnull (res, row, col) ? 0 : (size_t) PQgetlength (res, row, col);
  if (len >= size)
    {
      bw_logf (BW_LOG_ERROR, "db: column %s is %zu bytes, more than %zu", PQfname (res, col), len,
               size - 1);
      return -1;
    }
  memcpy (dst, PQgetvalue (res, row, col), len);
  dst[len] = '\0';
  return 0;
}

int
db_col_int64 (const PGresult *res, int row, int col, int64_t *out)
{
  const char *v = PQgetvalue (res, row, col);
  char *end;
  errno = 0;
  long long n = strtoll (v, &end, 10);
  if (0 != errno || end == v || '\0' != *end)
    {
      bw_logf (BW_LOG_ERROR, "db: column %s is not an integer: '%s'", PQfname (res, col), v);
      return -1;
    }
  *out = (int64_t) n;
  return 0;
}

bool
db_col_bool (const PGresult *res, int row, int col)
{
  return 0 == strcmp (PQgetvalue (res, row, col), "t");
}
