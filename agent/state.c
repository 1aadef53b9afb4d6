/*
 * The agent's on-disk state (see state.h for the files).
 *
 * Nothing here talks to the server.  What is stored was verified before it
 * was stored (agent/enroll.c, agent/sync.c); loading trusts the directory,
 * which only this user can read and write, and still checks what is cheap
 * to check (the bundle's hash) so a damaged disk shows as an error rather
 * than as a policy.
 */
#include "config.h"
#include "agent/state.h"

#include "lib/crypto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/** Longest identity.json / status.json / credential file, bytes. */
#define SMALL_FILE_MAX (16u * 1024)

int
ag_state_dir (const char *flag, char out[AG_PATH_MAX])
{
  const char *v;
  int n;
  if (NULL != flag && '\0' != flag[0])
    n = snprintf (out, AG_PATH_MAX, "%s", flag);
  else if (NULL != (v = getenv ("BULWARK_AGENT_STATE_DIR")) && '\0' != v[0])
    n = snprintf (out, AG_PATH_MAX, "%s", v);
  /* XDG Base Directory: a relative XDG_STATE_HOME is invalid and ignored. */
  else if (NULL != (v = getenv ("XDG_STATE_HOME")) && '/' == v[0])
    n = snprintf (out, AG_PATH_MAX, "%s/bulwark", v);
  else if (NULL != (v = getenv ("HOME")) && '/' == v[0])
    n = snprintf (out, AG_PATH_MAX, "%s/.local/state/bulwark", v);
  else
    return -1;
  return (n < 0 || n >= AG_PATH_MAX) ? -1 : 0;
}

int
ag_state_mkdir (const char *dir)
{
  char path[AG_PATH_MAX];
  if ((size_t) snprintf (path, sizeof (path), "%s", dir) >= sizeof (path))
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  /* Parents are created as the user's umask says; the state directory itself is 0700. */
  for (char *p = path + 1; *p; p++)
    if ('/' == *p)
      {
        *p = '\0';
        if (0 != mkdir (path, 0755) && EEXIST != errno)
          return -1;
        *p = '/';
      }
  if (0 != mkdir (path, 0700) && EEXIST != errno)
    return -1;
  return chmod (path, 0700);
}

static int
join (char *out, size_t n, const char *dir, const char *name)
{
  int r = snprintf (out, n, "%s/%s", dir, name);
  if (r < 0 || (size_t) r >= n)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  return 0;
}

int
ag_write_all (int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && EINTR == errno)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      len -= (size_t) w;
    }
  return 0;
}

int
ag_fsync_dir (const char *dir)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int r = fsync (fd);
  close (fd);
  return r;
}

int
ag_file_replace (const char *dir, const char *name, const void *data, size_t len)
{
  char tmp[AG_PATH_MAX + 64], final[AG_PATH_MAX + 64], tname[128];
  snprintf (tname, sizeof (tname), ".%s.tmp.%ld", name, (long) getpid ());
  if (0 != join (tmp, sizeof (tmp), dir, tname) || 0 != join (final, sizeof (final), dir, name))
    return -1;
  (void) unlink (tmp); /* left by a crashed process with our pid */
  int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  if (0 != ag_write_all (fd, data, len) || 0 != fsync (fd))
    goto fail;
  if (0 != close (fd))
    {
      fd = -1;
      goto fail;
    }
  fd = -1;
  if (0 != rename (tmp, final))
    goto fail;
  return ag_fsync_dir (dir);
fail:
  {
    int e = errno;
    if (fd >= 0)
      close (fd);
    unlink (tmp);
    errno = e;
  }
  return -1;
}

int
ag_file_read (const char *dir, const char *name, size_t max, char **out, size_t *len)
{
  char path[AG_PATH_MAX + 64];
  *out = NULL;
  *len = 0;
  if (0 != join (path, sizeof (path), dir, name))
    return -1;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ENOENT == errno ? 1 : -1;
  struct stat sb;
  if (0 != fstat (fd, &sb) || !S_ISREG (sb.st_mode) || (uint64_t) sb.st_size > max)
    {
      close (fd);
      errno = EFBIG;
      return -1;
    }
  size_t want = (size_t) sb.st_size;
  char *buf = malloc (want + 1);
  size_t got = 0;
  if (NULL == buf)
    {
      close (fd);
      return -1;
    }
  while (got < want)
    {
      ssize_t r = read (fd, buf + got, want - got);
      if (r < 0 && EINTR == errno)
        continue;
      if (r <= 0)
        break;
      got += (size_t) r;
    }
  close (fd);
  if (got != want)
    {
      free (buf);
      errno = EIO;
      return -1;
    }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  return 0;
}

int
ag_file_remove (const char *dir, const char *name)
{
  char path[AG_PATH_MAX + 64];
  if (0 != join (path, sizeof (path), dir, name))
    return -1;
  return (0 == unlink (path) || ENOENT == errno) ? 0 : -1;
}

