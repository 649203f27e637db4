#include "platform_cert.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform_asn1.h"
#include "rt_asn1_time.h"
#include "rt_hex.h"

struct rt_platform_cert {
  rt_platform_form form;
  RT_AC *ac;  /* RT_PLATFORM_FORM_ATTRIBUTE */
  X509 *x509; /* RT_PLATFORM_FORM_X509 */
};

const char *rt_platform_reason_code(rt_platform_reason reason) {
  switch (reason) {
  case RT_PLATFORM_MALFORMED:
    return "PLATFORM_CERT_MALFORMED";
  case RT_PLATFORM_CHAIN:
    return "PLATFORM_CERT_CHAIN";
  case RT_PLATFORM_EXPIRED:
    return "PLATFORM_CERT_EXPIRED";
  case RT_PLATFORM_HOLDER:
    return "PLATFORM_CERT_HOLDER";
  default:
    return NULL;
  }
}

/* ---- Reading fields -------------------------------------------------------- */

/* Printable ASCII only: values land in logs, JSON and subjects. */
static void copy_text(const ASN1_STRING *s, char *out, size_t len) {
  int n = ASN1_STRING_length(s);
  const unsigned char *d = ASN1_STRING_get0_data(s);
  size_t w = 0;
  for (int i = 0; d != NULL && i < n && w + 1 < len; i++)
    out[w++] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
  out[w] = '\0';
}

static void int_hex(const ASN1_INTEGER *v, char *out, size_t len) {
  out[0] = '\0';
  BIGNUM *bn = ASN1_INTEGER_to_BN(v, NULL);
  char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
  if (hex != NULL)
    snprintf(out, len, "%s", hex);
  OPENSSL_free(hex);
  BN_free(bn);
}

static void oid_text(const ASN1_OBJECT *o, char *out, size_t len, int no_name) {
  out[0] = '\0';
  if (o != NULL && OBJ_obj2txt(out, (int)len, o, no_name) <= 0)
    out[0] = '\0';
}

static int oid_is(const ASN1_OBJECT *o, const char *dotted) {
  char buf[64];
  oid_text(o, buf, sizeof buf, 1);
  return strcmp(buf, dotted) == 0;
}

/* The platform fields of the subjectAltName directoryName. */
static void read_dirname(const X509_NAME *name, rt_platform_info *info) {
  static const char *const oids[] = {RT_OID_PLATFORM_MANUFACTURER, RT_OID_PLATFORM_MODEL,
                                     RT_OID_PLATFORM_VERSION, RT_OID_PLATFORM_SERIAL};
  char *outs[] = {info->manufacturer, info->model, info->version, info->serial};
  for (int i = 0; i < X509_NAME_entry_count(name); i++) {
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    for (size_t k = 0; k < 4; k++)
      if (oid_is(X509_NAME_ENTRY_get_object(e), oids[k]))
        copy_text(X509_NAME_ENTRY_get_data(e), outs[k], sizeof info->manufacturer);
  }
}

static rt_code read_san(const STACK_OF(X509_EXTENSION) * exts, rt_platform_info *info,
                        rt_err *err) {
  int crit = -1;
  GENERAL_NAMES *sans = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
  if (sans == NULL && crit == -2)
    return rt_err_set(err, RT_E_INVALID, "more than one subjectAltName extension");
  if (sans == NULL && crit >= 0)
    return rt_err_set(err, RT_E_INVALID, "the subjectAltName extension does not parse");
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_DIRNAME)
      read_dirname(g->d.directoryName, info);
  }
  GENERAL_NAMES_free(sans);
  return RT_OK;
}

/* The one value of a TCG attribute, a SEQUENCE, as DER. */
static rt_code attr_value(X509_ATTRIBUTE *a, const char *oid, const unsigned char **der, long *len,
                          rt_err *err) {
  ASN1_TYPE *t = X509_ATTRIBUTE_count(a) == 1 ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
  if (t == NULL || t->type != V_ASN1_SEQUENCE || t->value.sequence == NULL)
    return rt_err_set(err, RT_E_INVALID, "attribute %s: not exactly one SEQUENCE value", oid);
  *der = t->value.sequence->data;
  *len = t->value.sequence->length;
  return RT_OK;
}

/* Decodes the DER of one attribute value with a template; every byte must
 * belong to it. */
#define DECODE_ALL(type, out, der, len)                                                            \
  do {                                                                                             \
    const unsigned char *p_ = (der);                                                               \
    (out) = d2i_##type(NULL, &p_, (len));                                                          \
    if ((out) != NULL && p_ != (der) + (len)) {                                                    \
      type##_free(out);                                                                            \
      (out) = NULL;                                                                                \
    }                                                                                              \
  } while (0)

