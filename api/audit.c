/*
 * The audit log from the API side: api_audit() for every mutation, and the
 * two read endpoints (API contract, "Audit log").  The record and its hash
 * are defined in db/audit.c; this file only maps HTTP to them.
 */
#include "config.h"
#include "api/audit.h"
#include "api/handlers.h"
#include "db/audit.h"
#include "lib/canonical_json.h"
#include "lib/log.h"
#include "lib/rfc3339.h"
#include "server/pagination.h"
#include "server/reply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Longest `actor`/`action` filter, in bytes (actors are at most "token:<uuid>"). */
#define FILTER_PARAM_MAX 128

enum db_qs
api_audit (const struct bw_request *rq, const char *org_id, const char *action,
           const char *target_type, const char *target_id, const json_t *before,
           const json_t *after)
{
  char before_sha[BW_SHA256_HEX_LEN + 1];
  char after_sha[BW_SHA256_HEX_LEN + 1];
  if ((NULL != before && 0 != bw_json_digest (before, before_sha))
      || (NULL != after && 0 != bw_json_digest (after, after_sha)))
    {
      bw_logf (BW_LOG_ERROR, "audit: cannot digest the object of %s", action);
      return DB_QS_HARD_ERROR;
    }
  struct db_audit_record rec = {
    .org_id = org_id,
    .actor = rq->principal.actor,
    .action = action,
    .target_type = target_type,
    .target_id = target_id,
    .before_sha256 = (NULL != before) ? before_sha : NULL,
    .after_sha256 = (NULL != after) ? after_sha : NULL,
    .request_id = rq->request_id,
    .source_addr = rq->remote_addr,
  };
  enum db_qs qs = db_audit_append (&rec);
  if (DB_QS_NO_RESULTS == qs)
    {
      bw_logf (BW_LOG_ERROR, "audit: no org %s for %s", org_id, action);
      return DB_QS_HARD_ERROR;
    }
  return qs;
}

enum db_qs
api_audit_change (const struct bw_request *rq, const char *org_id, const char *action,
                  const char *target_type, const char *target_id, api_audit_repr repr,
                  const void *before, const void *after)
{
  json_t *b = (NULL != before) ? repr (before) : NULL;
  json_t *a = (NULL != after) ? repr (after) : NULL;
  enum db_qs qs;
  if ((NULL != before && NULL == b) || (NULL != after && NULL == a))
    qs = DB_QS_HARD_ERROR;
  else
    qs = api_audit (rq, org_id, action, target_type, target_id, b, a);
  json_decref (b);
  json_decref (a);
  return qs;
}

/** Whether @a s is 1..FILTER_PARAM_MAX printable ASCII characters (no space). */
static bool
filter_valid (const char *s)
{
  size_t len = strlen (s);
  if (0 == len || len > FILTER_PARAM_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] <= ' ' || s[i] > '~')
      return false;
  return true;
}

/** Parse a cursor key: the decimal seq of the last record of the previous page. */
static bool
cursor_seq (const char *key, int64_t *out)
{
  char *end;
  if (key[0] < '1' || key[0] > '9')
    return false;
  errno = 0;
  long long n = strtoll (key, &end, 10);
  if (0 != errno || '\0' != *end)
    return false;
  *out = (int64_t) n;
  return true;
}

/** Append {parameter, message} to @a errors (allocation failures surface as a shorter list). */
static void
param_error (json_t *errors, const char *parameter, const char *message)
{
  json_array_append_new (errors, json_pack ("{s:s, s:s}", "parameter", parameter,
                                            "message", message));
}

/** Records of one page, collected by list_cb. */
struct list_ctx
{
  json_t *items;        /**< owned array */
  unsigned int limit;   /**< page size; one more record is fetched to see if there is more */
  unsigned int count;   /**< records in items */
  int64_t last_seq;     /**< seq of the last record in items */
  bool more;            /**< a record beyond the page exists */
  bool failed;          /**< allocation failure */
};

