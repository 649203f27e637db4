/* `rattest-bootstrap status`: what the state file says this machine holds,
 * and whether each identity's certificate is valid, due for renewal,
 * expired or missing. */
#ifndef RT_BOOTSTRAP_STATUS_H
#define RT_BOOTSTRAP_STATUS_H

#include "validity.h"

typedef struct {
  const char *state_dir;
  const char *name; /* one identity, or NULL for all */
  rt_window window;
  int json;
} rt_status_opts;

/* Prints the identities (and, without a name, the secrets) as text or JSON.
 * Returns 0 when every identity shown is valid and outside its renewal
 * window, 1 when the state could not be read, else the worst rt_validity
 * (MISSING also when nothing, or not that name, is enrolled). */
int rt_status_print(const rt_status_opts *o);

#endif
