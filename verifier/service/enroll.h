/* The enrollment methods of rattest.v1.Attestation: Begin, Finish and
 * Confirm (each on the one wrapper of handler.h), and the verifier state
 * they share (trust anchors, policy, issuing CA, token key, replay guard,
 * rate limits). */
#ifndef RT_VERIFIER_ENROLL_H
#define RT_VERIFIER_ENROLL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "confirm_token.h"
#include "ek_check.h"
#include "issuer.h"
#include "platform_ca.h"
#include "policy.h"
#include "rate_limit.h"
#include "replay_guard.h"
#include "rt_grpc.h"
#include "session_token.h"
#include "token_key.h"

typedef struct rt_verifier {
  /* SIGHUP swaps what decides (ek_roots, platform_ca, policy, issuer)
   * under the write lock; every call holds the read lock (rt_handle), so a
   * call is judged by one configuration, old or new, never a mix. Zeroed
   * (glibc's PTHREAD_RWLOCK_INITIALIZER) or pthread_rwlock_init. */
  pthread_rwlock_t config_lock;
  rt_ca_set *ek_roots;
  rt_aia_opts ek_aia; /* used when ek_aia_fetch (--ek-aia-fetch) */
  bool ek_aia_fetch;
  rt_ca_set *platform_ca; /* --platform-ca, NULL without */
  rt_policy *policy;
  rt_issuer *issuer;
  rt_token_key *token_key;
  rt_token_replay_guard *guard;
  int64_t session_ttl;        /* seconds between Begin and Finish */
  struct rt_metrics *metrics; /* --metrics-listen, else NULL */
  /* Rate limits (throttle.h); NULL: none. */
  rt_rate_limiter *rate_peer, *rate_ek, *rate_finish;
  /* The machine registry (--db, registry_hooks.h), NULL without. */
  struct rt_store *store;
} rt_verifier;

grpc_status_code rt_enroll_begin(void *verifier, const rt_rpc_call_info *info,
                                 const ProtobufCMessage *req, ProtobufCMessage **resp,
                                 rt_rpc_status *st);
void rt_enroll_begin_free(ProtobufCMessage *resp);

grpc_status_code rt_enroll_finish(void *verifier, const rt_rpc_call_info *info,
                                  const ProtobufCMessage *req, ProtobufCMessage **resp,
                                  rt_rpc_status *st);
void rt_enroll_finish_free(ProtobufCMessage *resp);

/* Confirm: the proofs of receipt of the secrets Finish delivered
 * (verifier/service/confirm.c, docs/secrets.md). */
grpc_status_code rt_enroll_confirm(void *verifier, const rt_rpc_call_info *info,
                                   const ProtobufCMessage *req, ProtobufCMessage **resp,
                                   rt_rpc_status *st);
void rt_enroll_confirm_free(ProtobufCMessage *resp);

#endif
