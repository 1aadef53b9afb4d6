/*
 * Column accessors (see db/row.h).
 */
#include "config.h"
#include "db/row.h"
#include "lib/ident.h"
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
db_col_strdup (const PGresult *res, int row, int col, char **dst)
{
  *dst = NULL;
  if (PQgetisnull (res, row, col))
    return 0;
  *dst = strdup (PQgetvalue (res, row, col));
  return (NULL == *dst) ? -1 : 0;
}

int
db_col_json (const PGresult *res, int row, int col, bool required, json_t **out)
{
  json_error_t err;
  *out = NULL;
  if (PQgetisnull (res, row, col))
    return required ? -1 : 0;
  err.text[0] = '\0'; /* json_loadb fills it only when it fails */
  *out = json_loadb (PQgetvalue (res, row, col), (size_t) PQgetlength (res, row, col), 0, &err);
  if (NULL == *out || (required && !json_is_object (*out)))
    {
      bw_logf (BW_LOG_ERROR, "db: column %s does not parse as JSON: %s", PQfname (res, col),
               err.text);
      json_decref (*out);
      *out = NULL;
      return -1;
    }
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

int
db_rows_copy (const PGresult *res, size_t rows, size_t size, db_row_copy_fn copy,
              db_row_clear_fn clear, void **items)
{
  unsigned char *arr = calloc ((0 == rows) ? 1 : rows, size);
  size_t done = 0;
  *items = NULL;
  while (NULL != arr && done < rows && 0 == copy (res, (int) done, arr + done * size))
    done++;
  if (NULL == arr || done < rows)
    {
      for (size_t i = 0; NULL != clear && i < done; i++)
        clear (arr + i * size);
      free (arr);
      return -1;
    }
  *items = arr;
  return 0;
}

/* Split uuid[] text in place into @a out (room for @a max).  @return the count, or -1. */
static long
split_uuid_array (char *text, const char **out, size_t max)
{
  size_t len = strlen (text);
  size_t n = 0;
  if (len < 2 || '{' != text[0] || '}' != text[len - 1])
    return -1;
  text[len - 1] = '\0';
  for (char *p = text + 1; '\0' != *p;)
    {
      char *comma = strchr (p, ',');
      if (NULL != comma)
        *comma = '\0';
      if (n >= max || !bw_uuid_valid (p))
        return -1;
      out[n++] = p;
      if (NULL == comma)
        break;
      p = comma + 1;
    }
  return (long) n;
}

long
db_col_uuid_array (const PGresult *res, int row, int col, char **text, const char ***uuids)
{
  /* a copy to split: a PGresult's values are read-only; a uuid takes 37 characters with its
     separator */
  size_t max = (size_t) PQgetlength (res, row, col) / (BW_UUID_LEN + 1) + 1;
  char *t = strdup (PQgetvalue (res, row, col));
  const char **u = malloc (max * sizeof (*u));
  long n = (NULL != t && NULL != u) ? split_uuid_array (t, u, max) : -1;

  if (n < 0)
    {
      free (u);
      free (t);
      return -1;
    }
  *text = t;
  *uuids = u;
  return n;
}
