#include "tpm_info.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_chain.h"
#include "rt_hash.h"
#include "rt_hex.h"
#include "rt_name.h"

static const struct {
  TPM2_HANDLE index;
  const char *kind;
} ek_cert_indexes[] = {
    {RT_NV_EK_CERT_RSA2048, "rsa-2048"},
    {RT_NV_EK_CERT_ECC_P256, "ecc-p256"},
    {RT_NV_EK_CERT_ECC_P384, "ecc-p384"},
};

/* TPM property values pack vendor strings as 4 ASCII bytes, big-endian. */
static void prop_chars(uint32_t v, char *out) {
  for (int i = 0; i < 4; i++) {
    char ch = (char)((v >> (24 - 8 * i)) & 0xff);
    out[i] = (ch >= 0x20 && ch < 0x7f) ? ch : ' ';
  }
  out[4] = '\0';
}

/* Vendor strings are padded with spaces or NULs ("IBM "): drop the tail. */
static void trim_right(char *s) {
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == ' ')
    s[--n] = '\0';
}

static rt_code fixed_properties(rt_tpm *tpm, json_t *obj, rt_err *err) {
  TPMS_CAPABILITY_DATA *cap = NULL;
  TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_TPM_PROPERTIES, TPM2_PT_FIXED, TPM2_MAX_TPM_PROPERTIES,
                                  NULL, &cap);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "GetCapability(TPM properties)");
  char vendor[17] = "";
  uint32_t fw1 = 0, fw2 = 0, level = 0, revision = 0;
  for (uint32_t i = 0; i < cap->data.tpmProperties.count; i++) {
    TPMS_TAGGED_PROPERTY *p = &cap->data.tpmProperties.tpmProperty[i];
    char four[5];
    switch (p->property) {
    case TPM2_PT_MANUFACTURER:
      prop_chars(p->value, four);
      trim_right(four);
      json_object_set_new(obj, "manufacturer", json_string(four));
      break;
    case TPM2_PT_VENDOR_STRING_1:
    case TPM2_PT_VENDOR_STRING_2:
    case TPM2_PT_VENDOR_STRING_3:
    case TPM2_PT_VENDOR_STRING_4:
      prop_chars(p->value, four);
      strncat(vendor, four, sizeof vendor - strlen(vendor) - 1);
      break;
    case TPM2_PT_FIRMWARE_VERSION_1:
      fw1 = p->value;
      break;
    case TPM2_PT_FIRMWARE_VERSION_2:
      fw2 = p->value;
      break;
    case TPM2_PT_LEVEL:
      level = p->value;
      break;
    case TPM2_PT_REVISION:
      revision = p->value;
      break;
    default:
      break;
    }
  }
  Esys_Free(cap);
  trim_right(vendor);
  char buf[64];
  json_object_set_new(obj, "vendor", json_string(vendor));
  snprintf(buf, sizeof buf, "%08x.%08x", (unsigned)fw1, (unsigned)fw2);
  json_object_set_new(obj, "firmware", json_string(buf));
  snprintf(buf, sizeof buf, "2.0 level %u revision %u.%02u", (unsigned)level,
           (unsigned)revision / 100, (unsigned)revision % 100);
  json_object_set_new(obj, "spec", json_string(buf));
  return RT_OK;
}

static rt_code pcr_banks(rt_tpm *tpm, json_t *obj, rt_err *err) {
  TPMS_CAPABILITY_DATA *cap = NULL;
  TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_PCRS, 0, 1, NULL, &cap);
  if (rc != TSS2_RC_SUCCESS)
    return rt_tpm_rc(err, rc, "GetCapability(PCRs)");
  json_t *banks = json_array();
  TPML_PCR_SELECTION *sel = &cap->data.assignedPCR;
  for (uint32_t i = 0; i < sel->count; i++) {
    int active = 0;
    for (uint8_t b = 0; b < sel->pcrSelections[i].sizeofSelect; b++)
      active |= sel->pcrSelections[i].pcrSelect[b] != 0;
    if (!active)
      continue; /* allocated but switched off */
    const rt_hash *h = rt_hash_by_id(sel->pcrSelections[i].hash);
    const char *name = h != NULL ? h->name : NULL;
    if (name != NULL)
      json_array_append_new(banks, json_string(name));
  }
  Esys_Free(cap);
  json_object_set_new(obj, "pcr_banks", banks);
  return RT_OK;
}

static json_t *x509_name_json(const X509_NAME *name) {
  char *s = X509_NAME_oneline(name, NULL, 0);
  json_t *j = json_string(s ? s : "");
  OPENSSL_free(s);
  return j;
}

