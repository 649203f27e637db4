/* What the enrollment steps share to talk to the verifier: deadlines,
 * retries, failure messages, public areas for messages. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "enroll_steps.h"
#include "rt_log.h"

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 5000

uint64_t rt_enroll_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Failures worth another try: the verifier was unreachable or busy. */
static int transient(grpc_status_code s) {
  return s == GRPC_STATUS_UNAVAILABLE || s == GRPC_STATUS_DEADLINE_EXCEEDED ||
         s == GRPC_STATUS_RESOURCE_EXHAUSTED;
}

grpc_status_code rt_enroll_call(rt_enrollment *e, const char *method, const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *type, uint64_t deadline,
                                int retry_all_transient, ProtobufCMessage **resp,
                                rt_rpc_result *res) {
  uint64_t wait = RETRY_FIRST_MS;
  for (;;) {
    uint64_t now = rt_enroll_now_ms();
    int left = now >= deadline ? 1 : (int)(deadline - now);
    grpc_status_code s = rt_grpc_call(e->client, method, req, type, left, resp, res);
    int again = retry_all_transient ? transient(s) : s == GRPC_STATUS_UNAVAILABLE;
    if (s == GRPC_STATUS_OK || !again || rt_enroll_now_ms() + wait >= deadline)
      return s;
    rt_warn("%s: %s (%s); retrying in %llu ms", method, rt_grpc_status_name(s), res->message,
            (unsigned long long)wait);
    usleep((useconds_t)wait * 1000u);
    wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
  }
}

int rt_enroll_fail(const char *what, const char *msg) {
  fprintf(stderr, "rattest-bootstrap enroll: %s: %s\n", what, msg);
  return 1;
}

int rt_enroll_fail_rpc(const char *what, grpc_status_code s, const rt_rpc_result *res) {
  fprintf(stderr, "rattest-bootstrap enroll: %s: %s%s%s: %s\n", what, rt_grpc_status_name(s),
          res->code[0] ? " " : "", res->code, res->message);
  return 1;
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
