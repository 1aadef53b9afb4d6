/**
 * @file server/fields.h
 * Declarative validation of JSON request bodies: an array of field specs
 * per endpoint.  Unknown keys, wrong types, missing required fields and
 * values a checker refuses are all collected, each with its JSON pointer
 * (RFC 6901), and answered in one 400 problem.
 */
#ifndef BW_SERVER_FIELDS_H
#define BW_SERVER_FIELDS_H

#include <stdbool.h>
#include <jansson.h>
#include "server/request.h"

/** JSON type a field must have. */
enum bw_field_type
{
  BW_FIELD_STRING,
  BW_FIELD_INTEGER,
  BW_FIELD_BOOLEAN,
  BW_FIELD_OBJECT,
  BW_FIELD_ARRAY,
};

/**
 * Extra check of a value of the right type.  @return NULL if fine, else a
 * static message ("must be a slug: ...").
 */
typedef const char *(*bw_field_check) (const json_t *value);

/** One allowed member of a request object. */
struct bw_field
{
  const char *name;
  enum bw_field_type type;
  bool required;
  bool nullable;          /**< JSON null accepted (and stored as NULL in *out) */
  size_t max_len;         /**< strings: max bytes (0 = BW_FIELD_STRING_MAX) */
  bw_field_check check;   /**< may be NULL */
  const json_t **out;     /**< receives the borrowed value, or NULL when absent */
};

/**
 * A bw_field_check for human-readable text (names, display names, external
 * ids): well-formed UTF-8, no control characters, not blank, no leading or
 * trailing white space (lib/text.h).
 */
const char *bw_field_check_text (const json_t *value);

/**
 * A bw_field_check for a field naming a directory user: a canonical
 * (lowercase) uuid.  Whether that user exists and is active is for the
 * handler to check, in its transaction.
 */
const char *bw_field_check_user_id (const json_t *value);

/** Default maximum length of a string field, in bytes. */
#define BW_FIELD_STRING_MAX 1024

/**
 * Validate the request body against @a fields (@a n of them): the body must
 * be an object.  Absent optional fields leave *out NULL.
 * @return true when valid; false after replying 400 with every error.
 */
bool bw_fields_parse (struct bw_request *rq, const struct bw_field *fields, size_t n);

#endif
