#include "handler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "metrics.h"

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
#include "registry_hooks.h"
#include "throttle.h"

grpc_status_code rt_handle(const rt_handler *h, void *verifier, const rt_rpc_call_info *info,
                           const ProtobufCMessage *req, ProtobufCMessage **resp,
                           rt_rpc_status *st) {
  rt_verifier *v = verifier;
  rt_metrics *metrics = v->metrics;
  double start = now_seconds();
  rt_metrics_call_start(metrics);
  pthread_rwlock_rdlock(&v->config_lock);
  /* Zeroed: every audit field the step does not reach stays empty. */
  rt_call_audit a;
  memset(&a, 0, sizeof a);
  a.line.method = h->method;
  a.line.peer = info->peer;
  grpc_status_code s;
  ProtobufCMessage *r = calloc(1, h->response->sizeof_message);
  if (r == NULL) {
    s = rt_deny_nomem(st, "the response");
  } else if ((s = rt_throttle_peer(verifier, info->peer, st)) == GRPC_STATUS_OK) {
    protobuf_c_message_init(h->response, r);
    s = h->step(verifier, req, r, &a, st);
  }
  /* The registry's record (--db) first: a verifier killed between the two
   * then leaves a record without its audit line, never an audit line
   * naming a certificate the registry does not know. */
  rt_registry_record(verifier, &a, s, st);
  rt_audit_decision(&a.line, s, st);
  pthread_rwlock_unlock(&v->config_lock);
  rt_metrics_call_end(metrics, h->method, s, st->code, now_seconds() - start);
  if (s != GRPC_STATUS_OK) {
    if (r != NULL)
      h->free_response(r);
    return s;
  }
  *resp = r;
  return GRPC_STATUS_OK;
}
