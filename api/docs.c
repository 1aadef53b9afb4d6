/*
 * GET /docs/errors: the error registry page, generated from api/errors.def.
 */
#include "config.h"
#include "api/handlers.h"
#include "server/reply.h"

#include <stdlib.h>
#include <string.h>

enum bw_step
api_docs_errors (struct bw_request *rq)
{
  char *page = bw_error_docs_markdown ();
  if (NULL == page)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  enum bw_step s = bw_reply_text (rq, 200, "text/markdown; charset=utf-8", page, strlen (page));
  free (page);
  return s;
}
