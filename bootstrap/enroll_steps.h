/* The steps of one enrollment, which rt_enroll (enroll.c) runs in order:
 * Begin (enroll_begin.c), Finish (enroll_finish.c), keeping what was issued
 * (enroll_keep.c), receiving delivered secrets (enroll_secrets.c); and what
 * they share to talk to the verifier and report (enroll_rpc.c). */
#ifndef RT_BOOTSTRAP_ENROLL_STEPS_H
#define RT_BOOTSTRAP_ENROLL_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "ak.h"
#include "ek.h"
#include "ek_chain.h"
#include "enroll.h"
#include "idkey.h"
#include "rattest.pb-c.h"
#include "rt_grpc.h"
#include "rt_state.h"

/* Everything one enrollment holds, released in one place (rt_enroll). */
typedef struct {
  const rt_enroll_opts *o;
  rt_tpm *tpm;
  rt_ek ek;
  rt_ek_chain chain; /* the TPM's own EK chain indices */
  rt_ak ak;
  rt_idkey key;
  rt_grpc_client *client;
  uint8_t *platform_cert;
  size_t platform_cert_len;
  Rattest__V1__BeginResponse *challenge;
  Rattest__V1__FinishResponse *result;
  rt_state *state;
  int created_state_dir; /* this run made --state-dir: removed if it fails */
} rt_enrollment;

/* Each step returns 0 when done, 1 after reporting why it failed. */

/* Before Begin: whether the key may go to --handle (free, the key the state
 * recorded there, or --force), so that no certificate is issued for a key
 * that could not be kept. rt_enroll_keep checks again when it persists. */
int rt_enroll_handle_usable(rt_enrollment *e, const rt_identity *previous);

/* Sends the EK certificates and public areas and the AK; keeps the
 * challenge in e->challenge. */
int rt_enroll_begin(rt_enrollment *e, uint64_t deadline);

/* Answers the challenge (activation, quote, PCR values, event log, a new
 * identity key certified by the AK); keeps the verifier's answer in
 * e->result. RT_ENROLL_BEGIN_AGAIN when the verifier refused it
 * REGISTRY_FAILED: its registry could not record the certificate, so
 * nothing was issued, and the token is spent (docs/protocol.md). */
#define RT_ENROLL_BEGIN_AGAIN 2
int rt_enroll_finish(rt_enrollment *e, uint64_t deadline);

/* Keeps what was issued: persistent key, key file, certificates, state;
 * previous is the identity of the same name recorded before, or NULL. */
int rt_enroll_keep(rt_enrollment *e, const rt_identity *previous);

/* Puts the key previous records back at its handle when the handle is
 * empty (rt_idkey_restore); previous may be NULL. Fails (1) only when the
 * TPM cannot say what is at the handle: a key file that is gone or a key
 * that no longer loads leaves the handle empty, and the run enrolls again. */
int rt_enroll_restore(rt_enrollment *e, const rt_identity *previous);

/* STATE_DIR/NAME.secrets-pending (docs/state.md): present from keeping an
 * identity the verifier delivered secrets with until their receipt is
 * confirmed; a run that finds it enrolls again instead of "nothing to do". */
void rt_enroll_pending_path(const rt_enroll_opts *o, char *path, size_t size);

/* Receives the secrets e->result delivered and confirms their receipt. */
int rt_enroll_secrets(rt_enrollment *e, uint64_t deadline);

/* rt_grpc_call_retry until deadline (of rt_grpc_now_ms). idempotent: also
 * retried when the request may have arrived; else only when it was not sent
 * (a single-use token must not be spent twice). */
grpc_status_code rt_enroll_call(rt_enrollment *e, const char *method, const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *type, uint64_t deadline,
                                int idempotent, ProtobufCMessage **resp, rt_rpc_result *res);

/* "rattest-bootstrap enroll: WHAT: MSG" on stderr; returns 1. */
int rt_enroll_fail(const char *what, const char *msg);
/* The same for a failed call (rt_report_rpc): refused, or the verifier not
 * reached and which option to check. what names the call ("Begin"). */
int rt_enroll_fail_rpc(const rt_enrollment *e, const char *what, const rt_rpc_result *res);

/* A marshalled TPM2B_PUBLIC for a message; out->data is malloc'ed. */
rt_code rt_enroll_marshal_public(const TPM2B_PUBLIC *pub, ProtobufCBinaryData *out, rt_err *err);

#endif
