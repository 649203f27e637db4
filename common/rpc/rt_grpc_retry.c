/* rt_grpc_call_retry: one call tried again, on a new channel each time,
 * while its failure is one that waiting can cure. */
#include <unistd.h>

#include "rt_grpc.h"
#include "rt_log.h"

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 5000

/* Whether waiting can cure this failure and `retry` allows trying again.
 * A refusal, a TLS failure (the CA file or the host name is wrong) and a
 * failure here stay what they are. */
static int retryable(const rt_rpc_result *res, rt_retry retry) {
  if (res->status == GRPC_STATUS_OK)
    return 0;
  return res->reach == RT_RPC_UNREACHABLE ||
         (res->reach == RT_RPC_LOST && retry == RT_RETRY_TRANSIENT);
}

grpc_status_code rt_grpc_call_retry(rt_grpc_client *client, const char *method,
                                    const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_type,
                                    uint64_t deadline_ms, rt_retry retry, ProtobufCMessage **resp,
                                    rt_rpc_result *res) {
  uint64_t wait = RETRY_FIRST_MS;
  for (unsigned retries = 0;; retries++) {
    uint64_t now = rt_grpc_now_ms();
    int left = now >= deadline_ms ? 1 : (int)(deadline_ms - now);
    grpc_status_code s = rt_grpc_call(client, method, req, resp_type, left, resp, res);
    res->retries = retries;
    now = rt_grpc_now_ms();
    /* The last try gets at least RETRY_FIRST_MS: a shorter one could not
     * even connect. */
    if (!retryable(res, retry) || now + RETRY_FIRST_MS >= deadline_ms)
      return s;
    uint64_t nap =
        wait < deadline_ms - now - RETRY_FIRST_MS ? wait : deadline_ms - now - RETRY_FIRST_MS;
    rt_warn("%s: %s: %s (%s); retrying in %llu ms", method, rt_grpc_client_target(client),
            rt_grpc_status_name(s), res->message, (unsigned long long)nap);
    usleep((useconds_t)nap * 1000u);
    wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
    rt_err err;
    if (rt_grpc_client_reconnect(client, &err) != RT_OK)
      return s;
  }
}
