/* The EK certificate check: the machine's EK certificate chains to a
 * manufacturer CA we trust, and the EK public key it presents is the key in
 * that certificate. */
#ifndef RT_VERIFIER_EK_CHECK_H
#define RT_VERIFIER_EK_CHECK_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "ek_info.h"
#include "rt_err.h"

typedef struct rt_ek_roots rt_ek_roots;

/* Loads manufacturer CA certificates (roots and intermediates, PEM or DER)
 * from a file or from every file of a directory. Chains must end at a
 * self-signed certificate of this set: intermediates alone anchor nothing. */
rt_code rt_ek_roots_load(const char *path, rt_ek_roots **out, rt_err *err);
void rt_ek_roots_free(rt_ek_roots *roots);
size_t rt_ek_roots_count(const rt_ek_roots *roots);

typedef struct {
  const uint8_t *der;
  size_t len;
} rt_cert_der;

typedef struct {
  /* Accept an EK certificate past its notAfter (the policy's
   * "ek_expiry_advisory"): TPMs outlive their EK certificates, and the TCG
   * profile gives the validity no meaning after manufacture. The expiry is
   * still reported in rt_ek_info. Only the EK certificate's own notAfter;
   * CA certificates must be valid. */
  bool expiry_advisory;
} rt_ek_opts;

/* Hands each certificate of a file to cb as DER: every certificate of a PEM
 * bundle, or else the whole file as one DER certificate, unparsed (the
 * callback judges it). cb returns 0 to stop early. Errors are the file's
 * (unreadable, over 4 MiB). */
typedef int (*rt_cert_der_cb)(const uint8_t *der, size_t len, void *arg);
rt_code rt_cert_file_each(const char *path, rt_cert_der_cb cb, void *arg, rt_err *err);

/* Hands every certificate of a CA path to take: a file (as
 * rt_cert_file_each), or every regular file of a directory but hidden files
 * and *.md / *.txt notes. take returns whether it kept the certificate; a
 * file or a directory of which it kept none is RT_E_INVALID. what names the
 * path in messages ("EK CA", "platform CA"). */
typedef bool (*rt_cert_take_cb)(const uint8_t *der, size_t len, void *arg);
rt_code rt_cert_path_each(const char *path, const char *what, rt_cert_take_cb take, void *arg,
                          rt_err *err);

/* Finds, among certs, the one whose key equals ek, and verifies its chain
 * (extra intermediates may come from the client; they are not trusted by
 * themselves). On success *which is the index of that certificate,
 * ek_key_sha256 the SHA-256 of its SubjectPublicKeyInfo (DER), the identity
 * rattest writes into certificates as urn:rattest:ek:sha256:<hex>, and info
 * what the certificate says of the TPM (opts and info may be NULL).
 * Errors: RT_E_NOT_FOUND when no certificate holds the EK's key,
 * RT_E_CRYPTO when the chain does not verify, RT_E_INVALID for unparsable
 * input; the message says which. */
rt_code rt_ek_check(const rt_ek_roots *roots, const TPMT_PUBLIC *ek, const rt_cert_der *certs,
                    size_t n_certs, const rt_cert_der *intermediates, size_t n_intermediates,
                    const rt_ek_opts *opts, size_t *which, uint8_t ek_key_sha256[32],
                    rt_ek_info *info, rt_err *err);

/* The EK's identity without a certificate: SHA-256 of the SubjectPublicKeyInfo
 * DER of its key, equal to what rt_ek_check reports for its certificate (and
 * to `openssl pkey -pubin -outform DER | sha256sum`). RT_E_INVALID for a key
 * rt_tpm_pub_to_evp refuses. */
rt_code rt_ek_key_sha256(const TPMT_PUBLIC *ek, uint8_t out[32], rt_err *err);

/* The chain check alone, for one EK certificate (DER) without its TPM:
 * `rattest-verifier ek-cert`. Same errors as rt_ek_check but NOT_FOUND. */
rt_code rt_ek_check_cert(const rt_ek_roots *roots, const rt_cert_der *cert,
                         const rt_cert_der *intermediates, size_t n_intermediates,
                         const rt_ek_opts *opts, uint8_t ek_key_sha256[32], rt_ek_info *info,
                         rt_err *err);

#endif
