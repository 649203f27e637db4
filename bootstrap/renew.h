/* `rattest-bootstrap renew`: re-attests an identity whose certificate is
 * inside its renewal window (or expired, or missing) and replaces it the way
 * `enroll --renew` does: a fresh quote and event log, a new certified key,
 * the state switched over atomically. Outside the window it does nothing. */
#ifndef RT_BOOTSTRAP_RENEW_H
#define RT_BOOTSTRAP_RENEW_H

#include <stdint.h>

#include "ek.h"
#include "validity.h"

typedef struct {
  const char *state_dir;
  const char *name;     /* the identity, or NULL for every one (--all) */
  const char *verifier; /* NULL: the address the identity recorded */
  const char *ca_file;  /* the verifier's TLS CA */
  const char *tcti;
  rt_ek_choice ek;
  const char *event_log;
  const char *ek_intermediates; /* or NULL */
  const char *pcrs;
  rt_window window;
  const char *exec;    /* shell command run after each renewal, or NULL */
  uint64_t timeout_ms; /* per identity, retries included */
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
