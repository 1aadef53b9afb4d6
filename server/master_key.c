/*
 * The server master key (see server/master_key.h): loaded once at start
 * from BULWARK_MASTER_KEY, BULWARK_MASTER_KEY_FILE or <data dir>/master.key
 * (created there, mode 0600, when absent), then used read-only by every
 * thread to seal and open the orgs' private signing keys with AES-256-GCM.
 * The key never reaches a log line; error messages name its source only.
 */
#include "config.h"
#include "server/master_key.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/** Bytes of the AES-256 key. */
#define KEY_LEN 32
/** Hex characters of the key in its textual forms. */
#define KEY_HEX_LEN (2 * KEY_LEN)
/** GCM nonce bytes (NIST SP 800-38D §8.2.2: 96-bit random nonces). */
#define NONCE_LEN 12
/** GCM tag bytes. */
#define TAG_LEN 16
/** Largest plaintext sealed (a PKCS#8 P-256 key is about 140 bytes). */
#define PLAIN_MAX 4096
/** Bytes read from a key file: the hex key, a line break, some slack for whitespace. */
#define KEY_FILE_MAX 256
/** Name of the generated key file inside the data directory. */
#define KEY_FILE_NAME "master.key"

static unsigned char key[KEY_LEN];
static char key_id[BW_MASTER_KEY_ID_LEN + 1];
static bool loaded;

static int
hex_value (char c)
{
  if ('0' <= c && c <= '9')
    return c - '0';
  if ('a' <= c && c <= 'f')
    return c - 'a' + 10;
  if ('A' <= c && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * Decode exactly KEY_HEX_LEN hex characters, surrounded by nothing but
 * ASCII whitespace, into @a out.  @return 0, or -1.
 */
static int
parse_hex_key (const char *text, size_t len, unsigned char out[KEY_LEN])
{
  size_t b = 0;
  size_t e = len;
  while (b < e && NULL != strchr (" \t\r\n", text[b]))
    b++;
  while (e > b && NULL != strchr (" \t\r\n", text[e - 1]))
    e--;
  if (e - b != KEY_HEX_LEN)
    return -1;
  for (size_t i = 0; i < KEY_LEN; i++)
    {
      int hi = hex_value (text[b + 2 * i]);
      int lo = hex_value (text[b + 2 * i + 1]);
      if (hi < 0 || lo < 0)
        {
          OPENSSL_cleanse (out, KEY_LEN);
          return -1;
        }
      out[i] = (unsigned char) (hi << 4 | lo);
    }
  return 0;
}

/* Read the key from @a path.  @return 0, or -1 with a message on stderr. */
static int
read_key_file (const char *path, const char *what)
{
  char buf[KEY_FILE_MAX];
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      fprintf (stderr, "bulwarkd: cannot open the master key file %s (%s): %s\n", path, what,
               strerror (errno));
      return -1;
    }
  struct stat st;
  if (0 == fstat (fd, &st) && 0 != (st.st_mode & (S_IRWXG | S_IRWXO)))
    bw_log_json (BW_LOG_WARN, "the master key file is accessible to other users; chmod 600 it",
                 json_pack ("{s:s}", "path", path));
  size_t len = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf + len, sizeof (buf) - len);
      if (n < 0 && EINTR == errno)
        continue;
      if (n <= 0)
        break;
      len += (size_t) n;
      if (len == sizeof (buf))
        break;
    }
  close (fd);
  int rc = parse_hex_key (buf, len, key);
  OPENSSL_cleanse (buf, sizeof (buf));
  if (0 != rc)
    fprintf (stderr,
             "bulwarkd: the master key file %s (%s) must hold exactly %d hex "
             "characters\n",
             path, what, KEY_HEX_LEN);
  return rc;
}

/*
 * Create <dir>/master.key with a fresh random key: O_EXCL so that two
 * replicas sharing the directory never overwrite each other's key (the
 * loser reads the winner's), fsync'd before use.
 * @return 0 created, 1 it already existed, -1 failed (message printed).
 */
static int
create_key_file (const char *path)
{
  char hex[KEY_HEX_LEN + 2];
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      if (EEXIST == errno)
        return 1;
      fprintf (stderr, "bulwarkd: cannot create the master key file %s: %s\n", path,
               strerror (errno));
      return -1;
    }
  int rc = -1;
  if (0 != bw_random (key, sizeof (key)))
    {
      fprintf (stderr, "bulwarkd: no random bytes for the master key\n");
      goto cleanup;
    }
  bw_hex (key, sizeof (key), hex);
  hex[KEY_HEX_LEN] = '\n';
  if (write (fd, hex, KEY_HEX_LEN + 1) != KEY_HEX_LEN + 1 || 0 != fsync (fd))
    {
      fprintf (stderr, "bulwarkd: cannot write the master key file %s: %s\n", path,
               strerror (errno));
      goto cleanup;
    }
  rc = 0;
cleanup:
  OPENSSL_cleanse (hex, sizeof (hex));
  close (fd);
  if (0 != rc)
    {
      unlink (path);
      OPENSSL_cleanse (key, sizeof (key));
    }
  return rc;
}

static void
derive_id (void)
{
  unsigned char d[BW_SHA256_LEN];
  bw_sha256 (key, sizeof (key), d);
  bw_hex (d, BW_MASTER_KEY_ID_LEN / 2, key_id);
}

