/*
 * The agent's on-disk state (see state.h for the files).
 *
 * Nothing here talks to the server.  What is stored was verified before it
 * was stored (agent/enroll.c, agent/sync.c), and is verified again on every
 * load, so a damaged disk or an edited file shows as an error rather than
 * as a policy.
 */
#include "config.h"
#include "agent/state.h"

#include "lib/crypto.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* Whether @sb (of @name) is unsafe: not a plain file, another user's, or writable by others. */
static bool
unsafe_stat (const struct stat *sb, const char *name, bool is_dir, char *why, size_t whylen)
{
  uid_t me = geteuid ();
  if (is_dir ? !S_ISDIR (sb->st_mode) : !S_ISREG (sb->st_mode))
    snprintf (why, whylen, "%s is not a %s", name, is_dir ? "directory" : "regular file");
  else if (sb->st_uid != me && sb->st_uid != 0)
    snprintf (why, whylen, "%s is owned by uid %ld, not by uid %ld (or root)", name,
              (long) sb->st_uid, (long) me);
  else if (0 != (sb->st_mode & (S_IWGRP | S_IWOTH)))
    snprintf (why, whylen, "%s is writable by group or others (mode %04o)", name,
              (unsigned) (sb->st_mode & 07777));
  else
    return false;
  return true;
}

