/*
 * gzip request bodies, decoded into a buffer that grows in steps and never
 * beyond cap + 1 bytes: filling that last byte proves the body too large
 * without decoding the rest of it.
 */
#include "config.h"
#include "server/inflate.h"

#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

/** First output buffer size, in bytes (grown by doubling). */
#define INFLATE_FIRST_CHUNK (64u * 1024)
/** zlib windowBits for a gzip wrapper only (zlib.h: 15 + 16). */
#define GZIP_WINDOW_BITS (MAX_WBITS + 16)

enum bw_inflate_result
bw_inflate_gzip (const char *in, size_t in_len, size_t max, char **out, size_t *out_len)
{
  *out = NULL;
  *out_len = 0;
  if (in_len > UINT_MAX || max >= (size_t) UINT_MAX)
    return BW_INFLATE_TOO_LARGE; /* zlib counts in uInt; bodies are far smaller */
  z_stream zs = { 0 };
  if (Z_OK != inflateInit2 (&zs, GZIP_WINDOW_BITS))
    return BW_INFLATE_NOMEM;
  size_t limit = max + 1; /* room for one byte too many */
  size_t cap = (limit < INFLATE_FIRST_CHUNK) ? limit : INFLATE_FIRST_CHUNK;
  char *buf = malloc (cap + 1);
  enum bw_inflate_result rc = BW_INFLATE_NOMEM;
  size_t used = 0;
  if (NULL == buf)
    goto cleanup;
  zs.next_in = (Bytef *) in;
  zs.avail_in = (uInt) in_len;
  for (;;)
    {
      if (used == cap)
        {
          if (cap == limit)
            {
              rc = BW_INFLATE_TOO_LARGE;
              goto cleanup;
            }
          size_t grown_cap = (cap > limit / 2) ? limit : cap * 2;
          char *grown = realloc (buf, grown_cap + 1);
          if (NULL == grown)
            goto cleanup;
          buf = grown;
          cap = grown_cap;
        }
      zs.next_out = (Bytef *) buf + used;
      zs.avail_out = (uInt) (cap - used);
      int z = inflate (&zs, Z_NO_FLUSH);
      used = cap - zs.avail_out;
      if (Z_STREAM_END == z)
        break;
      if (Z_MEM_ERROR == z)
        goto cleanup;
      /* Z_BUF_ERROR with output room left: the input ended mid-stream */
      if ((Z_OK != z && Z_BUF_ERROR != z) || (Z_BUF_ERROR == z && used < cap))
        {
          rc = BW_INFLATE_INVALID;
          goto cleanup;
        }
    }
  if (used > max)
    {
      rc = BW_INFLATE_TOO_LARGE;
      goto cleanup;
    }
  if (0 != zs.avail_in)
    {
      rc = BW_INFLATE_INVALID; /* a second member or trailing bytes */
      goto cleanup;
    }
  buf[used] = '\0';
  *out = buf;
  *out_len = used;
  buf = NULL;
  rc = BW_INFLATE_OK;
cleanup:
  inflateEnd (&zs);
  free (buf);
  return rc;
}
