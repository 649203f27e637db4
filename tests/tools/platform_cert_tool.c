/* Test tool: makes TCG platform certificates for the tests' good and bad
 * cases, with the verifier's own ASN.1 templates (verifier/platform_asn1.h)
 * and OpenSSL's signing, so that each case differs from a good one in
 * exactly one respect.
 *
 *   platform_cert_tool make-ac OUT --holder-cert EK --issuer-cert CA --key KEY
 *       [--not-before T] [--not-after T] [--holder-serial HEX]
 *       [--manufacturer S] [--model S] [--version S] [--serial S]
 *       [--components N] [--ac-version N] [--no-base-cert-id] [--omit-holder]
 *     An attribute certificate (TCG Platform Certificate Profile) whose
 *     holder is EK's issuer and serial (or HEX), issued by CA's subject and
 *     signed with KEY. T: GeneralizedTime "YYYYMMDDHHMMSSZ" (default
 *     20200101000000Z .. 99991231235959Z).
 *
 *   platform_cert_tool resign-x509 IN OUT --key KEY [--issuer-cert CA]
 *       [--not-before T] [--not-after T] [--pubkey-from CERT]
 *     swtpm's X.509 platform certificate with the given edits, signed again.
 *
 * Certificates and keys: PEM or DER. Output: DER. Exit 0 done, 1 failed. */
#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform_asn1.h"

/* A ComponentIdentifier (v2) as the profile has it, enough of it to make
 * realistic platformConfiguration attributes: class, manufacturer, model. */
typedef struct {
  ASN1_OBJECT *registry;
  ASN1_OCTET_STRING *value;
} TOOL_COMPONENT_CLASS;
typedef struct {
  TOOL_COMPONENT_CLASS *component_class;
  ASN1_UTF8STRING *manufacturer;
  ASN1_UTF8STRING *model;
} TOOL_COMPONENT;
DECLARE_ASN1_FUNCTIONS(TOOL_COMPONENT_CLASS)
DECLARE_ASN1_FUNCTIONS(TOOL_COMPONENT)

ASN1_SEQUENCE(TOOL_COMPONENT_CLASS) = {
    ASN1_SIMPLE(TOOL_COMPONENT_CLASS, registry, ASN1_OBJECT),
    ASN1_SIMPLE(TOOL_COMPONENT_CLASS, value, ASN1_OCTET_STRING),
} ASN1_SEQUENCE_END(TOOL_COMPONENT_CLASS)
IMPLEMENT_ASN1_FUNCTIONS(TOOL_COMPONENT_CLASS)
ASN1_SEQUENCE(TOOL_COMPONENT) = {
    ASN1_SIMPLE(TOOL_COMPONENT, component_class, TOOL_COMPONENT_CLASS),
    ASN1_SIMPLE(TOOL_COMPONENT, manufacturer, ASN1_UTF8STRING),
    ASN1_SIMPLE(TOOL_COMPONENT, model, ASN1_UTF8STRING),
} ASN1_SEQUENCE_END(TOOL_COMPONENT)
IMPLEMENT_ASN1_FUNCTIONS(TOOL_COMPONENT)

/* An AttributeCertificateInfo without its holder (a required field), to
 * encode a certificate the verifier must refuse as malformed; the fields
 * are borrowed from a complete RT_AC_INFO. */
typedef struct {
  ASN1_INTEGER *version;
  RT_AC_V2FORM *issuer;
  X509_ALGOR *signature;
  ASN1_INTEGER *serial;
  RT_AC_VALIDITY *validity;
  STACK_OF(X509_ATTRIBUTE) * attributes;
} TOOL_INFO_NO_HOLDER;
typedef struct {
  TOOL_INFO_NO_HOLDER *info;
  X509_ALGOR *sig_alg;
  ASN1_BIT_STRING *signature;
} TOOL_AC_NO_HOLDER;
DECLARE_ASN1_FUNCTIONS(TOOL_INFO_NO_HOLDER)
DECLARE_ASN1_FUNCTIONS(TOOL_AC_NO_HOLDER)

