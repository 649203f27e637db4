#include "rt_tpm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include "rt_log.h"
#include "rt_tpm_meta.h"

const char *rt_tpm_tcti_resolve(const char *explicit_tcti) {
  if (explicit_tcti != NULL && explicit_tcti[0] != '\0')
    return explicit_tcti;
  const char *env = getenv(RT_TCTI_ENV);
  if (env != NULL && env[0] != '\0')
    return env;
  return NULL;
}

void rt_tpm_quiet_tss_logs(void) {
  if (getenv("TSS2_LOG") == NULL)
    setenv("TSS2_LOG", rt_log_get_level() >= RT_LOG_DEBUG ? "all+warning" : "all+none", 0);
}

rt_code rt_tpm_rc(rt_err *err, TSS2_RC rc, const char *what) {
  return rt_err_set(err, RT_E_TPM, "%s: %s (0x%08x)", what, Tss2_RC_Decode(rc), (unsigned)rc);
}

int rt_tpm_rc_is_handle(TSS2_RC rc) {
  /* Drop the TSS layer (ESYS, resource manager) and the parameter/handle
   * number of a format-one code, keep the error itself. */
  TSS2_RC base = rc & 0xffffu;
  if (base & TPM2_RC_FMT1)
    return (base & (TPM2_RC_FMT1 | 0x3fu)) == TPM2_RC_HANDLE;
  return 0;
}

/* With no TCTI configured, tctildr's default search tries tpm2-abrmd, the
 * two TPM devices, then simulators on their default ports, and every miss
 * prints on stderr: a GLib CRITICAL from the tabrmd TCTI (which TSS2_LOG
 * does not silence) and tss ERROR lines. On a machine without a TPM device
 * the search can find only a broker or simulator nobody configured, so
 * there is no TPM: one error saying so and how to name one replaces it. */
static int tpm_device_exists(void) {
  return access("/dev/tpmrm0", F_OK) == 0 || access("/dev/tpm0", F_OK) == 0;
}

rt_code rt_tpm_open(const char *explicit_tcti, rt_tpm **out, rt_err *err) {
  *out = NULL;
  const char *conf = rt_tpm_tcti_resolve(explicit_tcti);
  if (conf == NULL && !tpm_device_exists())
    return rt_err_set(err, RT_E_TPM,
                      "no TPM: no TCTI is configured and neither /dev/tpmrm0 nor /dev/tpm0 "
                      "exists (name one in " RT_TCTI_ENV
                      ", e.g. \"swtpm:host=127.0.0.1,port=2321\" or \"tabrmd\")");
  rt_tpm *tpm = calloc(1, sizeof *tpm);
  if (tpm == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  snprintf(tpm->tcti_name, sizeof tpm->tcti_name, "%s", conf ? conf : "default");

  TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &tpm->tcti);
  if (rc != TSS2_RC_SUCCESS) {
    rt_tpm_rc(err, rc, "cannot load the TCTI");
    rt_err_prefix(err, "TCTI \"%s\": ", tpm->tcti_name);
    free(tpm);
    return RT_E_TPM;
  }
  rc = Esys_Initialize(&tpm->esys, tpm->tcti, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    rt_tpm_rc(err, rc, "cannot initialise ESYS");
    rt_err_prefix(err, "TCTI \"%s\": ", tpm->tcti_name);
    Tss2_TctiLdr_Finalize(&tpm->tcti);
    free(tpm);
    return RT_E_TPM;
  }
  rt_debug("TPM opened through TCTI %s", tpm->tcti_name);
  *out = tpm;
  return RT_OK;
}

void rt_tpm_close(rt_tpm *tpm) {
  if (tpm == NULL)
    return;
  if (tpm->esys != NULL)
    Esys_Finalize(&tpm->esys);
  if (tpm->tcti != NULL)
    Tss2_TctiLdr_Finalize(&tpm->tcti);
  free(tpm);
}

/* After the TCTI failed a command, ESYS refuses every later one (its
 * context stays in an error state: TSS2_ESYS_RC_BAD_SEQUENCE), though the
 * TPM may well still answer: the object is then flushed by its TPM handle
 * through a fresh SAPI context on the same TCTI, and its ESYS metadata
 * released. */
