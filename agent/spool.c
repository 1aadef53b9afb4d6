/*
 * The event spool (see spool.h).
 *
 * Appenders (`check`, several processes at once) and the one uploader
 * (`run`, which holds run.lock) take spool.lock around every touch of the
 * files, but the uploader never holds it across the network: it copies a
 * batch out, sends it, and only then, locked again, cuts the acknowledged
 * bytes off the front.  Appends made meanwhile are past those bytes, so
 * they survive the cut.
 */
#include "config.h"
#include "agent/spool.h"

#include "agent/state.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/** Bodies smaller than this are sent as they are: gzip would not pay for itself. */
#define GZIP_MIN_BYTES 1024
/** Seconds an event upload may take. */
#define UPLOAD_TIMEOUT_S 60

static size_t
spool_max (void)
{
  const char *v = getenv ("BULWARK_AGENT_SPOOL_MAX_BYTES");
  if (NULL != v && '\0' != v[0])
    {
      char *end;
      unsigned long long n = strtoull (v, &end, 10);
      if ('\0' == *end && n > 0 && n <= 1024ull * 1024 * 1024)
        return (size_t) n;
    }
  return AG_SPOOL_MAX_BYTES;
}

/* flock(2) on spool.lock; the fd, or -1. */
static int
lock_spool (const char *dir)
{
  char path[AG_PATH_MAX + 64];
  if ((size_t) snprintf (path, sizeof (path), "%s/spool.lock", dir) >= sizeof (path))
    return -1;
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  while (0 != flock (fd, LOCK_EX))
    if (EINTR != errno)
      {
        close (fd);
        return -1;
      }
  return fd;
}

static void
unlock_spool (int fd)
{
  if (fd >= 0)
    close (fd); /* releases the flock */
}

/* events.json: the counters, and whether a damaged spool awaits its report (spool.h). */
struct counters
{
  uint64_t last_seq, dropped;
  bool damaged;
};

/* Read events.json.  0 (zeros when absent), or -1 when unreadable or not what we write. */
static int
counters_read (const char *dir, struct counters *c)
{
  char *buf;
  size_t len;
  memset (c, 0, sizeof (*c));
  int r = ag_file_read (dir, "events.json", 4096, &buf, &len);
  if (1 == r)
    return 0;
  if (0 != r)
    return -1;
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, NULL);
  free (buf);
  json_t *s = json_object_get (j, "last_seq"), *d = json_object_get (j, "dropped");
  r = (json_is_integer (s) && json_is_integer (d) && json_integer_value (s) >= 0
       && json_integer_value (d) >= 0)
        ? 0
        : -1;
  if (0 == r)
    {
      c->last_seq = (uint64_t) json_integer_value (s);
      c->dropped = (uint64_t) json_integer_value (d);
      c->damaged = json_is_true (json_object_get (j, "damaged"));
    }
  json_decref (j);
  return r;
}

static int
counters_save (const char *dir, const struct counters *c)
{
  char buf[128];
  int n = snprintf (buf, sizeof (buf), "{%s\"dropped\":%llu,\"last_seq\":%llu}",
                    c->damaged ? "\"damaged\":true," : "", (unsigned long long) c->dropped,
                    (unsigned long long) c->last_seq);
  return ag_file_replace (dir, "events.json", buf, (size_t) n);
}

/* Rename file @name of @dir to a new events.damaged-<unix time>[-i].<ext>, named in @out. */
static int
move_aside (const char *dir, const char *name, const char *ext, char out[96])
{
  char from[AG_PATH_MAX + 64], to[AG_PATH_MAX + 128];
  long long now = (long long) time (NULL);
  snprintf (from, sizeof (from), "%s/%s", dir, name);
  for (int i = 0; i < 1000; i++)
    {
      if (0 == i)
        snprintf (out, 96, "events.damaged-%lld.%s", now, ext);
      else
        snprintf (out, 96, "events.damaged-%lld-%d.%s", now, i, ext);
      snprintf (to, sizeof (to), "%s/%s", dir, out);
      if (0 == link (from, to)) /* never over another one: those are kept for a human */
        return 0 == unlink (from) ? ag_fsync_dir (dir) : -1;
      if (EEXIST != errno)
        return -1;
    }
  return -1;
}

