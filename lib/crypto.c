/*
 * OpenSSL 3 wrappers.  base64url per RFC 4648 §5 without padding.
 */
#include "config.h"
#include "lib/crypto.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

int
bw_random (void *buf, size_t len)
{
  if (len > (size_t) INT32_MAX)
    return -1;
  return (1 == RAND_bytes (buf, (int) len)) ? 0 : -1;
}

void
bw_sha256 (const void *data, size_t len, unsigned char out[BW_SHA256_LEN])
{
  SHA256 (data, len, out);
}

void
bw_hex (const unsigned char *in, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++)
    {
      out[2 * i] = digits[in[i] >> 4];
      out[2 * i + 1] = digits[in[i] & 0xf];
    }
  out[2 * len] = '\0';
}

void
bw_sha256_hex (const void *data, size_t len, char out[BW_SHA256_HEX_LEN + 1])
{
  unsigned char md[BW_SHA256_LEN];
  bw_sha256 (data, len, md);
  bw_hex (md, sizeof (md), out);
}

size_t
bw_b64url_encode (const unsigned char *in, size_t len, char *out)
{
  static const char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  size_t i = 0;
  for (; i + 2 < len; i += 3)
    {
      unsigned int v = ((unsigned int) in[i] << 16) | ((unsigned int) in[i + 1] << 8) | in[i + 2];
      out[o++] = alphabet[(v >> 18) & 63];
      out[o++] = alphabet[(v >> 12) & 63];
      out[o++] = alphabet[(v >> 6) & 63];
      out[o++] = alphabet[v & 63];
    }
  if (len - i == 1)
    {
      unsigned int v = (unsigned int) in[i] << 16;
      out[o++] = alphabet[(v >> 18) & 63];
      out[o++] = alphabet[(v >> 12) & 63];
    }
  else if (len - i == 2)
    {
      unsigned int v = ((unsigned int) in[i] << 16) | ((unsigned int) in[i + 1] << 8);
      out[o++] = alphabet[(v >> 18) & 63];
      out[o++] = alphabet[(v >> 12) & 63];
      out[o++] = alphabet[(v >> 6) & 63];
    }
  out[o] = '\0';
  return o;
}

bool
bw_consttime_eq (const void *a, const void *b, size_t len)
{
  return 0 == CRYPTO_memcmp (a, b, len);
}
