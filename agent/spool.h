/**
 * @file agent/spool.h
 * The on-disk event spool (DESIGN §7).  `check` appends one decision event
 * per decision; the check-in loop uploads them in batches and removes a
 * batch only after the server acknowledged it with 202 (an acknowledged
 * event is committed, DESIGN §7), so nothing is lost across crashes or
 * outages — only, when the spool is full, new events are counted as
 * dropped and their seq numbers left as a gap the server records.
 *
 * Files in the state directory (all 0600):
 *   spool.jsonl            one event per line, appended with O_APPEND + fsync
 *   events.json            {"last_seq": N, "dropped": D[, "damaged": true]}, replaced atomically
 *   events.damaged-<unix time>.json[l]   a damaged events.json or an oversized
 *                          spool.jsonl, moved aside (never deleted) so that a
 *                          fresh spool can start; `damaged` is set until the
 *                          next check-in reports "events:spool_damaged"
 *   events.rejected.jsonl  events the server refused with 400, kept for a human
 *   spool.lock             flock(2) serializing appenders and the uploader
 */
#ifndef BW_AGENT_SPOOL_H
#define BW_AGENT_SPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "agent/http.h"

/** Default largest spool, bytes; BULWARK_AGENT_SPOOL_MAX_BYTES overrides. */
#define AG_SPOOL_MAX_BYTES (8u * 1024 * 1024)
/** Most events in one upload (DESIGN §7). */
#define AG_EVENTS_BATCH_MAX 1000
/** Most bytes of one upload before compression (the server takes 1 MiB; leave room). */
#define AG_EVENTS_BATCH_BYTES (900u * 1024)
/** Largest single event line, bytes; a longer one is dropped. */
#define AG_EVENT_LINE_MAX (64u * 1024)

/** The spool's counters, as the check-in reports them (`events`). */
struct ag_spool_counts
{
  uint64_t spooled;  /**< events waiting for upload */
  uint64_t dropped;  /**< events lost: spool full, or refused by the server (400) */
  uint64_t last_seq; /**< seq of the last event created (0: none yet) */
  bool damaged;      /**< a damaged spool was moved aside; no check-in has reported it yet */
};

/**
 * Read the counters (moving a damaged spool aside first, like every reader
 * of the spool).  A directory without a spool gives zeros.  @return 0 or -1.
 */
int ag_spool_counts (const char *dir, struct ag_spool_counts *out);

/** A check-in has reported the damage: clear `damaged`.  @return 0 or -1. */
int ag_spool_damage_reported (const char *dir);

/**
 * Append @a event (borrowed; an object with every DESIGN §7 field but
 * `event_id` and `seq`, which are set here: a new UUIDv7 and the next
 * per-agent seq, persisted before the event is written so a crash leaves
 * a gap, never a reused number).
 * @param[out] seq  the seq given (may be NULL)
 * @return 0 when spooled; 1 when the spool was full (counted as dropped);
 *         -1 on I/O failure.
 */
int ag_spool_append (const char *dir, json_t *event, uint64_t *seq);

/** How an upload ended. */
struct ag_upload_result
{
  uint64_t accepted;  /**< events acknowledged (202) */
  uint64_t rejected;  /**< events refused with 400 and moved aside */
  long status;        /**< the HTTP status that stopped it; 0 = none (done) or network */
  long retry_after_s; /**< its Retry-After, -1 when none */
  char *problem;      /**< its body (malloc'd) when status is an error; caller frees */
  char err[128];      /**< transport error when status is 0 and the call returned -1 */
};

/**
 * Upload spooled events through @a http: batches of at most
 * @a batch_max (≤ AG_EVENTS_BATCH_MAX) events and AG_EVENTS_BATCH_BYTES,
 * gzip-compressed, until the spool is empty.  202 removes the batch; 413
 * halves the batch and tries again; 400 moves the events its problem names
 * (errors[].pointer "/events/<i>/...") to events.rejected.jsonl, counts them
 * dropped and sends the rest again — or, when it names none, the whole
 * batch.  Any other answer stops.
 * @return 0 when the spool was emptied (or had nothing), -1 when stopped
 *         early (see @a res; the caller backs off by status).
 */
int ag_spool_upload (const char *dir, struct ag_http *http, unsigned batch_max,
                     struct ag_upload_result *res);

/**
 * A new UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, version 7,
 * 74 random bits, in canonical lowercase text.  @return 0 or -1.
 */
int ag_uuid7 (char out[37]);

#endif
