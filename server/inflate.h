/**
 * @file server/inflate.h
 * Decoding of `Content-Encoding: gzip` request bodies (RFC 9110 §8.4.1.3,
 * RFC 1952) with zlib, under a hard cap on the decoded size, so that a
 * small compressed body cannot expand into unbounded memory (a "gzip
 * bomb"): inflation stops as soon as the output passes the cap.
 */
#ifndef BW_SERVER_INFLATE_H
#define BW_SERVER_INFLATE_H

#include <stddef.h>

/** Outcome of bw_inflate_gzip. */
enum bw_inflate_result
{
  BW_INFLATE_OK = 0,
  BW_INFLATE_TOO_LARGE, /**< the decoded body would exceed the cap: answer 413 */
  BW_INFLATE_INVALID,   /**< not a complete gzip stream, bad CRC, or bytes after it: 400 */
  BW_INFLATE_NOMEM,     /**< allocation failure: 500 */
};

/**
 * Decode the gzip stream @a in of @a in_len bytes (borrowed; exactly one
 * gzip member, nothing after it).
 * @param max      largest decoded size accepted, in bytes
 * @param[out] out the decoded bytes, malloc'd, NUL-terminated (the NUL is
 *                 not counted in *out_len), owned by the caller; NULL on
 *                 any failure
 * @param[out] out_len decoded bytes
 * @return BW_INFLATE_OK, or why not.
 */
enum bw_inflate_result bw_inflate_gzip (const char *in, size_t in_len, size_t max, char **out,
                                        size_t *out_len);

#endif
