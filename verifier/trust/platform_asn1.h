/* ASN.1 templates of the TCG Platform Certificate: an RFC 5755 attribute
 * certificate (v2) as profiled by the TCG Platform Certificate Profile, and
 * the TCG attribute values rattest reads. Decoding and encoding are
 * OpenSSL's (asn1t.h templates); no DER is walked by hand. The module of
 * RFC 5755 uses IMPLICIT tags, hence ASN1_IMP for every [n] below.
 *
 * OpenSSL 3.0 has no attribute certificate type (X509_ACERT came in 3.4),
 * so the types are ours, prefixed RT_ to stay clear of later OpenSSL
 * names. */
#ifndef RT_VERIFIER_PLATFORM_ASN1_H
#define RT_VERIFIER_PLATFORM_ASN1_H

#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* IssuerSerial ::= SEQUENCE { issuer GeneralNames, serial
 *   CertificateSerialNumber, issuerUID UniqueIdentifier OPTIONAL } */
typedef struct {
  GENERAL_NAMES *issuer;
  ASN1_INTEGER *serial;
  ASN1_BIT_STRING *issuer_uid;
} RT_ISSUER_SERIAL;

/* ObjectDigestInfo ::= SEQUENCE { digestedObjectType ENUMERATED,
 *   otherObjectTypeID OBJECT IDENTIFIER OPTIONAL, digestAlgorithm
 *   AlgorithmIdentifier, objectDigest BIT STRING } */
typedef struct {
  ASN1_ENUMERATED *digested_object_type;
  ASN1_OBJECT *other_object_type_id;
  X509_ALGOR *digest_algorithm;
  ASN1_BIT_STRING *object_digest;
} RT_OBJECT_DIGEST_INFO;

/* Holder ::= SEQUENCE { baseCertificateID [0] IssuerSerial OPTIONAL,
 *   entityName [1] GeneralNames OPTIONAL, objectDigestInfo [2]
 *   ObjectDigestInfo OPTIONAL } */
typedef struct {
  RT_ISSUER_SERIAL *base_certificate_id;
  GENERAL_NAMES *entity_name;
  RT_OBJECT_DIGEST_INFO *object_digest_info;
} RT_AC_HOLDER;

/* V2Form ::= SEQUENCE { issuerName GeneralNames OPTIONAL,
 *   baseCertificateID [0] IssuerSerial OPTIONAL, objectDigestInfo [1]
 *   ObjectDigestInfo OPTIONAL }. AttCertIssuer is a CHOICE of v1Form
 * (GeneralNames) and v2Form [0]; RFC 5755 forbids v1Form, so the template
 * takes only [0] and a v1Form certificate does not parse. */
typedef struct {
  GENERAL_NAMES *issuer_name;
  RT_ISSUER_SERIAL *base_certificate_id;
  RT_OBJECT_DIGEST_INFO *object_digest_info;
} RT_AC_V2FORM;

/* AttCertValidityPeriod: GeneralizedTime only (RFC 5755 4.2.6). */
typedef struct {
  ASN1_GENERALIZEDTIME *not_before;
  ASN1_GENERALIZEDTIME *not_after;
} RT_AC_VALIDITY;

/* AttributeCertificateInfo. `enc` keeps the DER as received, so the
 * signature is verified over the signed bytes, not a re-encoding; code that
 * changes a decoded info must set enc.modified = 1 before signing. */
typedef struct {
  ASN1_INTEGER *version; /* v2 = 1 */
  RT_AC_HOLDER *holder;
  RT_AC_V2FORM *issuer;
  X509_ALGOR *signature;
  ASN1_INTEGER *serial;
  RT_AC_VALIDITY *validity;
  STACK_OF(X509_ATTRIBUTE) * attributes;
  ASN1_BIT_STRING *issuer_uid;
  STACK_OF(X509_EXTENSION) * extensions;
  ASN1_ENCODING enc;
} RT_AC_INFO;

