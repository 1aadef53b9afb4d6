/**
 * @file server/longpoll.h
 * Parked check-ins (`Prefer: wait=N`, RFC 7240 §4.3): the connection is
 * suspended with MHD_suspend_connection and resumed when the org's heads
 * change (bw_longpoll_wake_org, called by server/heads.c after it reloaded
 * them) or when its deadline passes; the handler then runs again on the
 * same request and answers.  One timer thread resumes expired waits.
 *
 * A handler that parks follows this order, so that no wake-up is lost
 * between its look at the state and its parking:
 *
 *     uint64_t epoch = bw_longpoll_epoch ();
 *     ...read the state (bw_heads_get)...
 *     if (nothing changed && !bw_longpoll_timed_out (rq))
 *       return bw_longpoll_park (rq, org_id, wait_s, epoch);
 *     ...answer...
 *
 * Thread-safe: park runs on libmicrohttpd's threads, wake on the NOTIFY
 * listener's, expiry on the timer's.  Suspend and resume of one connection
 * happen under one mutex, so a resume never overtakes its suspend, and a
 * parked request is resumed exactly once per parking.
 */
#ifndef BW_SERVER_LONGPOLL_H
#define BW_SERVER_LONGPOLL_H

#include <stdbool.h>
#include <stdint.h>
#include "server/request.h"

/** Longest wait an agent may ask for, seconds (DESIGN §6). */
#define BW_LONGPOLL_WAIT_MAX_S 60

/**
 * The wake-up epoch: goes up with every bw_longpoll_wake_org.  Read it
 * before reading the state a park depends on and pass it to park.
 */
uint64_t bw_longpoll_epoch (void);

/**
 * Park @a rq (for org @a org_id, a uuid) until woken or @a wait_s seconds
 * (1..BW_LONGPOLL_WAIT_MAX_S) from its first parking; a later park of the
 * same request keeps that first deadline.  When a wake-up came after
 * @a epoch, when the deadline has passed or when the server is stopping,
 * the request is resumed at once (the handler runs again and answers).
 * Must be called from the handler, on libmicrohttpd's thread.
 * @return BW_SUSPENDED; BW_REPLIED after answering 500 if out of memory.
 */
enum bw_step bw_longpoll_park (struct bw_request *rq, const char *org_id, unsigned int wait_s,
                               uint64_t epoch);

/** Whether @a rq was parked and has been resumed since (its handler runs again). */
bool bw_longpoll_resumed (const struct bw_request *rq);

/**
 * Whether the wait of @a rq is over: its deadline has passed or the server
 * is stopping.  Then answer now instead of parking again.  False for a
 * request never parked.
 */
bool bw_longpoll_timed_out (const struct bw_request *rq);

/**
 * The wait of @a rq as first asked (seconds), for `Preference-Applied`;
 * 0 if it was never parked.
 */
unsigned int bw_longpoll_wait_s (const struct bw_request *rq);

/**
 * Wake every parked request of @a org_id (a uuid; NULL: all orgs) and move
 * the epoch on.  O(parked requests of that org).  Any thread.
 */
void bw_longpoll_wake_org (const char *org_id);

/** Free the long-poll state of @a rq (completion callback).  NULL-safe state. */
void bw_longpoll_release (struct bw_request *rq);

/** Start the timer thread.  @return 0, or -1. */
int bw_longpoll_start (void);

/**
 * Resume everything (at shutdown: every parked request answers at once,
 * and later parks resume at once) and stop the timer thread.  Call before
 * MHD_stop_daemon, which must not find suspended connections.
 */
void bw_longpoll_stop (void);

/** Requests parked now (for metrics and tests). */
size_t bw_longpoll_parked (void);

#endif
