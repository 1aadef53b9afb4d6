/*
 * The error registry as data: one row per line of api/errors.def.
 */
#include "config.h"
#include "api/error.h"

#include <stdio.h>
#include <stdlib.h>

static const struct bw_error_info registry[] = {
#define BW_ERROR(e, code, status, title, doc) [e] = { code, status, title, doc },
#include "api/errors.def"
#undef BW_ERROR
};

const struct bw_error_info *
bw_error_info (enum bw_error e)
{
  return &registry[e];
}

char *
bw_error_docs_markdown (void)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);
  if (NULL == f)
    return NULL;
  fputs ("# Bulwark errors\n\n"
         "Every error is an RFC 9457 `application/problem+json` document with `type`, `title`,\n"
         "`status`, `detail`, `code` and `request_id`; validation errors add `errors`, a list of\n"
         "`{pointer, message}` (body fields, RFC 6901) or `{parameter, message}` (query).\n"
         "Match on `code`: it never changes.\n\n"
         "| code | status | title |\n|---|---|---|\n",
         f);
  for (size_t i = 0; i < BW_E__COUNT; i++)
    fprintf (f, "| [`%s`](#%s) | %u | %s |\n", registry[i].code, registry[i].code,
             registry[i].status, registry[i].title);
  for (size_t i = 0; i < BW_E__COUNT; i++)
    fprintf (f, "\n## %s\n\n%u %s. %s\n", registry[i].code, registry[i].status,
             registry[i].title, registry[i].doc);
  if (0 != fclose (f))
    {
      free (buf);
      return NULL;
    }
  return buf;
}
