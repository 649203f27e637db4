/* The TCG Platform Certificate: what the machine's manufacturer certifies
 * about the machine (manufacturer, model, version, serial, components),
 * bound to its TPM's EK certificate. The bootstrap sends the contents of
 * NV index 0x01c08000 as BeginRequest.platform_cert.
 *
 * Two forms are read:
 *   - the TCG Platform Certificate Profile's: an RFC 5755 attribute
 *     certificate (v2) whose holder is the EK certificate (baseCertificateID:
 *     its issuer and serial), platform fields in the subjectAltName
 *     directoryName (2.23.133.5.1.1 manufacturer, .4 model, .5 version,
 *     .6 serial), TCG attributes (2.23.133.2.17 platform specification,
 *     2.23.133.2.25 credential type, 2.23.133.5.1.7.x platform
 *     configuration);
 *   - the X.509 form swtpm writes (swtpm_cert --type platform): a public key
 *     certificate for the EK's own key with EKU tcg-kp-PlatformCertificate
 *     (2.23.133.8.2) and the same directoryName. Its holder is the EK by
 *     key: the certified key must be the EK certificate's key.
 *
 * Verification: the issuer is found by name among the --platform-ca
 * certificates, its chain verified to a configured root, the signature
 * verified with its key; then the validity at the given time; then the
 * holder against the EK certificate the verifier accepted. */
#ifndef RT_VERIFIER_PLATFORM_CERT_H
#define RT_VERIFIER_PLATFORM_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "platform_ca.h"
#include "rt_err.h"

/* Largest platform certificate considered (NV certificates are a few KiB). */
#define RT_PLATFORM_CERT_MAX (64 * 1024)

typedef enum {
  RT_PLATFORM_FORM_NONE = 0,
  RT_PLATFORM_FORM_ATTRIBUTE = 1, /* TCG profile: attribute certificate */
  RT_PLATFORM_FORM_X509 = 2,      /* swtpm: X.509 certificate of the EK key */
} rt_platform_form;

/* What a platform certificate says. Text is printable ASCII (other bytes
 * become '?'): it goes to logs, JSON and certificate subjects. "" when
 * absent. */
typedef struct {
  rt_platform_form form;
  char manufacturer[64];
  char model[64];
  char version[64];
  char serial[64];
  char issuer[256];           /* RFC 2253 */
  char serial_number[84];     /* the certificate's serial, hex */
  char holder_issuer[256];    /* attribute form: the EK certificate's issuer */
  char holder_serial[84];     /* attribute form: the EK certificate's serial */
  char holder_key_sha256[65]; /* X.509 form: SHA-256 of the certified SPKI */
  char not_before[32];        /* "YYYY-MM-DDTHH:MM:SSZ" */
  char not_after[32];
  char signature_algorithm[64];
  /* TCG attributes (attribute form). */
  size_t n_attributes;
  bool has_platform_spec; /* 2.23.133.2.17 */
  long spec_major, spec_minor, spec_revision;
  char platform_class[9];   /* 8 hex digits */
  char credential_type[64]; /* 2.23.133.2.25: the OID, dotted */
  bool has_platform_config; /* 2.23.133.5.1.7.x */
  char platform_config_oid[64];
  size_t n_components;
} rt_platform_info;

/* Why a platform certificate was refused; the wire codes are
 * rt_platform_reason_code's. */
typedef enum {
  RT_PLATFORM_OK = 0,
  RT_PLATFORM_MALFORMED, /* not DER, trailing bytes, a required field missing */
  RT_PLATFORM_CHAIN,     /* unknown issuer, untrusted CA, bad signature */
  RT_PLATFORM_EXPIRED,   /* outside its validity period (either side) */
  RT_PLATFORM_HOLDER,    /* names another EK certificate */
} rt_platform_reason;

/* "PLATFORM_CERT_MALFORMED", "PLATFORM_CERT_CHAIN", "PLATFORM_CERT_EXPIRED",
 * "PLATFORM_CERT_HOLDER"; NULL for RT_PLATFORM_OK. */
const char *rt_platform_reason_code(rt_platform_reason reason);

typedef struct rt_platform_cert rt_platform_cert;

/* Parses der (either form) and fills info (may be NULL). Malformed input
 * is RT_E_INVALID with a message saying what is wrong. */
rt_code rt_platform_cert_parse(const uint8_t *der, size_t len, rt_platform_cert **out,
                               rt_platform_info *info, rt_err *err);
void rt_platform_cert_free(rt_platform_cert *pc);

/* Verifies a parsed certificate: issuer and signature (RT_PLATFORM_CHAIN),
 * validity at now (RT_PLATFORM_EXPIRED), holder = ek_der, the DER EK
 * certificate the verifier accepted (RT_PLATFORM_HOLDER; an unparsable
 * ek_der is RT_E_INVALID with RT_PLATFORM_HOLDER). Returns RT_OK or an
 * error whose *reason says which; the message says why. */
rt_code rt_platform_cert_verify(const rt_ca_set *ca, const rt_platform_cert *pc,
                                const uint8_t *ek_der, size_t ek_len, time_t now,
                                rt_platform_reason *reason, rt_err *err);

/* Parse and verify in one: *reason is RT_PLATFORM_MALFORMED when parsing
 * fails. info (may be NULL) is filled whenever the certificate parsed. */
rt_code rt_platform_cert_check(const rt_ca_set *ca, const uint8_t *der, size_t len,
                               const uint8_t *ek_der, size_t ek_len, time_t now,
                               rt_platform_info *info, rt_platform_reason *reason, rt_err *err);

#endif
