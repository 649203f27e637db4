#include "throttle.h"

#include <time.h>

#include "decision.h"
#include "peer_addr.h"

const char rt_rate_limited_code[] = "RATE_LIMITED";

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* No diagnostic line per refusal (quiet): the audit trail counts them. */
static grpc_status_code limited(rt_rpc_status *st, const char *what) {
  st->quiet = true;
  return rt_deny(st, GRPC_STATUS_RESOURCE_EXHAUSTED, rt_rate_limited_code,
                 "too many calls %s; retry later", what);
}

grpc_status_code rt_throttle_peer(const rt_verifier *v, const char *peer, rt_rpc_status *st) {
  uint8_t key[RT_PEER_KEY_MAX];
  size_t n = rt_peer_key(peer, key);
  if (!rt_rate_take(v->rate_peer, key, n, now_ms()))
    return limited(st, "from this address (--rate-peer)");
  return GRPC_STATUS_OK;
}

grpc_status_code rt_throttle_ek(const rt_verifier *v, const uint8_t *ek_sha256, size_t len,
                                rt_rpc_status *st) {
  if (!rt_rate_take(v->rate_ek, ek_sha256, len, now_ms()))
    return limited(st, "for this EK (--rate-ek)");
  return GRPC_STATUS_OK;
}

grpc_status_code rt_throttle_finish(const rt_verifier *v, rt_rpc_status *st) {
  if (!rt_rate_take(v->rate_finish, "", 0, now_ms()))
    return limited(st, "finishing enrollments on this verifier (--rate-finish)");
  return GRPC_STATUS_OK;
}
