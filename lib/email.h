/**
 * @file lib/email.h
 * Email addresses as the directory stores them (SCIM `emails`, RFC 7643
 * §4.1.2): a sane `local@domain` syntax check (not a full RFC 5322 parser)
 * and the validation of a user's list of addresses.
 */
#ifndef BW_LIB_EMAIL_H
#define BW_LIB_EMAIL_H

#include <stdbool.h>
#include <jansson.h>

/** Longest address, in bytes (RFC 5321 §4.5.3.1.3: a 256-byte path minus its angle brackets). */
#define BW_EMAIL_MAX 254
/** Longest local part, in bytes (RFC 5321 §4.5.3.1.1). */
#define BW_EMAIL_LOCAL_MAX 64
/** Longest domain, in bytes (RFC 1035 §2.3.4, without the root's trailing dot). */
#define BW_EMAIL_DOMAIN_MAX 253
/** Longest domain label, in bytes (RFC 1035 §2.3.4). */
#define BW_EMAIL_LABEL_MAX 63
/** Most addresses in one list (a user's `emails`). */
#define BW_EMAILS_MAX 10
/** Longest `type` of an address ("work", "home", "other", ...), in bytes. */
#define BW_EMAIL_TYPE_MAX 64

/**
 * Whether @a s is `local@domain` with, in ASCII only:
 * - a local part of 1..BW_EMAIL_LOCAL_MAX bytes, an RFC 5322 §3.2.3
 *   dot-atom (atext characters, dots only between them); quoted local
 *   parts and SMTPUTF8 (RFC 6531) addresses are refused;
 * - a domain of at least two dot-separated labels, each 1..63 letters,
 *   digits and '-' not starting or ending with '-' (internationalized
 *   names as A-labels, `xn--…`), the last one not all digits (no address
 *   literals), 1..BW_EMAIL_DOMAIN_MAX bytes, no trailing dot;
 * - at most BW_EMAIL_MAX bytes in all.
 * @param s  NUL-terminated, borrowed; NULL is not an address
 */
bool bw_email_valid (const char *s);

/**
 * Validate a list of addresses in the shape of SCIM `emails` and build its
 * stored form.  @a emails must be an array of at most BW_EMAILS_MAX
 * objects {"value": address (bw_email_valid), "type"?: 1..BW_EMAIL_TYPE_MAX
 * bytes of text (lib/text.h, no padding), "primary"?: boolean} with no
 * other members; at most one is primary and no address appears twice
 * (ignoring ASCII case).  Every problem is appended to @a errors as
 * {"pointer": @a prefix + "/<index>[/<member>]", "message"}.
 * @param emails  borrowed
 * @param prefix  pointer of the list in its document, e.g. "/emails"
 * @param errors  a JSON array, borrowed
 * @return a new array [{"value", "type" (only when given), "primary"
 *         (false unless given)}] in the given order, or NULL when invalid
 *         (at least one error appended) or out of memory.
 */
json_t *bw_emails_normalize (const json_t *emails, const char *prefix, json_t *errors);

#endif
