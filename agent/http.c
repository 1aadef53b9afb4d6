/*
 * The agent's HTTP client over libcurl (see http.h).
 *
 * Why the cap is enforced twice: CURLOPT_MAXFILESIZE refuses an answer
 * whose Content-Length is too big before any byte is read, but a chunked
 * answer has no length, so the write callback counts too and stops the
 * transfer at the first byte over.
 */
#include "config.h"
#include "agent/http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/** Seconds to set up a TCP/TLS connection. */
#define CONNECT_TIMEOUT_S 10
/** Longest Retry-After honoured, seconds (a broken proxy must not park us for days). */
#define RETRY_AFTER_MAX_S 3600

struct ag_http
{
  CURL *curl;
  char base[AG_URL_MAX + 1];
  char *auth_header; /* "Authorization: Bearer ..."; wiped on free */
  volatile sig_atomic_t *abort_flag;
};

/* Where the write callback puts the body. */
struct sink
{
  char *buf;
  size_t len;
  size_t cap; /* allocated */
  size_t max; /* the request's max_bytes */
  bool over;  /* an answer byte beyond max arrived */
};

static size_t
on_body (char *data, size_t size, size_t nmemb, void *cls)
{
  struct sink *s = cls;
  size_t n = size * nmemb;
  if (n > s->max - s->len)
    {
      s->over = true;
      return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
  if (s->len + n + 1 > s->cap)
    {
      size_t cap = s->cap ? s->cap : 4096;
      while (cap < s->len + n + 1)
        cap *= 2;
      char *b = realloc (s->buf, cap);
      if (NULL == b)
        return 0;
      s->buf = b;
      s->cap = cap;
    }
  memcpy (s->buf + s->len, data, n);
  s->len += n;
  s->buf[s->len] = '\0';
  return n;
}

/* Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
static long
parse_retry_after (const char *v)
{
  char *end;
  if (isdigit ((unsigned char) v[0]))
    {
      long s = strtol (v, &end, 10);
      return s;
    }
  time_t when = curl_getdate (v, NULL);
  if (-1 == when)
    return -1;
  long d = (long) (when - time (NULL));
  return d < 0 ? 0 : d;
}

static size_t
on_header (char *line, size_t size, size_t nmemb, void *cls)
{
  struct ag_http_response *r = cls;
  size_t n = size * nmemb;
  char buf[256];
  if (n >= sizeof (buf))
    return n; /* no header we read is that long */
  memcpy (buf, line, n);
  buf[n] = '\0';
  buf[strcspn (buf, "\r\n")] = '\0';
  /* A new status line (after a 100 Continue) starts a new header block. */
  if (0 == strncmp (buf, "HTTP/", 5))
    {
      r->retry_after_s = -1;
      r->preference_applied = false;
      return n;
    }
  char *colon = strchr (buf, ':');
  if (NULL == colon)
    return n;
  *colon = '\0';
  char *value = colon + 1;
  while (' ' == *value || '\t' == *value)
    value++;
  if (0 == strcasecmp (buf, "Retry-After"))
    {
      long s = parse_retry_after (value);
      r->retry_after_s = s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
    }
  else if (0 == strcasecmp (buf, "Preference-Applied"))
    r->preference_applied = true;
  return n;
}

static int
on_progress (void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  volatile sig_atomic_t *flag = cls;
  return (NULL != flag && *flag) ? 1 : 0;
}

struct ag_http *
ag_http_new (const char *base_url, const char *bearer, volatile sig_atomic_t *abort_flag)
{
  static bool global_done;
  if (!global_done)
    {
      if (CURLE_OK != curl_global_init (CURL_GLOBAL_DEFAULT))
        return NULL;
      global_done = true;
    }
  size_t blen = strlen (base_url);
  while (blen > 0 && '/' == base_url[blen - 1])
    blen--; /* paths start with '/' */
  if (0 == blen || blen > AG_URL_MAX)
    return NULL;
  struct ag_http *h = calloc (1, sizeof (*h));
  if (NULL == h)
    return NULL;
  memcpy (h->base, base_url, blen);
  h->abort_flag = abort_flag;
  h->curl = curl_easy_init ();
  if (NULL == h->curl)
    goto fail;
  if (NULL != bearer)
    {
      size_t n = strlen ("Authorization: Bearer ") + strlen (bearer) + 1;
      h->auth_header = malloc (n);
      if (NULL == h->auth_header)
        goto fail;
      snprintf (h->auth_header, n, "Authorization: Bearer %s", bearer);
    }
  return h;
fail:
  ag_http_free (h);
  return NULL;
}

void
ag_http_free (struct ag_http *h)
{
  if (NULL == h)
    return;
  if (NULL != h->curl)
    curl_easy_cleanup (h->curl);
  if (NULL != h->auth_header)
    {
      OPENSSL_cleanse (h->auth_header, strlen (h->auth_header));
      free (h->auth_header);
    }
  free (h);
}