static rt_code read_attribute(X509_ATTRIBUTE *a, rt_platform_info *info, rt_err *err) {
  char oid[64];
  oid_text(X509_ATTRIBUTE_get0_object(a), oid, sizeof oid, 1);
  const unsigned char *der = NULL;
  long len = 0;
  if (strcmp(oid, RT_OID_TCG_PLATFORM_SPEC) == 0) {
    RT_TCG_PLATFORM_SPEC *spec = NULL;
    if (attr_value(a, oid, &der, &len, err) != RT_OK)
      return err->code;
    DECODE_ALL(RT_TCG_PLATFORM_SPEC, spec, der, len);
    if (spec == NULL || ASN1_STRING_length(spec->platform_class) != 4) {
      RT_TCG_PLATFORM_SPEC_free(spec);
      return rt_err_set(err, RT_E_INVALID, "attribute %s (tcgPlatformSpecification) does not parse",
                        oid);
    }
    info->has_platform_spec = true;
    info->spec_major = ASN1_INTEGER_get(spec->version->major);
    info->spec_minor = ASN1_INTEGER_get(spec->version->minor);
    info->spec_revision = ASN1_INTEGER_get(spec->version->revision);
    rt_hex(ASN1_STRING_get0_data(spec->platform_class), 4, info->platform_class);
    RT_TCG_PLATFORM_SPEC_free(spec);
  } else if (strcmp(oid, RT_OID_TCG_CREDENTIAL_TYPE) == 0) {
    RT_TCG_CREDENTIAL_TYPE *ct = NULL;
    if (attr_value(a, oid, &der, &len, err) != RT_OK)
      return err->code;
    DECODE_ALL(RT_TCG_CREDENTIAL_TYPE, ct, der, len);
    if (ct == NULL)
      return rt_err_set(err, RT_E_INVALID, "attribute %s (tcgCredentialType) does not parse", oid);
    oid_text(ct->certificate_type, info->credential_type, sizeof info->credential_type, 1);
    RT_TCG_CREDENTIAL_TYPE_free(ct);
  } else if (strncmp(oid, RT_OID_TCG_PLATFORM_CONFIG_PREFIX,
                     strlen(RT_OID_TCG_PLATFORM_CONFIG_PREFIX)) == 0) {
    RT_TCG_PLATFORM_CONFIG *pc = NULL;
    if (attr_value(a, oid, &der, &len, err) != RT_OK)
      return err->code;
    DECODE_ALL(RT_TCG_PLATFORM_CONFIG, pc, der, len);
    if (pc == NULL)
      return rt_err_set(err, RT_E_INVALID, "attribute %s (platformConfiguration) does not parse",
                        oid);
    info->has_platform_config = true;
    snprintf(info->platform_config_oid, sizeof info->platform_config_oid, "%s", oid);
    int n = sk_ASN1_TYPE_num(pc->components); /* -1 when absent */
    if (n > 0)
      info->n_components += (size_t)n;
    RT_TCG_PLATFORM_CONFIG_free(pc);
  }
  /* Other attributes (TBB security assertions, URIs...) are carried and
   * signed but not judged. */
  return RT_OK;
}

/* ---- The attribute certificate ---------------------------------------------- */

/* The one directoryName of a GeneralNames, or NULL. */
static const X509_NAME *sole_dirname(const GENERAL_NAMES *names) {
  if (sk_GENERAL_NAME_num(names) != 1)
    return NULL;
  const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, 0);
  return g->type == GEN_DIRNAME ? g->d.directoryName : NULL;
}