/* AttributeCertificate ::= SEQUENCE { acinfo, signatureAlgorithm,
 *   signatureValue BIT STRING } */
typedef struct {
  RT_AC_INFO *info;
  X509_ALGOR *sig_alg;
  ASN1_BIT_STRING *signature;
} RT_AC;

DECLARE_ASN1_FUNCTIONS(RT_ISSUER_SERIAL)
DECLARE_ASN1_FUNCTIONS(RT_OBJECT_DIGEST_INFO)
DECLARE_ASN1_FUNCTIONS(RT_AC_HOLDER)
DECLARE_ASN1_FUNCTIONS(RT_AC_V2FORM)
DECLARE_ASN1_FUNCTIONS(RT_AC_VALIDITY)
DECLARE_ASN1_FUNCTIONS(RT_AC_INFO)
DECLARE_ASN1_FUNCTIONS(RT_AC)

/* ---- TCG attribute values (TCG Platform Certificate Profile) ---------- */

/* TCGSpecificationVersion ::= SEQUENCE { majorVersion INTEGER,
 *   minorVersion INTEGER, revision INTEGER } */
typedef struct {
  ASN1_INTEGER *major;
  ASN1_INTEGER *minor;
  ASN1_INTEGER *revision;
} RT_TCG_SPEC_VERSION;

/* tcg-at-tcgPlatformSpecification (2.23.133.2.17): TCGPlatformSpecification
 * ::= SEQUENCE { version TCGSpecificationVersion, platformClass OCTET
 * STRING SIZE(4) } */
typedef struct {
  RT_TCG_SPEC_VERSION *version;
  ASN1_OCTET_STRING *platform_class;
} RT_TCG_PLATFORM_SPEC;

/* tcg-at-tcgCredentialType (2.23.133.2.25): TCGCredentialType ::= SEQUENCE
 * { certificateType OBJECT IDENTIFIER } */
typedef struct {
  ASN1_OBJECT *certificate_type;
} RT_TCG_CREDENTIAL_TYPE;

/* tcg-at-platformConfiguration (2.23.133.5.1.7.1 .. .3): a SEQUENCE of
 * optional [n] IMPLICIT members; [0] is componentIdentifiers in every
 * version. The other members differ between versions (a SEQUENCE OF or a
 * URIReference SEQUENCE), so all are kept as SEQUENCE OF ANY: rattest
 * counts the components and does not judge them. */
typedef struct {
  STACK_OF(ASN1_TYPE) * components;
  STACK_OF(ASN1_TYPE) * member1;
  STACK_OF(ASN1_TYPE) * member2;
  STACK_OF(ASN1_TYPE) * member3;
} RT_TCG_PLATFORM_CONFIG;

DECLARE_ASN1_FUNCTIONS(RT_TCG_SPEC_VERSION)
DECLARE_ASN1_FUNCTIONS(RT_TCG_PLATFORM_SPEC)
DECLARE_ASN1_FUNCTIONS(RT_TCG_CREDENTIAL_TYPE)
DECLARE_ASN1_FUNCTIONS(RT_TCG_PLATFORM_CONFIG)

/* OIDs. */
#define RT_OID_TCG_PLATFORM_SPEC "2.23.133.2.17"
#define RT_OID_TCG_CREDENTIAL_TYPE "2.23.133.2.25"
#define RT_OID_TCG_PLATFORM_CONFIG_PREFIX "2.23.133.5.1.7."
#define RT_OID_PLATFORM_MANUFACTURER "2.23.133.5.1.1"
#define RT_OID_PLATFORM_MODEL "2.23.133.5.1.4"
#define RT_OID_PLATFORM_VERSION "2.23.133.5.1.5"
#define RT_OID_PLATFORM_SERIAL "2.23.133.5.1.6"
/* tcg-kp-PlatformAttributeCertificate: the credential type of a base
 * platform certificate, and the EKU swtpm puts in its X.509 form. */
#define RT_OID_KP_PLATFORM_CERT "2.23.133.8.2"

#endif