/* An EK certificate's identity at the verifier: the SHA-256 of its
 * SubjectPublicKeyInfo, and the name it enrolls under when the verifier's
 * policy says "name_binding": "ek" (rt_name_from_ek). */
static void ek_identity(json_t *c, X509 *x) {
  unsigned char *spki = NULL, md[32];
  unsigned int md_len = 0;
  int spki_len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
  char hex[65], name[RT_NAME_EK_SIZE];
  rt_err err;
  bool ok = spki_len > 0 && EVP_Digest(spki, (size_t)spki_len, md, &md_len, EVP_sha256(), NULL);
  OPENSSL_free(spki);
  if (!ok)
    return;
  rt_hex(md, sizeof md, hex);
  if (rt_name_from_ek(hex, name, &err) != RT_OK)
    return;
  json_object_set_new(c, "ek_sha256", json_string(hex));
  json_object_set_new(c, "rattest_name", json_string(name));
}

/* One NV certificate: its index, size and, when it parses as X.509, names
 * (and for an EK certificate, kind not NULL, its identity). */
static json_t *describe_cert(TPM2_HANDLE index, const char *kind, const uint8_t *der, size_t len) {
  json_t *c = json_object();
  char idx[16];
  snprintf(idx, sizeof idx, "0x%08x", (unsigned)index);
  json_object_set_new(c, "nv_index", json_string(idx));
  if (kind != NULL)
    json_object_set_new(c, "kind", json_string(kind));
  json_object_set_new(c, "size", json_integer((json_int_t)len));
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  if (x != NULL) {
    json_object_set_new(c, "subject", x509_name_json(X509_get_subject_name(x)));
    json_object_set_new(c, "issuer", x509_name_json(X509_get_issuer_name(x)));
    if (kind != NULL)
      ek_identity(c, x);
    X509_free(x);
  }
  return c;
}

/* Reads an NV certificate; absent is normal (TPMs carry one or two EK
 * certificates), any other failure is the caller's error. */
static rt_code read_optional(rt_tpm *tpm, TPM2_HANDLE index, uint8_t **der, size_t *len,
                             rt_err *err) {
  rt_code code = rt_tpm_nv_read(tpm, index, der, len, err);
  if (code == RT_E_NOT_FOUND) {
    rt_err_clear(err);
    return RT_OK;
  }
  return code;
}

/* The EK chain indices (EK Credential Profile 2.3+), one entry a
 * certificate. */
static rt_code ek_chain(rt_tpm *tpm, json_t *obj, rt_err *err) {
  rt_ek_chain chain;
  rt_code code = rt_ek_chain_read(tpm, &chain, err);
  if (code != RT_OK)
    return code;
  json_t *arr = json_array();
  for (size_t i = 0; i < chain.n; i++)
    json_array_append_new(
        arr, describe_cert(chain.certs[i].nv_index, NULL, chain.certs[i].der, chain.certs[i].len));
  json_object_set_new(obj, "ek_chain", arr);
  rt_ek_chain_free(&chain);
  return RT_OK;
}

rt_code rt_tpm_describe(rt_tpm *tpm, json_t **out, rt_err *err) {
  json_t *obj = json_object();
  json_object_set_new(obj, "tcti", json_string(tpm->tcti_name));
  rt_code code = fixed_properties(tpm, obj, err);
  if (code == RT_OK)
    code = pcr_banks(tpm, obj, err);
  if (code != RT_OK) {
    json_decref(obj);
    return code;
  }
  json_t *certs = json_array();
  json_object_set_new(obj, "ek_certificates", certs);
  uint8_t *der = NULL;
  size_t len = 0;
  for (size_t i = 0; i < sizeof ek_cert_indexes / sizeof ek_cert_indexes[0]; i++) {
    code = read_optional(tpm, ek_cert_indexes[i].index, &der, &len, err);
    if (code != RT_OK)
      goto fail;
    if (der != NULL)
      json_array_append_new(
          certs, describe_cert(ek_cert_indexes[i].index, ek_cert_indexes[i].kind, der, len));
    free(der);
  }
  if ((code = ek_chain(tpm, obj, err)) != RT_OK)
    goto fail;
  code = read_optional(tpm, RT_NV_PLATFORM_CERT, &der, &len, err);
  if (code != RT_OK)
    goto fail;
  json_object_set_new(obj, "platform_certificate",
                      der ? describe_cert(RT_NV_PLATFORM_CERT, NULL, der, len) : json_null());
  free(der);
  *out = obj;
  return RT_OK;
fail:
  json_decref(obj);
  return code;
}
