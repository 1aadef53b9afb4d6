/*
 * OpenSSL 3 wrappers.  base64url per RFC 4648 §5 without padding.
 */
#include "config.h"
#include "lib/crypto.h"

#include <stdint.h>
#include <stdlib.h>
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

static int
b64url_value (unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if ('-' == c)
    return 62;
  if ('_' == c)
    return 63;
  return -1;
}

/*
 * Strict: only the RFC 4648 §5 alphabet, no padding, no whitespace, a
 * length that some byte string encodes to (not 1 mod 4), and zero bits
 * where the last character has more bits than the data: every byte
 * string then has exactly one accepted encoding.
 */
unsigned char *
bw_b64url_decode (const char *in, size_t in_len, size_t *out_len)
{
  if (NULL == in || in_len % 4 == 1 || in_len > SIZE_MAX / 3)
    return NULL;
  size_t cap = in_len / 4 * 3 + 3;
  unsigned char *out = malloc (cap + 1);
  if (NULL == out)
    return NULL;
  size_t o = 0;
  uint32_t acc = 0;
  unsigned int bits = 0;
  for (size_t i = 0; i < in_len; i++)
    {
      int v = b64url_value ((unsigned char) in[i]);
      if (v < 0)
        {
          free (out);
          return NULL;
        }
      acc = (acc << 6) | (uint32_t) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (unsigned char) (acc >> bits);
          acc &= (1u << bits) - 1;
        }
    }
  if (0 != acc)
    {
      free (out);
      return NULL;
    }
  out[o] = '\0';
  *out_len = o;
  return out;
}

bool
bw_b64url_valid (const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (b64url_value ((unsigned char) s[i]) < 0)
      return false;
  return true;
}

bool
bw_sha256_hex_valid (const char *s)
{
  size_t n = 0;

  for (; n < BW_SHA256_HEX_LEN; n++)
    if (!(('0' <= s[n] && s[n] <= '9') || ('a' <= s[n] && s[n] <= 'f')))
      return false;
  return '\0' == s[n];
}
