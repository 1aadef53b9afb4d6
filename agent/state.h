/**
 * @file agent/state.h
 * The agent's on-disk state, one directory (mode 0700), every file 0600:
 *
 *   credential            the agent credential "bwa_..." (from enrollment)
 *   identity.json         {server, agent_id, org: {id, slug}, subject: {kind, id}, hostname}
 *   keyset.json           the current verified org keyset, bytes as received
 *   bundle-<sha256>.json  bundle bytes exactly as signed and served
 *   head.jws              the compact JWS head of the active bundle
 *   status.json           what the check-in loop last saw: {state, last_error, last_checkin}
 *   events.json, spool.jsonl, events.rejected.jsonl   the event spool (agent/spool.h)
 *
 * Every file is replaced with write, fsync, rename, fsync of the directory,
 * so a crash leaves the old or the new content, never a mix.  The active
 * bundle is the one head.jws names: the bundle file is written first, and
 * renaming the new head into place is the swap (DESIGN §6).
 */
#ifndef BW_AGENT_STATE_H
#define BW_AGENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/http.h"
#include "lib/bundle.h"
#include "lib/bundle_head.h"
#include "lib/keyset.h"

/** Longest state directory path, bytes. */
#define AG_PATH_MAX 3072
/** Longest last_error, bytes (the check-in allows 1024). */
#define AG_ERROR_MAX 255
/** Largest keyset document accepted, bytes. */
#define AG_KEYSET_MAX (64u * 1024)

/** Which agent this is, from enrollment. */
struct ag_identity
{
  char server[AG_URL_MAX + 1];
  char agent_id[37];
  char org_id[37];
  char org_slug[64];
  char subject_kind[8]; /**< "user" or "agent" */
  char subject_id[37];  /**< the head's `aud`: the user id, or the agent id */
  char hostname[254];
  char *credential; /**< malloc'd "bwa_..."; wiped by ag_identity_clear */
};

/** The bundle being enforced: its verified head and parsed bytes. */
struct ag_active
{
  struct bw_head_claims head; /**< claims of head.jws */
  struct bw_bundle *bundle;   /**< parsed bundle; owned */
};

/** What the last check-in found (status.json). */
struct ag_status
{
  char state[16]; /**< "ok", "error", "node_invalid", "disabled", "" = never ran */
  char last_error[AG_ERROR_MAX + 1]; /**< "" when none; see agent/sync.c for the names */
  int64_t last_checkin;              /**< unix seconds of the last answered check-in, 0 = never */
};

/**
 * The state directory: @a flag if given, else $BULWARK_AGENT_STATE_DIR,
 * else $XDG_STATE_HOME/bulwark, else $HOME/.local/state/bulwark.
 * @return 0, or -1 when none can be found or it is too long.
 */
int ag_state_dir (const char *flag, char out[AG_PATH_MAX]);

/** Create @a dir (and parents) with mode 0700.  @return 0 or -1 (errno set). */
int ag_state_mkdir (const char *dir);

/** Write all @a len bytes to @a fd, retrying short writes and EINTR.  @return 0 or -1 (errno). */
int ag_write_all (int fd, const void *data, size_t len);

/** fsync directory @a dir, so that a created or renamed name in it is durable.  @return 0 or -1. */
int ag_fsync_dir (const char *dir);

/**
 * Replace file @a name in @a dir with @a len bytes at @a data, mode 0600:
 * write a temporary file, fsync, rename over, fsync the directory.
 * @return 0 or -1 (errno set).
 */
int ag_file_replace (const char *dir, const char *name, const void *data, size_t len);

/**
 * Read file @a name of @a dir, at most @a max bytes.
 * @param[out] out  malloc'd, NUL-terminated (not counted in @a len)
 * @return 0; 1 when the file does not exist; -1 on error or when larger than @a max.
 */
int ag_file_read (const char *dir, const char *name, size_t max, char **out, size_t *len);

/** Remove file @a name of @a dir if it exists.  @return 0 or -1. */
int ag_file_remove (const char *dir, const char *name);

/**
 * Remove every file of an enrollment from @a dir (identity, credential,
 * keyset, head, bundles, status, event spool and counters), for enrolling
 * again.  @return 0 or -1.
 */
int ag_state_reset (const char *dir);

/** Write identity.json and the credential file.  @return 0 or -1. */
int ag_identity_save (const char *dir, const struct ag_identity *id);

/** Read them.  @return 0; 1 when not enrolled; -1 when present but unreadable. */
int ag_identity_load (const char *dir, struct ag_identity *id);

/** Wipe and free the credential of @a id.  NULL-safe. */
void ag_identity_clear (struct ag_identity *id);

/**
 * The keyset stored by ag_keyset_save, loaded without checking signatures
 * again (it was verified before it was stored).
 * @return 0 and *out; 1 when none; -1 when unreadable.
 */
int ag_keyset_load (const char *dir, struct bw_keyset **out);

/** Store keyset document @a doc (bytes as received and verified).  @return 0 or -1. */
int ag_keyset_save (const char *dir, const char *doc, size_t len);

/**
 * The active bundle.  The head's claims are decoded, not verified again:
 * it was verified before it was stored, and its key may since have rotated
 * out and its time run out (that is stale mode, not corruption).  The
 * bundle bytes must still hash to the head's sha256.
 * @return 0 and @a out filled (free with ag_active_clear); 1 when there is
 *         no active bundle; -1 when the stored files are damaged.
 */
int ag_active_load (const char *dir, struct ag_active *out);

/** Free what @a a holds.  NULL-safe. */
void ag_active_clear (struct ag_active *a);

/**
 * Make a verified head (and its bundle) active: when @a bytes is not NULL,
 * write bundle-<claims->sha256>.json first; then replace head.jws with
 * @a jws (the swap); then remove bundle files no head names any more.
 * @return 0 or -1; on -1 the previous head is still the active one.
 */
int ag_active_save (const char *dir, const struct bw_head_claims *claims, const char *jws,
                    const void *bytes, size_t len);

/** Read status.json; an absent file gives an empty status.  @return 0 or -1. */
int ag_status_load (const char *dir, struct ag_status *st);

/** Replace status.json.  @return 0 or -1. */
int ag_status_save (const char *dir, const struct ag_status *st);

/** Decode the claims of a compact JWS head without verifying it (see ag_active_load). */
int ag_head_decode (const char *jws, struct bw_head_claims *out);

#endif
