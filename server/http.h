/**
 * @file server/http.h
 * The HTTP front: libmicrohttpd with an internal thread pool on epoll,
 * request contexts, early refusals, dispatch through the route table,
 * per-request log lines and metrics, graceful shutdown.
 */
#ifndef BW_SERVER_HTTP_H
#define BW_SERVER_HTTP_H

#include "server/settings.h"

/**
 * Start serving with the settings of @a cfg (borrowed; must outlive the
 * server).  @return 0, or -1 after logging why (e.g. address in use).
 */
int bw_http_start (const struct bw_config *cfg);

/**
 * The settings bw_http_start was given (borrowed; valid while serving), for
 * handlers that answer with configured values (check-in interval, ...).
 */
const struct bw_config *bw_http_config (void);

/**
 * Graceful stop: stop accepting, answer new requests on open connections
 * with 503 `shutting_down`, answer parked check-ins at once
 * (server/longpoll.h), wait up to @a timeout_s seconds for in-flight
 * requests, then close everything.
 */
void bw_http_stop (unsigned long timeout_s);

#endif
