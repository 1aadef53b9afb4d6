/**
 * @file server/catalog_expiry.h
 * Approval expiry of the MCP catalog (DESIGN §5): every
 * BW_CATALOG_EXPIRY_PERIOD_S a thread with its own database connection
 * finds the orgs with approved or suspended entries whose expires_at has
 * passed (db_catalog_expiry_orgs), and has each org's expired entries
 * deprecated for good, audited (`catalog.entry.expire`, actor `system`)
 * and its policy version bumped in one transaction (api_catalog_expire_org), so the
 * bundle compiler drops the entries and long-polling agents wake.  Every
 * replica runs it; the org lock makes each expiry happen once.  The
 * bundle's slice leaves an expired entry out even before a round (it
 * filters on expires_at), and agents check expires_at themselves.
 */
#ifndef BW_SERVER_CATALOG_EXPIRY_H
#define BW_SERVER_CATALOG_EXPIRY_H

/** Seconds between expiry rounds. */
#define BW_CATALOG_EXPIRY_PERIOD_S 1

/** Start the expiry thread; its first round runs at once.  @return 0, or -1. */
int bw_catalog_expiry_start (void);

/** Stop the thread (waits for a round in progress). */
void bw_catalog_expiry_stop (void);

/**
 * One round on the caller's thread (the job's body; for tests).
 * @return the entries retired (deprecated), or -1 when a database step failed (logged).
 */
long bw_catalog_expiry_round (void);

#endif
