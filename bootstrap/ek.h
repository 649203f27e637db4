/* The endorsement key: which EK the machine proves itself with, its
 * certificate from NV and a handle to use it. */
#ifndef RT_BOOTSTRAP_EK_H
#define RT_BOOTSTRAP_EK_H

#include <stddef.h>
#include <stdint.h>

#include "rt_templates.h"
#include "rt_tpm.h"

/* A certificate found in NV, or fetched (nv_index 0). */
typedef struct {
  uint32_t nv_index;
  uint8_t *der;
  size_t len;
} rt_nv_cert;

#define RT_MAX_EK_CERTS 4

typedef struct {
  ESYS_TR handle;
  int transient;           /* created from the TCG template: flush when done */
  rt_key_alg template_alg; /* the template of a transient EK */
  TPM2B_PUBLIC pub;
  /* The EK certificates read while choosing (Begin sends them all); `cert`
   * is the one for this EK. */
  rt_nv_cert certs[RT_MAX_EK_CERTS];
  size_t n_certs;
  const rt_nv_cert *cert;
} rt_ek;

typedef enum { RT_EK_AUTO, RT_EK_RSA, RT_EK_ECC } rt_ek_choice;

/* Opens the EK of the first kind the choice allows whose certificate (read
 * from NV kind by kind, as they are tried: ek->certs holds those read) it
 * matches:
 * the persistent EK (0x81010001 RSA, 0x81010002 ECC P-256, 0x81010016 ECC
 * P-384) when present and matching, else CreatePrimary from the TCG
 * template. AUTO prefers RSA, then ECC. When no kind has a certificate in
 * NV and cert_url is not NULL, the EK from the template (RSA 2048, ECC
 * P-256) with its certificate from the manufacturer's service at cert_url
 * (ek_fetch.h; nv_index 0). Fails with RT_E_NOT_FOUND when no certified EK
 * of the wanted kind exists. */
rt_code rt_ek_open(rt_tpm *tpm, rt_ek_choice choice, const char *cert_url, rt_ek *ek, rt_err *err);

/* A transient EK takes one of the three object slots a TPM without a
 * resource manager may have: unloaded once activation is done (the AK, the
 * SRK and the new key need the slots), loaded again from its template for
 * the secrets imported under it. Load checks that the TPM made the same
 * key; both do nothing for a persistent EK. */
void rt_ek_unload(rt_tpm *tpm, rt_ek *ek);
rt_code rt_ek_load(rt_tpm *tpm, rt_ek *ek, rt_err *err);

/* Flushes a transient EK, closes a persistent one's handle, frees certs. */
void rt_ek_close(rt_tpm *tpm, rt_ek *ek);

/* The platform certificate (NV 0x01c08000) if present: *der NULL when not. */
rt_code rt_platform_cert_read(rt_tpm *tpm, uint8_t **der, size_t *len, rt_err *err);

/* The authorization for using the EK as a parent or for ActivateCredential
 * (USER role): rt_ek_auth_session (common/tpm/rt_ek_parent.h) for this EK, a
 * PolicySecret(TPM_RH_ENDORSEMENT) session or ESYS_TR_PASSWORD; flush it
 * with rt_tpm_flush after the one command. */
rt_code rt_ek_auth(rt_tpm *tpm, const rt_ek *ek, ESYS_TR *session, rt_err *err);

#endif
