/* The bootstrap's TPM operations on swtpm, judged by tpm2-tools where a
 * judge exists: activation of a credential made by tpm2_makecredential,
 * quotes checked by tpm2_checkquote, certification and possession checked
 * with OpenSSL; persistence rules; nothing left loaded afterwards.
 *
 * Usage: test_bootstrap_tpm WORKDIR rsa|ecc   (under tests/harness/with-swtpm) */
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "ak.h"
#include "ek.h"
#include "evidence.h"
#include "idkey.h"
#include "rt_file.h"
#include "rt_log.h"
#include "rt_pcrsel.h"
#include "rt_possession.h"
#include "rt_test.h"
#include "rt_tpm_pub.h"

static char work[512];

static void path(char *out, size_t len, const char *name) {
  snprintf(out, len, "%s/%s", work, name);
}

static int write_file(const char *name, const void *data, size_t len) {
  char p[600];
  path(p, sizeof p, name);
  FILE *f = fopen(p, "wb");
  if (f == NULL)
    return -1;
  size_t n = fwrite(data, 1, len, f);
  return fclose(f) == 0 && n == len ? 0 : -1;
}

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
  out[2 * n] = '\0';
}

static int run(const char *cmd) {
  char full[4096];
  snprintf(full, sizeof full, "cd '%s' && %s", work, cmd);
  int rc = system(full);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static int write_pubkey_pem(const char *name, const TPMT_PUBLIC *pub) {
  EVP_PKEY *k = NULL;
  rt_err err;
  if (rt_tpm_pub_to_evp(pub, &k, &err) != RT_OK)
    return -1;
  char p[600];
  path(p, sizeof p, name);
  FILE *f = fopen(p, "w");
  int ok = f != NULL && PEM_write_PUBKEY(f, k) == 1;
  if (f != NULL)
    fclose(f);
  EVP_PKEY_free(k);
  return ok ? 0 : -1;
}

/* Activation of a credential made by tpm2_makecredential (the judge). */
static void check_activation(rt_tpm *tpm, const rt_ek *ek, const rt_ak *ak) {
  uint8_t ekpub[sizeof(TPM2B_PUBLIC)];
  size_t off = 0;
  Tss2_MU_TPM2B_PUBLIC_Marshal(&ek->pub, ekpub, sizeof ekpub, &off);
  write_file("ek.pub", ekpub, off);
  uint8_t secret[32];
  RAND_bytes(secret, sizeof secret);
  write_file("secret.bin", secret, sizeof secret);
  char name[2 * sizeof ak->name.name + 1], cmd[1024];
  hex(ak->name.name, ak->name.size, name);
  snprintf(cmd, sizeof cmd,
           "tpm2_makecredential -Q -T none -u ek.pub -s secret.bin -n %s -o cred.bin", name);
  CHECK(run(cmd) == 0, "tpm2_makecredential failed");

  uint8_t *cred = NULL;
  size_t len = 0;
  rt_err err;
  char p[600];
  path(p, sizeof p, "cred.bin");
  CHECK(rt_file_read(p, 1 << 16, &cred, &len, &err) == RT_OK, "%s", err.msg);
  /* tpm2-tools credential file: magic 0xBADCC0DE, version 1, then the two
   * TPM2B structures. */
  TPM2B_ID_OBJECT blob = {0};
  TPM2B_ENCRYPTED_SECRET enc = {0};
  off = 8;
  CHECK(cred != NULL && len > 8 && Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(cred, len, &off, &blob) == 0 &&
            Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(cred, len, &off, &enc) == 0,
        "credential file did not parse");
  TPM2B_DIGEST *got = NULL;
  CHECK(rt_ak_activate(tpm, ek, ak, &blob, &enc, &got, &err) == RT_OK, "activate: %s", err.msg);
  CHECK(got != NULL && got->size == 32 && memcmp(got->buffer, secret, 32) == 0,
        "activated secret differs");
  Esys_Free(got);

  /* A blob whose integrity HMAC was touched must be refused by the TPM. */
  blob.credential[5] ^= 1;
  got = NULL;
  CHECK(rt_ak_activate(tpm, ek, ak, &blob, &enc, &got, &err) == RT_E_TPM,
        "tampered credential activated");
  CHECK_STR_CONTAINS(err.msg, "ActivateCredential");
  Esys_Free(got);
  free(cred);
}

static void check_quote(rt_tpm *tpm, const rt_ak *ak) {
  uint8_t nonce[32];
  RAND_bytes(nonce, sizeof nonce);
  TPML_PCR_SELECTION sel;
  rt_err err;
  CHECK(rt_pcrsel_parse("sha256:0-7+sha1:0,7", &sel, &err) == RT_OK, "%s", err.msg);
  rt_bytes attest = {0}, sig = {0};
  CHECK(rt_quote(tpm, ak, nonce, sizeof nonce, &sel, &attest, &sig, &err) == RT_OK, "quote: %s",
        err.msg);
  rt_pcr_value *vals = NULL;
  size_t n = 0;
  CHECK(rt_pcr_read_all(tpm, &sel, &vals, &n, &err) == RT_OK && n == 10, "pcr read: %s (%zu)",
        err.msg, n);

  /* tpm2_checkquote wants the TPMS_ATTEST (no size prefix), the signature,
   * and the PCR values in the file format tpm2_quote -o writes: the
   * in-memory TPML_PCR_SELECTION, a count, then that many TPML_DIGEST
   * (tpm2-tools 5.4's -l with a plain digest file fails on every input). */
  write_file("quote.msg", attest.data + 2, attest.len - 2);
  write_file("quote.sig", sig.data, sig.len);
  TPML_DIGEST groups[4];
  memset(groups, 0, sizeof groups);
  uint32_t ngroups = 0;
  for (uint32_t b = 0; b < sel.count; b++)
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++) {
      if (!rt_pcrsel_has(&sel, sel.pcrSelections[b].hash, i))
        continue;
      for (size_t k = 0; k < n; k++)
        if (vals[k].bank == sel.pcrSelections[b].hash && vals[k].index == i) {
          if (ngroups == 0 || groups[ngroups - 1].count == 8)
            ngroups++;
          TPML_DIGEST *g = &groups[ngroups - 1];
          g->digests[g->count++] = vals[k].value;
        }
    }
  char p[600];
  path(p, sizeof p, "pcrs.bin");
  FILE *f = fopen(p, "wb");
  if (f != NULL) {
    fwrite(&sel, sizeof sel, 1, f);
    fwrite(&ngroups, sizeof ngroups, 1, f);
    fwrite(groups, sizeof groups[0], ngroups, f);
    fclose(f);
  }
  write_pubkey_pem("ak.pem", &ak->pub.publicArea);
  char nh[65], cmd[1024];
  hex(nonce, sizeof nonce, nh);
  snprintf(cmd, sizeof cmd,
           "tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -g sha256 -q %s "
           "-f pcrs.bin >/dev/null",
           nh);
  CHECK(run(cmd) == 0, "tpm2_checkquote rejected our quote");
  /* The judge must be able to say no: another nonce is refused. */
  nh[0] = nh[0] == '0' ? '1' : '0';
  snprintf(cmd, sizeof cmd,
           "tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -g sha256 -q %s "
           "-f pcrs.bin >/dev/null 2>&1",
           nh);
  CHECK(run(cmd) != 0, "tpm2_checkquote accepted a wrong nonce");
  /* ... and PCR values other than the quoted ones are refused. */
  groups[0].digests[3].buffer[0] ^= 1;
  f = fopen(p, "wb");
  if (f != NULL) {
    fwrite(&sel, sizeof sel, 1, f);
    fwrite(&ngroups, sizeof ngroups, 1, f);
    fwrite(groups, sizeof groups[0], ngroups, f);
    fclose(f);
  }
  nh[0] = nh[0] == '0' ? '1' : '0';
  snprintf(cmd, sizeof cmd,
           "tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -g sha256 -q %s "
           "-f pcrs.bin >/dev/null 2>&1",
           nh);
  CHECK(run(cmd) != 0, "tpm2_checkquote accepted other PCR values");
  free(vals);
  rt_bytes_free(&attest);
  rt_bytes_free(&sig);
}

