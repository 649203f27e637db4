/* `rattest-bootstrap renew`: re-attests an identity whose certificate is
 * inside its renewal window (or expired, or missing) and replaces it the way
 * `enroll --renew` does: a fresh quote and event log, a new certified key,
 * the state switched over atomically. Outside the window it does nothing. */
#ifndef RT_BOOTSTRAP_RENEW_H
#define RT_BOOTSTRAP_RENEW_H

#include <stdint.h>

#include "ek.h"
#include "enroll.h"
#include "validity.h"

typedef struct {
  /* What each renewal enrolls with (verifier, ca_file, state_dir, tcti,
   * ek, event_log, ek_intermediates, pcrs, timeout_ms per identity); its
   * verifier NULL: the address the identity recorded. The name, key
   * algorithm and handle come from the identity. */
  rt_enroll_opts enroll;
  const char *name; /* the identity, or NULL for every one (--all) */
  rt_window window;
  const char *exec; /* shell command run after each renewal, or NULL */
} rt_renew_opts;

/* 0 when every identity considered was renewed or not yet due, 1 when one
 * failed (the others are still tried) or its --exec command failed. */
int rt_renew(const rt_renew_opts *o);

/* Runs `/bin/sh -c cmd` with RATTEST_NAME, RATTEST_STATE_DIR,
 * RATTEST_CERT_FILE, RATTEST_CHAIN_FILE and RATTEST_KEY_FILE of id in its
 * environment and waits for it: 0 when it exited 0, else 1 after saying
 * how it ended. */
int rt_renew_hook(const char *cmd, const char *state_dir, const rt_identity *id);

#endif
