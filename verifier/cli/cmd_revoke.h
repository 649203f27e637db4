/* `rattest-verifier revoke`: revokes certificates (by name or serial) or a
 * machine (by EK) in the machine registry, or lifts an EK's revocation. */
#ifndef RT_VERIFIER_CMD_REVOKE_H
#define RT_VERIFIER_CMD_REVOKE_H

#include <stdio.h>

/* argv[0] is "revoke". 0: done; 1: failed or nothing to revoke; 2: bad
 * usage. */
int rt_cmd_revoke(int argc, char **argv);
void rt_cmd_revoke_usage(FILE *f);

#endif
