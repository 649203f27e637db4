/* `rattest-bootstrap status`: what the state file says this machine holds. */
#ifndef RT_BOOTSTRAP_STATUS_H
#define RT_BOOTSTRAP_STATUS_H

/* Prints the identities of state_dir as text or JSON; 0 on success. */
int rt_status_print(const char *state_dir, int json);

#endif
