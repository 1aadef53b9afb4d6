/**
 * @file agent/status.h
 * `bulwark-agent status`: what the state directory says, for a human or
 * (with --json) a script.
 */
#ifndef BW_AGENT_STATUS_H
#define BW_AGENT_STATUS_H

#include <stdbool.h>

/**
 * Print the persisted state of @a dir: enrollment (org, subject, server),
 * keyset version, the active bundle (version, sha256, head serial, head
 * expiry, stale), the last check-in's outcome and last_error, and the
 * event spool (spooled, dropped, last seq).  With @a json one object:
 * {enrolled, server, agent_id, org: {id, slug}, subject: {kind, id},
 *  keyset_version, bundle: {version, sha256, head_serial, exp} | null,
 *  stale, state, last_error, last_checkin, events: {spooled, dropped, last_seq}}.
 * @return AG_EXIT_OK, or AG_EXIT_FAIL when not enrolled or unreadable.
 */
int ag_status_main (const char *dir, bool json);

#endif
