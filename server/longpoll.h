/**
 * @file server/longpoll.h
 * Parked check-ins (`Prefer: wait=N`, RFC 7240): the connection is
 * suspended with MHD_suspend_connection and resumed when the org's heads
 * change (bw_longpoll_wake_org, called by server/heads.c after it reloaded
 * them) or when its deadline passes; the handler then runs again on the
 * same request and answers.  One timer thread resumes expired waits.
 */
#ifndef BW_SERVER_LONGPOLL_H
#define BW_SERVER_LONGPOLL_H

#include <stdbool.h>
#include "server/request.h"

/** Longest wait an agent may ask for, seconds (DESIGN §6). */
#define BW_LONGPOLL_WAIT_MAX_S 60

/**
 * Park @a rq (for org @a org_id) until woken or @a wait_s seconds from its
 * first parking.  @return BW_SUSPENDED.  On the handler's next run,
 * bw_longpoll_resumed(rq) is true and bw_longpoll_timed_out says why.
 */
enum bw_step bw_longpoll_park (struct bw_request *rq, const char *org_id, unsigned int wait_s);

/** Wake every parked request of @a org_id (NULL: all). */
void bw_longpoll_wake_org (const char *org_id);

/** Start the timer thread. */
int bw_longpoll_start (void);

/** Resume everything (at shutdown) and stop the timer thread. */
void bw_longpoll_stop (void);

#endif