static void
list_cb (void *cls, const struct db_audit_entry *e)
{
  struct list_ctx *c = cls;
  if (c->count == c->limit)
    {
      c->more = true;
      return;
    }
  json_t *obj = db_audit_entry_json (e);
  if (NULL == obj || 0 != json_object_set_new (obj, "hash", json_string (e->hash)))
    {
      json_decref (obj);
      c->failed = true;
      return;
    }
  if (0 != json_array_append_new (c->items, obj))
    {
      c->failed = true;
      return;
    }
  c->count++;
  c->last_seq = e->seq;
}

enum bw_step
api_audit_list (struct bw_request *rq)
{
  struct bw_page page;
  if (!bw_page_parse (rq, &page))
    return BW_REPLIED;

  struct db_audit_filter f = { .org_id = rq->org.id };
  json_t *errors = json_array ();
  if (NULL == errors)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  if (page.has_cursor && !cursor_seq (page.key, &f.before_seq))
    param_error (errors, "cursor", "is not a cursor this server issued");
  f.actor = bw_request_query (rq, "actor");
  if (NULL != f.actor && !filter_valid (f.actor))
    param_error (errors, "actor", "must be 1..128 printable ASCII characters");
  f.action = bw_request_query (rq, "action");
  if (NULL != f.action && !filter_valid (f.action))
    param_error (errors, "action", "must be 1..128 printable ASCII characters");
  f.since = bw_request_query (rq, "since");
  if (NULL != f.since && !bw_rfc3339_valid (f.since))
    param_error (errors, "since", "must be an RFC 3339 date-time such as 2026-11-29T12:00:00Z");
  f.until = bw_request_query (rq, "until");
  if (NULL != f.until && !bw_rfc3339_valid (f.until))
    param_error (errors, "until", "must be an RFC 3339 date-time such as 2026-11-29T12:00:00Z");
  if (json_array_size (errors) > 0)
    return bw_reply_problem (rq, BW_E_VALIDATION, "invalid query parameters", errors);
  json_decref (errors);

  struct list_ctx c = { .items = json_array (), .limit = page.limit };
  if (NULL == c.items)
    return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
  enum db_qs qs = db_audit_list (&f, page.limit + 1, list_cb, &c);
  if (qs < 0)
    {
      json_decref (c.items);
      return bw_reply_db_error (rq, qs);
    }
  if (c.failed)
    {
      json_decref (c.items);
      return bw_reply_problem (rq, BW_E_INTERNAL, NULL, NULL);
    }
  json_t *next = json_null ();
  if (c.more)
    {
      char key[24];
      snprintf (key, sizeof (key), "%" PRId64, c.last_seq);
      next = bw_cursor_encode (key);
    }
  return bw_reply_page (rq, c.items, next);
}

enum bw_step
api_audit_verify (struct bw_request *rq)
{
  struct db_audit_verdict v;
  enum db_qs qs = db_audit_verify (rq->org.id, &v);
  if (qs < 0)
    return bw_reply_db_error (rq, qs);
  if (DB_QS_NO_RESULTS == qs)
    return bw_reply_problem (rq, BW_E_NOT_FOUND, NULL, NULL);

  json_t *body;
  if (DB_AUDIT_CHAIN_OK == v.fault)
    body = json_pack ("{s:b, s:I, s:s}", "ok", 1, "records", (json_int_t) v.records,
                      "head", v.head);
  else
    {
      const char *reason = db_audit_fault_reason (v.fault);
      bw_log_json (BW_LOG_WARN, "audit chain verification failed",
                   json_pack ("{s:s, s:I, s:s, s:s}", "org_id", rq->org.id,
                              "first_bad_seq", (json_int_t) v.first_bad_seq,
                              "reason", reason, "request_id", rq->request_id));
      body = json_pack ("{s:b, s:I, s:I, s:s}", "ok", 0, "records", (json_int_t) v.records,
                        "first_bad_seq", (json_int_t) v.first_bad_seq, "reason", reason);
    }
  return bw_reply_json (rq, 200, body, NULL, 0); /* NULL body: 500 */
}
