/**
 * @file lib/text.h
 * Checks of human-readable text fields (names, display names, external
 * ids): well-formed UTF-8 (RFC 3629), no control characters, not blank.
 */
#ifndef BW_LIB_TEXT_H
#define BW_LIB_TEXT_H

#include <stddef.h>

/** What bw_text_check found, most severe first. */
enum bw_text_fault
{
  BW_TEXT_OK = 0,
  BW_TEXT_INVALID_UTF8, /**< not well-formed UTF-8: overlong forms, surrogates, > U+10FFFF,
                           truncation */
  BW_TEXT_CONTROL, /**< holds a control character (Unicode Cc: U+0000..U+001F, U+007F..U+009F) */
  BW_TEXT_BLANK,   /**< empty, or only white space (Unicode White_Space and U+FEFF) */
  BW_TEXT_PADDED,  /**< begins or ends with white space (callers decide whether that is an error) */
};

/**
 * Check the @a len bytes at @a s (borrowed; NUL bytes count as U+0000, a
 * control character).
 * @return the first fault in the order of enum bw_text_fault, or BW_TEXT_OK.
 */
enum bw_text_fault bw_text_check (const char *s, size_t len);

/**
 * A short message for a client about @a f ("must not contain control
 * characters", ...), static; NULL for BW_TEXT_OK.
 */
const char *bw_text_fault_message (enum bw_text_fault f);

#endif