/* Remove every bundle file but @keep (NULL: all). */
static void
remove_bundles (const char *dir, const char *keep)
{
  DIR *d = opendir (dir);
  if (NULL == d)
    return;
  struct dirent *e;
  while (NULL != (e = readdir (d)))
    if (0 == strncmp (e->d_name, "bundle-", 7) && (NULL == keep || 0 != strcmp (e->d_name, keep)))
      (void) ag_file_remove (dir, e->d_name);
  closedir (d);
}

int
ag_state_reset (const char *dir)
{
  static const char *const files[] = {
    "identity.json",
    "credential",
    "head.jws",
    "keyset.json",
    "status.json",
    "events.json",
    "spool.jsonl",
    "events.rejected.jsonl",
    NULL,
  };
  for (size_t i = 0; files[i]; i++)
    if (0 != ag_file_remove (dir, files[i]))
      return -1;
  remove_bundles (dir, NULL);
  return 0;
}

/* ---- identity ---- */

static int
copy_str (char *dst, size_t n, const json_t *v)
{
  const char *s = json_string_value (v);
  if (NULL == s || strlen (s) >= n)
    return -1;
  memcpy (dst, s, strlen (s) + 1);
  return 0;
}

int
ag_identity_save (const char *dir, const struct ag_identity *id)
{
  json_t *j
    = json_pack ("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "server", id->server, "agent_id",
                 id->agent_id, "org", "id", id->org_id, "slug", id->org_slug, "subject", "kind",
                 id->subject_kind, "id", id->subject_id, "hostname", id->hostname);
  if (NULL == j)
    return -1;
  char *s = json_dumps (j, JSON_INDENT (2) | JSON_SORT_KEYS);
  json_decref (j);
  if (NULL == s)
    return -1;
  /* The credential first: an identity without its credential would look enrolled. */
  int r = ag_file_replace (dir, "credential", id->credential, strlen (id->credential));
  if (0 == r)
    r = ag_file_replace (dir, "identity.json", s, strlen (s));
  free (s);
  return r;
}

int
ag_identity_load (const char *dir, struct ag_identity *id)
{
  char *buf = NULL, *cred = NULL;
  size_t len, clen;
  int r;
  memset (id, 0, sizeof (*id));
  r = ag_file_read (dir, "identity.json", SMALL_FILE_MAX, &buf, &len);
  if (0 != r)
    return r;
  r = ag_file_read (dir, "credential", SMALL_FILE_MAX, &cred, &clen);
  if (0 != r)
    {
      free (buf);
      return -1; /* identity.json is written after the credential */
    }
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, NULL);
  free (buf);
  json_t *org = json_object_get (j, "org");
  json_t *sub = json_object_get (j, "subject");
  if (NULL == j || 0 != copy_str (id->server, sizeof (id->server), json_object_get (j, "server"))
      || 0 != copy_str (id->agent_id, sizeof (id->agent_id), json_object_get (j, "agent_id"))
      || 0 != copy_str (id->org_id, sizeof (id->org_id), json_object_get (org, "id"))
      || 0 != copy_str (id->org_slug, sizeof (id->org_slug), json_object_get (org, "slug"))
      || 0 != copy_str (id->subject_kind, sizeof (id->subject_kind), json_object_get (sub, "kind"))
      || 0 != copy_str (id->subject_id, sizeof (id->subject_id), json_object_get (sub, "id"))
      || 0 != copy_str (id->hostname, sizeof (id->hostname), json_object_get (j, "hostname")))
    {
      json_decref (j);
      OPENSSL_cleanse (cred, clen);
      free (cred);
      return -1;
    }
  json_decref (j);
  cred[strcspn (cred, "\r\n")] = '\0';
  id->credential = cred;
  return 0;
}

void
ag_identity_clear (struct ag_identity *id)
{
  if (NULL == id || NULL == id->credential)
    return;
  OPENSSL_cleanse (id->credential, strlen (id->credential));
  free (id->credential);
  id->credential = NULL;
}

/* ---- keyset ---- */

int
ag_keyset_load (const char *dir, struct bw_keyset **out)
{
  char *buf;
  size_t len;
  *out = NULL;
  int r = ag_file_read (dir, "keyset.json", AG_KEYSET_MAX, &buf, &len);
  if (0 != r)
    return r;
  json_t *doc = json_loadb (buf, len, JSON_REJECT_DUPLICATES, NULL);
  free (buf);
  if (NULL == doc)
    return -1;
  *out = bw_keyset_load_verified (doc);
  json_decref (doc);
  return NULL == *out ? -1 : 0;
}

int
ag_keyset_save (const char *dir, const char *doc, size_t len)
{
  return ag_file_replace (dir, "keyset.json", doc, len);
}

/* ---- active bundle ---- */

static int
get_u64 (const json_t *o, const char *k, uint64_t *out)
{
  const json_t *v = json_object_get (o, k);
  if (!json_is_integer (v) || json_integer_value (v) < 0)
    return -1;
  *out = (uint64_t) json_integer_value (v);
  return 0;
}

