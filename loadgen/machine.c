#include "machine.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rt_hex.h"
#include "rt_kdf.h"
#include "rt_name.h"
#include "rt_tpm_pub.h"

/* NV indices of the EK certificates (TCG EK Credential Profile; the P-384
 * one where swtpm writes it). */
#define NV_EK_RSA2048 0x01c00002u
#define NV_EK_P256 0x01c0000au
#define NV_EK_P384 0x01c00016u

const char *lg_ek_kind_name(lg_ek_kind kind) {
  switch (kind) {
  case LG_EK_RSA2048:
    return "rsa";
  case LG_EK_P256:
    return "p256";
  case LG_EK_P384:
    return "p384";
  }
  return NULL;
}

static EVP_PKEY *keygen(lg_ek_kind kind) {
  if (kind == LG_EK_RSA2048)
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", kind == LG_EK_P256 ? "P-256" : "P-384");
}

static rt_code big(EVP_PKEY *key, const char *param, uint8_t *out, size_t len, rt_err *err) {
  BIGNUM *bn = NULL;
  int ok = EVP_PKEY_get_bn_param(key, param, &bn) == 1 && BN_bn2binpad(bn, out, (int)len) >= 0;
  BN_free(bn);
  return ok ? RT_OK : rt_ossl_err(err, "reading a public key");
}

/* The unique field of tmpl from key: what the TPM would have generated. */
static rt_code set_unique(TPM2B_PUBLIC *tmpl, EVP_PKEY *key, rt_err *err) {
  TPMT_PUBLIC *p = &tmpl->publicArea;
  rt_code code;
  if (p->type == TPM2_ALG_RSA) {
    p->unique.rsa.size = (UINT16)(p->parameters.rsaDetail.keyBits / 8);
    code = big(key, OSSL_PKEY_PARAM_RSA_N, p->unique.rsa.buffer, p->unique.rsa.size, err);
  } else {
    size_t field = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
    p->unique.ecc.x.size = p->unique.ecc.y.size = (UINT16)field;
    code = big(key, OSSL_PKEY_PARAM_EC_PUB_X, p->unique.ecc.x.buffer, field, err);
    if (code == RT_OK)
      code = big(key, OSSL_PKEY_PARAM_EC_PUB_Y, p->unique.ecc.y.buffer, field, err);
  }
  if (code == RT_OK && !rt_tpm_pub_matches(p, key))
    code = rt_err_set(err, RT_E_INTERNAL, "a public area does not hold its key");
  return code;
}

/* Qualified name (TPM 2.0 Part 1 §16): child's nameAlg ||
 * H(parent's qualified name || child's name). */
static rt_code qualify(const uint8_t *parent_qn, size_t parent_len, const TPMT_PUBLIC *child,
                       const TPM2B_NAME *name, TPM2B_NAME *out, rt_err *err) {
  const char *md = rt_tpm_hash_name(child->nameAlg);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex2(ctx, EVP_get_digestbyname(md), NULL) &&
           EVP_DigestUpdate(ctx, parent_qn, parent_len) &&
           EVP_DigestUpdate(ctx, name->name, name->size) &&
           EVP_DigestFinal_ex(ctx, out->name + 2, &n);
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return rt_ossl_err(err, "qualified name");
  out->name[0] = (uint8_t)(child->nameAlg >> 8);
  out->name[1] = (uint8_t)child->nameAlg;
  out->size = (UINT16)(n + 2);
  return RT_OK;
}

/* The AK's qualified name under the EK (a primary of the endorsement
 * hierarchy), and the key's under an SRK of the owner hierarchy. The SRK's
 * name is random: no SRK is made, and only the TPM could check it. */
static rt_code qualified_names(lg_machine *m, rt_err *err) {
  TPM2B_NAME ek_name, ek_qn, srk_qn = {.size = 34};
  const uint8_t endorsement[4] = {0x40, 0x00, 0x00, 0x0b};
  srk_qn.name[0] = 0x00;
  srk_qn.name[1] = 0x0b;
  if (RAND_bytes(srk_qn.name + 2, 32) != 1)
    return rt_ossl_err(err, "SRK name");
  rt_code code = rt_tpm_pub_name(&m->ek_pub.publicArea, &ek_name, err);
  if (code == RT_OK)
    code = qualify(endorsement, sizeof endorsement, &m->ek_pub.publicArea, &ek_name, &ek_qn, err);
  if (code == RT_OK)
    code = qualify(ek_qn.name, ek_qn.size, &m->ak_pub.publicArea, &m->ak_name, &m->ak_qn, err);
  if (code == RT_OK)
    code = qualify(srk_qn.name, srk_qn.size, &m->key_pub.publicArea, &m->key_name, &m->key_qn, err);
  return code;
}

