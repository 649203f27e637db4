/* `rattest-verifier machines list|show|add|remove`: the machine registry
 * (verifier/registry) as an operator reads and edits it. */
#ifndef RT_VERIFIER_CMD_MACHINES_H
#define RT_VERIFIER_CMD_MACHINES_H

#include <stdio.h>

/* argv[0] is "machines". 0: done; 1: failed; 2: bad usage. */
int rt_cmd_machines(int argc, char **argv);
void rt_cmd_machines_usage(FILE *f);

#endif
