/* One emulated machine: what a TPM holds for an enrollment, in software.
 * An EK certified by the test manufacturer CA, an AK and an identity key
 * shaped by rattest's own templates (rt_templates.h), and the counters a
 * TPM's attestations carry. Made once per machine; every enrollment of the
 * machine reuses its keys, as a machine enrolling again with --renew does
 * not (it makes a new key) but at no difference to the verifier's work. */
#ifndef LG_MACHINE_H
#define LG_MACHINE_H

#include <openssl/evp.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "mfr_ca.h"
#include "rt_err.h"
#include "rt_templates.h"

typedef enum { LG_EK_RSA2048, LG_EK_P256, LG_EK_P384 } lg_ek_kind;

typedef struct {
  lg_ek_kind kind;
  char name[32]; /* the identity name sent in Begin */
  EVP_PKEY *ek, *ak, *key;
  TPM2B_PUBLIC ek_pub, ak_pub, key_pub;
  TPM2B_NAME ak_name, key_name;
  /* Qualified names (TPM 2.0 Part 1 §16): the AK's, which signs, and the
   * identity key's, which TPM2_Certify reports. */
  TPM2B_NAME ak_qn, key_qn;
  uint8_t *ek_cert; /* DER */
  size_t ek_cert_len;
  uint32_t ek_nv_index;
  /* TPMS_CLOCK_INFO and firmware version of this "TPM". */
  uint64_t clock_ms;
  uint32_t reset_count, restart_count;
  uint64_t firmware;
} lg_machine;

/* Renames m after its EK (rt_name_from_ek: "ek-" and 16 hex digits of the
 * SHA-256 of the EK's SubjectPublicKeyInfo), the name a verifier whose
 * policy says "name_binding": "ek" wants, and one no other machine has. */
rt_code lg_machine_use_ek_name(lg_machine *m, rt_err *err);

/* "rsa" (RSA 2048), "p256", "p384"; NULL when unknown. */
const char *lg_ek_kind_name(lg_ek_kind kind);

/* Makes machine number id: its keys, public areas, names, EK certificate. */
rt_code lg_machine_new(const lg_mfr_ca *ca, lg_ek_kind kind, rt_key_alg key_alg, unsigned id,
                       lg_machine *m, rt_err *err);
void lg_machine_free(lg_machine *m);

#endif
