/**
 * @file server/notify.h
 * One LISTEN connection per replica (DESIGN §1): PostgreSQL NOTIFY on the
 * channels below is dispatched to callbacks registered before
 * bw_notify_start.  The thread reconnects after a lost connection and then
 * calls every callback with a NULL payload ("you may have missed
 * something: reload everything").
 */
#ifndef BW_SERVER_NOTIFY_H
#define BW_SERVER_NOTIFY_H

/** Most callbacks. */
#define BW_NOTIFY_MAX 8

/**
 * Called on the listener thread for each notification on @a channel with
 * its payload (borrowed for the call), or NULL after a reconnect.  Must not
 * block for long: at most a few queries.
 */
typedef void (*bw_notify_cb) (void *cls, const char *channel, const char *payload);

/** Register @a cb for @a channel (a literal).  Before bw_notify_start only.  @return 0 or -1. */
int bw_notify_subscribe (const char *channel, bw_notify_cb cb, void *cls);

/** Connect to @a database_url, LISTEN on every subscribed channel, start the thread. */
int bw_notify_start (const char *database_url);

/** Stop the thread and close its connection. */
void bw_notify_stop (void);

#endif
