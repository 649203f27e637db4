/* How the bootstrap reports a failed call to the verifier: whether it was
 * reached at all, and which option to check when it was not. */
#ifndef RT_BOOTSTRAP_RPC_REPORT_H
#define RT_BOOTSTRAP_RPC_REPORT_H

#include "rt_grpc.h"

/* One line on stderr, "rattest-bootstrap CMD: " then, by res->reach:
 *   the verifier refused WHAT: STATUS CODE: MESSAGE
 *   WHAT: could not reach the verifier at HOST:PORT (STATUS: ...): check --verifier
 *   WHAT: TLS with the verifier at HOST:PORT failed (...): check --ca
 *   WHAT: the verifier at HOST:PORT has a certificate for another name (...): check --verifier
 *   WHAT: no answer from the verifier at HOST:PORT (STATUS: ...)
 * Returns 1 (the commands' exit status for it). */
int rt_report_rpc(const char *cmd, const char *what, const rt_grpc_client *client,
                  const rt_rpc_result *res);

#endif
