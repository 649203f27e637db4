/* One enrollment of an emulated machine, as rattest-bootstrap enroll makes
 * it (bootstrap/enroll_begin.c, enroll_finish.c): a fresh channel to the
 * verifier (a new TLS connection, as each bootstrap process opens), Begin
 * with the EK certificate and public areas, then Finish with the activated
 * credential, a quote of the demanded PCRs, the event log, the PCR values,
 * the certification of the identity key and its possession signature.
 * Retried as the bootstrap retries (rt_grpc_call_retry: Begin while the
 * verifier cannot be reached or its answer was lost, Finish only while it
 * cannot be reached, its token being single use), and begun again from
 * Begin when Finish's answer was lost, as the bootstrap's unit runs it again
 * after such a failure (dist/systemd/rattest-enroll.service.in). */
#ifndef LG_ENROLL_H
#define LG_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "rt_eventlog.h"
#include "rt_grpc.h"

/* What every enrollment shares (read-only). */
/* Runs begun again after a lost Finish, at most, before the enrollment
 * counts as failed: the bootstrap's unit has no limit, but a verifier that
 * loses every Finish is a failure to report, not to wait out. */
#define LG_MAX_RESTARTS 3

typedef struct {
  const char *verifier, *ca_file;
  /* Each run (Begin and Finish) gives up after this long, retries
   * included, like the bootstrap's --timeout. */
  uint64_t timeout_ms;
  rt_key_alg key_alg;
  const uint8_t *log; /* the event log sent, as read from its file */
  size_t log_len;
  const rt_eventlog_pcrs *pcrs; /* its replay: the emulated TPM's PCRs */
  const char *certs_dir;        /* --write-certs, NULL without (keep.h) */
} lg_target;

typedef struct {
  int ok;
  /* Why not: the verifier's refusal code, else the gRPC status name, or
   * "LOADGEN" for a failure on this side (message says which). */
  char code[64];
  char message[800];
  unsigned retries;  /* calls tried again (rt_grpc_call_retry) */
  unsigned restarts; /* runs begun again from Begin after a lost Finish or
                        REGISTRY_FAILED */
  /* Accepted: the key certificate's serial, lowercase hex (as the
   * verifier's registry and audit line, lowercased, name it). */
  char serial[64];
} lg_outcome;

void lg_enroll(const lg_target *t, lg_machine *m, lg_outcome *out);

/* out failed: code (see lg_outcome), and a message "WHAT: MSG". */
void lg_fail(lg_outcome *out, const char *code, const char *what, const char *msg);
/* One call to the verifier as every machine makes it (rt_grpc_call_retry):
 * its retries counted in out, and out failed by its result when it is not
 * OK (the verifier's refusal code, else the status name; WHAT names the
 * call). */
grpc_status_code lg_call(rt_grpc_client *client, const char *method, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *resp_type, uint64_t deadline,
                         rt_retry retry, const char *what, lg_outcome *out, ProtobufCMessage **resp,
                         rt_rpc_result *res);

#endif