/* The profile's required fields, beyond what the template demands. */
static rt_code check_ac(const RT_AC *ac, rt_err *err) {
  const RT_AC_INFO *in = ac->info;
  if (ASN1_INTEGER_get(in->version) != 1)
    return rt_err_set(err, RT_E_INVALID, "version %ld, v2 (1) required",
                      ASN1_INTEGER_get(in->version));
  const RT_ISSUER_SERIAL *base = in->holder->base_certificate_id;
  if (base == NULL)
    return rt_err_set(err, RT_E_INVALID,
                      "the holder has no baseCertificateID (the EK certificate's issuer and "
                      "serial)");
  bool has_dirname = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(base->issuer); i++)
    has_dirname |= sk_GENERAL_NAME_value(base->issuer, i)->type == GEN_DIRNAME;
  if (!has_dirname)
    return rt_err_set(err, RT_E_INVALID, "the holder's baseCertificateID names no issuer DN");
  /* RFC 5755 4.2.3: v2Form with exactly one directoryName, nothing else. */
  if (in->issuer->base_certificate_id != NULL || in->issuer->object_digest_info != NULL ||
      sole_dirname(in->issuer->issuer_name) == NULL)
    return rt_err_set(err, RT_E_INVALID, "the issuer is not one directoryName (RFC 5755 v2Form)");
  if (X509_ALGOR_cmp(in->signature, ac->sig_alg) != 0)
    return rt_err_set(err, RT_E_INVALID, "the signed and the outer signature algorithms differ");
  if (ASN1_GENERALIZEDTIME_check(in->validity->not_before) != 1 ||
      ASN1_GENERALIZEDTIME_check(in->validity->not_after) != 1)
    return rt_err_set(err, RT_E_INVALID, "the validity period is not two GeneralizedTimes");
  return RT_OK;
}

static rt_code read_ac(const RT_AC *ac, rt_platform_info *info, rt_err *err) {
  const RT_AC_INFO *in = ac->info;
  info->form = RT_PLATFORM_FORM_ATTRIBUTE;
  rt_platform_name_text(sole_dirname(in->issuer->issuer_name), info->issuer, sizeof info->issuer);
  int_hex(in->serial, info->serial_number, sizeof info->serial_number);
  const RT_ISSUER_SERIAL *base = in->holder->base_certificate_id;
  for (int i = 0; i < sk_GENERAL_NAME_num(base->issuer); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(base->issuer, i);
    if (g->type == GEN_DIRNAME && info->holder_issuer[0] == '\0')
      rt_platform_name_text(g->d.directoryName, info->holder_issuer, sizeof info->holder_issuer);
  }
  int_hex(base->serial, info->holder_serial, sizeof info->holder_serial);
  rt_asn1_time_text(in->validity->not_before, info->not_before, sizeof info->not_before);
  rt_asn1_time_text(in->validity->not_after, info->not_after, sizeof info->not_after);
  oid_text(ac->sig_alg->algorithm, info->signature_algorithm, sizeof info->signature_algorithm, 0);
  info->n_attributes = (size_t)sk_X509_ATTRIBUTE_num(in->attributes);
  for (int i = 0; i < sk_X509_ATTRIBUTE_num(in->attributes); i++) {
    rt_code code = read_attribute(sk_X509_ATTRIBUTE_value(in->attributes, i), info, err);
    if (code != RT_OK)
      return code;
  }
  return read_san(in->extensions, info, err);
}

/* ---- The X.509 form (swtpm) --------------------------------------------------- */

static bool has_platform_eku(X509 *x) {
  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
  bool found = false;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && !found; i++)
    found = oid_is(sk_ASN1_OBJECT_value(eku, i), RT_OID_KP_PLATFORM_CERT);
  EXTENDED_KEY_USAGE_free(eku);
  return found;
}

static rt_code read_x509(X509 *x, rt_platform_info *info, rt_err *err) {
  info->form = RT_PLATFORM_FORM_X509;
  rt_platform_name_text(X509_get_issuer_name(x), info->issuer, sizeof info->issuer);
  int_hex(X509_get0_serialNumber(x), info->serial_number, sizeof info->serial_number);
  rt_asn1_time_text(X509_get0_notBefore(x), info->not_before, sizeof info->not_before);
  rt_asn1_time_text(X509_get0_notAfter(x), info->not_after, sizeof info->not_after);
  const X509_ALGOR *alg = NULL;
  X509_get0_signature(NULL, &alg, x);
  if (alg != NULL)
    oid_text(alg->algorithm, info->signature_algorithm, sizeof info->signature_algorithm, 0);
  unsigned char *spki = NULL;
  int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
  uint8_t md[32];
  unsigned int mdlen = 0;
  if (n > 0 && EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1)
    rt_hex(md, 32, info->holder_key_sha256);
  OPENSSL_free(spki);
  return read_san(X509_get0_extensions(x), info, err);
}

/* ---- Parse ---------------------------------------------------------------------- */

/* Why the attribute form failed: the first reason ("wrong tag") and the
 * innermost field it happened in ("Field=holder, Type=RT_AC_INFO"), which
 * names a missing or broken field. Empties OpenSSL's error queue. */