static void check_certify_and_possession(rt_tpm *tpm, const rt_ak *ak, rt_key_alg alg,
                                         TPM2B_PUBLIC *persisted) {
  rt_idkey key;
  rt_err err;
  CHECK(rt_idkey_create(tpm, alg, &key, &err) == RT_OK, "idkey: %s", err.msg);
  CHECK(rt_key_alg_of(&key.pub.publicArea) == alg, "key algorithm");
  CHECK(key.pub.publicArea.objectAttributes ==
            (RT_KEY_ATTRS | (alg == RT_ALG_RSA_2048 ? TPMA_OBJECT_DECRYPT : 0)),
        "key attributes 0x%x", (unsigned)key.pub.publicArea.objectAttributes);
  uint8_t nonce[32];
  RAND_bytes(nonce, sizeof nonce);

  rt_bytes attest = {0}, sig = {0};
  CHECK(rt_certify(tpm, key.handle, ak, nonce, sizeof nonce, &attest, &sig, &err) == RT_OK,
        "certify: %s", err.msg);
  TPMS_ATTEST info;
  const uint8_t *signed_data = NULL;
  size_t signed_len = 0;
  CHECK(rt_tpm_attest_unmarshal(attest.data, attest.len, &info, &signed_data, &signed_len, &err) ==
            RT_OK,
        "attest: %s", err.msg);
  CHECK(info.type == TPM2_ST_ATTEST_CERTIFY, "type 0x%x", info.type);
  CHECK(info.extraData.size == 32 && memcmp(info.extraData.buffer, nonce, 32) == 0,
        "certify extraData is not the nonce");
  TPM2B_NAME name;
  CHECK(rt_tpm_pub_name(&key.pub.publicArea, &name, &err) == RT_OK, "%s", err.msg);
  CHECK(info.attested.certify.name.size == name.size &&
            memcmp(info.attested.certify.name.name, name.name, name.size) == 0,
        "certified name is not the key's name");
  TPMT_SIGNATURE s;
  EVP_PKEY *akkey = NULL;
  CHECK(rt_tpm_sig_unmarshal(sig.data, sig.len, &s, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_tpm_pub_to_evp(&ak->pub.publicArea, &akkey, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_tpm_sig_verify(akkey, &s, signed_data, signed_len, &err) == RT_OK,
        "certify signature: %s", err.msg);
  EVP_PKEY_free(akkey);
  rt_bytes_free(&attest);
  rt_bytes_free(&sig);

  /* Possession: the key signs the labelled nonce; OpenSSL verifies it with
   * the key's public half. */
  CHECK(rt_sign_possession(tpm, key.handle, &key.pub.publicArea, nonce, sizeof nonce, &sig, &err) ==
            RT_OK,
        "possession: %s", err.msg);
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  EVP_PKEY *kk = NULL;
  rt_possession_message(nonce, sizeof nonce, &msg, &msg_len, &err);
  CHECK(rt_tpm_sig_unmarshal(sig.data, sig.len, &s, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_tpm_pub_to_evp(&key.pub.publicArea, &kk, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_tpm_sig_verify(kk, &s, msg, msg_len, &err) == RT_OK, "possession sig: %s", err.msg);
  msg[msg_len - 1] ^= 1; /* another nonce */
  CHECK(rt_tpm_sig_verify(kk, &s, msg, msg_len, &err) == RT_E_CRYPTO,
        "possession signature verified over another nonce");
  free(msg);
  EVP_PKEY_free(kk);
  rt_bytes_free(&sig);

  /* Persistence: free handle, then ours replaced, foreign refused unless
   * forced. At most AK + two keys are loaded at once: swtpm has three slots. */
  const TPM2_HANDLE h = alg == RT_ALG_ECC_P256 ? 0x81000100u : 0x81000101u;
  CHECK(rt_idkey_persist(tpm, &key, h, NULL, 0, &err) == RT_OK, "persist: %s", err.msg);
  rt_handle_owner owner;
  CHECK(rt_handle_owner_of(tpm, h, &key.pub, &owner, &err) == RT_OK && owner == RT_HANDLE_OURS,
        "persisted key not recognised as ours");
  rt_idkey_close(tpm, &key);
  rt_idkey key2;
  CHECK(rt_idkey_create(tpm, alg, &key2, &err) == RT_OK, "idkey 2: %s", err.msg);
  CHECK(rt_handle_owner_of(tpm, h, &key2.pub, &owner, &err) == RT_OK && owner == RT_HANDLE_FOREIGN,
        "another key's object taken for ours");
  CHECK(rt_idkey_persist(tpm, &key2, h, NULL, 0, &err) == RT_E_INVALID,
        "a foreign object was replaced without --force");
  CHECK_STR_CONTAINS(err.msg, "did not put there");
  CHECK(rt_idkey_persist(tpm, &key2, h, &key.pub, 0, &err) == RT_OK, "replace ours: %s", err.msg);
  CHECK(rt_handle_owner_of(tpm, h, &key2.pub, &owner, &err) == RT_OK && owner == RT_HANDLE_OURS,
        "replacement not in place");
  CHECK(rt_idkey_persist(tpm, &key2, h, NULL, 1, &err) == RT_OK, "force: %s", err.msg);
  /* The EK's handles are never a target, not even with force. */
  CHECK(rt_idkey_persist(tpm, &key2, 0x81010001u, NULL, 1, &err) == RT_E_INVALID,
        "endorsement-range handle accepted");
  CHECK_STR_CONTAINS(err.msg, "endorsement key range");
  CHECK(rt_idkey_persist(tpm, &key2, 0x81800000u, NULL, 1, &err) == RT_E_INVALID,
        "platform-range handle accepted");
  key = key2;
  *persisted = key.pub;
  rt_idkey_close(tpm, &key2);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[2], "rsa") != 0 && strcmp(argv[2], "ecc") != 0)) {
    fprintf(stderr, "usage: test_bootstrap_tpm WORKDIR rsa|ecc\n");
    return 2;
  }
  snprintf(work, sizeof work, "%s", argv[1]);
  rt_log_set_level(RT_LOG_ERROR);
  rt_tpm_quiet_tss_logs();
  rt_err err;
  rt_tpm *tpm = NULL;
  if (rt_tpm_open(NULL, &tpm, &err) != RT_OK) {
    CHECK(0, "open: %s", err.msg);
    return rt_test_done("test_bootstrap_tpm");
  }
  uint32_t before = 0, after = 99;
  rt_tpm_count_transients(tpm, &before, &err);

  rt_ek ek;
  rt_ek_choice choice = strcmp(argv[2], "rsa") == 0 ? RT_EK_RSA : RT_EK_ECC;
  CHECK(rt_ek_open(tpm, choice, NULL, &ek, &err) == RT_OK, "ek: %s", err.msg);
  /* Only the certificate of the kind chosen is read from NV. */
  CHECK(ek.cert != NULL && ek.n_certs == 1, "certs %zu", ek.n_certs);
  CHECK(ek.pub.publicArea.type == (choice == RT_EK_RSA ? TPM2_ALG_RSA : TPM2_ALG_ECC), "EK type");
  CHECK(!ek.transient, "swtpm has persistent EKs: none should be created");

  for (int a = 0; a < 2; a++) {
    rt_key_alg alg = a == 0 ? RT_ALG_ECC_P256 : RT_ALG_RSA_2048;
    rt_ak ak;
    CHECK(rt_ak_create(tpm, alg, &ak, &err) == RT_OK, "ak: %s", err.msg);
    CHECK(ak.pub.publicArea.objectAttributes == RT_AK_ATTRS, "AK attributes 0x%x",
          (unsigned)ak.pub.publicArea.objectAttributes);
    CHECK(ak.pub.publicArea.nameAlg == TPM2_ALG_SHA256, "AK nameAlg");
    check_activation(tpm, &ek, &ak);
    check_quote(tpm, &ak);
    TPM2B_PUBLIC persisted;
    check_certify_and_possession(tpm, &ak, alg, &persisted);
    rt_ak_close(tpm, &ak);
    CHECK(ak.handle == ESYS_TR_NONE, "AK handle not reset");
  }
  rt_ek_close(tpm, &ek);

  /* Nothing we created is still loaded. */
  CHECK(rt_tpm_count_transients(tpm, &after, &err) == RT_OK && after == before,
        "transients after: %u, before: %u", after, before);
  rt_tpm_close(tpm);
  return rt_test_done("test_bootstrap_tpm");
}
