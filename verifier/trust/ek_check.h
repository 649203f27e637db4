/* The EK certificate check: the machine's EK certificate chains to a
 * manufacturer CA we trust (the --ek-ca set, rt_ca_set), and the EK public key it presents is the
 * key in that certificate. */
#ifndef RT_VERIFIER_EK_CHECK_H
#define RT_VERIFIER_EK_CHECK_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "aia_fetch.h"
#include "ca_set.h"
#include "ek_info.h"
#include "rt_err.h"

typedef struct {
  /* Accept an EK certificate past its notAfter (the policy's
   * "ek_expiry_advisory"): TPMs outlive their EK certificates, and the TCG
   * profile gives the validity no meaning after manufacture. The expiry is
   * still reported in rt_ek_info. Only the EK certificate's own notAfter;
   * CA certificates must be valid. */
  bool expiry_advisory;
  /* When the chain lacks an issuer, fetch it from the certificate's AIA
   * caIssuers URL (aia_fetch.h) and try again with it as one more untrusted
   * intermediate; NULL: never fetch. */
  const rt_aia_opts *aia;
} rt_ek_opts;

/* Finds, among certs, the one whose key equals ek (the EK's key, from
 * rt_ek_key), and verifies its chain (extra intermediates may come from the
 * client; they are not trusted by themselves). On success *which is the
 * index of that certificate, ek_key_sha256 (on entry rt_ek_key's sha256 of
 * ek) the SHA-256 of the certificate's SubjectPublicKeyInfo (DER), the
 * identity rattest writes into certificates as
 * urn:rattest:ek:sha256:<hex> (for an RSA key the one given, which it
 * equals; an EC certificate's is hashed again: it may encode the point
 * compressed), and info what the certificate says of the TPM (opts and
 * info may be NULL).
 * Errors: RT_E_NOT_FOUND when no certificate holds the EK's key (or ek is
 * NULL: a public area rt_ek_key refused), RT_E_CRYPTO when the chain does
 * not verify, RT_E_INVALID for unparsable input; the message says which. */
rt_code rt_ek_check(const rt_ca_set *roots, EVP_PKEY *ek, const rt_cert_der *certs, size_t n_certs,
                    const rt_cert_der *intermediates, size_t n_intermediates,
                    const rt_ek_opts *opts, size_t *which, uint8_t ek_key_sha256[32],
                    rt_ek_info *info, rt_err *err);

/* The EK's key and identity, made once for every use in a Begin: *key as
 * rt_tpm_pub_to_evp makes it (the caller frees it), sha256 the SHA-256 of
 * its SubjectPublicKeyInfo (DER, as rt_spki encodes it). On failure *key is
 * NULL. */
rt_code rt_ek_key(const TPMT_PUBLIC *ek, EVP_PKEY **key, uint8_t sha256[32], rt_err *err);

/* The EK's identity alone: rt_ek_key's sha256, equal to
 * rt_ek_cert_key_sha256 of its certificate (and to `openssl pkey -pubin
 * -outform DER | sha256sum`). RT_E_INVALID for a key rt_tpm_pub_to_evp
 * refuses. */
rt_code rt_ek_key_sha256(const TPMT_PUBLIC *ek, uint8_t out[32], rt_err *err);

/* The identity of the EK a certificate holds (the SHA-256 of its
 * SubjectPublicKeyInfo, as above), the certificate unchecked: for an
 * operator registering a machine by its EK certificate
 * (`rattest-verifier machines add --ek-cert`). */
rt_code rt_ek_cert_key_sha256(X509 *cert, uint8_t out[32], rt_err *err);

/* The chain check alone, for one EK certificate (DER) without its TPM:
 * `rattest-verifier ek-cert`. Same errors as rt_ek_check but NOT_FOUND. */
rt_code rt_ek_check_cert(const rt_ca_set *roots, const rt_cert_der *cert,
                         const rt_cert_der *intermediates, size_t n_intermediates,
                         const rt_ek_opts *opts, uint8_t ek_key_sha256[32], rt_ek_info *info,
                         rt_err *err);

#endif
