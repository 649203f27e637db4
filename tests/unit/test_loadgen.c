/* rattest-loadgen's TPM in software (loadgen/), without a verifier: what
 * the load generator sends must be what a TPM would, or the measurements
 * would be of refusals.
 *   - each EK kind (RSA 2048, P-256, P-384) has the TCG EK shape
 *     (rt_ek_shape_problem), its certificate holds its key and chains to
 *     the test manufacturer CA; the AK has exactly RT_AK_ATTRS;
 *   - lg_activate returns the secret rt_make_credential wrapped, and refuses
 *     a flipped integrity or encIdentity byte, a credential for another AK
 *     name and one for another machine's EK;
 *   - quote and certification parse as TPM attestations of their type with
 *     the nonce, the selection and the key's name, and their AK signatures
 *     verify (rt_tpm_sig_verify); the possession signature verifies with the
 *     key; a flipped byte of each does not.
 * Usage: test_loadgen CA_DIR (made by rattest-loadgen --write-ca) */
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "activate.h"
#include "attest.h"
#include "machine.h"
#include "mfr_ca.h"
#include "rt_makecred.h"
#include "rt_possession.h"
#include "rt_test.h"
#include "rt_tpm_pub.h"

static const uint8_t nonce[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void check_shape(const lg_mfr_ca *ca, const lg_machine *m) {
  const char *kind = lg_ek_kind_name(m->kind);
  const char *why = rt_ek_shape_problem(&m->ek_pub.publicArea);
  CHECK(why == NULL, "%s EK: %s", kind, why);
  CHECK(m->ak_pub.publicArea.objectAttributes == RT_AK_ATTRS, "%s: AK attributes", kind);
  const unsigned char *p = m->ek_cert;
  X509 *cert = d2i_X509(NULL, &p, (long)m->ek_cert_len);
  CHECK(cert != NULL && rt_tpm_pub_matches(&m->ek_pub.publicArea, X509_get0_pubkey(cert)),
        "%s: the EK certificate holds another key", kind);
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_STORE_add_cert(store, ca->root);
  X509_STORE_add_cert(store, ca->issuer);
  CHECK(cert != NULL && X509_STORE_CTX_init(ctx, store, cert, NULL) == 1 &&
            X509_verify_cert(ctx) == 1,
        "%s: the EK certificate does not chain to the CA", kind);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cert);
}

/* A credential for ek and name, marshalled as BeginResponse carries it. */
static void credential(const TPM2B_PUBLIC *ek, const TPM2B_NAME *name, uint8_t *blob,
                       size_t *blob_len, uint8_t *enc, size_t *enc_len) {
  TPM2B_ID_OBJECT b;
  TPM2B_ENCRYPTED_SECRET e;
  rt_err err;
  static const uint8_t secret[32] = {0x5e, 0xc7, 0x01};
  *blob_len = *enc_len = 0;
  CHECK(rt_make_credential(&ek->publicArea, name, secret, sizeof secret, &b, &e, &err) == RT_OK,
        "make credential: %s", err.msg);
  Tss2_MU_TPM2B_ID_OBJECT_Marshal(&b, blob, sizeof b, blob_len);
  Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&e, enc, sizeof e, enc_len);
}

static rt_code activate(const lg_machine *m, uint8_t *blob, size_t blob_len, uint8_t *enc,
                        size_t enc_len, TPM2B_DIGEST *out) {
  rt_err err;
  ProtobufCBinaryData b = {blob_len, blob}, e = {enc_len, enc};
  memset(out, 0, sizeof *out);
  return lg_activate(m, &b, &e, out, &err);
}

static void check_activation(const lg_machine *m, const lg_machine *other) {
  const char *kind = lg_ek_kind_name(m->kind);
  uint8_t blob[sizeof(TPM2B_ID_OBJECT)], enc[sizeof(TPM2B_ENCRYPTED_SECRET)];
  size_t blob_len, enc_len;
  TPM2B_DIGEST got;
  credential(&m->ek_pub, &m->ak_name, blob, &blob_len, enc, &enc_len);
  CHECK(activate(m, blob, blob_len, enc, enc_len, &got) == RT_OK && got.size == 32 &&
            got.buffer[0] == 0x5e && got.buffer[1] == 0xc7 && got.buffer[2] == 0x01,
        "%s: the secret does not come back", kind);
  blob[4] ^= 1; /* in the integrity HMAC (after two size fields) */
  CHECK(activate(m, blob, blob_len, enc, enc_len, &got) == RT_E_CRYPTO, "%s: flipped HMAC", kind);
  blob[4] ^= 1;
  blob[blob_len - 1] ^= 1; /* in encIdentity */
  CHECK(activate(m, blob, blob_len, enc, enc_len, &got) == RT_E_CRYPTO, "%s: flipped secret", kind);
  credential(&m->ek_pub, &other->ak_name, blob, &blob_len, enc, &enc_len);
  CHECK(activate(m, blob, blob_len, enc, enc_len, &got) == RT_E_CRYPTO, "%s: another AK", kind);
  if (other->kind == m->kind) {
    credential(&other->ek_pub, &m->ak_name, blob, &blob_len, enc, &enc_len);
    CHECK(activate(m, blob, blob_len, enc, enc_len, &got) != RT_OK, "%s: another EK", kind);
  }
}