static void ac_failure(char *why, size_t size) {
  char reason[64] = "not DER", field[96] = "";
  const char *data = NULL;
  int flags = 0;
  unsigned long e;
  bool first = true;
  while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
    if (first && ERR_reason_error_string(e) != NULL)
      snprintf(reason, sizeof reason, "%s", ERR_reason_error_string(e));
    first = false;
    if (field[0] == '\0' && data != NULL && (flags & ERR_TXT_STRING) && strstr(data, "Field="))
      snprintf(field, sizeof field, ": %s", data);
  }
  snprintf(why, size, "%s%s", reason, field);
  ERR_clear_error();
}

/* Decodes der as an attribute certificate, else as an X.509 certificate
 * with the platform EKU; *end: where the decoded certificate ends. */
static rt_code decode_either(rt_platform_cert *pc, const uint8_t *der, size_t len,
                             const unsigned char **end, rt_err *err) {
  const unsigned char *p = der;
  pc->ac = d2i_RT_AC(NULL, &p, (long)len);
  *end = p;
  if (pc->ac != NULL) {
    pc->form = RT_PLATFORM_FORM_ATTRIBUTE;
    return RT_OK;
  }
  char why[160];
  ac_failure(why, sizeof why);
  p = der;
  pc->x509 = d2i_X509(NULL, &p, (long)len);
  *end = p;
  if (pc->x509 != NULL && has_platform_eku(pc->x509)) {
    pc->form = RT_PLATFORM_FORM_X509;
    return RT_OK;
  }
  if (pc->x509 != NULL)
    return rt_err_set(err, RT_E_INVALID,
                      "an X.509 certificate without EKU tcg-kp-PlatformCertificate (%s) is "
                      "not a platform certificate",
                      RT_OID_KP_PLATFORM_CERT);
  return rt_err_set(err, RT_E_INVALID, "not a DER platform certificate (attribute certificate: %s)",
                    why);
}

rt_code rt_platform_cert_parse(const uint8_t *der, size_t len, rt_platform_cert **out,
                               rt_platform_info *info, rt_err *err) {
  *out = NULL;
  rt_platform_info scratch;
  if (info == NULL)
    info = &scratch;
  memset(info, 0, sizeof *info);
  if (der == NULL || len == 0)
    return rt_err_set(err, RT_E_INVALID, "empty platform certificate");
  if (len > RT_PLATFORM_CERT_MAX)
    return rt_err_set(err, RT_E_INVALID, "platform certificate of %zu bytes, at most %d", len,
                      RT_PLATFORM_CERT_MAX);
  rt_platform_cert *pc = calloc(1, sizeof *pc);
  if (pc == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  const unsigned char *end = der;
  rt_code code = decode_either(pc, der, len, &end, err);
  if (code == RT_OK && end != der + len)
    code = rt_err_set(err, RT_E_INVALID, "%zu trailing bytes after the platform certificate",
                      (size_t)(der + len - end));
  if (code == RT_OK && pc->form == RT_PLATFORM_FORM_ATTRIBUTE)
    code = check_ac(pc->ac, err);
  if (code == RT_OK)
    code = pc->form == RT_PLATFORM_FORM_ATTRIBUTE ? read_ac(pc->ac, info, err)
                                                  : read_x509(pc->x509, info, err);
  ERR_clear_error();
  if (code != RT_OK) {
    rt_platform_cert_free(pc);
    memset(info, 0, sizeof *info);
    return rt_err_prefix(err, "malformed platform certificate: ");
  }
  *out = pc;
  return RT_OK;
}

void rt_platform_cert_free(rt_platform_cert *pc) {
  if (pc == NULL)
    return;
  RT_AC_free(pc->ac);
  X509_free(pc->x509);
  free(pc);
}

/* ---- Verify --------------------------------------------------------------------- */

static int ac_signed_by(EVP_PKEY *key, void *arg) {
  const RT_AC *ac = arg;
  return ASN1_item_verify(ASN1_ITEM_rptr(RT_AC_INFO), ac->sig_alg, ac->signature, ac->info, key);
}

static int x509_signed_by(EVP_PKEY *key, void *arg) {
  return X509_verify(arg, key);
}

static rt_code check_validity(const ASN1_TIME *nb, const ASN1_TIME *na, time_t now, rt_err *err) {
  char when[32];
  if (X509_cmp_time(nb, &now) > 0) {
    rt_asn1_time_text(nb, when, sizeof when);
    return rt_err_set(err, RT_E_INVALID, "the platform certificate is not yet valid (from %s)",
                      when);
  }
  if (X509_cmp_time(na, &now) < 0) {
    rt_asn1_time_text(na, when, sizeof when);
    return rt_err_set(err, RT_E_INVALID, "the platform certificate has expired (at %s)", when);
  }
  return RT_OK;
}

/* The holder: the EK certificate the verifier accepted, by issuer and
 * serial (attribute form) or by key (X.509 form). */
static rt_code check_holder(const rt_platform_cert *pc, X509 *ek, rt_err *err) {
  if (pc->form == RT_PLATFORM_FORM_X509) {
    if (EVP_PKEY_eq(X509_get0_pubkey(pc->x509), X509_get0_pubkey(ek)) != 1)
      return rt_err_set(err, RT_E_NOT_FOUND,
                        "holder mismatch: the platform certificate certifies another key than "
                        "the EK certificate's");
    return RT_OK;
  }
  const RT_ISSUER_SERIAL *base = pc->ac->info->holder->base_certificate_id;
  bool name_ok = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(base->issuer) && !name_ok; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(base->issuer, i);
    name_ok =
        g->type == GEN_DIRNAME && X509_NAME_cmp(g->d.directoryName, X509_get_issuer_name(ek)) == 0;
  }
  if (name_ok && ASN1_INTEGER_cmp(base->serial, X509_get0_serialNumber(ek)) == 0)
    return RT_OK;
  char holder[84], holder_issuer[256] = "", ek_serial[84], ek_issuer[256];
  int_hex(base->serial, holder, sizeof holder);
  for (int i = 0; i < sk_GENERAL_NAME_num(base->issuer) && holder_issuer[0] == '\0'; i++)
    if (sk_GENERAL_NAME_value(base->issuer, i)->type == GEN_DIRNAME)
      rt_platform_name_text(sk_GENERAL_NAME_value(base->issuer, i)->d.directoryName, holder_issuer,
                            sizeof holder_issuer);
  int_hex(X509_get0_serialNumber(ek), ek_serial, sizeof ek_serial);
  rt_platform_name_text(X509_get_issuer_name(ek), ek_issuer, sizeof ek_issuer);
  return rt_err_set(err, RT_E_NOT_FOUND,
                    "holder mismatch: the platform certificate's holder is serial %s of \"%s\"; "
                    "the EK certificate is serial %s of \"%s\"",
                    holder, holder_issuer, ek_serial, ek_issuer);
}

