#include "rt_makecred.h"

#include <openssl/crypto.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_kdf.h"
#include "rt_seed.h"

rt_code rt_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *object_name,
                           const uint8_t *secret, size_t secret_len, TPM2B_ID_OBJECT *blob,
                           TPM2B_ENCRYPTED_SECRET *enc_secret, rt_err *err) {
  return rt_make_credential_key(ek, NULL, object_name, secret, secret_len, blob, enc_secret, err);
}

rt_code rt_make_credential_key(const TPMT_PUBLIC *ek, EVP_PKEY *ek_key,
                               const TPM2B_NAME *object_name, const uint8_t *secret,
                               size_t secret_len, TPM2B_ID_OBJECT *blob,
                               TPM2B_ENCRYPTED_SECRET *enc_secret, rt_err *err) {
  if (blob != NULL)
    memset(blob, 0, sizeof *blob);
  if (enc_secret != NULL)
    memset(enc_secret, 0, sizeof *enc_secret);
  if (ek == NULL || object_name == NULL || secret == NULL || blob == NULL || enc_secret == NULL)
    return rt_err_set(err, RT_E_INVALID, "make credential: missing argument");
  if (object_name->size == 0 || object_name->size > sizeof object_name->name)
    return rt_err_set(err, RT_E_INVALID, "make credential: object name of %u bytes",
                      (unsigned)object_name->size);
  /* Checked before the secret's size, which the EK's nameAlg bounds. */
  rt_code code = rt_seed_check_parent(ek, "EK", err);
  if (code != RT_OK) {
    rt_err_prefix(err, "make credential: ");
    return code;
  }
  size_t dsize = rt_tpm_hash_size(ek->nameAlg);
  if (secret_len == 0 || secret_len > dsize)
    return rt_err_set(err, RT_E_INVALID,
                      "make credential: secret of %zu bytes (1 to %zu, the EK nameAlg digest "
                      "size)",
                      secret_len, dsize);

  /* encIdentity encrypts the marshalled TPM2B_DIGEST of the secret; the
   * blob (TPM2B_DIGEST(integrity) || encIdentity) is the outer wrapper with
   * the label "IDENTITY". */
  TPM2B_DIGEST inner = {.size = (UINT16)secret_len};
  memcpy(inner.buffer, secret, secret_len);
  uint8_t plain[sizeof inner];
  size_t plain_len = 0, blob_len = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_DIGEST_Marshal(&inner, plain, sizeof plain, &plain_len);
  if (rc != TSS2_RC_SUCCESS)
    code = rt_err_set(err, RT_E_INTERNAL, "marshalling the secret: %s", Tss2_RC_Decode(rc));
  else
    code = rt_seed_outer_wrap_key(ek, ek_key, "EK", "IDENTITY", object_name, plain, plain_len,
                                  blob->credential, sizeof blob->credential, &blob_len, enc_secret,
                                  err);
  OPENSSL_cleanse(plain, sizeof plain);
  OPENSSL_cleanse(&inner, sizeof inner);
  if (code != RT_OK) {
    memset(blob, 0, sizeof *blob);
    memset(enc_secret, 0, sizeof *enc_secret);
    rt_err_prefix(err, "make credential: ");
    return code;
  }
  blob->size = (UINT16)blob_len;
  return RT_OK;
}
