/**
 * @file server/request.h
 * The per-request context every handler receives.  Created when
 * libmicrohttpd sees the request line, freed in its completion callback;
 * request-scoped memory hangs off it.
 */
#ifndef BW_SERVER_REQUEST_H
#define BW_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "api/error.h"
#include "api/permission.h"
#include "db/org.h"

struct MHD_Connection;
struct bw_route;
struct bw_longpoll;

/** Longest request id we accept from a client or generate. */
#define BW_REQUEST_ID_MAX 64
/** Path parameters a route pattern may hold. */
#define BW_ROUTE_PARAMS_MAX 4

/** What a handler did. */
enum bw_step
{
  BW_REPLIED = 0, /**< a response was queued through a bw_reply_* helper */
  BW_SUSPENDED,   /**< the connection was parked (server/longpoll.h); the handler runs
                       again on the same request when it is resumed */
};

/** Who is calling (server/auth.c fills it before the handler runs). */
struct bw_principal
{
  enum
  {
    BW_PRINCIPAL_NONE = 0,   /**< public route, no credential checked */
    BW_PRINCIPAL_PLATFORM,   /**< the platform admin (bootstrap token) */
    BW_PRINCIPAL_ORG_TOKEN,  /**< an org API token */
    BW_PRINCIPAL_AGENT,      /**< an enrolled agent's credential (agent API only) */
  } kind;
  char org_id[37];    /**< ORG_TOKEN, AGENT: the token's or agent's org */
  char token_id[37];  /**< ORG_TOKEN: the token's id */
  char agent_id[37];  /**< AGENT: the agent's id */
  char subject_id[37]; /**< AGENT: whose bundle it enforces: its user's id, or its own id
                            when enrolled without a user (DESIGN §6 `aud`) */
  bool agent_has_user; /**< AGENT: subject_id is a user */
  char user_id[37];    /**< ORG_TOKEN: the user a developer's own token acts as, else "";
                            AGENT: its user, else "" */
  enum bw_role role;  /**< ORG_TOKEN: the token's role */
  char actor[48];     /**< for audit and logs: "platform-admin", "token:<id>" or "agent:<id>" */
};

/** One request. */
struct bw_request
{
  struct MHD_Connection *connection; /**< borrowed from libmicrohttpd */
  const char *method;                /**< borrowed, valid for the request */
  char *path;                        /**< owned copy of the URL path */
  char request_id[BW_REQUEST_ID_MAX + 1];
  char remote_addr[46];              /**< textual client address */
  const struct bw_route *route;      /**< matched route or NULL */
  char allow[64];                    /**< methods the path takes, for 405 `Allow` */
  enum bw_error early;               /**< refusal decided on the request line; BW_E__COUNT if none */
  const char *params[BW_ROUTE_PARAMS_MAX]; /**< path parameters, in pattern order; point into path_params_buf */
  char *path_params_buf;             /**< owned */
  uint64_t start_ns;                 /**< CLOCK_MONOTONIC at arrival */

  char *body;                        /**< owned, NUL-terminated, up to the body limit */
  size_t body_len;
  bool body_too_large;
  json_t *json;                      /**< parsed body (owned), NULL when none */

  struct bw_principal principal;
  struct db_org_ref org;             /**< valid when the route has `{org}` */

  struct bw_longpoll *longpoll;      /**< owned by server/longpoll.c once the request was parked;
                                          released in the completion callback */
  bool suspended;                    /**< the handler returned BW_SUSPENDED; the next
                                          libmicrohttpd call runs it again (server/http.c) */

  unsigned int status;               /**< status of the queued response, 0 before */
  size_t bytes_out;                  /**< body bytes of the queued response */
  bool replied;
};

/**
 * A new request context for a request line (first libmicrohttpd callback):
 * copies the path, takes or generates the request id, records the start
 * time and the client address.  @return NULL on allocation failure.
 */
struct bw_request *bw_request_new (struct MHD_Connection *connection, const char *method,
                                   const char *url);

/** Free @a rq and everything it owns.  NULL-safe. */
void bw_request_free (struct bw_request *rq);

/**
 * Value of request header @a name (case-insensitive), or NULL.
 * Borrowed; valid until the request completes.
 */
const char *bw_request_header (const struct bw_request *rq, const char *name);

/** Value of query argument @a name, or NULL.  Borrowed, like headers. */
const char *bw_request_query (const struct bw_request *rq, const char *name);

#endif
