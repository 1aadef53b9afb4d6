/**
 * @file agent/enroll.h
 * `bulwark-agent enroll`: exchange an enroll secret for an agent
 * credential (DESIGN §6 "Enrollment") and keep what the reply says.
 */
#ifndef BW_AGENT_ENROLL_H
#define BW_AGENT_ENROLL_H

#include <stdbool.h>

/** Options of `enroll`; strings borrowed. */
struct ag_enroll_options
{
  const char *server;   /**< base URL, e.g. "https://bulwark.example.com" */
  const char *secret;   /**< "bwe_..." */
  const char *hostname; /**< reported name; NULL: gethostname(2) */
  bool force;           /**< enroll again over an existing enrollment, discarding its state */
};

/**
 * POST /api/v1/agent/enroll, verify the org keyset it returns (trust on
 * first use: self-signed, for the org the reply names, version as
 * announced — lib/keyset.h), then store credential, identity and keyset in
 * @a dir (created 0700; files 0600, each written with write, fsync, rename).
 * Prints one line saying who we are now.
 * @return an enum ag_exit value (OK, FAIL, USAGE).
 */
int ag_enroll_main (const char *dir, const struct ag_enroll_options *opts);

#endif
