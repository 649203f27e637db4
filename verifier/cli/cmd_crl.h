/* `rattest-verifier crl`: the issuing CA's CRL from the machine registry,
 * as `serve --crl-file` writes it (crl_registry.h), on stdout or to a file. */
#ifndef RT_VERIFIER_CMD_CRL_H
#define RT_VERIFIER_CMD_CRL_H

#include <stdio.h>

/* argv[0] is "crl". 0: printed or written; 1: failed; 2: bad usage. */
int rt_cmd_crl(int argc, char **argv);
void rt_cmd_crl_usage(FILE *f);

#endif