/* Count the lines of file @name and raise @max_seq to the highest "seq" among them. */
static uint64_t
scan_lines (const char *dir, const char *name, uint64_t *max_seq)
{
  char path[AG_PATH_MAX + 96], *line = NULL;
  size_t cap = 0;
  ssize_t n;
  uint64_t lines = 0;
  snprintf (path, sizeof (path), "%s/%s", dir, name);
  FILE *f = fopen (path, "re");
  if (NULL == f)
    return 0;
  while ((n = getline (&line, &cap, f)) > 0)
    {
      lines++;
      json_t *j = json_loadb (line, (size_t) n, 0, NULL);
      json_int_t seq = json_integer_value (json_object_get (j, "seq"));
      if (seq > 0 && (uint64_t) seq > *max_seq)
        *max_seq = (uint64_t) seq;
      json_decref (j);
    }
  free (line);
  fclose (f);
  return lines;
}

/*
 * Under spool.lock: the counters.  A damaged spool never stops event
 * reporting: an events.json that does not parse, or a spool.jsonl larger
 * than the cap, is moved aside (kept for a human), a fresh one starts, the
 * events of the old spool are counted dropped, and `damaged` stays set
 * until a check-in has reported "events:spool_damaged".  A lost events.json
 * loses the dropped count before it; last_seq goes on from the highest seq
 * still on disk.
 */
static int
counters_load (const char *dir, struct counters *c)
{
  char aside[96], spool[AG_PATH_MAX + 64];
  struct stat sb;
  bool repaired = false;
  if (0 != counters_read (dir, c))
    {
      if (0 != move_aside (dir, "events.json", "json", aside))
        return -1;
      fprintf (stderr,
               "bulwark-agent: the event spool in %s was damaged (events.json): moved aside to %s;"
               " a fresh one starts (the count of events dropped before is lost)\n",
               dir, aside);
      memset (c, 0, sizeof (*c));
      (void) scan_lines (dir, "spool.jsonl", &c->last_seq);
      (void) scan_lines (dir, "events.rejected.jsonl", &c->last_seq);
      repaired = true;
    }
  snprintf (spool, sizeof (spool), "%s/spool.jsonl", dir);
  if (0 == lstat (spool, &sb) && (!S_ISREG (sb.st_mode) || (uint64_t) sb.st_size > spool_max ()))
    {
      uint64_t lost = S_ISREG (sb.st_mode) ? scan_lines (dir, "spool.jsonl", &c->last_seq) : 0;
      if (0 != move_aside (dir, "spool.jsonl", "jsonl", aside))
        return -1;
      fprintf (stderr,
               "bulwark-agent: the event spool in %s was damaged (spool.jsonl larger than %zu "
               "bytes): moved aside to %s; its %llu events are counted dropped\n",
               dir, spool_max (), aside, (unsigned long long) lost);
      c->dropped += lost;
      repaired = true;
    }
  if (!repaired)
    return 0;
  c->damaged = true;
  return counters_save (dir, c);
}

/*
 * Append @len bytes to file @name unless it would then exceed @max.
 * 0 written and synced; 1 full; -1 error.
 */
static int
append_file (const char *dir, const char *name, const char *data, size_t len, size_t max)
{
  char path[AG_PATH_MAX + 64];
  struct stat sb;
  if ((size_t) snprintf (path, sizeof (path), "%s/%s", dir, name) >= sizeof (path))
    return -1;
  bool existed = 0 == stat (path, &sb);
  int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  if (0 != fstat (fd, &sb))
    goto fail;
  if ((uint64_t) sb.st_size + len > max)
    {
      close (fd);
      return 1;
    }
  if (0 != ag_write_all (fd, data, len) || 0 != fsync (fd))
    goto fail;
  close (fd);
  if (!existed)
    (void) ag_fsync_dir (dir); /* a new file's name must reach the disk too */
  return 0;
fail:
  close (fd);
  return -1;
}