ASN1_SEQUENCE(TOOL_INFO_NO_HOLDER) = {
    ASN1_SIMPLE(TOOL_INFO_NO_HOLDER, version, ASN1_INTEGER),
    ASN1_IMP(TOOL_INFO_NO_HOLDER, issuer, RT_AC_V2FORM, 0),
    ASN1_SIMPLE(TOOL_INFO_NO_HOLDER, signature, X509_ALGOR),
    ASN1_SIMPLE(TOOL_INFO_NO_HOLDER, serial, ASN1_INTEGER),
    ASN1_SIMPLE(TOOL_INFO_NO_HOLDER, validity, RT_AC_VALIDITY),
    ASN1_SEQUENCE_OF(TOOL_INFO_NO_HOLDER, attributes, X509_ATTRIBUTE),
} ASN1_SEQUENCE_END(TOOL_INFO_NO_HOLDER)
IMPLEMENT_ASN1_FUNCTIONS(TOOL_INFO_NO_HOLDER)
ASN1_SEQUENCE(TOOL_AC_NO_HOLDER) = {
    ASN1_SIMPLE(TOOL_AC_NO_HOLDER, info, TOOL_INFO_NO_HOLDER),
    ASN1_SIMPLE(TOOL_AC_NO_HOLDER, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(TOOL_AC_NO_HOLDER, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(TOOL_AC_NO_HOLDER)
IMPLEMENT_ASN1_FUNCTIONS(TOOL_AC_NO_HOLDER)

static int fail(const char *what) {
  fprintf(stderr, "platform_cert_tool: %s\n", what);
  ERR_print_errors_fp(stderr);
  return 1;
}

static X509 *load_cert(const char *path) {
  BIO *b = BIO_new_file(path, "rb");
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  if (x == NULL && b != NULL) {
    BIO_reset(b);
    x = d2i_X509_bio(b, NULL);
  }
  BIO_free(b);
  return x;
}

static EVP_PKEY *load_key(const char *path) {
  BIO *b = BIO_new_file(path, "rb");
  EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return k;
}

static int write_der(const char *path, const unsigned char *der, int len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    return 0;
  int ok = fwrite(der, 1, (size_t)len, f) == (size_t)len;
  return fclose(f) == 0 && ok;
}

typedef struct {
  const char *holder_cert, *issuer_cert, *key, *not_before, *not_after, *holder_serial;
  const char *manufacturer, *model, *version, *serial, *pubkey_from;
  long components, ac_version;
  bool no_base_cert_id, omit_holder;
} opts;

static GENERAL_NAMES *dirname_names(const X509_NAME *name) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  GENERAL_NAME *gn = GENERAL_NAME_new();
  X509_NAME *dup = X509_NAME_dup(name);
  if (gens == NULL || gn == NULL || dup == NULL) {
    sk_GENERAL_NAME_free(gens);
    GENERAL_NAME_free(gn);
    X509_NAME_free(dup);
    return NULL;
  }
  GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dup);
  sk_GENERAL_NAME_push(gens, gn);
  return gens;
}

/* Adds an attribute whose one value is the DER of a SEQUENCE. */
static int add_attr(RT_AC_INFO *in, const char *oid, const unsigned char *der, int len) {
  ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
  X509_ATTRIBUTE *a =
      obj ? X509_ATTRIBUTE_create_by_OBJ(NULL, obj, V_ASN1_SEQUENCE, der, len) : NULL;
  ASN1_OBJECT_free(obj);
  if (a == NULL || sk_X509_ATTRIBUTE_push(in->attributes, a) <= 0) {
    X509_ATTRIBUTE_free(a);
    return 0;
  }
  return 1;
}

static int add_tcg_attributes(RT_AC_INFO *in, long n_components) {
  int ok = 1;
  unsigned char *der = NULL;
  int len;
  /* TCG platform specification 2.0 rev 164, class 00000001 (client). */
  RT_TCG_PLATFORM_SPEC *spec = RT_TCG_PLATFORM_SPEC_new();
  ok = spec != NULL && ASN1_INTEGER_set(spec->version->major, 2) &&
       ASN1_INTEGER_set(spec->version->minor, 0) &&
       ASN1_INTEGER_set(spec->version->revision, 164) &&
       ASN1_OCTET_STRING_set(spec->platform_class, (const unsigned char *)"\0\0\0\1", 4);
  if (ok && (len = i2d_RT_TCG_PLATFORM_SPEC(spec, &der)) > 0)
    ok = add_attr(in, RT_OID_TCG_PLATFORM_SPEC, der, len);
  OPENSSL_free(der);
  der = NULL;
  RT_TCG_PLATFORM_SPEC_free(spec);
  /* Credential type: a base platform certificate. */
  RT_TCG_CREDENTIAL_TYPE *ct = RT_TCG_CREDENTIAL_TYPE_new();
  if (ok && ct != NULL) {
    ASN1_OBJECT_free(ct->certificate_type);
    ct->certificate_type = OBJ_txt2obj(RT_OID_KP_PLATFORM_CERT, 1);
    if ((len = i2d_RT_TCG_CREDENTIAL_TYPE(ct, &der)) > 0)
      ok = add_attr(in, RT_OID_TCG_CREDENTIAL_TYPE, der, len);
  }
  OPENSSL_free(der);
  der = NULL;
  RT_TCG_CREDENTIAL_TYPE_free(ct);
  if (!ok || n_components <= 0)
    return ok;
  /* platformConfiguration-v2 with n components. */
  RT_TCG_PLATFORM_CONFIG *pc = RT_TCG_PLATFORM_CONFIG_new();
  ok = pc != NULL && (pc->components = sk_ASN1_TYPE_new_null()) != NULL;
  for (long i = 0; ok && i < n_components; i++) {
    TOOL_COMPONENT *c = TOOL_COMPONENT_new();
    unsigned char *cder = NULL;
    int clen = -1;
    if (c != NULL) {
      ASN1_OBJECT_free(c->component_class->registry);
      c->component_class->registry = OBJ_txt2obj("2.23.133.18.3.1", 1);
      ASN1_OCTET_STRING_set(c->component_class->value, (const unsigned char *)"\0\3\0\3", 4);
      ASN1_STRING_set(c->manufacturer, "rattest components", -1);
      ASN1_STRING_set(c->model, "test part", -1);
      clen = i2d_TOOL_COMPONENT(c, &cder);
    }
    ASN1_STRING *seq = clen > 0 ? ASN1_STRING_type_new(V_ASN1_SEQUENCE) : NULL;
    ASN1_TYPE *t = seq ? ASN1_TYPE_new() : NULL;
    ok = t != NULL && ASN1_STRING_set(seq, cder, clen);
    if (ok) {
      ASN1_TYPE_set(t, V_ASN1_SEQUENCE, seq);
      seq = NULL;
      ok = sk_ASN1_TYPE_push(pc->components, t) > 0;
      if (ok)
        t = NULL;
    }
    ASN1_STRING_free(seq);
    ASN1_TYPE_free(t);
    OPENSSL_free(cder);
    TOOL_COMPONENT_free(c);
  }
  if (ok && (len = i2d_RT_TCG_PLATFORM_CONFIG(pc, &der)) > 0)
    ok = add_attr(in, "2.23.133.5.1.7.2", der, len);
  OPENSSL_free(der);
  RT_TCG_PLATFORM_CONFIG_free(pc);
  return ok;
}

/* The subjectAltName directoryName with the platform fields. */
static int add_san(RT_AC_INFO *in, const opts *o) {
  X509_NAME *name = X509_NAME_new();
  const char *oids[] = {RT_OID_PLATFORM_MANUFACTURER, RT_OID_PLATFORM_MODEL,
                        RT_OID_PLATFORM_VERSION, RT_OID_PLATFORM_SERIAL};
  const char *vals[] = {o->manufacturer, o->model, o->version, o->serial};
  int ok = name != NULL;
  for (int i = 0; ok && i < 4; i++) {
    if (vals[i] == NULL)
      continue;
    ASN1_OBJECT *obj = OBJ_txt2obj(oids[i], 1);
    ok = obj != NULL && X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8,
                                                   (const unsigned char *)vals[i], -1, -1, 0);
    ASN1_OBJECT_free(obj);
  }
  GENERAL_NAMES *gens = ok ? dirname_names(name) : NULL;
  ok = gens != NULL &&
       X509V3_add1_i2d(&in->extensions, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(gens);
  X509_NAME_free(name);
  return ok;
}

static int set_serial_hex(ASN1_INTEGER **dst, const char *hex) {
  BIGNUM *bn = NULL;
  if (BN_hex2bn(&bn, hex) == 0)
    return 0;
  ASN1_INTEGER *i = BN_to_ASN1_INTEGER(bn, NULL);
  BN_free(bn);
  if (i == NULL)
    return 0;
  ASN1_INTEGER_free(*dst);
  *dst = i;
  return 1;
}

static int make_ac(const char *out, const opts *o) {
  if (o->holder_cert == NULL || o->issuer_cert == NULL || o->key == NULL)
    return fail("make-ac needs --holder-cert, --issuer-cert and --key");
  X509 *ek = load_cert(o->holder_cert), *ca = load_cert(o->issuer_cert);
  EVP_PKEY *key = load_key(o->key);
  RT_AC *ac = RT_AC_new();
  unsigned char *der = NULL;
  int len = -1, rc = 1;
  if (ek == NULL || ca == NULL || key == NULL || ac == NULL) {
    rc = fail("cannot load the certificates or the key");
    goto out;
  }
  RT_AC_INFO *in = ac->info;
  RT_ISSUER_SERIAL *base = RT_ISSUER_SERIAL_new();
  unsigned char serial[8];
  int ok = base != NULL && ASN1_INTEGER_set(in->version, o->ac_version) &&
           RAND_bytes(serial, sizeof serial) == 1;
  serial[0] &= 0x7f;
  BIGNUM *bn = ok ? BN_bin2bn(serial, sizeof serial, NULL) : NULL;
  ok = bn != NULL && BN_to_ASN1_INTEGER(bn, in->serial) != NULL;
  BN_free(bn);
  if (ok) {
    sk_GENERAL_NAME_free(base->issuer);
    base->issuer = dirname_names(X509_get_issuer_name(ek));
    ASN1_INTEGER_free(base->serial);
    base->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(ek));
    ok = base->issuer != NULL && base->serial != NULL &&
         (o->holder_serial == NULL || set_serial_hex(&base->serial, o->holder_serial));
  }
  if (ok && !o->no_base_cert_id) {
    in->holder->base_certificate_id = base;
    base = NULL;
  }
  RT_ISSUER_SERIAL_free(base);
  ok = ok && (in->issuer->issuer_name = dirname_names(X509_get_subject_name(ca))) != NULL &&
       ASN1_GENERALIZEDTIME_set_string(in->validity->not_before,
                                       o->not_before ? o->not_before : "20200101000000Z") &&
       ASN1_GENERALIZEDTIME_set_string(in->validity->not_after,
                                       o->not_after ? o->not_after : "99991231235959Z") &&
       add_tcg_attributes(in, o->components) && add_san(in, o);
  if (ok && o->omit_holder) {
    TOOL_INFO_NO_HOLDER nh = {in->version, in->issuer,   in->signature,
                              in->serial,  in->validity, in->attributes};
    TOOL_AC_NO_HOLDER nac = {&nh, ac->sig_alg, ac->signature};
    if (ASN1_item_sign(ASN1_ITEM_rptr(TOOL_INFO_NO_HOLDER), nh.signature, nac.sig_alg,
                       nac.signature, &nh, key, EVP_sha256()) <= 0 ||
        (len = i2d_TOOL_AC_NO_HOLDER(&nac, &der)) <= 0 || !write_der(out, der, len))
      rc = fail("cannot make the certificate without holder");
    else
      rc = 0;
    goto out;
  }
  /* Signs the info as encoded now (a new info has no cached encoding). */
  in->enc.modified = 1;
  if (!ok ||
      ASN1_item_sign(ASN1_ITEM_rptr(RT_AC_INFO), in->signature, ac->sig_alg, ac->signature, in, key,
                     EVP_sha256()) <= 0 ||
      (len = i2d_RT_AC(ac, &der)) <= 0 || !write_der(out, der, len)) {
    rc = fail("cannot make the attribute certificate");
    goto out;
  }
  rc = 0;
out:
  OPENSSL_free(der);
  RT_AC_free(ac);
  EVP_PKEY_free(key);
  X509_free(ek);
  X509_free(ca);
  return rc;
}

