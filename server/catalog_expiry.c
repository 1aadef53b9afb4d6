/*
 * Approval expiry of the catalog (see server/catalog_expiry.h).
 */
#include "config.h"
#include "server/catalog_expiry.h"
#include "server/periodic.h"
#include "api/catalog.h"
#include "db/catalog.h"
#include "lib/crypto.h"
#include "lib/log.h"

#include <stdio.h>

/** "catalog-expiry-" + 32 hex + NUL: the request id of one round's audit records. */
#define ROUND_ID_SIZE 48

/* A fresh request id for one round, so that its audit records can be told apart. */
static void
round_id (char out[ROUND_ID_SIZE])
{
  unsigned char raw[16] = { 0 };
  char hex[2 * sizeof (raw) + 1];
  if (0 != bw_random (raw, sizeof (raw)))
    bw_logf (BW_LOG_WARN, "catalog expiry: no random bytes for the round id");
  bw_hex (raw, sizeof (raw), hex);
  snprintf (out, ROUND_ID_SIZE, "catalog-expiry-%s", hex);
}

long
bw_catalog_expiry_round (void)
{
  char orgs[DB_CATALOG_EXPIRY_BATCH][BW_UUID_LEN + 1];
  char rid[ROUND_ID_SIZE];
  size_t n = 0;
  long total = 0;
  enum db_qs qs = db_catalog_expiry_orgs (orgs, &n);
  if (qs < 0)
    {
      if (DB_QS_UNAVAILABLE != qs)
        bw_logf (BW_LOG_ERROR, "catalog expiry: cannot list the due approvals");
      return -1;
    }
  if (0 == n)
    return 0;
  round_id (rid);
  for (size_t i = 0; i < n; i++)
    {
      size_t marked = 0;
      qs = api_catalog_expire_org (orgs[i], rid, &marked);
      if (qs < 0)
        {
          bw_log_json (BW_LOG_ERROR, "catalog expiry failed",
                       json_pack ("{s:s, s:i}", "org_id", orgs[i], "qs", (int) qs));
          total = -1;
          continue;
        }
      if (marked > 0)
        bw_log_json (BW_LOG_INFO, "catalog approvals expired",
                     json_pack ("{s:s, s:I, s:s}", "org_id", orgs[i], "entries",
                                (json_int_t) marked, "request_id", rid));
      if (total >= 0)
        total += (long) marked;
    }
  return total;
}

static void
expiry_round (void)
{
  (void) bw_catalog_expiry_round ();
}

static struct bw_periodic expiry
  = { .period_s = BW_CATALOG_EXPIRY_PERIOD_S, .run_at_start = true, .run = expiry_round };

int
bw_catalog_expiry_start (void)
{
  return bw_periodic_start (&expiry);
}

void
bw_catalog_expiry_stop (void)
{
  bw_periodic_stop (&expiry);
}
