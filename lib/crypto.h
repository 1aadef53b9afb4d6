/**
 * @file lib/crypto.h
 * Small wrappers over OpenSSL 3: random bytes, SHA-256, hex and base64url
 * (RFC 4648 §5, no padding), constant-time comparison.
 */
#ifndef BW_LIB_CRYPTO_H
#define BW_LIB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/** Bytes in a SHA-256 digest. */
#define BW_SHA256_LEN 32
/** Characters in a hex SHA-256 digest, without the terminating NUL. */
#define BW_SHA256_HEX_LEN 64

/** Fill @a buf with @a len bytes from the CSPRNG.  @return 0, or -1 on failure. */
int bw_random (void *buf, size_t len);

/** SHA-256 (FIPS 180-4) of @a len bytes at @a data into @a out. */
void bw_sha256 (const void *data, size_t len, unsigned char out[BW_SHA256_LEN]);

/** Lowercase hex of @a len bytes into @a out, which holds 2*len+1 chars (NUL-terminated). */
void bw_hex (const unsigned char *in, size_t len, char *out);

/** Lowercase hex SHA-256 of @a data: 64 chars + NUL into @a out. */
void bw_sha256_hex (const void *data, size_t len, char out[BW_SHA256_HEX_LEN + 1]);

/** Whether @a s is exactly BW_SHA256_HEX_LEN lowercase hex digits (a bw_sha256_hex output). */
bool bw_sha256_hex_valid (const char *s);

/**
 * base64url without padding (RFC 4648 §5) of @a len bytes into @a out,
 * which must hold 4*ceil(len/3)+1 chars.  @return chars written (excl. NUL).
 */
size_t bw_b64url_encode (const unsigned char *in, size_t len, char *out);

/**
 * Decode base64url without padding (RFC 4648 §5), strictly: only the URL
 * alphabet, no padding or whitespace, and zero trailing bits.
 * @param[out] out_len  decoded bytes
 * @return malloc'd bytes plus a NUL (caller frees), or NULL if invalid.
 */
unsigned char *bw_b64url_decode (const char *in, size_t in_len, size_t *out_len);

/** Whether the @a len chars at @a s are all of the base64url alphabet. */
bool bw_b64url_valid (const char *s, size_t len);

/** Constant-time equality of two @a len-byte buffers. */
bool bw_consttime_eq (const void *a, const void *b, size_t len);

#endif
