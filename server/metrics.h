/**
 * @file server/metrics.h
 * Prometheus text exposition (format 0.0.4) of request counts and latency
 * histograms by route, method and status, and the database pool figures.
 */
#ifndef BW_SERVER_METRICS_H
#define BW_SERVER_METRICS_H

#include <stddef.h>

/** Most distinct (route, method, status) series kept; later ones are folded into status 0. */
#define BW_METRICS_SERIES_MAX 1024

/**
 * Count one finished request.  @a route_index is bw_route_index() of the
 * matched route, or bw_routes_count for unmatched paths; @a method is the
 * request method (borrowed); @a seconds its latency.
 */
void bw_metrics_observe (size_t route_index, const char *method, unsigned int status,
                         double seconds);

/**
 * Render every series and the database figures.
 * @return malloc'd text owned by the caller, or NULL on allocation failure.
 */
char *bw_metrics_render (void);

#endif
