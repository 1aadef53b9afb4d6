/**
 * @file lib/json_errors.h
 * Collecting validation errors of a JSON document as {"pointer", "message"}
 * objects (RFC 6901 pointers), the shape lib/policy.h promises and the
 * server answers in a problem document (DESIGN §8).  Internal to lib/.
 */
#ifndef BW_LIB_JSON_ERRORS_H
#define BW_LIB_JSON_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <stdint.h>

/** Largest integer a request may carry: every JSON parser reads it exactly
 *  (I-JSON, RFC 7493 §2.2). */
#define BW_JSON_INT_MAX ((int64_t) 9007199254740991)

/** Most errors one parse reports; then one more entry says the rest were left out. */
#define BW_ERRORS_MAX 100
/** Longest JSON pointer reported, in bytes (longer ones are cut). */
#define BW_POINTER_MAX 512

/** Where the errors of one parse go. */
struct bw_errors
{
  json_t *array;      /**< borrowed; the caller's array */
  const char *prefix; /**< borrowed; prepended to every pointer ("" for none) */
  size_t added;       /**< errors appended by this parse, the cap's entry included */
  bool failed;        /**< at least one error was found, reported or not */
};

/** Start collecting into @a array with pointers prefixed by @a prefix (NULL = ""). */
void bw_errors_init (struct bw_errors *e, json_t *array, const char *prefix);

/**
 * Report @a message at the pointer made from printf format @a fmt (relative
 * to the prefix; "" is the document itself).  Format arguments that are
 * object keys must already be escaped (bw_pointer_escape).
 */
void bw_errors_add (struct bw_errors *e, const char *message, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/** RFC 6901 §3 escaping of @a key ('~' → "~0", '/' → "~1") into @a out of @a outlen bytes (cut if
 * longer). */
void bw_pointer_escape (const char *key, char *out, size_t outlen);

/**
 * Check that @a obj (an object) has no members but those in the
 * NULL-terminated @a allowed; each other key is reported as "unknown field"
 * at @a base "/" key.  @return true when all keys are allowed.
 */
bool bw_errors_check_keys (struct bw_errors *e, const json_t *obj, const char *const *allowed,
                           const char *base);

/**
 * A string member that must be given as a JSON string of 1..@a max bytes
 * without NUL characters.  Reports "is required" (when @a required), "must
 * be a string", length and NUL errors at @a base "/" @a key.
 * @return the value (borrowed), or NULL when absent or invalid.
 */
const char *bw_errors_string (struct bw_errors *e, const json_t *obj, const char *key,
                              bool required, size_t max, const char *base);

/**
 * A boolean member.  Reports "is required" (when @a required and absent)
 * and "must be a boolean" at @a base "/" @a key.
 * @return 1 or 0, or -1 when absent or invalid.
 */
int bw_errors_bool (struct bw_errors *e, const json_t *obj, const char *key, bool required,
                    const char *base);

#endif