static TSS2_RC flush_by_tpm_handle(rt_tpm *tpm, ESYS_TR *handle) {
  TPM2_HANDLE h = 0;
  TSS2_RC rc = Esys_TR_GetTpmHandle(tpm->esys, *handle, &h);
  if (rc != TSS2_RC_SUCCESS)
    return rc;
  size_t size = Tss2_Sys_GetContextSize(0);
  TSS2_SYS_CONTEXT *sys = calloc(1, size);
  if (sys == NULL)
    return TSS2_SYS_RC_GENERAL_FAILURE;
  TSS2_ABI_VERSION abi = TSS2_ABI_VERSION_CURRENT;
  rc = Tss2_Sys_Initialize(sys, size, tpm->tcti, &abi);
  if (rc == TSS2_RC_SUCCESS) {
    rc = Tss2_Sys_FlushContext(sys, h);
    Tss2_Sys_Finalize(sys);
  }
  free(sys);
  if (rc == TSS2_RC_SUCCESS)
    (void)Esys_TR_Close(tpm->esys, handle);
  return rc;
}

rt_code rt_tpm_view(const rt_tpm *tpm, rt_tpm **view, rt_err *err) {
  *view = calloc(1, sizeof **view);
  if (*view == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  (*view)->tcti = tpm->tcti;
  snprintf((*view)->tcti_name, sizeof(*view)->tcti_name, "%s", tpm->tcti_name);
  TSS2_RC rc = Esys_Initialize(&(*view)->esys, tpm->tcti, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    free(*view);
    *view = NULL;
    return rt_tpm_rc(err, rc, "cannot initialise a second ESYS context");
  }
  return RT_OK;
}

void rt_tpm_view_close(rt_tpm *view) {
  if (view == NULL)
    return;
  Esys_Finalize(&view->esys);
  free(view);
}

void rt_tpm_flush(rt_tpm *tpm, ESYS_TR *handle) {
  /* ESYS_TR_PASSWORD stands in for "no session needed": nothing to flush. */
  if (tpm == NULL || handle == NULL || *handle == ESYS_TR_NONE || *handle == ESYS_TR_PASSWORD)
    return;
  TSS2_RC rc = Esys_FlushContext(tpm->esys, *handle);
  /* An error of the TSS (a layer above the TPM's own codes), not the TPM's
   * answer: the command may never have reached the TPM. */
  if (rc != TSS2_RC_SUCCESS && (rc & ~0xffffu) != 0 &&
      flush_by_tpm_handle(tpm, handle) == TSS2_RC_SUCCESS)
    rc = TSS2_RC_SUCCESS;
  if (rc != TSS2_RC_SUCCESS)
    rt_warn("flushing a TPM object failed: %s", Tss2_RC_Decode(rc));
  *handle = ESYS_TR_NONE;
}

void rt_tpm_tr_close(rt_tpm *tpm, ESYS_TR *handle) {
  if (tpm == NULL || handle == NULL || *handle == ESYS_TR_NONE)
    return;
  TSS2_RC rc = Esys_TR_Close(tpm->esys, handle);
  if (rc != TSS2_RC_SUCCESS)
    rt_warn("closing an ESYS handle failed: %s", Tss2_RC_Decode(rc));
  *handle = ESYS_TR_NONE;
}

rt_code rt_tpm_create(rt_tpm *tpm, ESYS_TR parent, ESYS_TR session, const TPM2B_PUBLIC *tmpl,
                      TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, rt_err *err) {
  TPM2B_SENSITIVE_CREATE sens;
  memset(&sens, 0, sizeof sens);
  TPM2B_DATA outside = {.size = 0};
  TPML_PCR_SELECTION pcrs = {.count = 0};
  *priv = NULL;
  *pub = NULL;
  TSS2_RC rc = Esys_Create(tpm->esys, parent, session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl,
                           &outside, &pcrs, priv, pub, NULL, NULL, NULL);
  if (rc == TSS2_RC_SUCCESS)
    return RT_OK;
  rt_tpm_rc(err, rc, "Create");
  /* From the TPM itself (no TSS layer), format one, about a parameter: the
   * TPM does not take this template (an algorithm, curve or size it lacks). */
  if ((rc & ~0xffffu) == 0 && (rc & TPM2_RC_FMT1) && (rc & TPM2_RC_P))
    return RT_E_INVALID;
  return RT_E_TPM;
}

/* CreateLoaded takes the template marshalled (TPM2B_TEMPLATE). */
static rt_code create_loaded(rt_tpm *tpm, ESYS_TR parent, const TPM2B_PUBLIC *tmpl, ESYS_TR *key,
                             TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, TSS2_RC *rc, rt_err *err) {
  TPM2B_SENSITIVE_CREATE sens;
  memset(&sens, 0, sizeof sens);
  TPM2B_TEMPLATE t = {.size = 0};
  size_t off = 0;
  if (Tss2_MU_TPMT_PUBLIC_Marshal(&tmpl->publicArea, t.buffer, sizeof t.buffer, &off) !=
      TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INTERNAL, "the template does not marshal");
  t.size = (UINT16)off;
  *rc = Esys_CreateLoaded(tpm->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
                          &t, key, priv, pub);
  return *rc == TSS2_RC_SUCCESS ? RT_OK : RT_E_TPM;
}

rt_code rt_tpm_create_loaded(rt_tpm *tpm, ESYS_TR parent, const TPM2B_PUBLIC *tmpl, ESYS_TR *key,
                             TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, rt_err *err) {
  TSS2_RC rc = TSS2_RC_SUCCESS;
  *key = ESYS_TR_NONE;
  rt_code code = create_loaded(tpm, parent, tmpl, key, priv, pub, &rc, err);
  if (code == RT_OK || rc == TSS2_RC_SUCCESS)
    return code;
  *key = ESYS_TR_NONE;
  /* TPM2_CreateLoaded came with the 1.38 specification: a TPM without it
   * answers TPM_RC_COMMAND_CODE, and gets Create and Load. */
  if ((rc & 0xffffu) != TPM2_RC_COMMAND_CODE) {
    rt_tpm_rc(err, rc, "CreateLoaded");
    return (rc & ~0xffffu) == 0 && (rc & TPM2_RC_FMT1) && (rc & TPM2_RC_P) ? RT_E_INVALID
                                                                           : RT_E_TPM;
  }
  code = rt_tpm_create(tpm, parent, ESYS_TR_PASSWORD, tmpl, priv, pub, err);
  if (code != RT_OK)
    return code;
  rc = Esys_Load(tpm->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, *priv, *pub, key);
  if (rc == TSS2_RC_SUCCESS)
    return RT_OK;
  *key = ESYS_TR_NONE;
  Esys_Free(*priv);
  Esys_Free(*pub);
  *priv = NULL;
  *pub = NULL;
  return rt_tpm_rc(err, rc, "Load");
}

/* Largest NV read the TPM accepts in one command (TPM2_PT_NV_BUFFER_MAX),
 * asked once per rt_tpm. */
static uint16_t nv_buffer_max(rt_tpm *tpm) {
  if (tpm->nv_buffer_max != 0)
    return tpm->nv_buffer_max;
  TPMS_CAPABILITY_DATA *cap = NULL;
  uint16_t max = 512; /* below every TPM's limit, in case the query fails */
  TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, NULL, &cap);
  if (rc == TSS2_RC_SUCCESS && cap->data.tpmProperties.count == 1 &&
      cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX) {
    uint32_t v = cap->data.tpmProperties.tpmProperty[0].value;
    if (v > 0 && v <= sizeof(((TPM2B_MAX_NV_BUFFER *)0)->buffer))
      max = (uint16_t)v;
  }
  Esys_Free(cap);
  tpm->nv_buffer_max = max;
  return max;
}

