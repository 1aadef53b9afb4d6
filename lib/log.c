/*
 * JSON log lines.  Each line is assembled in memory and written with one
 * write(2) so that lines from different threads never interleave.
 */
#include "config.h"
#include "lib/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = BW_LOG_INFO;

bool
bw_log_enabled (enum bw_log_level level)
{
  return (int) level >= atomic_load (&min_level);
}

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
bw_log_set_level (enum bw_log_level level)
{
  atomic_store (&min_level, (int) level);
}

int
bw_log_level_parse (const char *s, enum bw_log_level *out)
{
  for (size_t i = 0; i < sizeof (level_names) / sizeof (level_names[0]); i++)
    if (0 == strcmp (s, level_names[i]))
      {
        *out = (enum bw_log_level) i;
        return 0;
      }
  return -1;
}

const char *
bw_log_level_name (enum bw_log_level level)
{
  return level_names[level];
}

void
bw_log_json (enum bw_log_level level, const char *msg, json_t *fields)
{
  if ((int) level < atomic_load (&min_level))
    {
      json_decref (fields);
      return;
    }
  struct timespec ts;
  struct tm tm;
  char stamp[40];
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  size_t n = strftime (stamp, sizeof (stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (stamp + n, sizeof (stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

  json_t *line = json_pack ("{s:s, s:s, s:s}", "ts", stamp, "level", level_names[level],
                            "msg", msg);
  if (NULL != line && NULL != fields)
    json_object_update (line, fields);
  json_decref (fields);
  char *text = (NULL != line) ? json_dumps (line, JSON_COMPACT) : NULL;
  json_decref (line);
  if (NULL == text)
    return;
  size_t len = strlen (text);
  text[len] = '\n'; /* replaces the NUL; we write len + 1 bytes */
  ssize_t off = 0;
  while ((size_t) off < len + 1)
    {
      ssize_t w = write (STDERR_FILENO, text + off, len + 1 - (size_t) off);
      if (w <= 0)
        break;
      off += w;
    }
  free (text);
}

void
bw_logf (enum bw_log_level level, const char *fmt, ...)
{
  if ((int) level < atomic_load (&min_level))
    return;
  char buf[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof (buf), fmt, ap);
  va_end (ap);
  bw_log_json (level, buf, NULL);
}
