/**
 * @file lib/log.h
 * One JSON object per line on stderr: {"ts","level","msg",...fields}.
 * Thread-safe; each line is written with a single write(2).
 */
#ifndef BW_LIB_LOG_H
#define BW_LIB_LOG_H

#include <stdbool.h>
#include <jansson.h>

/** Severity, lowest first. */
enum bw_log_level
{
  BW_LOG_DEBUG = 0,
  BW_LOG_INFO,
  BW_LOG_WARN,
  BW_LOG_ERROR,
};

/** Lines below @a level are dropped.  Default: BW_LOG_INFO. */
void bw_log_set_level (enum bw_log_level level);

/** Whether a line at @a level would be written (skip building fields for nothing). */
bool bw_log_enabled (enum bw_log_level level);

/**
 * Parse "debug", "info", "warn" or "error".
 * @return 0 and sets *out, or -1 for anything else (out untouched).
 */
int bw_log_level_parse (const char *s, enum bw_log_level *out);

/** Printable name of @a level ("info", ...). */
const char *bw_log_level_name (enum bw_log_level level);

/**
 * Write one line.  @a fields (may be NULL) is an object whose members are
 * merged into the line; it is stolen (decref'd here).
 */
void bw_log_json (enum bw_log_level level, const char *msg, json_t *fields);

/** printf-style convenience: {"msg": <formatted>}. */
void bw_logf (enum bw_log_level level, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

#endif