/* sig verifies over attest's signed bytes with key, and not once flipped. */
static void check_signed(EVP_PKEY *key, rt_bytes *attest, rt_bytes *sig, TPMS_ATTEST *a,
                         const char *what) {
  rt_err err;
  const uint8_t *data = NULL;
  size_t len = 0;
  TPMT_SIGNATURE s;
  CHECK(rt_tpm_attest_unmarshal(attest->data, attest->len, a, &data, &len, &err) == RT_OK, "%s: %s",
        what, err.msg);
  CHECK(rt_tpm_sig_unmarshal(sig->data, sig->len, &s, &err) == RT_OK, "%s: %s", what, err.msg);
  CHECK(rt_tpm_sig_verify(key, &s, data, len, &err) == RT_OK, "%s: %s", what, err.msg);
  attest->data[attest->len - 1] ^= 1;
  CHECK(rt_tpm_sig_verify(key, &s, data, len, &err) == RT_E_CRYPTO, "%s: flipped byte", what);
}

static void check_attest(lg_machine *m) {
  rt_err err;
  EVP_PKEY *ak = NULL, *key = NULL;
  CHECK(rt_tpm_pub_to_evp(&m->ak_pub.publicArea, &ak, &err) == RT_OK, "AK: %s", err.msg);
  CHECK(rt_tpm_pub_to_evp(&m->key_pub.publicArea, &key, &err) == RT_OK, "key: %s", err.msg);
  TPML_PCR_SELECTION sel = {.count = 1};
  sel.pcrSelections[0] = (TPMS_PCR_SELECTION){TPM2_ALG_SHA256, 3, {0xff, 0, 0}};
  uint8_t digest[32] = {0xd1};
  rt_bytes attest = {0}, sig = {0};
  TPMS_ATTEST a;
  CHECK(lg_quote(m, nonce, sizeof nonce, &sel, digest, &attest, &sig, &err) == RT_OK, "%s",
        err.msg);
  check_signed(ak, &attest, &sig, &a, "quote");
  CHECK(a.type == TPM2_ST_ATTEST_QUOTE && a.extraData.size == 32 && a.extraData.buffer[8] == 9 &&
            a.attested.quote.pcrSelect.count == 1 &&
            a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[0] == 0xff &&
            a.attested.quote.pcrDigest.buffer[0] == 0xd1,
        "quote fields");
  rt_bytes_free(&attest);
  rt_bytes_free(&sig);
  CHECK(lg_certify(m, nonce, sizeof nonce, &attest, &sig, &err) == RT_OK, "%s", err.msg);
  check_signed(ak, &attest, &sig, &a, "certify");
  CHECK(a.type == TPM2_ST_ATTEST_CERTIFY && a.attested.certify.name.size == m->key_name.size &&
            memcmp(a.attested.certify.name.name, m->key_name.name, m->key_name.size) == 0,
        "certify fields");
  rt_bytes_free(&attest);
  rt_bytes_free(&sig);
  uint8_t *msg = NULL;
  size_t len = 0;
  TPMT_SIGNATURE s;
  CHECK(lg_possession(m, nonce, sizeof nonce, &sig, &err) == RT_OK &&
            rt_possession_message(nonce, sizeof nonce, &msg, &len, &err) == RT_OK &&
            rt_tpm_sig_unmarshal(sig.data, sig.len, &s, &err) == RT_OK &&
            rt_tpm_sig_verify(key, &s, msg, len, &err) == RT_OK,
        "possession: %s", err.msg);
  msg[len - 1] ^= 1;
  CHECK(rt_tpm_sig_verify(key, &s, msg, len, &err) == RT_E_CRYPTO, "possession: flipped");
  free(msg);
  rt_bytes_free(&sig);
  EVP_PKEY_free(ak);
  EVP_PKEY_free(key);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_loadgen CA_DIR\n");
    return 2;
  }
  lg_mfr_ca ca;
  rt_err err;
  if (lg_mfr_ca_open(argv[1], &ca, &err) != RT_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const lg_ek_kind kinds[] = {LG_EK_RSA2048, LG_EK_P256, LG_EK_P384};
  lg_machine m[4];
  for (unsigned i = 0; i < 4; i++)
    CHECK(lg_machine_new(&ca, kinds[i % 3], i == 3 ? RT_ALG_RSA_2048 : RT_ALG_ECC_P256, i, &m[i],
                         &err) == RT_OK,
          "machine %u: %s", i, err.msg);
  for (unsigned i = 0; i < 3 && rt_test_failed == 0; i++) {
    check_shape(&ca, &m[i]);
    /* Machine 3 has an RSA EK too: "another EK" of the same kind. */
    check_activation(&m[i], i == 0 ? &m[3] : &m[(i + 1) % 3]);
    check_attest(&m[i]);
  }
  if (rt_test_failed == 0)
    check_attest(&m[3]); /* an RSA identity key: RSASSA possession */
  for (unsigned i = 0; i < 4; i++)
    lg_machine_free(&m[i]);
  lg_mfr_ca_free(&ca);
  return rt_test_done("test_loadgen");
}
