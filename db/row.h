/**
 * @file db/row.h
 * Copying columns out of a PGresult, for the query files: every value is
 * checked and copied before PQclear, and a value that does not fit is a
 * hard error (logged with the column's name), never truncated.
 */
#ifndef BW_DB_ROW_H
#define BW_DB_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

/**
 * Copy the text of column @a col of row @a row into @a dst (@a size bytes
 * with the NUL); SQL NULL becomes "".
 * @return 0, or -1 (logged) if it does not fit.
 */
int db_col_text (const PGresult *res, int row, int col, char *dst, size_t size);

/**
 * Parse column @a col of row @a row (an integer type, not NULL) into @a out.
 * @return 0, or -1 (logged) if it is not a decimal int64.
 */
int db_col_int64 (const PGresult *res, int row, int col, int64_t *out);

/** Whether column @a col of row @a row (a boolean) is true; NULL is false. */
bool db_col_bool (const PGresult *res, int row, int col);

/**
 * A malloc'd copy of the text of column @a col of row @a row (caller
 * frees); SQL NULL gives NULL.
 * @return 0, or -1 on allocation failure (*dst NULL).
 */
int db_col_strdup (const PGresult *res, int row, int col, char **dst);

/**
 * Parse column @a col of row @a row (json or jsonb text).  SQL NULL gives
 * NULL, or an error when @a required.  A @a required value must be an
 * object.
 * @param[out] out  the value (caller owns), or NULL
 * @return 0, or -1 (logged with the column's name; *out NULL).
 */
int db_col_json (const PGresult *res, int row, int col, bool required, json_t **out);

/**
 * Column @a col of row @a row, a uuid[] in text form ("{}" or "{a,b}"),
 * as an array of canonical uuid strings.
 * @param[out] text   malloc'd copy of the column the strings point into
 * @param[out] uuids  malloc'd array of the strings
 * The caller frees both.  @return the count, or -1 (malformed, or out of
 * memory; nothing to free).
 */
long db_col_uuid_array (const PGresult *res, int row, int col, char **text, const char ***uuids);

/** Fill @a item (one element of the caller's array) from row @a row.  @return 0, or -1. */
typedef int (*db_row_copy_fn) (const PGresult *res, int row, void *item);

/** Free what @a item owns (an element filled by a db_row_copy_fn). */
typedef void (*db_row_clear_fn) (void *item);

/**
 * Copy the first @a rows rows of @a res into a new array of @a size-byte
 * elements, each filled by @a copy.  On failure the elements filled so far
 * are cleared with @a clear (NULL when they own nothing) and freed.
 * @param[out] items  the array (caller owns; clear each element, then free)
 * @return 0, or -1 on allocation failure or a row @a copy refused.
 */
int db_rows_copy (const PGresult *res, size_t rows, size_t size, db_row_copy_fn copy,
                  db_row_clear_fn clear, void **items);

#endif