void
ag_http_response_clear (struct ag_http_response *r)
{
  if (NULL == r)
    return;
  free (r->body);
  memset (r, 0, sizeof (*r));
  r->retry_after_s = -1;
}

int
ag_http_do (struct ag_http *h, const struct ag_http_request *rq, struct ag_http_response *out,
            char *err, size_t errlen)
{
  CURL *c = h->curl;
  struct curl_slist *hdrs = NULL;
  struct sink sink = { .max = rq->max_bytes };
  char url[AG_URL_MAX + 512];
  char prefer[32];
  char curl_err[CURL_ERROR_SIZE] = "";
  int ret = -1;

  memset (out, 0, sizeof (*out));
  out->retry_after_s = -1;
  if ((size_t) snprintf (url, sizeof (url), "%s%s", h->base, rq->path) >= sizeof (url))
    {
      snprintf (err, errlen, "network:url too long");
      return -1;
    }
  curl_easy_reset (c); /* keeps the connection cache */
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, never followed */
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, (long) CONNECT_TIMEOUT_S);
  curl_easy_setopt (c, CURLOPT_TIMEOUT, rq->timeout_s);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt (c, CURLOPT_USERAGENT, "bulwark-agent/" PACKAGE_VERSION);
  curl_easy_setopt (c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) rq->max_bytes);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, out);
  curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt (c, CURLOPT_XFERINFODATA, h->abort_flag);
  const char *ca = getenv ("BULWARK_AGENT_CA_FILE");
  if (NULL != ca && '\0' != ca[0])
    curl_easy_setopt (c, CURLOPT_CAINFO, ca);

  if (NULL != h->auth_header)
    hdrs = curl_slist_append (hdrs, h->auth_header);
  hdrs = curl_slist_append (hdrs, "Accept: application/json");
  hdrs = curl_slist_append (hdrs, "Expect:"); /* no 100-continue round trip */
  if (rq->prefer_wait_s > 0)
    {
      snprintf (prefer, sizeof (prefer), "Prefer: wait=%d", rq->prefer_wait_s);
      hdrs = curl_slist_append (hdrs, prefer);
    }
  if (0 == strcmp (rq->method, "POST"))
    {
      hdrs = curl_slist_append (hdrs, "Content-Type: application/json");
      if (NULL != rq->content_encoding)
        {
          char ce[64];
          snprintf (ce, sizeof (ce), "Content-Encoding: %s", rq->content_encoding);
          hdrs = curl_slist_append (hdrs, ce);
        }
      curl_easy_setopt (c, CURLOPT_POST, 1L);
      curl_easy_setopt (c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
      curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) rq->body_len);
    }
  else
    curl_easy_setopt (c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, hdrs);

  CURLcode rc = curl_easy_perform (c);
  if (CURLE_OK != rc)
    {
      if (sink.over || CURLE_FILESIZE_EXCEEDED == rc)
        snprintf (err, errlen, "too_large");
      else if (CURLE_ABORTED_BY_CALLBACK == rc)
        snprintf (err, errlen, "aborted");
      else
        snprintf (err, errlen, "network:%s", curl_err[0] ? curl_err : curl_easy_strerror (rc));
      goto cleanup;
    }
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &out->status);
  out->body = sink.buf ? sink.buf : strdup ("");
  out->len = sink.len;
  sink.buf = NULL;
  if (NULL == out->body)
    {
      snprintf (err, errlen, "network:out of memory");
      goto cleanup;
    }
  ret = 0;
cleanup:
  free (sink.buf);
  curl_slist_free_all (hdrs);
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, NULL);
  return ret;
}

bool
ag_http_url_acceptable (const char *url)
{
  if (0 == strncasecmp (url, "https://", 8))
    return true;
  if (0 != strncasecmp (url, "http://", 7))
    return false;
  const char *allow = getenv ("BULWARK_AGENT_ALLOW_HTTP");
  if (NULL != allow && 0 == strcmp (allow, "1"))
    return true;
  bool ok = false;
  CURLU *u = curl_url ();
  char *host = NULL;
  if (NULL != u && CURLUE_OK == curl_url_set (u, CURLUPART_URL, url, 0)
      && CURLUE_OK == curl_url_get (u, CURLUPART_HOST, &host, 0))
    {
      struct in_addr a;
      ok = 0 == strcasecmp (host, "localhost") || 0 == strcmp (host, "[::1]")
           || (1 == inet_pton (AF_INET, host, &a) && 127 == (ntohl (a.s_addr) >> 24));
    }
  curl_free (host);
  curl_url_cleanup (u);
  return ok;
}