/* The TPM's own refusal of a parameter's value or size (format one, about a
 * parameter): for NV_Read, more bytes than its NV buffer holds. */
static int refused_size(TSS2_RC rc) {
  TSS2_RC base = rc & 0xffffu;
  if ((rc & ~0xffffu) != 0 || !(base & TPM2_RC_FMT1) || !(base & TPM2_RC_P))
    return 0;
  base &= TPM2_RC_FMT1 | 0x3fu;
  return base == TPM2_RC_VALUE || base == TPM2_RC_SIZE;
}

/* The ESYS handle of an NV index; RT_E_NOT_FOUND when there is none. */
static rt_code nv_lookup(rt_tpm *tpm, TPM2_HANDLE index, ESYS_TR *nv, rt_err *err) {
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(tpm->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nv);
  if (rc == TSS2_RC_SUCCESS)
    return RT_OK;
  if (rt_tpm_rc_is_handle(rc))
    return rt_err_set(err, RT_E_NOT_FOUND, "NV index 0x%08x does not exist", (unsigned)index);
  char what[96];
  snprintf(what, sizeof what, "looking up NV index 0x%08x", (unsigned)index);
  return rt_tpm_rc(err, rc, what);
}

/* Who authorizes reading the index, ESYS_TR_NONE if no one rattest can be.
 * EK certificate indexes are readable with their own empty auth (AUTHREAD)
 * or by the owner (OWNERREAD); prefer the index itself. */
