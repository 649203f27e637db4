#include "rpc_report.h"

#include <stdio.h>
#include <string.h>

#include "net.h"

int rt_report_rpc(const char *cmd, const char *what, const rt_grpc_client *client,
                  const rt_rpc_result *res) {
  const char *at = rt_net_client_target(client);
  const char *status = rt_grpc_status_name(res->status);
  switch (res->reach) {
  case RT_RPC_ANSWERED:
    fprintf(stderr, "rattest-bootstrap %s: the verifier refused %s: %s%s%s: %s\n", cmd, what,
            status, res->code[0] ? " " : "", res->code, res->message);
    break;
  case RT_RPC_UNREACHABLE:
    fprintf(stderr,
            "rattest-bootstrap %s: %s: could not reach the verifier at %s (%s: %s): check "
            "--verifier\n",
            cmd, what, at, status, res->message);
    break;
  case RT_RPC_TLS:
    if (strstr(res->message, "Peer name") != NULL)
      fprintf(stderr,
              "rattest-bootstrap %s: %s: the verifier at %s has a certificate for another name "
              "(%s: %s): check --verifier (its host name must be in the certificate)\n",
              cmd, what, at, status, res->message);
    else
      fprintf(stderr,
              "rattest-bootstrap %s: %s: TLS with the verifier at %s failed (%s: %s): check --ca "
              "(the verifier's certificate must chain to it)\n",
              cmd, what, at, status, res->message);
    break;
  case RT_RPC_LOST:
    fprintf(stderr, "rattest-bootstrap %s: %s: no answer from the verifier at %s (%s: %s)%s\n", cmd,
            what, at, status, res->message,
            res->status == GRPC_STATUS_DEADLINE_EXCEEDED ? " within --timeout" : "");
    break;
  case RT_RPC_LOCAL:
    fprintf(stderr, "rattest-bootstrap %s: %s: %s: %s\n", cmd, what, status, res->message);
    break;
  }
  return 1;
}
