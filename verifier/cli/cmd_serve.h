/* `rattest-verifier serve`: loads the trust anchors, the issuer, the policy
 * and the session key, then serves rattest.v1.Attestation until SIGINT or
 * SIGTERM. */
#ifndef RT_VERIFIER_CMD_SERVE_H
#define RT_VERIFIER_CMD_SERVE_H

#include <stdio.h>

/* argv[0] is "serve". Returns 0 after a clean stop, 1 when the service
 * cannot start, 2 on bad usage. */
int rt_cmd_serve(int argc, char **argv);
void rt_cmd_serve_usage(FILE *f);

#endif