static ESYS_TR nv_reader(TPMA_NV attrs, ESYS_TR nv) {
  if (attrs & TPMA_NV_AUTHREAD)
    return nv;
  if (attrs & TPMA_NV_OWNERREAD)
    return ESYS_TR_RH_OWNER;
  if (attrs & TPMA_NV_PPREAD)
    return ESYS_TR_RH_PLATFORM;
  return ESYS_TR_NONE;
}

/* size bytes of the index into buf: all at once (as much as ESYS takes),
 * in pieces of the TPM's NV buffer once it refused that. */
static rt_code nv_read_all(rt_tpm *tpm, TPM2_HANDLE index, ESYS_TR nv, ESYS_TR auth, uint8_t *buf,
                           size_t size, rt_err *err) {
  size_t chunk = tpm->nv_buffer_max ? tpm->nv_buffer_max : TPM2_MAX_NV_BUFFER_SIZE;
  for (size_t off = 0; off < size;) {
    uint16_t n = (uint16_t)((size - off) < chunk ? (size - off) : chunk);
    TPM2B_MAX_NV_BUFFER *part = NULL;
    TSS2_RC rc = Esys_NV_Read(tpm->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
                              (uint16_t)off, &part);
    if (rc != TSS2_RC_SUCCESS && tpm->nv_buffer_max == 0 && refused_size(rc)) {
      chunk = nv_buffer_max(tpm);
      continue;
    }
    if (rc != TSS2_RC_SUCCESS) {
      char what[96];
      snprintf(what, sizeof what, "NV_Read of 0x%08x at offset %zu", (unsigned)index, off);
      return rt_tpm_rc(err, rc, what);
    }
    if (part->size != n) {
      rt_code code = rt_err_set(err, RT_E_TPM, "NV_Read of 0x%08x returned %u bytes, asked %u",
                                (unsigned)index, (unsigned)part->size, (unsigned)n);
      Esys_Free(part);
      return code;
    }
    memcpy(buf + off, part->buffer, n);
    Esys_Free(part);
    off += n;
  }
  return RT_OK;
}

static rt_code list_handles(rt_tpm *tpm, TPM2_HANDLE first, TPM2_HANDLE last, TPM2_HANDLE *out,
                            size_t max, size_t *n, rt_err *err) {
  *n = 0;
  TPMI_YES_NO more = TPM2_YES;
  for (TPM2_HANDLE from = first; more == TPM2_YES && from <= last && *n < max;) {
    TPMS_CAPABILITY_DATA *cap = NULL;
    TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, from, TPM2_MAX_CAP_HANDLES, &more, &cap);
    if (rc != TSS2_RC_SUCCESS)
      return rt_tpm_rc(err, rc, "GetCapability(NV handles)");
    const TPML_HANDLE *h = &cap->data.handles;
    /* The list runs on past last into other NV indices: stop there. */
    for (uint32_t i = 0; i < h->count; i++) {
      if (h->handle[i] > last || *n == max) {
        more = TPM2_NO;
        break;
      }
      out[(*n)++] = h->handle[i];
      from = h->handle[i] + 1;
    }
    if (h->count == 0)
      more = TPM2_NO;
    Esys_Free(cap);
  }
  return RT_OK;
}

/* Lists RT_NV_CRED_FIRST..LAST once. *complete is 0 when it has more indices
 * than are kept: then absence proves nothing and the TPM is asked. */
