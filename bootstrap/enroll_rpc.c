/* What the enrollment steps share to talk to the verifier: retries,
 * failure messages, public areas for messages. */
#include <stdio.h>
#include <stdlib.h>
#include <tss2/tss2_mu.h>

#include "enroll_steps.h"
#include "net.h"
#include "rpc_report.h"

grpc_status_code rt_enroll_call(rt_enrollment *e, const char *method, const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *type, uint64_t deadline,
                                int idempotent, ProtobufCMessage **resp, rt_rpc_result *res) {
  return rt_net_call_retry(e->client, method, req, type, deadline,
                           idempotent ? RT_RETRY_TRANSIENT : RT_RETRY_UNSENT, resp, res);
}

int rt_enroll_fail(const char *what, const char *msg) {
  fprintf(stderr, "rattest-bootstrap enroll: %s: %s\n", what, msg);
  return 1;
}

int rt_enroll_fail_rpc(const rt_enrollment *e, const char *what, const rt_rpc_result *res) {
  return rt_report_rpc("enroll", what, e->client, res);
}

rt_code rt_enroll_marshal_public(const TPM2B_PUBLIC *pub, ProtobufCBinaryData *out, rt_err *err) {
  out->data = malloc(sizeof *pub);
  if (out->data == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out->data, sizeof *pub, &off) != TSS2_RC_SUCCESS) {
    free(out->data);
    out->data = NULL;
    return rt_err_set(err, RT_E_INTERNAL, "marshalling a public area failed");
  }
  out->len = off;
  return RT_OK;
}