int
ag_uuid7 (char out[37])
{
  unsigned char b[16];
  struct timespec ts;
  if (0 != bw_random (b, sizeof (b)) || 0 != clock_gettime (CLOCK_REALTIME, &ts))
    return -1;
  uint64_t ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
  for (int i = 0; i < 6; i++)
    b[i] = (unsigned char) (ms >> (40 - 8 * i));
  b[6] = (unsigned char) (0x70 | (b[6] & 0x0f)); /* version 7 */
  b[8] = (unsigned char) (0x80 | (b[8] & 0x3f)); /* variant 10 */
  char hex[33];
  bw_hex (b, sizeof (b), hex);
  snprintf (out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
  return 0;
}

int
ag_spool_append (const char *dir, json_t *event, uint64_t *seq_out)
{
  struct counters c;
  char id[37];
  int ret = -1;
  char *line = NULL;
  int lock = lock_spool (dir);
  if (lock < 0)
    return -1;
  if (0 != counters_load (dir, &c) || 0 != ag_uuid7 (id))
    goto done;
  uint64_t seq = c.last_seq + 1;
  if (0 != json_object_set_new (event, "event_id", json_string (id))
      || 0 != json_object_set_new (event, "seq", json_integer ((json_int_t) seq)))
    goto done;
  line = json_dumps (event, JSON_COMPACT);
  if (NULL == line)
    goto done;
  /* Reserve the number first: a crash below then leaves a gap, never a reused seq. */
  c.last_seq = seq;
  if (0 != counters_save (dir, &c))
    goto done;
  if (NULL != seq_out)
    *seq_out = seq;
  size_t n = strlen (line);
  int r = 1;
  if (n + 1 <= AG_EVENT_LINE_MAX)
    {
      line[n] = '\n'; /* json_dumps's NUL; the length is passed */
      r = append_file (dir, "spool.jsonl", line, n + 1, spool_max ());
    }
  if (r < 0)
    goto done;
  c.dropped += 1 == r;
  if (1 == r && 0 != counters_save (dir, &c))
    goto done;
  ret = r;
done:
  free (line);
  unlock_spool (lock);
  return ret;
}

int
ag_spool_counts (const char *dir, struct ag_spool_counts *out)
{
  char *buf = NULL;
  size_t len = 0;
  memset (out, 0, sizeof (*out));
  int lock = lock_spool (dir);
  if (lock < 0)
    return -1;
  struct counters c;
  int r = counters_load (dir, &c);
  out->last_seq = c.last_seq;
  out->dropped = c.dropped;
  out->damaged = c.damaged;
  if (0 == r)
    {
      int rr = ag_file_read (dir, "spool.jsonl", spool_max () + AG_EVENT_LINE_MAX, &buf, &len);
      if (rr < 0)
        r = -1;
      for (size_t i = 0; i < len; i++)
        out->spooled += '\n' == buf[i];
      if (len > 0 && '\n' != buf[len - 1])
        out->spooled++; /* a crash's partial last line still counts until it is moved aside */
    }
  free (buf);
  unlock_spool (lock);
  return r;
}

int
ag_spool_damage_reported (const char *dir)
{
  struct counters c;
  int lock = lock_spool (dir);
  if (lock < 0)
    return -1;
  int r = counters_load (dir, &c);
  if (0 == r && c.damaged)
    {
      c.damaged = false;
      r = counters_save (dir, &c);
    }
  unlock_spool (lock);
  return r;
}

/*
 * Replace the first @consumed bytes of spool.jsonl (the batch just handled)
 * with the @keep_len bytes at @keep (lines of that batch to send again;
 * keep_len <= consumed).
 */
static int
spool_cut (const char *dir, size_t consumed, const char *keep, size_t keep_len)
{
  char *buf;
  size_t len;
  int lock = lock_spool (dir);
  if (lock < 0)
    return -1;
  int r = ag_file_read (dir, "spool.jsonl", spool_max () + AG_EVENT_LINE_MAX, &buf, &len);
  if (0 == r && len >= consumed && consumed >= keep_len)
    {
      char *start = buf + consumed - keep_len;
      if (keep_len > 0)
        memcpy (start, keep, keep_len);
      r = ag_file_replace (dir, "spool.jsonl", start, len - consumed + keep_len);
    }
  else
    r = -1;
  free (buf);
  unlock_spool (lock);
  return r;
}

/* Move a refused batch aside and count its events dropped. */
static int
reject (const char *dir, const char *lines, size_t len, uint64_t n)
{
  struct counters c;
  int lock = lock_spool (dir);
  if (lock < 0)
    return -1;
  int r = counters_load (dir, &c);
  c.dropped += n;
  if (0 == r)
    r = counters_save (dir, &c);
  /* Kept for a human; when that file is full too, the events are still counted. */
  if (0 == r)
    (void) append_file (dir, "events.rejected.jsonl", lines, len, spool_max ());
  unlock_spool (lock);
  return r;
}

/* gzip (RFC 1952) of @in; malloc'd into *out.  0 or -1. */
static int
gzip_body (const char *in, size_t len, unsigned char **out, size_t *out_len)
{
  z_stream zs = { 0 };
  if (Z_OK != deflateInit2 (&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY))
    return -1;
  uLong cap = deflateBound (&zs, (uLong) len);
  unsigned char *buf = malloc (cap);
  if (NULL == buf)
    {
      deflateEnd (&zs);
      return -1;
    }
  zs.next_in = (Bytef *) in;
  zs.avail_in = (uInt) len;
  zs.next_out = buf;
  zs.avail_out = (uInt) cap;
  int r = deflate (&zs, Z_FINISH);
  *out_len = zs.total_out;
  deflateEnd (&zs);
  if (Z_STREAM_END != r)
    {
      free (buf);
      return -1;
    }
  *out = buf;
  return 0;
}

/*
 * The next batch: up to @max_events whole lines from the front of the
 * spool that each parse as a JSON object, and at most
 * AG_EVENTS_BATCH_BYTES.  *consumed is the bytes they take in the file;
 * *bad is set when the first line is not an event (crash debris).
 * Returns the number of events (0: spool empty or first line bad), -1 error.
 */
static long
next_batch (const char *dir, unsigned max_events, char **lines, size_t *consumed, bool *bad)
{
  char *buf;
  size_t len;
  long n = 0;
  size_t off = 0;
  *lines = NULL;
  *consumed = 0;
  *bad = false;
  struct counters c;
  int lock = lock_spool (dir);
  if (lock < 0)
    return -1;
  int r = counters_load (dir, &c); /* moves a damaged spool aside */
  if (0 == r)
    r = ag_file_read (dir, "spool.jsonl", spool_max () + AG_EVENT_LINE_MAX, &buf, &len);
  unlock_spool (lock);
  if (1 == r)
    return 0;
  if (0 != r)
    return -1;
  while (off < len && (unsigned) n < max_events)
    {
      char *nl = memchr (buf + off, '\n', len - off);
      size_t end = nl ? (size_t) (nl - buf) + 1 : len;
      if (end > AG_EVENTS_BATCH_BYTES && n > 0)
        break;
      json_t *ev = json_loadb (buf + off, end - off, JSON_REJECT_DUPLICATES, NULL);
      bool ok = json_is_object (ev);
      json_decref (ev);
      if (!ok)
        {
          if (0 == n)
            {
              *bad = true;
              off = end;
            }
          break;
        }
      off = end;
      n++;
    }
  *consumed = off;
  *lines = buf;
  return n;
}

/*
 * A 400 whose problem names events (errors[].pointer "/events/<i>/..."):
 * move just those lines of the batch (@n events in @len bytes at @lines)
 * aside and put the others back at the front of the spool, to be sent
 * again.  Each round moves at least one event aside, so this ends.
 * @param[out] refused  the events moved aside; 0 when the problem names
 *                      none (the caller refuses the whole batch)
 * @return 0, or -1 on I/O failure.
 */
static int
refuse_named (const char *dir, const char *lines, size_t len, long n,
              const struct ag_http_response *rs, uint64_t *refused)
{
  bool *named = calloc ((size_t) n, sizeof (*named));
  char *aside = malloc (len), *keep = malloc (len);
  json_t *p = json_loadb (rs->body, rs->len, 0, NULL), *e;
  size_t i, al = 0, kl = 0, off = 0;
  int r = -1;
  *refused = 0;
  if (NULL == named || NULL == aside || NULL == keep)
    goto done;
  json_array_foreach (json_object_get (p, "errors"), i, e)
  {
    const char *ptr = json_string_value (json_object_get (e, "pointer"));
    char *end;
    if (NULL == ptr || 0 != strncmp (ptr, "/events/", 8) || !isdigit ((unsigned char) ptr[8]))
      continue;
    unsigned long k = strtoul (ptr + 8, &end, 10);
    if (('\0' == *end || '/' == *end) && k < (unsigned long) n && !named[k])
      {
        named[k] = true;
        (*refused)++;
      }
  }
  r = 0;
  if (0 == *refused)
    goto done;
  for (long k = 0; k < n && off < len; k++)
    {
      const char *nl = memchr (lines + off, '\n', len - off);
      size_t next = nl ? (size_t) (nl - lines) + 1 : len;
      if (named[k])
        {
          memcpy (aside + al, lines + off, next - off);
          al += next - off;
        }
      else
        {
          memcpy (keep + kl, lines + off, next - off);
          kl += next - off;
        }
      off = next;
    }
  json_t *f = json_pack ("{s:I, s:I, s:s%}", "events", (json_int_t) n, "refused",
                         (json_int_t) *refused, "problem", rs->body, rs->len);
  bw_log_json (BW_LOG_WARN,
               "events refused; moved to events.rejected.jsonl, sending the rest again", f);
  r = reject (dir, aside, al, *refused);
  if (0 == r)
    r = spool_cut (dir, len, keep, kl);
done:
  json_decref (p);
  free (named);
  free (aside);
  free (keep);
  return r;
}

/* {"events":[<line>,<line>...]} from @n newline-separated lines. */
static char *
batch_body (const char *lines, size_t len, size_t *body_len)
{
  char *body = malloc (len + 16);
  if (NULL == body)
    return NULL;
  size_t o = 0;
  memcpy (body, "{\"events\":[", 11);
  o = 11;
  for (size_t i = 0; i < len; i++)
    {
      if ('\n' == lines[i])
        {
          if (i + 1 < len)
            body[o++] = ',';
          continue;
        }
      body[o++] = lines[i];
    }
  memcpy (body + o, "]}", 2);
  o += 2;
  *body_len = o;
  return body;
}

int
ag_spool_upload (const char *dir, struct ag_http *http, unsigned batch_max,
                 struct ag_upload_result *res)
{
  unsigned limit
    = (0 == batch_max || batch_max > AG_EVENTS_BATCH_MAX) ? AG_EVENTS_BATCH_MAX : batch_max;
  memset (res, 0, sizeof (*res));
  res->retry_after_s = -1;
  for (;;)
    {
      char *lines;
      size_t consumed;
      bool bad;
      long n = next_batch (dir, limit, &lines, &consumed, &bad);
      if (n < 0)
        {
          snprintf (res->err, sizeof (res->err), "spool:io");
          return -1;
        }
      if (bad)
        {
          bw_log_json (BW_LOG_WARN, "event spool: unreadable line moved aside", NULL);
          int r = reject (dir, lines, consumed, 1);
          if (0 == r)
            r = spool_cut (dir, consumed, NULL, 0);
          free (lines);
          if (0 != r)
            return -1;
          res->rejected++;
          continue;
        }
      if (0 == n)
        {
          free (lines);
          return 0;
        }
      size_t body_len, gz_len = 0;
      unsigned char *gz = NULL;
      char *body = batch_body (lines, consumed, &body_len);
      if (NULL == body)
        {
          free (lines);
          return -1;
        }
      bool use_gz = body_len >= GZIP_MIN_BYTES && 0 == gzip_body (body, body_len, &gz, &gz_len);
      struct ag_http_request rq = {
        .method = "POST",
        .path = "/api/v1/agent/events",
        .body = use_gz ? (const void *) gz : body,
        .body_len = use_gz ? gz_len : body_len,
        .content_encoding = use_gz ? "gzip" : NULL,
        .max_bytes = AG_HTTP_JSON_MAX,
        .timeout_s = UPLOAD_TIMEOUT_S,
      };
      struct ag_http_response rs;
      int hr = ag_http_do (http, &rq, &rs, res->err, sizeof (res->err));
      free (body);
      free (gz);
      if (0 != hr)
        {
          free (lines);
          return -1;
        }
      int r = 0;
      if (202 == rs.status)
        {
          r = spool_cut (dir, consumed, NULL, 0);
          res->accepted += (uint64_t) n;
        }
      else if (413 == rs.status && n > 1)
        limit = (unsigned) (n / 2); /* DESIGN §6: 413 splits the batch */
      else if (400 == rs.status || 413 == rs.status)
        {
          /* The server will never take these: keep them for a human, count them lost. */
          uint64_t refused = 0;
          if (400 == rs.status)
            r = refuse_named (dir, lines, consumed, n, &rs, &refused);
          if (0 == r && 0 == refused)
            {
              json_t *f = json_pack ("{s:I, s:I, s:s%}", "events", (json_int_t) n, "status",
                                     (json_int_t) rs.status, "problem", rs.body, rs.len);
              bw_log_json (BW_LOG_WARN, "event batch refused; moved to events.rejected.jsonl", f);
              r = reject (dir, lines, consumed, (uint64_t) n);
              if (0 == r)
                r = spool_cut (dir, consumed, NULL, 0);
              refused = (uint64_t) n;
            }
          res->rejected += refused;
        }
      else
        {
          res->status = rs.status;
          res->retry_after_s = rs.retry_after_s;
          res->problem = rs.body;
          rs.body = NULL;
          r = -1;
        }
      free (lines);
      ag_http_response_clear (&rs);
      if (0 != r)
        return -1;
    }
}
