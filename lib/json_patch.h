/**
 * @file lib/json_patch.h
 * The difference of two JSON documents as an RFC 6902 JSON Patch, with
 * RFC 6901 JSON Pointers.  Used by the policy revision diff; no HTTP, no
 * SQL, no global state.
 */
#ifndef BW_LIB_JSON_PATCH_H
#define BW_LIB_JSON_PATCH_H

#include <jansson.h>

/**
 * A JSON Patch (RFC 6902 §3: an array of operations) that turns @a from
 * into @a to (both borrowed) when applied in order.  Only `add`, `remove`
 * and `replace` are produced:
 * - equal values (json_equal) produce nothing;
 * - two objects: for each member of @a from in byte order of the keys,
 *   `remove` if @a to lacks it, else the diff of the two values; then an
 *   `add` for each member only @a to has, in byte order of the keys;
 * - two arrays are compared element by element over their common length
 *   (recursively), then elements only @a to has are `add`ed at their
 *   indexes in ascending order, or elements only @a from has are
 *   `remove`d from the tail, highest index first, so every index is valid
 *   when its operation applies.  No moves are detected: inserting at the
 *   front shows as replacements plus an add at the tail;
 * - anything else (different types, different scalars) is one `replace`
 *   of the whole value (path "" for the root).
 * Keys in paths are escaped per RFC 6901 §3 ('~' as "~0", '/' as "~1").
 * Values in the patch are deep copies.
 * @return a new array (caller owns; empty when equal), or NULL on
 *         allocation failure.
 */
json_t *bw_json_patch_diff (const json_t *from, const json_t *to);

#endif
