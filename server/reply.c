/*
 * Reply helpers: the only code that queues libmicrohttpd responses.
 * Every response carries X-Request-ID; problems follow RFC 9457.
 */
#include "config.h"
#include "server/reply.h"
#include "db/db.h"
#include "lib/log.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Queue @a body (malloc'd, taken over; may be NULL when len is 0). */
static enum bw_step
queue (struct bw_request *rq, unsigned int status, const char *content_type, char *body,
       size_t len, const struct bw_header *headers, size_t nheaders)
{
  if (rq->replied)
    {
      bw_log_json (BW_LOG_ERROR, "second reply to one request",
                   json_pack ("{s:s, s:i}", "request_id", rq->request_id, "status", status));
      free (body);
      return BW_REPLIED;
    }
  rq->replied = true;
  struct MHD_Response *resp
    = MHD_create_response_from_buffer (len, body, MHD_RESPMEM_MUST_FREE);
  if (NULL == resp)
    {
      free (body);
      return BW_REPLIED; /* MHD closes the connection */
    }
  MHD_add_response_header (resp, "X-Request-ID", rq->request_id);
  if (NULL != content_type)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  for (size_t i = 0; i < nheaders; i++)
    MHD_add_response_header (resp, headers[i].name, headers[i].value);
  if (MHD_YES == MHD_queue_response (rq->connection, status, resp))
    {
      rq->status = status;
      rq->bytes_out = len;
    }
  MHD_destroy_response (resp);
  return BW_REPLIED;
}

enum bw_step
bw_reply_json (struct bw_request *rq, unsigned int status, json_t *body,
               const struct bw_header *headers, size_t nheaders)
{
  /* Reals (shares, ratios) with 6 significant digits: 0.0909091, not 0.090909090909090912. */
  char *text = (NULL != body) ? json_dumps (body, JSON_COMPACT | JSON_REAL_PRECISION (6)) : NULL;
  json_decref (body);
  if (NULL == text)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  return queue (rq, status, "application/json", text, strlen (text), headers, nheaders);
}

enum bw_step
bw_reply_empty (struct bw_request *rq, unsigned int status, const struct bw_header *headers,
                size_t nheaders)
{
  return queue (rq, status, NULL, NULL, 0, headers, nheaders);
}

enum bw_step
bw_reply_text (struct bw_request *rq, unsigned int status, const char *content_type,
               const char *body, size_t len)
{
  char *copy = malloc (len + 1);
  if (NULL == copy)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  memcpy (copy, body, len);
  return queue (rq, status, content_type, copy, len, NULL, 0);
}

enum bw_step
bw_reply_bytes_steal (struct bw_request *rq, unsigned int status, const char *content_type,
                      void *body, size_t len, const struct bw_header *headers, size_t nheaders)
{
  return queue (rq, status, content_type, body, len, headers, nheaders);
}

enum bw_step
bw_reply_problem (struct bw_request *rq, enum bw_error err, const char *detail, json_t *errors)
{
  return bw_reply_problem_ext (rq, err, detail, errors, NULL);
}

enum bw_step
bw_reply_problem_ext (struct bw_request *rq, enum bw_error err, const char *detail,
                      json_t *errors, json_t *extra)
{
  const struct bw_error_info *e = bw_error_info (err);
  char type[96];
  snprintf (type, sizeof (type), "%s#%s", BW_ERROR_DOCS_PATH, e->code);
  json_t *p = json_pack ("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", type, "title", e->title,
                         "status", (int) e->status, "detail",
                         (NULL != detail) ? detail : e->title, "code", e->code, "request_id",
                         rq->request_id);
  if (NULL != p && NULL != errors && json_array_size (errors) > 0)
    {
      if (json_array_size (errors) > BW_PROBLEM_ERRORS_MAX)
        {
          while (json_array_size (errors) > BW_PROBLEM_ERRORS_MAX)
            json_array_remove (errors, json_array_size (errors) - 1);
          json_object_set_new (p, "errors_truncated", json_true ());
        }
      json_object_set (p, "errors", errors);
    }
  json_decref (errors);
  /* extension members (RFC 9457 §3.2) never replace the standard ones */
  const char *key;
  json_t *value;
  json_object_foreach (extra, key, value)
    if (NULL != p && NULL == json_object_get (p, key))
      json_object_set (p, key, value);
  json_decref (extra);

  struct bw_header h[2];
  size_t nh = 0;
  char retry[16];
  if (503 == e->status || 429 == e->status)
    {
      snprintf (retry, sizeof (retry), "%d",
                (503 == e->status) ? DB_RETRY_AFTER_S : BW_RATE_RETRY_AFTER_S);
      h[nh++] = (struct bw_header) { "Retry-After", retry };
    }
  if (BW_E_METHOD_NOT_ALLOWED == err)
    h[nh++] = (struct bw_header) { "Allow", rq->allow };
  /* every 401 carries a challenge (RFC 9110 §15.5.2) */
  if (401 == e->status)
    h[nh++] = (struct bw_header) { "WWW-Authenticate", "Bearer realm=\"bulwark\"" };
  if (BW_E_SHUTTING_DOWN == err)
    h[nh++] = (struct bw_header) { "Connection", "close" };

  char *text = (NULL != p) ? json_dumps (p, JSON_COMPACT) : NULL;
  json_decref (p);
  if (NULL == text)
    return queue (rq, e->status, NULL, NULL, 0, h, nh);
  return queue (rq, e->status, "application/problem+json", text, strlen (text), h, nh);
}

enum bw_step
bw_reply_invalid (struct bw_request *rq, const char *pointer, const char *message)
{
  json_t *errors = json_pack ("[{s:s, s:s}]", "pointer", pointer, "message", message);
  return bw_reply_problem (rq, BW_E_VALIDATION, message, errors);
}

enum bw_step
bw_reply_db_error (struct bw_request *rq, int qs)
{
  if (DB_QS_UNAVAILABLE == qs)
    return bw_reply_problem (rq, BW_E_DB_UNAVAILABLE, NULL, NULL);
  bw_log_json (BW_LOG_ERROR, "database error",
               json_pack ("{s:s, s:i}", "request_id", rq->request_id, "qs", qs));
  return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
}
