#include "rt_tpm_meta.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "rt_kdf.h"
#include "rt_tpm_pub.h"

/* ESYS's resource types in a serialized ESYS_TR (tss2-esys esys_types.h). */
#define IESYSC_KEY_RSRC 1u
#define IESYSC_NV_RSRC 2u

/* Esys_TR_Serialize writes the ESYS_TR's metadata as tpm2-tools keeps it
 * in files for later runs (so the layout is one ESYS cannot change): the
 * TPM handle, the name, the resource type (UINT32), then for an object its
 * TPM2B_PUBLIC, for an NV index its TPM2B_NV_PUBLIC. On return *off is
 * where that last part starts. */
static int serialized(rt_tpm *tpm, ESYS_TR tr, uint32_t want_type, uint8_t **buf, size_t *len,
                      size_t *off, TPM2B_NAME *name) {
  TPM2_HANDLE h;
  uint32_t type = 0;
  memset(name, 0, sizeof *name);
  *buf = NULL;
  *off = 0;
  if (Esys_TR_Serialize(tpm->esys, tr, buf, len) != TSS2_RC_SUCCESS)
    return 0;
  if (Tss2_MU_TPM2_HANDLE_Unmarshal(*buf, *len, off, &h) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2B_NAME_Unmarshal(*buf, *len, off, name) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Unmarshal(*buf, *len, off, &type) != TSS2_RC_SUCCESS || type != want_type) {
    free(*buf);
    *buf = NULL;
    return 0;
  }
  return 1;
}

static int same_name(const TPM2B_NAME *a, const TPM2B_NAME *b) {
  return a->size == b->size && a->size > 0 && CRYPTO_memcmp(a->name, b->name, a->size) == 0;
}

/* The public area from the metadata, when it is there and hashes to the
 * name ESYS holds (the name is what ESYS authorizes with, so a public area
 * that does not match it is not taken). */
static int meta_public(rt_tpm *tpm, ESYS_TR tr, TPM2B_PUBLIC *pub) {
  uint8_t *buf;
  size_t len, off;
  TPM2B_NAME held, computed;
  if (!serialized(tpm, tr, IESYSC_KEY_RSRC, &buf, &len, &off, &held))
    return 0;
  memset(pub, 0, sizeof *pub); /* Tss2_MU takes only a TPM2B of size 0 */
  int ok = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, pub) == TSS2_RC_SUCCESS && off == len &&
           rt_tpm_pub_name(&pub->publicArea, &computed, NULL) == RT_OK &&
           same_name(&held, &computed);
  free(buf);
  return ok;
}

rt_code rt_tpm_tr_public(rt_tpm *tpm, ESYS_TR tr, TPM2B_PUBLIC *pub, rt_err *err) {
  if (meta_public(tpm, tr, pub))
    return RT_OK;
  TPM2B_PUBLIC *out = NULL;
  TSS2_RC rc =
      Esys_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "ReadPublic");
  *pub = *out;
  Esys_Free(out);
  return RT_OK;
}

/* An NV index's name: nameAlg || H(TPMS_NV_PUBLIC), as for objects. */
static int nv_name(const TPMS_NV_PUBLIC *p, TPM2B_NAME *name) {
  uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
  size_t len = 0, off = 0;
  const char *mdn = rt_tpm_hash_name(p->nameAlg);
  if (mdn == NULL || Tss2_MU_TPMS_NV_PUBLIC_Marshal(p, buf, sizeof buf, &len) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT16_Marshal(p->nameAlg, name->name, sizeof name->name, &off) != TSS2_RC_SUCCESS)
    return 0;
  EVP_MD *md = EVP_MD_fetch(NULL, mdn, NULL);
  unsigned dlen = 0;
  int ok = md != NULL && EVP_Digest(buf, len, name->name + off, &dlen, md, NULL) == 1;
  EVP_MD_free(md);
  name->size = (UINT16)(off + dlen);
  return ok;
}

static int meta_nv_public(rt_tpm *tpm, ESYS_TR tr, TPM2B_NV_PUBLIC *pub) {
  uint8_t *buf;
  size_t len, off;
  TPM2B_NAME held, computed;
  if (!serialized(tpm, tr, IESYSC_NV_RSRC, &buf, &len, &off, &held))
    return 0;
  memset(pub, 0, sizeof *pub);
  int ok = Tss2_MU_TPM2B_NV_PUBLIC_Unmarshal(buf, len, &off, pub) == TSS2_RC_SUCCESS &&
           off == len && nv_name(&pub->nvPublic, &computed) && same_name(&held, &computed);
  free(buf);
  return ok;
}

rt_code rt_tpm_tr_nv_public(rt_tpm *tpm, ESYS_TR tr, TPM2B_NV_PUBLIC *pub, rt_err *err) {
  if (meta_nv_public(tpm, tr, pub))
    return RT_OK;
  TPM2B_NV_PUBLIC *out = NULL;
  TSS2_RC rc =
      Esys_NV_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out, NULL);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "NV_ReadPublic");
  *pub = *out;
  Esys_Free(out);
  return RT_OK;
}

rt_code rt_tpm_open_persistent(rt_tpm *tpm, TPM2_HANDLE handle, ESYS_TR *tr, TPM2B_PUBLIC *pub,
                               rt_err *err) {
  *tr = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, tr);
  if (rc != TSS2_RC_SUCCESS) {
    *tr = ESYS_TR_NONE;
    if (rt_tpm_rc_is_handle(rc))
      return rt_err_set(err, RT_E_NOT_FOUND, "no persistent object at 0x%08x", (unsigned)handle);
    return rt_tpm_rc(err, rc, "looking up the persistent handle");
  }
  rt_code code = rt_tpm_tr_public(tpm, *tr, pub, err);
  if (code != RT_OK)
    rt_tpm_tr_close(tpm, tr);
  return code;
}