static TPM2B_PUBLIC ek_template(lg_ek_kind kind) {
  if (kind == LG_EK_RSA2048)
    return rt_template_ek(RT_ALG_RSA_2048);
  return kind == LG_EK_P256 ? rt_template_ek(RT_ALG_ECC_P256) : rt_template_ek_ecc_p384();
}

static rt_code make_keys(lg_machine *m, rt_key_alg key_alg, rt_err *err) {
  m->ek = keygen(m->kind);
  m->ak = keygen(LG_EK_P256);
  m->key = keygen(key_alg == RT_ALG_RSA_2048 ? LG_EK_RSA2048 : LG_EK_P256);
  if (m->ek == NULL || m->ak == NULL || m->key == NULL)
    return rt_ossl_err(err, "key generation");
  m->ek_pub = ek_template(m->kind);
  m->ak_pub = rt_template_ak(RT_ALG_ECC_P256);
  m->key_pub = rt_template_key(key_alg);
  rt_code code = set_unique(&m->ek_pub, m->ek, err);
  if (code == RT_OK)
    code = set_unique(&m->ak_pub, m->ak, err);
  if (code == RT_OK)
    code = set_unique(&m->key_pub, m->key, err);
  if (code == RT_OK)
    code = rt_tpm_pub_name(&m->ak_pub.publicArea, &m->ak_name, err);
  if (code == RT_OK)
    code = rt_tpm_pub_name(&m->key_pub.publicArea, &m->key_name, err);
  return code;
}

rt_code lg_machine_new(const lg_mfr_ca *ca, lg_ek_kind kind, rt_key_alg key_alg, unsigned id,
                       lg_machine *m, rt_err *err) {
  memset(m, 0, sizeof *m);
  m->kind = kind;
  snprintf(m->name, sizeof m->name, "lg-%u", id);
  m->ek_nv_index = kind == LG_EK_RSA2048 ? NV_EK_RSA2048
                   : kind == LG_EK_P256  ? NV_EK_P256
                                         : NV_EK_P384;
  uint8_t counters[16];
  if (RAND_bytes(counters, sizeof counters) != 1)
    return rt_ossl_err(err, "machine counters");
  m->clock_ms = 1000000u + (counters[0] | (uint64_t)counters[1] << 8) * 1000u;
  m->reset_count = counters[2] % 16;
  m->restart_count = counters[3] % 4;
  m->firmware = 0x2019011900000000ull;
  char cn[64];
  snprintf(cn, sizeof cn, "rattest-loadgen EK %u", id);
  rt_code code = make_keys(m, key_alg, err);
  if (code == RT_OK)
    code = qualified_names(m, err);
  if (code == RT_OK)
    code = lg_mfr_ca_issue(ca, m->ek, cn, &m->ek_cert, &m->ek_cert_len, err);
  if (code != RT_OK)
    lg_machine_free(m);
  return code;
}

void lg_machine_free(lg_machine *m) {
  EVP_PKEY_free(m->ek);
  EVP_PKEY_free(m->ak);
  EVP_PKEY_free(m->key);
  OPENSSL_free(m->ek_cert);
  memset(m, 0, sizeof *m);
}

rt_code lg_machine_use_ek_name(lg_machine *m, rt_err *err) {
  unsigned char *spki = NULL, md[32];
  unsigned int md_len = 0;
  int len = i2d_PUBKEY(m->ek, &spki);
  bool ok = len > 0 && EVP_Digest(spki, (size_t)len, md, &md_len, EVP_sha256(), NULL);
  OPENSSL_free(spki);
  if (!ok)
    return rt_ossl_err(err, "the EK's hash");
  char hex[2 * sizeof md + 1], name[RT_NAME_EK_SIZE];
  rt_hex(md, sizeof md, hex);
  if (rt_name_from_ek(hex, name, err) != RT_OK)
    return err->code;
  snprintf(m->name, sizeof m->name, "%s", name);
  return RT_OK;
}
