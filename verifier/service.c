#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rattest.pb-c.h"

static grpc_status_code ping(void *user, const rt_rpc_call_info *info, const ProtobufCMessage *msg,
                             ProtobufCMessage **resp, rt_rpc_status *st) {
  (void)user;
  (void)info;
  const Rattest__V1__PingRequest *req = (const Rattest__V1__PingRequest *)msg;
  size_t len = strlen(req->message);
  if (len > RT_PING_MAX_MESSAGE) {
    st->status = GRPC_STATUS_INVALID_ARGUMENT;
    st->code = "PING_TOO_LONG";
    snprintf(st->message, sizeof st->message, "ping message is %zu bytes, at most %d allowed", len,
             RT_PING_MAX_MESSAGE);
    return st->status;
  }
  Rattest__V1__PingResponse *r = malloc(sizeof *r);
  char *echo = strdup(req->message);
  if (r == NULL || echo == NULL) {
    free(r);
    free(echo);
    st->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(st->message, sizeof st->message, "out of memory");
    return st->status;
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

/* Enrollment is filled in by the "enrollment protocol" issue; until then the
 * methods exist so clients get a clear status instead of a routing error. */
static grpc_status_code not_yet(void *user, const rt_rpc_call_info *info,
                                const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                rt_rpc_status *st) {
  (void)user;
  (void)info;
  (void)msg;
  (void)resp;
  st->status = GRPC_STATUS_UNIMPLEMENTED;
  st->code = "NOT_IMPLEMENTED";
  snprintf(st->message, sizeof st->message, "enrollment is not implemented by this verifier");
  return st->status;
}

static const rt_rpc_method methods[] = {
    {RT_METHOD_PING, &rattest__v1__ping_request__descriptor, ping, free_ping, NULL},
    {RT_METHOD_BEGIN, &rattest__v1__begin_request__descriptor, not_yet, NULL, NULL},
    {RT_METHOD_FINISH, &rattest__v1__finish_request__descriptor, not_yet, NULL, NULL},
};

const rt_rpc_method *rt_verifier_methods(size_t *count) {
  *count = sizeof methods / sizeof methods[0];
  return methods;
}
