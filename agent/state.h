/**
 * @file agent/state.h
 * The agent's on-disk state, one directory (mode 0700), every file 0600:
 *
 *   credential            the agent credential "bwa_..." (from enrollment)
 *   identity.json         {server, agent_id, org: {id, slug}, subject: {kind, id}, hostname}
 *   keyset.json           the org keyset received at enrollment (the trust anchor)
 *   keyset-<N>.json       each later keyset N, bytes as received (verified against N-1)
 *   bundle-<sha256>.json  bundle bytes exactly as signed and served
 *   head.jws              the compact JWS head of the active bundle
 *   status.json           what the check-in loop last saw: {state, last_error, last_checkin}
 *   events.json, spool.jsonl, events.rejected.jsonl   the event spool (agent/spool.h)
 *   run.lock              held by `run` while it runs, and by `enroll` while it enrolls
 *
 * Like ssh's StrictModes, the directory and every file in it must belong to
 * the effective user (or root) and be writable by nobody else
 * (ag_state_secure); otherwise nothing in it is used.
 *
 * Every file is replaced with write, fsync, rename, fsync of the directory,
 * so a crash leaves the old or the new content, never a mix.  The active
 * bundle is the one head.jws names: the bundle file is written first, and
 * renaming the new head into place is the swap (DESIGN §6).
 *
 * Nothing is trusted because it is on disk: every load verifies again what
 * was verified before it was stored — the keyset chain from the enrollment
 * keyset, the head's signature, org and subject, the bundle's length and
 * sha256 — so an edited or damaged file is refused (decisions deny, `run`
 * fetches afresh), never enforced.  That stops an edit, not an owner: whoever
 * can write the directory can also replace the enrollment keyset, the trust
 * anchor.  In production the directory belongs to a dedicated user (or root),
 * not to the developer whose tools the agent constrains.
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

/** The org keysets since enrollment, oldest first: v[n - 1] is the current one. */
struct ag_keysets
{
  struct bw_keyset **v;
  size_t n; /**< 0: none */
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
  char state[16]; /**< "ok", "error", "revoked" (401 node_invalid), "disabled", "" = never ran */
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

/**
 * Like ssh's StrictModes: @a dir and every file in it must belong to the
 * effective user (or root) and be writable by nobody else, or whoever can
 * write them could edit what the agent trusts.
 * @return 0; 1 when @a dir does not exist; -1 when unsafe (@a why says which and how).
 */
int ag_state_secure (const char *dir, char *why, size_t whylen);

/**
 * Take run.lock of @a dir, held by `run` for as long as it runs and by
 * `enroll` while it replaces the enrollment: one of them at a time.
 * @return the fd holding the lock (close it to release), or -1 when another
 *         process holds it (or the file cannot be opened).
 */
int ag_run_lock (const char *dir);

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

/** Store the enrollment keyset @a doc (verified) as keyset.json.  @return 0 or -1. */
int ag_keyset_save (const char *dir, const char *doc, size_t len);

/**
 * The keysets, verified again as a chain: keyset.json must be signed by its
 * own keys for org @a org_id (bw_keyset_trust_first), and each
 * keyset-<N+1>.json that follows by the keys of N (bw_keyset_advance).
 * @return 0 and @a out filled (free with ag_keysets_clear); 1 when a later
 *         keyset-<N>.json is unreadable or does not verify: @a out holds the
 *         chain up to it (`run` drops the rest and fetches it again, see
 *         ag_keysets_truncate); -1 when keyset.json, the anchor, is missing or
 *         does not verify: only enrolling again helps.  @a why says where.
 */
int ag_keysets_load (const char *dir, const char *org_id, struct ag_keysets *out, char *why,
                     size_t whylen);

/** Remove every keyset-<N>.json past the chain @a k holds.  @return 0 or -1. */
int ag_keysets_truncate (const char *dir, const struct ag_keysets *k);

/** The current (newest) keyset, or NULL when none. */
const struct bw_keyset *ag_keysets_current (const struct ag_keysets *k);

/** Keyset @a version of the chain, or NULL. */
const struct bw_keyset *ag_keysets_find (const struct ag_keysets *k, uint64_t version);

/**
 * Store keyset document @a doc, already verified into @a next (one version
 * after the current), as keyset-<N>.json, and append @a next to @a k, which
 * takes it over (it is freed on failure).  @return 0 or -1.
 */
int ag_keysets_append (const char *dir, struct ag_keysets *k, const char *doc, size_t len,
                       struct bw_keyset *next);

/** Free what @a k holds.  NULL-safe. */
void ag_keysets_clear (struct ag_keysets *k);

/**
 * The active bundle, verified again: head.jws against the keyset of the
 * chain @a ks it names (it can be older than the current one: a keyset is
 * stored as soon as it is walked, a head signed under it only once one
 * arrives and verifies), with the org and subject of @a id; then the bundle
 * bytes' length and sha256.  The head's `exp` is not checked: an expired
 * head is stale mode, for the caller.
 * @return 0 and @a out filled (free with ag_active_clear); 1 when there is
 *         no active bundle; -1 when the stored files are damaged or were
 *         edited (@a why says how): nothing of them may be enforced.
 */
int ag_active_load (const char *dir, const struct ag_identity *id, const struct ag_keysets *ks,
                    struct ag_active *out, char *why, size_t whylen);

/** Free what @a a holds.  NULL-safe. */
void ag_active_clear (struct ag_active *a);

/** Remove head.jws and every bundle file: nothing is active any more.  @return 0 or -1. */
int ag_active_drop (const char *dir);

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

/** Everything `check` and `status` read, loaded and verified by the functions above. */
struct ag_state
{
  int enrolled; /**< ag_identity_load's answer: 0 enrolled, 1 not, -1 unreadable */
  struct ag_identity id;
  struct ag_keysets ks;    /**< n = 0 when unusable */
  struct ag_active active; /**< bundle NULL: none (or damaged) */
  struct ag_status status; /**< last_error "state:damaged" when damaged */
  char damage[160];        /**< what is damaged, for people; "" when nothing */
  char unsafe[160];        /**< ag_state_secure's why; then nothing else is loaded */
};

/**
 * Load @a st from @a dir.  Never fails: what cannot be trusted is left out
 * (an unsafe directory: all of it, enrolled = -1).
 */
void ag_state_load (const char *dir, struct ag_state *st);

/** Free what @a st holds. */
void ag_state_clear (struct ag_state *st);

/** Whether the server revoked this agent (status "revoked"): enroll again. */
bool ag_state_revoked (const struct ag_state *st);

#endif
