/* `rattest-verifier policy`: generate a policy from a known-good event log
 * (from-log), and judge a log against a policy without a TPM (check), with
 * the service's own policy code. */
#ifndef RT_VERIFIER_CMD_POLICY_H
#define RT_VERIFIER_CMD_POLICY_H

#include <stdio.h>

/* argv[0] is "policy". Returns 0 on success / a passing log, 1 when the log
 * or policy cannot be read or the log fails, 2 on bad usage. */
int rt_cmd_policy(int argc, char **argv);
void rt_cmd_policy_usage(FILE *f);

#endif