static int resign_x509(const char *in_path, const char *out, const opts *o) {
  if (o->key == NULL)
    return fail("resign-x509 needs --key");
  X509 *x = load_cert(in_path);
  EVP_PKEY *key = load_key(o->key);
  X509 *ca = o->issuer_cert ? load_cert(o->issuer_cert) : NULL;
  X509 *other = o->pubkey_from ? load_cert(o->pubkey_from) : NULL;
  unsigned char *der = NULL;
  int len = -1, rc = 1;
  int ok = x != NULL && key != NULL && (o->issuer_cert == NULL || ca != NULL) &&
           (o->pubkey_from == NULL || other != NULL);
  if (ok && ca != NULL)
    ok = X509_set_issuer_name(x, X509_get_subject_name(ca));
  if (ok && other != NULL)
    ok = X509_set_pubkey(x, X509_get0_pubkey(other));
  if (ok && o->not_before != NULL)
    ok = ASN1_TIME_set_string_X509(X509_getm_notBefore(x), o->not_before);
  if (ok && o->not_after != NULL)
    ok = ASN1_TIME_set_string_X509(X509_getm_notAfter(x), o->not_after);
  if (ok && X509_sign(x, key, EVP_sha256()) > 0 && (len = i2d_X509(x, &der)) > 0 &&
      write_der(out, der, len))
    rc = 0;
  else
    rc = fail("cannot re-sign the certificate");
  OPENSSL_free(der);
  X509_free(x);
  X509_free(ca);
  X509_free(other);
  EVP_PKEY_free(key);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return fail("usage: platform_cert_tool make-ac OUT ... | resign-x509 IN OUT ...");
  opts o = {.components = 2, .ac_version = 1};
  int first = strcmp(argv[1], "resign-x509") == 0 ? 4 : 3;
  if (argc < first)
    return fail("missing file arguments");
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    const char **dst = strcmp(a, "--holder-cert") == 0     ? &o.holder_cert
                       : strcmp(a, "--issuer-cert") == 0   ? &o.issuer_cert
                       : strcmp(a, "--key") == 0           ? &o.key
                       : strcmp(a, "--not-before") == 0    ? &o.not_before
                       : strcmp(a, "--not-after") == 0     ? &o.not_after
                       : strcmp(a, "--holder-serial") == 0 ? &o.holder_serial
                       : strcmp(a, "--manufacturer") == 0  ? &o.manufacturer
                       : strcmp(a, "--model") == 0         ? &o.model
                       : strcmp(a, "--version") == 0       ? &o.version
                       : strcmp(a, "--serial") == 0        ? &o.serial
                       : strcmp(a, "--pubkey-from") == 0   ? &o.pubkey_from
                                                           : NULL;
    if (dst != NULL && v != NULL) {
      *dst = v;
      i++;
    } else if (strcmp(a, "--components") == 0 && v != NULL) {
      o.components = strtol(v, NULL, 10);
      i++;
    } else if (strcmp(a, "--ac-version") == 0 && v != NULL) {
      o.ac_version = strtol(v, NULL, 10);
      i++;
    } else if (strcmp(a, "--no-base-cert-id") == 0) {
      o.no_base_cert_id = true;
    } else if (strcmp(a, "--omit-holder") == 0) {
      o.omit_holder = true;
    } else {
      fprintf(stderr, "platform_cert_tool: bad argument %s\n", a);
      return 1;
    }
  }
  if (strcmp(argv[1], "make-ac") == 0)
    return make_ac(argv[2], &o);
  if (strcmp(argv[1], "resign-x509") == 0)
    return resign_x509(argv[2], argv[3], &o);
  return fail("unknown command");
}
