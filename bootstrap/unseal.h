/* `rattest-bootstrap unseal NAME`: opens a delivered sealed secret recorded
 * in the state file and writes it out: the one place a secret is printed. */
#ifndef RT_BOOTSTRAP_UNSEAL_H
#define RT_BOOTSTRAP_UNSEAL_H

#include "ek.h"

typedef struct {
  const char *name;
  const char *out; /* file written 0600 atomically; NULL: stdout */
  const char *state_dir;
  const char *tcti;
  rt_ek_choice ek; /* which EK the secret was imported under; AUTO tries both */
} rt_unseal_opts;

/* 0 written, 1 failed (message on stderr). */
int rt_unseal(const rt_unseal_opts *o);

#endif
