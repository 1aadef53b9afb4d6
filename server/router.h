/**
 * @file server/router.h
 * The static route table (server/routes.c) and its matcher.  Patterns are
 * literal segments and `{name}` parameters; one route per method+pattern.
 */
#ifndef BW_SERVER_ROUTER_H
#define BW_SERVER_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include "api/permission.h"
#include "server/request.h"

/** A route handler.  Runs after authentication and body parsing. */
typedef enum bw_step (*bw_handler) (struct bw_request *rq);

/**
 * struct bw_route.json_body of a route whose JSON body may be left out: an
 * empty body reaches the handler with rq->json NULL (e.g. the catalog
 * transitions, whose note is optional).
 */
#define BW_BODY_OPTIONAL 2

/** One row of the route table. */
struct bw_route
{
  const char *method;   /**< "GET", "POST", ... */
  const char *pattern;  /**< "/api/v1/orgs/{org}/tokens/{id}"; also the metrics/log label */
  bw_handler handler;
  enum bw_perm perm;    /**< BW_PERM_NONE: public */
  unsigned char json_body; /**< false: no body; true: a JSON body (parsed into rq->json before
                                the handler); BW_BODY_OPTIONAL: a JSON body or none */
};

/** The route table and its length. */
extern const struct bw_route bw_routes[];
extern const size_t bw_routes_count;

/** Outcome of matching a request line. */
struct bw_route_match
{
  const struct bw_route *route; /**< NULL when nothing matched the method */
  bool path_known;              /**< some route has this path (→ 405, not 404) */
  char allow[64];               /**< when path_known: "GET, PATCH, DELETE" */
};

/**
 * Match @a method and @a path.  On success fills rq->params (pointing into
 * a copy owned by @a rq) in pattern order.
 * @return 0 and @a m filled; -1 on allocation failure.
 */
int bw_route_find (struct bw_request *rq, const char *method, const char *path,
                   struct bw_route_match *m);

/** Index of @a r in bw_routes (for metrics arrays). */
size_t bw_route_index (const struct bw_route *r);

#endif
