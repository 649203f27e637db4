/* `rattest-bootstrap enroll`: drives the two round trips with the verifier
 * and keeps the result (TPM-resident key, certificates, state file). */
#ifndef RT_BOOTSTRAP_ENROLL_H
#define RT_BOOTSTRAP_ENROLL_H

#include <stdint.h>

#include "ek.h"
#include "rt_templates.h"

typedef struct {
  const char *verifier; /* host:port */
  const char *ca_file;  /* verifier TLS CA */
  const char *state_dir;
  const char *tcti;
  const char *name;
  rt_key_alg key_alg;
  rt_ek_choice ek;
  const char *event_log;        /* path; a missing file sends no log */
  const char *ek_intermediates; /* PEM file of EK intermediate CAs to send, or NULL */
  const char *ek_cert_url;      /* manufacturer's EK certificate service, or NULL */
  const char *pcrs;             /* PCR values to send besides the quote */
  uint32_t handle;              /* persistent handle for the key */
  int force;                    /* replace a foreign object at handle */
  int renew;                    /* enroll again even if the identity is valid */
  uint64_t timeout_ms;          /* overall deadline, retries included */
} rt_enroll_opts;

#define RT_DEFAULT_EVENT_LOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define RT_DEFAULT_HANDLE 0x81000100u

/* 0 enrolled (or nothing to do), 1 failed; messages on stderr/stdout. */
int rt_enroll(const rt_enroll_opts *opts);

#endif