int
bw_master_key_init (const struct bw_config *cfg)
{
  const char *source;
  if (NULL != cfg->master_key)
    {
      source = "BULWARK_MASTER_KEY";
      if (0 != parse_hex_key (cfg->master_key, strlen (cfg->master_key), key))
        {
          fprintf (stderr,
                   "bulwarkd: BULWARK_MASTER_KEY must be exactly %d hex characters "
                   "(e.g. from `openssl rand -hex 32`)\n",
                   KEY_HEX_LEN);
          return -1;
        }
    }
  else if (NULL != cfg->master_key_file)
    {
      source = "BULWARK_MASTER_KEY_FILE";
      if (0 != read_key_file (cfg->master_key_file, source))
        return -1;
    }
  else if (NULL != cfg->data_dir)
    {
      char path[PATH_MAX];
      if ((size_t) snprintf (path, sizeof (path), "%s/%s", cfg->data_dir, KEY_FILE_NAME)
          >= sizeof (path))
        {
          fprintf (stderr, "bulwarkd: the data directory path is too long\n");
          return -1;
        }
      if (0 != mkdir (cfg->data_dir, 0700) && EEXIST != errno)
        {
          fprintf (stderr, "bulwarkd: cannot create the data directory %s: %s\n", cfg->data_dir,
                   strerror (errno));
          return -1;
        }
      int created = create_key_file (path);
      if (created < 0 || (1 == created && 0 != read_key_file (path, "in the data directory")))
        return -1;
      source = (0 == created) ? "generated into the data directory" : "data directory";
      if (0 == created)
        bw_log_json (BW_LOG_WARN,
                     "generated a new master key; back it up: without it the "
                     "orgs' signing keys cannot be opened",
                     json_pack ("{s:s}", "path", path));
    }
  else
    {
      fprintf (stderr, "bulwarkd: no master key: set BULWARK_MASTER_KEY (64 hex characters) or "
                       "BULWARK_MASTER_KEY_FILE, or set BULWARK_DATA_DIR so that one is "
                       "generated there\n");
      return -1;
    }
  derive_id ();
  loaded = true;
  bw_log_json (BW_LOG_INFO, "master key loaded",
               json_pack ("{s:s, s:s}", "source", source, "master_key_id", key_id));
  return 0;
}

const char *
bw_master_key_id (void)
{
  return key_id;
}

/*
 * One AES-256-GCM pass.  Encrypts when @a tag_out is non-NULL, else
 * decrypts and checks @a tag_in.  @return 0, or -1.
 */
static int
gcm (bool enc, const char *org_id, const unsigned char nonce[NONCE_LEN], const unsigned char *in,
     size_t len, unsigned char *out, unsigned char tag[TAG_LEN])
{
  int rc = -1;
  int n = 0;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  if (NULL == ctx || len > INT_MAX)
    goto cleanup;
  if (1 != EVP_CipherInit_ex (ctx, EVP_aes_256_gcm (), NULL, NULL, NULL, enc ? 1 : 0)
      || 1 != EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL)
      || 1 != EVP_CipherInit_ex (ctx, NULL, NULL, key, nonce, enc ? 1 : 0)
      || 1
           != EVP_CipherUpdate (ctx, NULL, &n, (const unsigned char *) org_id,
                                (int) strlen (org_id))
      || 1 != EVP_CipherUpdate (ctx, out, &n, in, (int) len))
    goto cleanup;
  if (!enc && 1 != EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag))
    goto cleanup;
  if (1 != EVP_CipherFinal_ex (ctx, out + n, &n))
    goto cleanup;
  if (enc && 1 != EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag))
    goto cleanup;
  rc = 0;
cleanup:
  EVP_CIPHER_CTX_free (ctx);
  return rc;
}

int
bw_master_key_seal (const char *org_id, const unsigned char *plain, size_t len, unsigned char **out,
                    size_t *out_len)
{
  *out = NULL;
  *out_len = 0;
  if (!loaded || len > PLAIN_MAX)
    return -1;
  unsigned char *s = malloc (NONCE_LEN + len + TAG_LEN);
  if (NULL == s)
    return -1;
  if (0 != bw_random (s, NONCE_LEN)
      || 0 != gcm (true, org_id, s, plain, len, s + NONCE_LEN, s + NONCE_LEN + len))
    {
      OPENSSL_cleanse (s, NONCE_LEN + len + TAG_LEN);
      free (s);
      return -1;
    }
  *out = s;
  *out_len = NONCE_LEN + len + TAG_LEN;
  return 0;
}

int
bw_master_key_open (const char *org_id, const unsigned char *sealed, size_t len,
                    unsigned char **out, size_t *out_len)
{
  *out = NULL;
  *out_len = 0;
  if (!loaded || len < NONCE_LEN + TAG_LEN || len > NONCE_LEN + PLAIN_MAX + TAG_LEN)
    return -1;
  size_t plain_len = len - NONCE_LEN - TAG_LEN;
  unsigned char tag[TAG_LEN];
  memcpy (tag, sealed + len - TAG_LEN, TAG_LEN);
  /* one spare byte: a zero-length plaintext still gets a buffer */
  unsigned char *p = malloc (plain_len + 1);
  if (NULL == p)
    return -1;
  if (0 != gcm (false, org_id, sealed, sealed + NONCE_LEN, plain_len, p, tag))
    {
      OPENSSL_cleanse (p, plain_len + 1);
      free (p);
      return -1;
    }
  *out = p;
  *out_len = plain_len;
  return 0;
}

void
bw_master_key_wipe (void)
{
  OPENSSL_cleanse (key, sizeof (key));
  loaded = false;
}
