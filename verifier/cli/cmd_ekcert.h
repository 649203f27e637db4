/* `rattest-verifier ek-cert`: checks EK certificates against a manufacturer
 * CA bundle exactly as the service's Begin does, without a TPM: so an
 * operator can try a CA bundle on a fleet's EK certificates first. */
#ifndef RT_VERIFIER_CMD_EKCERT_H
#define RT_VERIFIER_CMD_EKCERT_H

#include <stdio.h>

/* argv[0] is the command name. Returns 0 when every certificate verifies,
 * 1 when one does not (or cannot be read), 2 on bad usage. */
int rt_cmd_ekcert(int argc, char **argv);
void rt_cmd_ekcert_usage(FILE *f);

#endif
