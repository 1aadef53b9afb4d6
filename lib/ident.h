/**
 * @file lib/ident.h
 * Syntax of identifiers that appear in URLs: org slugs and UUIDs.
 */
#ifndef BW_LIB_IDENT_H
#define BW_LIB_IDENT_H

#include <stdbool.h>

/** Longest org slug, in bytes. */
#define BW_SLUG_MAX 63
/** Characters in a textual UUID (RFC 9562 §4), without NUL. */
#define BW_UUID_LEN 36

/**
 * An org slug: 2..BW_SLUG_MAX chars of [a-z0-9-], starting with a letter,
 * not ending with '-', no "--".  A slug can never look like a UUID.
 */
bool bw_slug_valid (const char *s);

/** A textual UUID in canonical lowercase 8-4-4-4-12 form. */
bool bw_uuid_valid (const char *s);

/**
 * If @a s is a textual UUID in any letter case (RFC 9562 §4: input is
 * case-insensitive), lowercase it in place so that bw_uuid_valid holds.
 * Anything else is left as it is.
 */
void bw_uuid_canonicalize (char *s);

#endif
