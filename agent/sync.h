/**
 * @file agent/sync.h
 * `bulwark-agent run`: the check-in loop of DESIGN §6 — report status,
 * long-poll, follow keyset rotations, verify and apply new heads and
 * bundles in the protocol's order, upload spooled events, and back off by
 * status code.
 */
#ifndef BW_AGENT_SYNC_H
#define BW_AGENT_SYNC_H

#include <stdbool.h>

/** Exit statuses of bulwark-agent (also documented in its usage text). */
enum ag_exit
{
  AG_EXIT_OK = 0,       /**< success; for `check`: allowed */
  AG_EXIT_FAIL = 1,     /**< failure; for `check`: not allowed (deny, require_approval) */
  AG_EXIT_USAGE = 2,    /**< bad command line or request */
  AG_EXIT_REENROLL = 3, /**< the server revoked this agent (401 node_invalid): its bundle is
                             dropped, `check` denies; enroll again */
  AG_EXIT_DISABLED = 4, /**< an admin disabled this agent (403): no updates, the last bundle
                             stays in force; do not enroll again */
};

/** Default long-poll, seconds (`Prefer: wait=N`; the server caps it at 60). */
#define AG_WAIT_DEFAULT_S 55
/** Longest long-poll asked for, seconds (DESIGN §6). */
#define AG_WAIT_MAX_S 60

/** Options of `run`. */
struct ag_run_options
{
  bool once;  /**< one check-in (plus its downloads and an event upload), then exit */
  int wait_s; /**< long-poll seconds; -1: the default (AG_WAIT_DEFAULT_S, none with once) */
};

/**
 * Run the loop on the state in @a dir until a signal (SIGINT, SIGTERM),
 * or once.  Holds run.lock in @a dir so only one loop runs per state.
 * With once, prints a one-line JSON summary on stdout:
 * {"state": "current"|"refresh"|"update"|"error", "bundle_version",
 *  "head_serial", "last_error" (a refusal, also reported to the server),
 *  "error" (a network or status error of this run), "events_uploaded"}.
 * @return an enum ag_exit value: OK, FAIL (once: anything failed; or the
 *         keysets do not verify), REENROLL (also at start, when revoked
 *         before) or DISABLED (the loop stops on those).
 */
int ag_run_main (const char *dir, const struct ag_run_options *opts);

#endif
