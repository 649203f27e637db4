#include "service.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "enroll.h"
#include "rattest.pb-c.h"

static grpc_status_code ping(void *user, const rt_rpc_call_info *info, const ProtobufCMessage *msg,
                             ProtobufCMessage **resp, rt_rpc_status *st) {
  (void)user;
  (void)info;
  const Rattest__V1__PingRequest *req = (const Rattest__V1__PingRequest *)msg;
  size_t len = strlen(req->message);
  if (len > RT_PING_MAX_MESSAGE)
    return rt_deny(st, GRPC_STATUS_INVALID_ARGUMENT, "PING_TOO_LONG",
                   "ping message is %zu bytes, at most %d allowed", len, RT_PING_MAX_MESSAGE);
  Rattest__V1__PingResponse *r = malloc(sizeof *r);
  char *echo = strdup(req->message);
  if (r == NULL || echo == NULL) {
    free(r);
    free(echo);
    return rt_deny_nomem(st, "the Ping response");
  }
  rattest__v1__ping_response__init(r);
  r->message = echo;
  r->version = (char *)RATTEST_VERSION;
  r->server_time_unix = (int64_t)time(NULL);
  *resp = &r->base;
  return GRPC_STATUS_OK;
}

static void free_ping(ProtobufCMessage *msg) {
  Rattest__V1__PingResponse *r = (Rattest__V1__PingResponse *)msg;
  free(r->message);
  free(r);
}

/* A verifier started without enrollment configuration (only in tests of
 * the transport) still routes the methods, with a clear status. */
static grpc_status_code not_configured(void *user, const rt_rpc_call_info *info,
                                       const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                       rt_rpc_status *st) {
  (void)user;
  (void)info;
  (void)msg;
  (void)resp;
  return rt_deny(st, GRPC_STATUS_UNIMPLEMENTED, "NOT_CONFIGURED",
                 "this verifier is not configured for enrollment");
}

size_t rt_verifier_methods(struct rt_verifier *verifier, rt_rpc_method out[RT_VERIFIER_N_METHODS]) {
  out[0] = (rt_rpc_method){RT_METHOD_PING, &rattest__v1__ping_request__descriptor, ping, free_ping,
                           NULL};
  if (verifier != NULL) {
    out[1] = (rt_rpc_method){RT_METHOD_BEGIN, &rattest__v1__begin_request__descriptor,
                             rt_enroll_begin, rt_enroll_begin_free, verifier};
    out[2] = (rt_rpc_method){RT_METHOD_FINISH, &rattest__v1__finish_request__descriptor,
                             rt_enroll_finish, rt_enroll_finish_free, verifier};
    out[3] = (rt_rpc_method){RT_METHOD_CONFIRM, &rattest__v1__confirm_request__descriptor,
                             rt_enroll_confirm, rt_enroll_confirm_free, verifier};
  } else {
    out[1] = (rt_rpc_method){RT_METHOD_BEGIN, &rattest__v1__begin_request__descriptor,
                             not_configured, NULL, NULL};
    out[2] = (rt_rpc_method){RT_METHOD_FINISH, &rattest__v1__finish_request__descriptor,
                             not_configured, NULL, NULL};
    out[3] = (rt_rpc_method){RT_METHOD_CONFIRM, &rattest__v1__confirm_request__descriptor,
                             not_configured, NULL, NULL};
  }
  return RT_VERIFIER_N_METHODS;
}