int
ag_head_decode (const char *jws, struct bw_head_claims *out)
{
  const char *a = strchr (jws, '.');
  const char *b = a ? strchr (a + 1, '.') : NULL;
  if (NULL == b)
    return -1;
  size_t plen;
  unsigned char *payload = bw_b64url_decode (a + 1, (size_t) (b - a - 1), &plen);
  if (NULL == payload)
    return -1;
  json_t *j = json_loadb ((const char *) payload, plen, JSON_REJECT_DUPLICATES, NULL);
  free (payload);
  uint64_t iat = 0, exp = 0;
  memset (out, 0, sizeof (*out));
  int r = (NULL != j && 0 == copy_str (out->iss, sizeof (out->iss), json_object_get (j, "iss"))
           && 0 == copy_str (out->sub, sizeof (out->sub), json_object_get (j, "sub"))
           && 0 == copy_str (out->aud, sizeof (out->aud), json_object_get (j, "aud"))
           && 0 == copy_str (out->sha256, sizeof (out->sha256), json_object_get (j, "sha256"))
           && 0 == get_u64 (j, "bundle_version", &out->bundle_version)
           && 0 == get_u64 (j, "head_serial", &out->head_serial)
           && 0 == get_u64 (j, "length", &out->length)
           && 0 == get_u64 (j, "keyset_version", &out->keyset_version)
           && 0 == get_u64 (j, "iat", &iat) && 0 == get_u64 (j, "exp", &exp))
            ? 0
            : -1;
  out->iat = (int64_t) iat;
  out->exp = (int64_t) exp;
  json_decref (j);
  return r;
}

static void
bundle_name (char out[128], const char *sha256)
{
  snprintf (out, 128, "bundle-%s.json", sha256);
}

int
ag_active_load (const char *dir, struct ag_active *out)
{
  char *jws = NULL, *bytes = NULL, name[128], sha[BW_SHA256_HEX_LEN + 1], why[128];
  size_t len, blen;
  memset (out, 0, sizeof (*out));
  int r = ag_file_read (dir, "head.jws", BW_JWS_MAX, &jws, &len);
  if (0 != r)
    return r;
  r = ag_head_decode (jws, &out->head);
  free (jws);
  if (0 != r)
    return -1;
  bundle_name (name, out->head.sha256);
  if (0 != ag_file_read (dir, name, BW_BUNDLE_MAX, &bytes, &blen))
    return -1;
  bw_sha256_hex (bytes, blen, sha);
  if (blen != out->head.length || 0 != strcmp (sha, out->head.sha256))
    {
      free (bytes);
      return -1;
    }
  out->bundle = bw_bundle_parse (bytes, blen, why, sizeof (why));
  free (bytes);
  return NULL == out->bundle ? -1 : 0;
}

void
ag_active_clear (struct ag_active *a)
{
  if (NULL == a)
    return;
  bw_bundle_free (a->bundle);
  a->bundle = NULL;
}

/* Remove every bundle file but the one the active head names. */
static void
collect_bundles (const char *dir, const char *keep_sha)
{
  char keep[128];
  bundle_name (keep, keep_sha);
  remove_bundles (dir, keep);
}

int
ag_active_save (const char *dir, const struct bw_head_claims *claims, const char *jws,
                const void *bytes, size_t len)
{
  char name[128];
  if (NULL != bytes)
    {
      bundle_name (name, claims->sha256);
      if (0 != ag_file_replace (dir, name, bytes, len))
        return -1;
    }
  if (0 != ag_file_replace (dir, "head.jws", jws, strlen (jws)))
    return -1;
  collect_bundles (dir, claims->sha256);
  return 0;
}

/* ---- status ---- */

int
ag_status_load (const char *dir, struct ag_status *st)
{
  char *buf;
  size_t len;
  memset (st, 0, sizeof (*st));
  int r = ag_file_read (dir, "status.json", SMALL_FILE_MAX, &buf, &len);
  if (1 == r)
    return 0;
  if (0 != r)
    return -1;
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, NULL);
  free (buf);
  if (NULL == j)
    return -1;
  (void) copy_str (st->state, sizeof (st->state), json_object_get (j, "state"));
  (void) copy_str (st->last_error, sizeof (st->last_error), json_object_get (j, "last_error"));
  st->last_checkin = json_integer_value (json_object_get (j, "last_checkin"));
  json_decref (j);
  return 0;
}

int
ag_status_save (const char *dir, const struct ag_status *st)
{
  json_t *j = json_pack ("{s:s, s:o, s:I}", "state", st->state, "last_error",
                         st->last_error[0] ? json_string (st->last_error) : json_null (),
                         "last_checkin", (json_int_t) st->last_checkin);
  if (NULL == j)
    return -1;
  char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (j);
  if (NULL == s)
    return -1;
  int r = ag_file_replace (dir, "status.json", s, strlen (s));
  free (s);
  return r;
}
