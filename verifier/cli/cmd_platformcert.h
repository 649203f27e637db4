/* `rattest-verifier platform-cert`: checks a TCG platform certificate the
 * way the service's Begin does, without a TPM: against platform CAs and
 * the EK certificate it must belong to. */
#ifndef RT_VERIFIER_CMD_PLATFORMCERT_H
#define RT_VERIFIER_CMD_PLATFORMCERT_H

#include <stdio.h>

/* argv[0] is the command name. Returns 0 when the certificate verifies, 1
 * when it does not (or a file cannot be read), 2 on bad usage. */
int rt_cmd_platformcert(int argc, char **argv);
void rt_cmd_platformcert_usage(FILE *f);

#endif