int
ag_state_secure (const char *dir, char *why, size_t whylen)
{
  struct stat sb;
  if (0 != stat (dir, &sb))
    {
      if (ENOENT == errno)
        return 1;
      snprintf (why, whylen, "the state directory cannot be read: %s", strerror (errno));
      return -1;
    }
  if (unsafe_stat (&sb, "the state directory", true, why, whylen))
    return -1;
  DIR *d = opendir (dir);
  if (NULL == d)
    {
      snprintf (why, whylen, "the state directory cannot be listed: %s", strerror (errno));
      return -1;
    }
  int r = 0;
  struct dirent *e;
  while (0 == r && NULL != (e = readdir (d)))
    if (0 != strcmp (e->d_name, ".") && 0 != strcmp (e->d_name, "..")
        && 0 == fstatat (dirfd (d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) /* else just removed */
        && unsafe_stat (&sb, e->d_name, false, why, whylen))
      r = -1;
  closedir (d);
  return r;
}

int
ag_run_lock (const char *dir)
{
  char path[AG_PATH_MAX + 16];
  if ((size_t) snprintf (path, sizeof (path), "%s/run.lock", dir) >= sizeof (path))
    return -1;
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0 && 0 != flock (fd, LOCK_EX | LOCK_NB))
    {
      close (fd);
      fd = -1;
    }
  return fd;
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

/* Remove every file whose name starts with @prefix, but @keep (NULL: all). */
static void
remove_files (const char *dir, const char *prefix, const char *keep)
{
  DIR *d = opendir (dir);
  if (NULL == d)
    return;
  struct dirent *e;
  while (NULL != (e = readdir (d)))
    if (0 == strncmp (e->d_name, prefix, strlen (prefix))
        && (NULL == keep || 0 != strcmp (e->d_name, keep)))
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
  remove_files (dir, "bundle-", NULL);
  remove_files (dir, "keyset-", NULL);
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

/* ---- keysets ---- */

int
ag_keyset_save (const char *dir, const char *doc, size_t len)
{
  return ag_file_replace (dir, "keyset.json", doc, len);
}

static void
keyset_name (char out[64], uint64_t version)
{
  snprintf (out, 64, "keyset-%" PRIu64 ".json", version);
}

/* Append @ks to @k (taken over).  0 or -1 (then freed). */
static int
keysets_push (struct ag_keysets *k, struct bw_keyset *ks)
{
  struct bw_keyset **v = realloc (k->v, (k->n + 1) * sizeof (*v));
  if (NULL == v)
    {
      bw_keyset_free (ks);
      return -1;
    }
  k->v = v;
  k->v[k->n++] = ks;
  return 0;
}

/* Read keyset file @name: 0 and the JSON document; 1 when absent; -1. */
static int
keyset_read (const char *dir, const char *name, json_t **doc)
{
  char *buf;
  size_t len;
  *doc = NULL;
  int r = ag_file_read (dir, name, AG_KEYSET_MAX, &buf, &len);
  if (0 != r)
    return r;
  *doc = json_loadb (buf, len, JSON_REJECT_DUPLICATES, NULL);
  free (buf);
  return NULL == *doc ? -1 : 0;
}

int
ag_keysets_load (const char *dir, const char *org_id, struct ag_keysets *out, char *why,
                 size_t whylen)
{
  char name[64] = "keyset.json";
  json_t *doc;
  memset (out, 0, sizeof (*out));
  int r = keyset_read (dir, name, &doc);
  if (1 == r)
    {
      snprintf (why, whylen, "keyset.json: missing");
      return -1;
    }
  /* The first was trusted at enrollment; each next one must be signed by the one before it. */
  while (0 == r)
    {
      struct bw_keyset *ks = NULL;
      enum bw_keyset_error e = 0 == out->n ? bw_keyset_trust_first (doc, org_id, &ks)
                                           : bw_keyset_advance (ag_keysets_current (out), doc, &ks);
      json_decref (doc);
      if (BW_KEYSET_OK != e)
        {
          snprintf (why, whylen, "%s: %s", name, bw_keyset_error_name (e));
          break;
        }
      if (0 != keysets_push (out, ks))
        {
          snprintf (why, whylen, "out of memory");
          ag_keysets_clear (out);
          return -1;
        }
      keyset_name (name, bw_keyset_version (ks) + 1);
      r = keyset_read (dir, name, &doc);
      if (1 == r)
        return 0; /* the end of the chain */
    }
  if (r < 0)
    snprintf (why, whylen, "%s: unreadable", name);
  if (out->n > 0)
    return 1; /* a later link: the chain up to it stands */
  return -1;
}

int
ag_keysets_truncate (const char *dir, const struct ag_keysets *k)
{
  uint64_t have = bw_keyset_version (ag_keysets_current (k));
  DIR *d = opendir (dir);
  if (NULL == d)
    return -1;
  int r = 0;
  struct dirent *e;
  while (NULL != (e = readdir (d)))
    {
      char *end;
      if (0 != strncmp (e->d_name, "keyset-", 7) || !isdigit ((unsigned char) e->d_name[7]))
        continue;
      unsigned long long n = strtoull (e->d_name + 7, &end, 10);
      if (0 == strcmp (end, ".json") && n > have && 0 != ag_file_remove (dir, e->d_name))
        r = -1;
    }
  closedir (d);
  return r;
}

const struct bw_keyset *
ag_keysets_current (const struct ag_keysets *k)
{
  return 0 == k->n ? NULL : k->v[k->n - 1];
}

const struct bw_keyset *
ag_keysets_find (const struct ag_keysets *k, uint64_t version)
{
  /* Versions go up one at a time from the first. */
  if (0 == k->n || version < bw_keyset_version (k->v[0]))
    return NULL;
  uint64_t i = version - bw_keyset_version (k->v[0]);
  return i < k->n ? k->v[i] : NULL;
}

int
ag_keysets_append (const char *dir, struct ag_keysets *k, const char *doc, size_t len,
                   struct bw_keyset *next)
{
  char name[64];
  keyset_name (name, bw_keyset_version (next));
  if (0 != ag_file_replace (dir, name, doc, len))
    {
      bw_keyset_free (next);
      return -1;
    }
  return keysets_push (k, next);
}

void
ag_keysets_clear (struct ag_keysets *k)
{
  if (NULL == k)
    return;
  for (size_t i = 0; i < k->n; i++)
    bw_keyset_free (k->v[i]);
  free (k->v);
  k->v = NULL;
  k->n = 0;
}

/* ---- active bundle ---- */

/* The keyset_version a head claims, read without verifying: which keyset to verify it with. */
static int
claimed_keyset (const char *jws, uint64_t *out)
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
  json_t *v = json_object_get (j, "keyset_version");
  int r = json_is_integer (v) && json_integer_value (v) > 0 ? 0 : -1;
  if (0 == r)
    *out = (uint64_t) json_integer_value (v);
  json_decref (j);
  return r;
}

static void
bundle_name (char out[128], const char *sha256)
{
  snprintf (out, 128, "bundle-%s.json", sha256);
}

static int
active_load (const char *dir, const struct ag_identity *id, const struct ag_keysets *ks,
             struct ag_active *out, char *why, size_t whylen)
{
  char *jws = NULL, *bytes = NULL, name[128], sha[BW_SHA256_HEX_LEN + 1], perr[128];
  size_t len, blen;
  uint64_t ksv = 0;
  memset (out, 0, sizeof (*out));
  int r = ag_file_read (dir, "head.jws", BW_JWS_MAX, &jws, &len);
  if (1 == r)
    return 1;
  if (0 != r)
    {
      snprintf (why, whylen, "head.jws: unreadable");
      return -1;
    }
  /*
   * exp is left to the caller (stale mode): `now` = -1 lies before every
   * head's exp.  Nothing is compared with a last head: this one is it.
   */
  struct bw_head_expect ex = { .org_id = id->org_id, .subject_id = id->subject_id, .now = -1 };
  /* The keyset the head names; else the current one, whose verdict then says what is wrong. */
  const struct bw_keyset *signer
    = 0 == claimed_keyset (jws, &ksv) ? ag_keysets_find (ks, ksv) : NULL;
  enum bw_jws_error je = BW_JWS_OK;
  enum bw_head_error he
    = bw_head_verify (jws, NULL != signer ? signer : ag_keysets_current (ks), &ex, &out->head, &je);
  free (jws);
  if (BW_HEAD_OK != he)
    {
      snprintf (why, whylen, "head.jws: %s",
                BW_HEAD_BAD_JWS == he ? bw_jws_error_name (je) : bw_head_error_name (he));
      return -1;
    }
  bundle_name (name, out->head.sha256);
  if (0 != ag_file_read (dir, name, BW_BUNDLE_MAX, &bytes, &blen))
    {
      snprintf (why, whylen, "%s: missing or unreadable", name);
      return -1;
    }
  bw_sha256_hex (bytes, blen, sha);
  if (blen != out->head.length || 0 != strcmp (sha, out->head.sha256))
    {
      free (bytes);
      snprintf (why, whylen, "%s: not the bytes the head signs", name);
      return -1;
    }
  out->bundle = bw_bundle_parse (bytes, blen, perr, sizeof (perr));
  free (bytes);
  if (NULL == out->bundle)
    {
      snprintf (why, whylen, "%s: %s", name, perr);
      return -1;
    }
  return 0;
}

int
ag_active_load (const char *dir, const struct ag_identity *id, const struct ag_keysets *ks,
                struct ag_active *out, char *why, size_t whylen)
{
  int r = active_load (dir, id, ks, out, why, whylen);
  if (r < 0)
    ag_active_clear (out); /* nothing half-loaded is ever used */
  return r;
}

void
ag_active_clear (struct ag_active *a)
{
  if (NULL == a)
    return;
  bw_bundle_free (a->bundle);
  memset (a, 0, sizeof (*a));
}

int
ag_active_save (const char *dir, const struct bw_head_claims *claims, const char *jws,
                const void *bytes, size_t len)
{
  char name[128];
  bundle_name (name, claims->sha256);
  if (NULL != bytes && 0 != ag_file_replace (dir, name, bytes, len))
    return -1;
  if (0 != ag_file_replace (dir, "head.jws", jws, strlen (jws)))
    return -1;
  remove_files (dir, "bundle-", name); /* what no head names any more */
  return 0;
}

int
ag_active_drop (const char *dir)
{
  if (0 != ag_file_remove (dir, "head.jws"))
    return -1;
  remove_files (dir, "bundle-", NULL);
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

/* ---- all of it ---- */

void
ag_state_load (const char *dir, struct ag_state *st)
{
  memset (st, 0, sizeof (*st));
  if (ag_state_secure (dir, st->unsafe, sizeof (st->unsafe)) < 0)
    {
      st->enrolled = -1;
      return;
    }
  st->enrolled = ag_identity_load (dir, &st->id);
  if (0 != ag_status_load (dir, &st->status))
    memset (&st->status, 0, sizeof (st->status));
  if (0 != st->enrolled)
    return;
  int r = ag_keysets_load (dir, st->id.org_id, &st->ks, st->damage, sizeof (st->damage));
  if (1 == r)
    {
      ag_keysets_clear (&st->ks); /* `run` fetches the rest again; until then, nothing is trusted */
      r = -1;
    }
  if (0 == r)
    r = ag_active_load (dir, &st->id, &st->ks, &st->active, st->damage, sizeof (st->damage));
  if (r < 0)
    snprintf (st->status.last_error, sizeof (st->status.last_error), "state:damaged");
}

void
ag_state_clear (struct ag_state *st)
{
  ag_active_clear (&st->active);
  ag_keysets_clear (&st->ks);
  ag_identity_clear (&st->id);
}

bool
ag_state_revoked (const struct ag_state *st)
{
  return 0 == strcmp (st->status.state, "revoked");
}