static rt_code cred_listing(rt_tpm *tpm, int *complete, rt_err *err) {
  if (!tpm->cred_nv_listed) {
    rt_code code = list_handles(tpm, RT_NV_CRED_FIRST, RT_NV_CRED_LAST, tpm->cred_nv,
                                RT_NV_CRED_MAX, &tpm->n_cred_nv, err);
    if (code != RT_OK)
      return code;
    tpm->cred_nv_listed = 1;
  }
  *complete = tpm->n_cred_nv < RT_NV_CRED_MAX;
  return RT_OK;
}

static int in_cred_range(TPM2_HANDLE h) {
  return h >= RT_NV_CRED_FIRST && h <= RT_NV_CRED_LAST;
}

/* RT_E_NOT_FOUND when the listing shows index is not there. */
static rt_code nv_listed(rt_tpm *tpm, TPM2_HANDLE index, rt_err *err) {
  int complete = 0;
  if (!in_cred_range(index))
    return RT_OK;
  rt_code code = cred_listing(tpm, &complete, err);
  if (code != RT_OK || !complete)
    return code;
  for (size_t i = 0; i < tpm->n_cred_nv; i++)
    if (tpm->cred_nv[i] == index)
      return RT_OK;
  return rt_err_set(err, RT_E_NOT_FOUND, "NV index 0x%08x does not exist", (unsigned)index);
}

int rt_tpm_nv_present(rt_tpm *tpm, TPM2_HANDLE index) {
  rt_err err;
  return nv_listed(tpm, index, &err) != RT_E_NOT_FOUND;
}

rt_code rt_tpm_nv_read(rt_tpm *tpm, TPM2_HANDLE index, uint8_t **data, size_t *len, rt_err *err) {
  *data = NULL;
  *len = 0;
  ESYS_TR nv = ESYS_TR_NONE;
  TPM2B_NV_PUBLIC pub;
  uint8_t *buf = NULL;
  rt_code code = nv_listed(tpm, index, err);
  if (code == RT_OK)
    code = nv_lookup(tpm, index, &nv, err);
  if (code == RT_OK && (code = rt_tpm_tr_nv_public(tpm, nv, &pub, err)) != RT_OK)
    rt_err_prefix(err, "NV index 0x%08x: ", (unsigned)index);
  if (code != RT_OK)
    goto out;
  size_t size = pub.nvPublic.dataSize;
  ESYS_TR auth = nv_reader(pub.nvPublic.attributes, nv);
  if (auth == ESYS_TR_NONE) {
    code = rt_err_set(err, RT_E_TPM, "NV index 0x%08x allows no read we can authorize",
                      (unsigned)index);
    goto out;
  }
  if ((buf = malloc(size ? size : 1)) == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  if ((code = nv_read_all(tpm, index, nv, auth, buf, size, err)) != RT_OK)
    goto out;
  *data = buf;
  *len = size;
  buf = NULL;
out:
  free(buf);
  rt_tpm_tr_close(tpm, &nv);
  return code;
}

rt_code rt_tpm_nv_list(rt_tpm *tpm, TPM2_HANDLE first, TPM2_HANDLE last, TPM2_HANDLE *out,
                       size_t max, size_t *n, rt_err *err) {
  int complete = 0;
  *n = 0;
  if (!in_cred_range(first) || !in_cred_range(last))
    return list_handles(tpm, first, last, out, max, n, err);
  rt_code code = cred_listing(tpm, &complete, err);
  if (code != RT_OK || !complete)
    return code != RT_OK ? code : list_handles(tpm, first, last, out, max, n, err);
  for (size_t i = 0; i < tpm->n_cred_nv && *n < max; i++)
    if (tpm->cred_nv[i] >= first && tpm->cred_nv[i] <= last)
      out[(*n)++] = tpm->cred_nv[i];
  return RT_OK;
}

rt_code rt_tpm_count_transients(rt_tpm *tpm, uint32_t *count, rt_err *err) {
  /* The header's TPM2_TRANSIENT_FIRST shifts a signed int into its sign bit
   * (undefined behaviour that UBSan reports): spell the handle out. */
  const TPM2_HANDLE transient_first = 0x80000000u;
  TPMS_CAPABILITY_DATA *cap = NULL;
  TSS2_RC rc =
      Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                         transient_first, TPM2_MAX_CAP_HANDLES, NULL, &cap);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "GetCapability(handles)");
  *count = cap->data.handles.count;
  Esys_Free(cap);
  return RT_OK;
}