rt_code rt_platform_cert_verify(const rt_ca_set *ca, const rt_platform_cert *pc,
                                const uint8_t *ek_der, size_t ek_len, time_t now,
                                rt_platform_reason *reason, rt_err *err) {
  rt_code code;
  *reason = RT_PLATFORM_CHAIN;
  if (pc->form == RT_PLATFORM_FORM_ATTRIBUTE)
    code = rt_platform_ca_check_signer(ca, sole_dirname(pc->ac->info->issuer->issuer_name), false,
                                       now, ac_signed_by, pc->ac, err);
  else
    code = rt_platform_ca_check_signer(ca, X509_get_issuer_name(pc->x509), true, now,
                                       x509_signed_by, pc->x509, err);
  if (code != RT_OK)
    return code;
  *reason = RT_PLATFORM_EXPIRED;
  if (pc->form == RT_PLATFORM_FORM_ATTRIBUTE)
    code = check_validity(pc->ac->info->validity->not_before, pc->ac->info->validity->not_after,
                          now, err);
  else
    code = check_validity(X509_get0_notBefore(pc->x509), X509_get0_notAfter(pc->x509), now, err);
  if (code != RT_OK)
    return code;
  *reason = RT_PLATFORM_HOLDER;
  const unsigned char *p = ek_der;
  X509 *ek = ek_der != NULL ? d2i_X509(NULL, &p, (long)ek_len) : NULL;
  if (ek == NULL || p != ek_der + ek_len) {
    X509_free(ek);
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID,
                      "no EK certificate to bind the platform certificate to (holder unchecked)");
  }
  code = check_holder(pc, ek, err);
  X509_free(ek);
  ERR_clear_error();
  if (code == RT_OK)
    *reason = RT_PLATFORM_OK;
  return code;
}

rt_code rt_platform_cert_check(const rt_ca_set *ca, const uint8_t *der, size_t len,
                               const uint8_t *ek_der, size_t ek_len, time_t now,
                               rt_platform_info *info, rt_platform_reason *reason, rt_err *err) {
  rt_platform_cert *pc = NULL;
  *reason = RT_PLATFORM_MALFORMED;
  rt_code code = rt_platform_cert_parse(der, len, &pc, info, err);
  if (code != RT_OK)
    return code;
  code = rt_platform_cert_verify(ca, pc, ek_der, ek_len, now, reason, err);
  rt_platform_cert_free(pc);
  return code;
}
