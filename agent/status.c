/*
 * `bulwark-agent status`: reads the state directory, changes nothing (but
 * for moving a damaged event spool aside, as every reader of it does).  It
 * loads it the way `check` does (agent/state.h), so what it shows as the
 * bundle is what `check` enforces.
 */
#include "config.h"
#include "agent/status.h"

#include "agent/spool.h"
#include "agent/state.h"
#include "agent/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
utc (int64_t t, char out[32])
{
  struct tm tm;
  time_t tt = (time_t) t;
  if (NULL == gmtime_r (&tt, &tm) || 0 == strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf (out, 32, "?");
}

/* What the JSON calls the state: the last check-in's, unless what is on disk is damaged now. */
static const char *
state_name (const struct ag_state *s)
{
  if ('\0' != s->damage[0] && !ag_state_revoked (s))
    return "damaged";
  return s->status.state[0] ? s->status.state : "new";
}

static json_t *
status_json (const char *dir, const struct ag_state *s, const struct ag_spool_counts *c, bool stale)
{
  const struct ag_identity *id = &s->id;
  const struct bw_keyset *ks = ag_keysets_current (&s->ks);
  const struct ag_active *act = &s->active;
  const struct ag_status *st = &s->status;
  json_t *bundle = json_null ();
  if (NULL != act->bundle)
    bundle = json_pack ("{s:I, s:s, s:I, s:I}", "version", (json_int_t) act->head.bundle_version,
                        "sha256", act->head.sha256, "head_serial",
                        (json_int_t) act->head.head_serial, "exp", (json_int_t) act->head.exp);
  return json_pack ("{s:b, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:o, s:o, s:b, s:s, s:o,"
                    " s:o, s:{s:I, s:I, s:I}}",
                    "enrolled", 1, "state_dir", dir, "server", id->server, "agent_id", id->agent_id,
                    "org", "id", id->org_id, "slug", id->org_slug, "subject", "kind",
                    id->subject_kind, "id", id->subject_id, "keyset_version",
                    ks ? json_integer ((json_int_t) bw_keyset_version (ks)) : json_null (),
                    "bundle", bundle, "stale", stale, "state", state_name (s), "last_error",
                    st->last_error[0] ? json_string (st->last_error) : json_null (), "last_checkin",
                    st->last_checkin ? json_integer ((json_int_t) st->last_checkin) : json_null (),
                    "events", "spooled", (json_int_t) c->spooled, "dropped",
                    (json_int_t) c->dropped, "last_seq", (json_int_t) c->last_seq);
}

static void
status_text (const char *dir, const struct ag_state *s, const struct ag_spool_counts *c, bool stale)
{
  const struct ag_identity *id = &s->id;
  const struct bw_keyset *ks = ag_keysets_current (&s->ks);
  const struct ag_active *act = &s->active;
  const struct ag_status *st = &s->status;
  char when[32];
  printf ("enrolled:      agent %s, org %s (%s), subject %s %s\n", id->agent_id, id->org_slug,
          id->org_id, id->subject_kind, id->subject_id);
  printf ("server:        %s\n", id->server);
  printf ("state dir:     %s\n", dir);
  if (NULL != ks)
    printf ("keyset:        version %llu\n", (unsigned long long) bw_keyset_version (ks));
  else
    printf ("keyset:        none that verifies\n");
  if (NULL != act->bundle)
    {
      utc (act->head.exp, when);
      printf ("bundle:        version %llu, sha256 %s, head serial %llu\n",
              (unsigned long long) act->head.bundle_version, act->head.sha256,
              (unsigned long long) act->head.head_serial);
      printf ("head expires:  %s%s\n", when, stale ? " (stale)" : "");
    }
  else if (ag_state_revoked (s))
    printf ("bundle:        none (agent revoked: enroll again)\n");
  else if ('\0' != s->damage[0])
    printf ("bundle:        none (the stored state is damaged: %s; decisions are deny)\n",
            s->damage);
  else
    printf ("bundle:        none (decisions are deny until the first check-in)\n");
  if (st->last_checkin)
    {
      utc (st->last_checkin, when);
      printf ("last check-in: %s, %s\n", when, st->state);
    }
  else
    printf ("last check-in: never\n");
  printf ("last error:    %s\n", st->last_error[0] ? st->last_error : "none");
  printf ("events:        %llu spooled, %llu dropped, last seq %llu\n",
          (unsigned long long) c->spooled, (unsigned long long) c->dropped,
          (unsigned long long) c->last_seq);
}

int
ag_status_main (const char *dir, bool json)
{
  struct ag_state st;
  struct ag_spool_counts c;
  int code = AG_EXIT_OK;
  ag_state_load (dir, &st);
  if (0 != st.enrolled)
    {
      if (json)
        {
          json_t *j = json_pack ("{s:b, s:s}", "enrolled", 0, "state_dir", dir);
          char *s = j ? json_dumps (j, JSON_COMPACT) : NULL;
          if (NULL != s)
            printf ("%s\n", s);
          free (s);
          json_decref (j);
        }
      if ('\0' != st.unsafe[0])
        fprintf (stderr, "bulwark-agent: refusing the state directory %s: %s\n", dir, st.unsafe);
      else
        fprintf (stderr, "bulwark-agent: %s in %s\n",
                 1 == st.enrolled ? "not enrolled" : "unreadable enrollment", dir);
      code = AG_EXIT_FAIL;
      goto done;
    }
  if (0 != ag_spool_counts (dir, &c))
    memset (&c, 0, sizeof (c));
  bool stale = NULL != st.active.bundle && (int64_t) time (NULL) >= st.active.head.exp;
  if (json)
    {
      json_t *j = status_json (dir, &st, &c, stale);
      char *s = j ? json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
      if (NULL != s)
        printf ("%s\n", s);
      free (s);
      json_decref (j);
    }
  else
    status_text (dir, &st, &c, stale);
done:
  ag_state_clear (&st);
  return code;
}
