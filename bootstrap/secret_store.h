/* Delivered secrets on disk: the TPM blobs that open them (never the secret
 * itself) under STATE_DIR/secrets/, recorded in state.json's "secrets"
 * (docs/state.md); an rsa-key also as the identity of its name, so
 * `rattest:NAME` and `status` treat it like an enrolled key. */
#ifndef RT_BOOTSTRAP_SECRET_STORE_H
#define RT_BOOTSTRAP_SECRET_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "evidence.h"
#include "rt_state.h"
#include "rt_tpm.h"

#define RT_SECRETS_SUBDIR "secrets"
/* Where delivered keys go when the state has no handle for them yet. */
#define RT_SECRET_HANDLE_FIRST 0x81000200u
#define RT_SECRET_HANDLE_LAST 0x810002ffu

/* A secret as received, ready to be recorded. */
typedef struct {
  const char *name;
  rt_secret_type type;
  const TPM2B_PUBLIC *pub;
  const TPM2B_PRIVATE *priv;      /* from rt_secret_import: this TPM's blob */
  const TPML_PCR_SELECTION *pcrs; /* its PolicyPCR selection; NULL or count 0: none */
  /* rsa-key with pcrs: H(the PCR values its authPolicy binds), the key
   * file's PolicyPCR pcrDigest (rt_tss2key.h). */
  const TPM2B_DIGEST *pcr_digest;
  /* rsa-key only: */
  uint32_t handle; /* where rt_secret_persist put it */
  /* DER certificates: the key's (it must be for pub), then its chain. */
  const rt_bytes *certs;
  size_t n_certs;
  /* The enrolled identity the delivery came with: verifier, ek_sha256 and
   * AK certificate for the key's identity entry. */
  const rt_identity *via;
  uint32_t ek_handle; /* the EK's persistent handle: the key file's parent */
} rt_secret_record;

/* Writes the blob files (mode 0600, atomically; for an rsa-key also its
 * certificate, chain, a copy of the AK certificate and a TSS2 key file) as
 * new files, then records the secret with rt_state_secret_put and saves
 * the state; only then are the files of a secret it replaces removed. On
 * failure the state (memory and disk) and the previous files are as they
 * were and the new files are gone. */
rt_code rt_secret_store(rt_state *st, const char *state_dir, const rt_secret_record *r,
                        rt_err *err);

/* Reads a recorded secret's blobs back (each file exactly one structure). */
rt_code rt_secret_load_blobs(const rt_secret_entry *s, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv,
                             rt_err *err);

/* Where to persist the rsa-key `name`: the handle the state recorded for it
 * (then *have_ours = 1 and *ours its public area: rt_secret_persist may
 * replace it), else the first handle of RT_SECRET_HANDLE_FIRST..LAST that
 * the state does not use and the TPM holds nothing at, or holds the
 * delivered key itself (delivered, may be NULL: a run stopped between
 * persisting it and recording it; then *have_ours = 1, *ours = *delivered,
 * so that the handle is not lost for good). RT_E_NOT_FOUND when all are
 * taken. */
rt_code rt_secret_choose_handle(rt_tpm *tpm, const rt_state *st, const char *name,
                                const TPM2B_PUBLIC *delivered, uint32_t *handle, TPM2B_PUBLIC *ours,
                                int *have_ours, rt_err *err);

#endif
