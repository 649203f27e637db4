/* TPM session: one ESYS context over a TCTI chosen explicitly, from the
 * environment, or by tctildr's defaults, plus helpers that keep the TPM clean
 * (every transient object flushed, every ESYS_TR closed) on all paths. */
#ifndef RT_TPM_H
#define RT_TPM_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>

#include "rt_err.h"

/* NV indexes of the TCG EK Credential Profile (and swtpm's high range). */
#define RT_NV_EK_CERT_RSA2048 0x01c00002u
#define RT_NV_EK_CERT_ECC_P256 0x01c0000au
#define RT_NV_EK_CERT_ECC_P384 0x01c00016u
#define RT_NV_PLATFORM_CERT 0x01c08000u
/* EK Credential Profile 2.3+: the EK certificates' chain (intermediates). */
#define RT_NV_EK_CHAIN_FIRST 0x01c00100u
#define RT_NV_EK_CHAIN_LAST 0x01c001ffu
/* The range all of the above lie in, listed once (rt_tpm_nv_list). */
#define RT_NV_CRED_FIRST 0x01c00000u
#define RT_NV_CRED_LAST 0x01c0ffffu
#define RT_NV_CRED_MAX 256

/* Environment variable consulted when no TCTI is given explicitly. */
#define RT_TCTI_ENV "RATTEST_TCTI"

typedef struct rt_tpm {
  ESYS_CONTEXT *esys;
  TSS2_TCTI_CONTEXT *tcti;
  /* What was asked for, for messages: "swtpm:...", or "default". */
  char tcti_name[256];
  /* The NV indices in RT_NV_CRED_FIRST..LAST, listed on first need with one
   * GetCapability: an index that is not there costs no command. */
  TPM2_HANDLE cred_nv[RT_NV_CRED_MAX];
  size_t n_cred_nv;
  int cred_nv_listed;
  /* TPM2_PT_NV_BUFFER_MAX once a read needed it; 0 while unknown. */
  uint16_t nv_buffer_max;
} rt_tpm;

/* The TCTI configuration to use: `explicit` when non-empty, else
 * $RATTEST_TCTI when non-empty, else NULL, meaning tctildr's default search
 * (/dev/tpmrm0, /dev/tpm0, abrmd, ...). */
const char *rt_tpm_tcti_resolve(const char *explicit_tcti);

/* tpm2-tss logs its own errors on stderr (an absent NV index is an ERROR
 * line there, though often expected). Our errors already carry the decoded
 * code, so command-line front ends call this first: it silences the TSS
 * unless $TSS2_LOG is set or our log level is debug. It sets an environment
 * variable, so call it before any thread starts. */
void rt_tpm_quiet_tss_logs(void);

/* Opens the TPM. On failure *out is NULL and err says which TCTI failed.
 * With no TCTI configured (resolve gives NULL) and neither /dev/tpmrm0 nor
 * /dev/tpm0 present, it fails at once ("no TPM: ...") instead of running
 * tctildr's default search, whose misses fill stderr. */
rt_code rt_tpm_open(const char *explicit_tcti, rt_tpm **out, rt_err *err);
void rt_tpm_close(rt_tpm *tpm);

/* A second ESYS context on tpm's TCTI. After the TCTI failed a command
 * (a lost answer, a broken link), tpm->esys refuses every later command;
 * the view can still ask the TPM what happened. Release it with
 * rt_tpm_view_close (the TCTI stays tpm's). */
rt_code rt_tpm_view(const rt_tpm *tpm, rt_tpm **view, rt_err *err);
void rt_tpm_view_close(rt_tpm *view);

/* Sets err from a TSS return code: "<what>: <Tss2_RC_Decode text> (0x...)". */
rt_code rt_tpm_rc(rt_err *err, TSS2_RC rc, const char *what);

/* True when rc is TPM_RC_HANDLE (the handle does not exist), whichever TSS
 * layer reported it. */
int rt_tpm_rc_is_handle(TSS2_RC rc);

/* Flushes a transient object or session and resets *handle to ESYS_TR_NONE.
 * Safe to call on ESYS_TR_NONE (and ESYS_TR_PASSWORD), so cleanup paths can
 * call it unconditionally. */
void rt_tpm_flush(rt_tpm *tpm, ESYS_TR *handle);

/* Releases the ESYS metadata of a persistent object or NV index (no TPM
 * command) and resets *handle. Safe on ESYS_TR_NONE. */
void rt_tpm_tr_close(rt_tpm *tpm, ESYS_TR *handle);

/* TPM2_Create of an ordinary object (empty authValue, no creation data)
 * from tmpl under parent, authorized by session (ESYS_TR_PASSWORD for an
 * empty password). *priv and *pub are Esys_Free'd by the caller. Fails with
 * RT_E_INVALID when the TPM refuses a parameter of the template (it lacks
 * that algorithm, curve or size), RT_E_TPM for any other error. */
rt_code rt_tpm_create(rt_tpm *tpm, ESYS_TR parent, ESYS_TR session, const TPM2B_PUBLIC *tmpl,
                      TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, rt_err *err);

/* TPM2_CreateLoaded of an ordinary object (empty authValue) from tmpl under
 * parent, authorized by parent's empty password: one command where Create
 * and Load take two; a TPM without it (before the 1.38 specification) gets
 * Create and Load. *key is the loaded object (flush it), *priv and *pub are
 * Esys_Free'd by the caller. Fails like rt_tpm_create. */
rt_code rt_tpm_create_loaded(rt_tpm *tpm, ESYS_TR parent, const TPM2B_PUBLIC *tmpl, ESYS_TR *key,
                             TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, rt_err *err);

/* Reads a whole NV index (e.g. an EK certificate). Fails with RT_E_NOT_FOUND
 * when the index does not exist, RT_E_TPM when it cannot be read; *data is
 * malloc'ed. Commands: NV_ReadPublic, then one NV_Read of the whole index;
 * only a TPM that refuses that size is asked its NV buffer size (once per
 * rt_tpm) and read in pieces. An index of RT_NV_CRED_FIRST..LAST that the
 * listing does not hold fails without a command. */
rt_code rt_tpm_nv_read(rt_tpm *tpm, TPM2_HANDLE index, uint8_t **data, size_t *len, rt_err *err);

/* False only when the listing of RT_NV_CRED_FIRST..LAST shows that index
 * (of that range) does not exist; true when it does or cannot be told. */
int rt_tpm_nv_present(rt_tpm *tpm, TPM2_HANDLE index);

/* The NV indices that exist in [first, last], ascending, at most max of
 * them (TPM2_GetCapability(TPM_CAP_HANDLES)). Inside RT_NV_CRED_FIRST..LAST,
 * from the listing made once per rt_tpm. */
rt_code rt_tpm_nv_list(rt_tpm *tpm, TPM2_HANDLE first, TPM2_HANDLE last, TPM2_HANDLE *out,
                       size_t max, size_t *n, rt_err *err);

/* Number of transient objects the TPM (or, behind a resource manager, this
 * connection) holds: lets tests prove nothing was leaked. */
rt_code rt_tpm_count_transients(rt_tpm *tpm, uint32_t *count, rt_err *err);

#endif
