/* `rattest-verifier token-key FILE`: a new session token key file, for the
 * verifiers behind one address to share (serve --token-key). */
#ifndef RT_VERIFIER_CMD_TOKEN_KEY_H
#define RT_VERIFIER_CMD_TOKEN_KEY_H

#include <stdio.h>

/* argv[0] is "token-key". 0: written; 1: cannot write; 2: bad usage. */
int rt_cmd_token_key(int argc, char **argv);
void rt_cmd_token_key_usage(FILE *f);

#endif
