#include "ping.h"

#include <string.h>

#include "rattest.pb-c.h"
#include "rt_grpc.h"
#include "rt_methods.h"

void lg_ping(const lg_target *t, lg_outcome *out) {
  memset(out, 0, sizeof *out);
  rt_err err;
  rt_grpc_client *client = NULL;
  if (rt_grpc_client_new(t->verifier, t->ca_file, 0, &client, &err) != RT_OK) {
    lg_fail(out, "LOADGEN", "verifier", err.msg);
    return;
  }
  /* Retried as Begin is (Ping is as idempotent), under one deadline. */
  uint64_t deadline = rt_grpc_now_ms() + t->timeout_ms;
  Rattest__V1__PingRequest req = RATTEST__V1__PING_REQUEST__INIT;
  req.message = "loadgen";
  out->ok = 1;
  for (int i = 0; i < LG_PING_CALLS && out->ok; i++) {
    ProtobufCMessage *resp = NULL;
    rt_rpc_result res;
    lg_call(client, RT_METHOD_PING, &req.base, &rattest__v1__ping_response__descriptor, deadline,
            RT_RETRY_TRANSIENT, "Ping", out, &resp, &res);
    if (resp != NULL)
      protobuf_c_message_free_unpacked(resp, NULL);
  }
  rt_grpc_client_free(client);
}
