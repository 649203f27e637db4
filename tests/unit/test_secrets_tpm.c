/* Delivered secrets on swtpm (bootstrap/secrets, secret_store,
 * secret_receive and the `unseal` command): blobs made by common/rt_dup for
 * the EK in use are imported, unsealed (with and without PolicyPCR) and
 * persisted; a PCR change, tampered blobs and blobs for the other EK are
 * refused with nothing written; the imported RSA key proves receipt, is an
 * identity that `rattest:NAME` signs with, and the secret bytes are found
 * nowhere on disk; nothing is left loaded in the TPM.
 *
 * Usage: test_secrets_tpm WORKDIR rsa|ecc BUILD_DIR   (under with-swtpm) */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <ftw.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "ek.h"
#include "evidence.h"
#include "idkey.h"
#include "rt_dup.h"
#include "rt_file.h"
#include "rt_log.h"
#include "rt_pcrsel.h"
#include "rt_secret_proof.h"
#include "rt_state.h"
#include "rt_test.h"
#include "rt_tpm_pub.h"
#include "rt_tss2key.h"
#include "secret_receive.h"
#include "secret_store.h"
#include "secrets.h"

static char work[512], build[512], state_dir[600];
static rt_ek_choice choice;

/* ------------------------------------------------------------------ */
/* Making deliveries, as the verifier does. */

/* The PolicyPCR digest of sel_text over the PCR values the TPM holds now. */
static void policy_now(rt_tpm *tpm, const char *sel_text, TPML_PCR_SELECTION *sel,
                       TPM2B_DIGEST *policy) {
  rt_err err;
  rt_pcr_value *vals = NULL;
  size_t n = 0;
  CHECK(rt_pcrsel_parse(sel_text, sel, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_pcr_read_all(tpm, sel, &vals, &n, &err) == RT_OK, "pcr read: %s", err.msg);
  uint8_t concat[24 * 64];
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(concat + len, vals[i].value.buffer, vals[i].value.size);
    len += vals[i].value.size;
  }
  free(vals);
  CHECK(rt_policy_pcr_digest(TPM2_ALG_SHA256, sel, concat, len, policy, &err) == RT_OK, "%s",
        err.msg);
}

static void wrap(const rt_ek *to, rt_import_object *obj, rt_secret_delivery *d) {
  rt_err err;
  d->pub = obj->pub;
  CHECK(rt_dup_wrap(&to->pub.publicArea, obj, &d->dup, &d->seed, &err) == RT_OK, "wrap: %s",
        err.msg);
  OPENSSL_cleanse(&obj->sensitive, sizeof obj->sensitive);
}

/* A sealed delivery of data for EK `to`, bound to sel_text's current
 * values when sel_text is not NULL. */
static rt_secret_delivery sealed_for(rt_tpm *tpm, const rt_ek *to, const char *name,
                                     const uint8_t *data, size_t len, const char *sel_text) {
  rt_secret_delivery d;
  memset(&d, 0, sizeof d);
  d.name = name;
  d.type = RT_SECRET_TYPE_SEALED;
  TPM2B_DIGEST policy;
  if (sel_text != NULL)
    policy_now(tpm, sel_text, &d.pcrs, &policy);
  rt_import_object obj;
  rt_err err;
  CHECK(rt_import_sealed(data, len, sel_text ? &policy : NULL, &obj, &err) == RT_OK, "sealed: %s",
        err.msg);
  wrap(to, &obj, &d);
  return d;
}

static void extend(rt_tpm *tpm, uint32_t index) {
  TPML_DIGEST_VALUES v = {.count = 1};
  v.digests[0].hashAlg = TPM2_ALG_SHA256;
  memset(v.digests[0].digest.sha256, 0x5a, 32);
  TSS2_RC rc = Esys_PCR_Extend(tpm->esys, ESYS_TR_PCR0 + index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &v);
  CHECK(rc == TSS2_RC_SUCCESS, "PCR_Extend %u: 0x%x", index, rc);
}

/* An RSA key and a self-signed certificate for it (DER). */
static EVP_PKEY *rsa_key_and_cert(rt_bytes *der) {
  EVP_PKEY *k = EVP_RSA_gen(2048);
  X509 *x = X509_new();
  X509_NAME *n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"svc", -1, -1, 0);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
  X509_set_subject_name(x, n);
  X509_set_issuer_name(x, n);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, k);
  CHECK(X509_sign(x, k, EVP_sha256()) > 0, "self-signing");
  der->data = NULL;
  int len = i2d_X509(x, &der->data);
  der->len = len > 0 ? (size_t)len : 0;
  X509_NAME_free(n);
  X509_free(x);
  return k;
}

/* ------------------------------------------------------------------ */
/* Looking at the results. */

static int count_files_in(const char *dir) {
  char cmd[800];
  snprintf(cmd, sizeof cmd, "find '%s' -type f 2>/dev/null | wc -l", dir);
  FILE *p = popen(cmd, "r");
  int n = -1;
  if (p != NULL) {
    if (fscanf(p, "%d", &n) != 1)
      n = -1;
    pclose(p);
  }
  return n;
}

/* No file under the state directory holds needle (raw or as hex). */
static const uint8_t *g_needle;
static size_t g_needle_len;
static int g_found;
static int scan_one(const char *path, const struct stat *sb, int type, struct FTW *f) {
  (void)sb;
  (void)f;
  if (type != FTW_F)
    return 0;
  uint8_t *data = NULL;
  size_t len = 0;
  if (rt_file_read(path, 1 << 22, &data, &len, NULL) != RT_OK)
    return 0;
  char hex[2 * 64 + 1];
  for (size_t i = 0; i < g_needle_len && i < 64; i++)
    sprintf(hex + 2 * i, "%02x", g_needle[i]);
  if (memmem(data, len, g_needle, g_needle_len) != NULL || strstr((char *)data, hex) != NULL) {
    fprintf(stderr, "secret found in %s\n", path);
    g_found++;
  }
  free(data);
  return 0;
}

static int secret_on_disk(const uint8_t *secret, size_t len) {
  g_needle = secret;
  g_needle_len = len;
  g_found = 0;
  nftw(state_dir, scan_one, 16, FTW_PHYS);
  return g_found;
}

static mode_t mode_of(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (sb.st_mode & 07777) : 0;
}

/* Runs the bootstrap CLI; stdout and stderr into work/out, work/err. */
static int cli(const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s/bin/rattest-bootstrap' %s >'%s/out' 2>'%s/err'", build, args, work,
           work);
  int rc = system(cmd);
  return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

static char *slurp(const char *name, size_t *len) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s", work, name);
  uint8_t *data = NULL;
  size_t n = 0;
  if (rt_file_read(p, 1 << 20, &data, &n, NULL) != RT_OK)
    return NULL;
  if (len != NULL)
    *len = n;
  return (char *)data;
}

static rt_tpm *open_tpm(void) {
  rt_tpm *tpm = NULL;
  rt_err err;
  CHECK(rt_tpm_open(NULL, &tpm, &err) == RT_OK, "open: %s", err.msg);
  return tpm;
}

/* ------------------------------------------------------------------ */

/* Import and unseal, without and with a PCR policy, and every refusal of
 * rt_secret_unseal's own checks. */
static void check_unseal(rt_tpm *tpm, rt_ek *ek) {
  rt_err err;
  uint8_t secret[48], *out = NULL;
  size_t len = 0;
  RAND_bytes(secret, sizeof secret);
  rt_secret_delivery d = sealed_for(tpm, ek, "plain", secret, sizeof secret, NULL);
  TPM2B_PRIVATE priv;
  CHECK(rt_secret_import(tpm, ek, &d.pub, &d.dup, &d.seed, &priv, &err) == RT_OK, "import: %s",
        err.msg);
  CHECK(rt_secret_unseal(tpm, ek, &d.pub, &priv, NULL, &out, &len, &err) == RT_OK, "unseal: %s",
        err.msg);
  CHECK(out != NULL && len == sizeof secret && memcmp(out, secret, len) == 0,
        "unsealed bytes differ");
  rt_secret_wipe(out, len);
  out = NULL;
  /* The EK is found from the blob alone (AUTO tries RSA, then ECC). ESYS
   * gives one ESYS_TR per persistent handle: ours is closed meanwhile. */
  TPMI_ALG_PUBLIC ek_type = ek->pub.publicArea.type;
  rt_ek_close(tpm, ek);
  rt_ek found;
  CHECK(rt_secret_open_ek(tpm, RT_EK_AUTO, &d.pub, &priv, &found, &err) == RT_OK, "open_ek: %s",
        err.msg);
  CHECK(found.pub.publicArea.type == ek_type, "open_ek found the other EK");
  rt_ek_close(tpm, &found);
  rt_ek_choice other = choice == RT_EK_RSA ? RT_EK_ECC : RT_EK_RSA;
  CHECK(rt_secret_open_ek(tpm, other, &d.pub, &priv, &found, &err) == RT_E_NOT_FOUND,
        "the blob loaded under the other EK");
  CHECK_STR_CONTAINS(err.msg, "does not load under the EK");
  CHECK(rt_ek_open(tpm, choice, NULL, ek, &err) == RT_OK, "ek again: %s", err.msg);

  /* A PCR selection for an object without policy, and no selection for an
   * object with one, are refused before the TPM is asked. */
  TPML_PCR_SELECTION sel7;
  rt_pcrsel_parse("sha256:7", &sel7, &err);
  CHECK(rt_secret_unseal(tpm, ek, &d.pub, &priv, &sel7, &out, &len, &err) == RT_E_INVALID,
        "selection accepted for an object without policy");
  CHECK_STR_CONTAINS(err.msg, "has no policy");

  uint8_t bound_secret[16];
  RAND_bytes(bound_secret, sizeof bound_secret);
  rt_secret_delivery b =
      sealed_for(tpm, ek, "bound", bound_secret, sizeof bound_secret, "sha256:7");
  TPM2B_PRIVATE bpriv;
  CHECK(rt_secret_import(tpm, ek, &b.pub, &b.dup, &b.seed, &bpriv, &err) == RT_OK, "import: %s",
        err.msg);
  CHECK(!(b.pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH),
        "a PCR-bound object opens with its password");
  CHECK(rt_secret_unseal(tpm, ek, &b.pub, &bpriv, NULL, &out, &len, &err) == RT_E_INVALID,
        "policy object unsealed without selection");
  CHECK_STR_CONTAINS(err.msg, "opens only with its policy");
  CHECK(rt_secret_unseal(tpm, ek, &b.pub, &bpriv, &b.pcrs, &out, &len, &err) == RT_OK,
        "unseal bound: %s", err.msg);
  CHECK(out != NULL && len == sizeof bound_secret && memcmp(out, bound_secret, len) == 0,
        "PCR-bound bytes differ");
  rt_secret_wipe(out, len);
  out = NULL;
  /* Another selection than the policy's is a policy failure as well. */
  TPML_PCR_SELECTION sel0;
  rt_pcrsel_parse("sha256:0", &sel0, &err);
  CHECK(rt_secret_unseal(tpm, ek, &b.pub, &bpriv, &sel0, &out, &len, &err) == RT_E_INVALID,
        "wrong selection unsealed");
  CHECK_STR_CONTAINS(err.msg, "PCR policy not satisfied");
  extend(tpm, 7);
  CHECK(rt_secret_unseal(tpm, ek, &b.pub, &bpriv, &b.pcrs, &out, &len, &err) == RT_E_INVALID,
        "unsealed after PCR 7 changed");
  CHECK(strcmp(err.msg, "PCR policy not satisfied: a PCR in sha256:7 changed since the secret "
                        "was sealed") == 0,
        "message: %s", err.msg);
  CHECK(out == NULL && len == 0, "output after a failure");

  /* Not sealed data at all: an RSA key's public area. */
  EVP_PKEY *k = EVP_RSA_gen(2048);
  rt_import_object key;
  CHECK(rt_import_rsa(k, NULL, &key, &err) == RT_OK, "%s", err.msg);
  OPENSSL_cleanse(&key.sensitive, sizeof key.sensitive);
  CHECK(rt_secret_unseal(tpm, ek, &key.pub, &priv, NULL, &out, &len, &err) == RT_E_INVALID,
        "unsealed a key");
  CHECK_STR_CONTAINS(err.msg, "not a sealed data object");
  EVP_PKEY_free(k);
}

/* Tampered or misdirected blobs: the TPM refuses the import, nothing is
 * recorded or written. */
static void check_refusals(rt_tpm *tpm, const rt_ek *ek, rt_state *st) {
  rt_err err;
  uint8_t secret[32];
  RAND_bytes(secret, sizeof secret);
  rt_secret_delivery d = sealed_for(tpm, ek, "tampered", secret, sizeof secret, NULL);
  TPM2B_PRIVATE priv;
  rt_bytes proof;
  uint32_t handle;
  size_t files_before = (size_t)count_files_in(state_dir);
  char state_path[700];
  snprintf(state_path, sizeof state_path, "%s/state.json", state_dir);
  size_t before_len = 0;
  uint8_t *before = NULL;
  rt_file_read(state_path, 1 << 20, &before, &before_len, NULL);

  struct {
    const char *what;
    int field, at;
  } cases[] = {
      {"duplicate HMAC", 0, 4}, {"duplicate body", 0, -2}, {"seed", 1, 7}, {"seed end", 1, -1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rt_secret_delivery t = d;
    uint8_t *buf = cases[i].field == 0 ? t.dup.buffer : t.seed.secret;
    size_t size = cases[i].field == 0 ? t.dup.size : t.seed.size;
    buf[cases[i].at >= 0 ? (size_t)cases[i].at : size + (size_t)cases[i].at] ^= 0x01;
    CHECK(rt_secret_import(tpm, ek, &t.pub, &t.dup, &t.seed, &priv, &err) == RT_E_TPM,
          "tampered %s imported", cases[i].what);
    CHECK_STR_CONTAINS(err.msg, "Import under the EK");
    CHECK(rt_secret_receive(tpm, ek, st, state_dir, NULL, &t, (const uint8_t *)"n", 1, &proof,
                            &handle, &err) == RT_E_TPM,
          "tampered %s received", cases[i].what);
    CHECK_STR_CONTAINS(err.msg, "secret tampered: Import under the EK");
  }
  /* The object's public area is bound by its name into the duplicate. */
  rt_secret_delivery t = d;
  t.pub.publicArea.objectAttributes ^= TPMA_OBJECT_NODA;
  CHECK(rt_secret_import(tpm, ek, &t.pub, &t.dup, &t.seed, &priv, &err) == RT_E_TPM,
        "altered public area imported");

  /* Made for the other EK of this TPM. */
  rt_ek other;
  CHECK(rt_ek_open(tpm, choice == RT_EK_RSA ? RT_EK_ECC : RT_EK_RSA, NULL, &other, &err) == RT_OK,
        "other EK: %s", err.msg);
  rt_secret_delivery o = sealed_for(tpm, &other, "elsewhere", secret, sizeof secret, NULL);
  rt_ek_close(tpm, &other);
  CHECK(rt_secret_import(tpm, ek, &o.pub, &o.dup, &o.seed, &priv, &err) == RT_E_TPM,
        "blob for the other EK imported");
  CHECK_STR_CONTAINS(err.msg, "made for another TPM");
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, NULL, &o, (const uint8_t *)"n", 1, &proof,
                          &handle, &err) == RT_E_TPM,
        "blob for the other EK received");

  rt_secret_entry none;
  CHECK(rt_state_secret_get(st, "tampered", &none, &err) == RT_E_NOT_FOUND &&
            rt_state_secret_get(st, "elsewhere", &none, &err) == RT_E_NOT_FOUND,
        "a refused secret was recorded");
  CHECK((size_t)count_files_in(state_dir) == files_before, "files written for refused secrets");
  size_t after_len = 0;
  uint8_t *after = NULL;
  rt_file_read(state_path, 1 << 20, &after, &after_len, NULL);
  CHECK((before == NULL && after == NULL) ||
            (before != NULL && after != NULL && before_len == after_len &&
             memcmp(before, after, before_len) == 0),
        "state.json changed by refused secrets");
  free(before);
  free(after);
}

/* The imported RSA key: persisted at a handle rattest owns, its proof
 * verifies with its certificate's key, it is the identity of its name;
 * a foreign object is never replaced. */
static void check_rsa_key(rt_tpm *tpm, const rt_ek *ek, rt_state *st, const rt_identity *via,
                          EVP_PKEY **key_out) {
  rt_err err;
  rt_bytes cert;
  EVP_PKEY *k = rsa_key_and_cert(&cert);
  rt_import_object obj;
  CHECK(rt_import_rsa(k, NULL, &obj, &err) == RT_OK, "rsa: %s", err.msg);
  rt_secret_delivery d;
  memset(&d, 0, sizeof d);
  d.name = "svc";
  d.type = RT_SECRET_TYPE_RSA_KEY;
  wrap(ek, &obj, &d);
  d.certs = &cert;
  d.n_certs = 1;

  /* A certificate for another key is refused before the TPM is touched. */
  rt_bytes wrong;
  EVP_PKEY *k2 = rsa_key_and_cert(&wrong);
  rt_secret_delivery w = d;
  w.certs = &wrong;
  rt_bytes proof = {0};
  uint32_t handle = 0;
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &w, (const uint8_t *)"n", 1, &proof, &handle,
                          &err) == RT_E_INVALID,
        "certificate of another key accepted");
  CHECK_STR_CONTAINS(err.msg, "for another key");
  rt_handle_owner owner;
  CHECK(rt_handle_owner_of(tpm, RT_SECRET_HANDLE_FIRST, NULL, &owner, &err) == RT_OK &&
            owner == RT_HANDLE_FREE,
        "a refused key was persisted");

  uint8_t nonce[32];
  RAND_bytes(nonce, sizeof nonce);
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &d, nonce, sizeof nonce, &proof, &handle,
                          &err) == RT_OK,
        "receive rsa-key: %s", err.msg);
  CHECK(handle == RT_SECRET_HANDLE_FIRST, "handle 0x%08x", handle);
  TPMT_SIGNATURE sig;
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  CHECK(rt_tpm_sig_unmarshal(proof.data, proof.len, &sig, &err) == RT_OK, "%s", err.msg);
  CHECK(sig.sigAlg == TPM2_ALG_RSASSA && sig.signature.rsassa.hash == TPM2_ALG_SHA256,
        "proof scheme 0x%x", sig.sigAlg);
  const unsigned char *p = cert.data;
  X509 *x = d2i_X509(NULL, &p, (long)cert.len);
  rt_secret_proof_message("svc", nonce, sizeof nonce, &msg, &msg_len, &err);
  CHECK(x != NULL && rt_tpm_sig_verify(X509_get0_pubkey(x), &sig, msg, msg_len, &err) == RT_OK,
        "proof does not verify with the certificate: %s", err.msg);
  msg[msg_len - 1] ^= 1;
  CHECK(rt_tpm_sig_verify(X509_get0_pubkey(x), &sig, msg, msg_len, &err) == RT_E_CRYPTO,
        "proof verifies over another nonce");
  free(msg);
  X509_free(x);
  rt_bytes_free(&proof);

  /* Recorded: the secret and its identity, files 0600. */
  rt_secret_entry s;
  rt_identity id;
  CHECK(rt_state_secret_get(st, "svc", &s, &err) == RT_OK && s.type == RT_SECRET_TYPE_RSA_KEY &&
            s.handle == handle && s.pcrs[0] == '\0',
        "secret entry: %s", err.msg);
  CHECK(rt_state_get(st, "svc", &id, &err) == RT_OK && id.handle == handle &&
            strcmp(id.cert_file, s.cert_file) == 0 && strcmp(id.algorithm, "rsa-2048") == 0 &&
            strcmp(id.verifier, via->verifier) == 0 && strcmp(id.ek_sha256, via->ek_sha256) == 0,
        "identity entry: %s", err.msg);
  const char *files[] = {s.pub_file,  s.priv_file,     s.cert_file,
                         id.key_file, id.ak_cert_file, id.chain_file};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    CHECK(mode_of(files[i]) == 0600, "%s mode %04o", files[i], (unsigned)mode_of(files[i]));
  rt_tss2key kf;
  CHECK(rt_tss2key_read(id.key_file, &kf, &err) == RT_OK && (kf.parent >> 24) == 0x81 &&
            kf.pub.publicArea.unique.rsa.size == 256,
        "key file: %s", err.msg);
  CHECK(rt_handle_owner_of(tpm, handle, &d.pub, &owner, &err) == RT_OK && owner == RT_HANDLE_OURS,
        "the persistent key is not the delivered one");

  /* Delivered again with a new key: the same handle, ours, is replaced and
   * the previous files go. */
  EVP_PKEY_free(k2);
  OPENSSL_free(wrong.data);
  rt_bytes cert2;
  k2 = rsa_key_and_cert(&cert2);
  CHECK(rt_import_rsa(k2, NULL, &obj, &err) == RT_OK, "rsa: %s", err.msg);
  rt_secret_delivery d2 = d;
  wrap(ek, &obj, &d2);
  d2.certs = &cert2;
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &d2, nonce, sizeof nonce, &proof, &handle,
                          &err) == RT_OK,
        "receive again: %s", err.msg);
  rt_bytes_free(&proof);
  CHECK(handle == RT_SECRET_HANDLE_FIRST, "new handle 0x%08x for the same name", handle);
  CHECK(rt_handle_owner_of(tpm, handle, &d2.pub, &owner, &err) == RT_OK && owner == RT_HANDLE_OURS,
        "the key was not replaced");
  CHECK(mode_of(s.pub_file) == 0 && mode_of(id.key_file) == 0, "previous files left");

  /* Recording fails after the key went into the TPM (the AK certificate to
   * copy is gone): the key is evicted again, nothing is recorded. */
  rt_identity broken = *via;
  snprintf(broken.ak_cert_file, sizeof broken.ak_cert_file, "%s/gone.pem", work);
  rt_secret_delivery d3 = d2;
  d3.name = "svc2";
  int files_before = count_files_in(state_dir);
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, &broken, &d3, nonce, sizeof nonce, &proof,
                          &handle, &err) == RT_E_IO,
        "received without its AK certificate: %s", err.msg);
  CHECK_STR_CONTAINS(err.msg, "gone.pem");
  CHECK(rt_handle_owner_of(tpm, RT_SECRET_HANDLE_FIRST + 1, NULL, &owner, &err) == RT_OK &&
            owner == RT_HANDLE_FREE,
        "the key of a failed delivery stayed persistent");
  CHECK(count_files_in(state_dir) == files_before, "files left by a failed delivery");
  rt_secret_entry none;
  CHECK(rt_state_secret_get(st, "svc2", &none, &err) == RT_E_NOT_FOUND, "failed key recorded");

  /* A foreign object: persist refuses it, choose_handle goes around it. */
  rt_idkey foreign;
  CHECK(rt_idkey_create(tpm, RT_ALG_ECC_P256, &foreign, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_idkey_persist(tpm, &foreign, RT_SECRET_HANDLE_FIRST + 1, NULL, 0, &err) == RT_OK, "%s",
        err.msg);
  rt_idkey_close(tpm, &foreign);
  TPM2B_PRIVATE priv;
  CHECK(rt_secret_import(tpm, ek, &d.pub, &d.dup, &d.seed, &priv, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_secret_persist(tpm, ek, &d.pub, &priv, NULL, RT_SECRET_HANDLE_FIRST + 1, NULL, &err) ==
            RT_E_INVALID,
        "a foreign object was replaced");
  CHECK_STR_CONTAINS(err.msg, "did not put there");
  CHECK(rt_secret_persist(tpm, ek, &d.pub, &priv, NULL, 0x81010001u, NULL, &err) == RT_E_INVALID,
        "EK handle accepted");
  uint32_t h = 0;
  TPM2B_PUBLIC ours;
  int have_ours = 1;
  CHECK(rt_secret_choose_handle(tpm, st, "another", NULL, &h, &ours, &have_ours, &err) == RT_OK &&
            h == RT_SECRET_HANDLE_FIRST + 2 && !have_ours,
        "chose 0x%08x: %s", h, err.msg);
  CHECK(rt_secret_choose_handle(tpm, st, "svc", NULL, &h, &ours, &have_ours, &err) == RT_OK &&
            h == RT_SECRET_HANDLE_FIRST && have_ours,
        "svc's own handle not chosen: 0x%08x", h);
  /* A sealed object is no identity key. */
  uint8_t b[8] = {1};
  rt_secret_delivery sd = sealed_for(tpm, ek, "x", b, sizeof b, NULL);
  CHECK(rt_secret_import(tpm, ek, &sd.pub, &sd.dup, &sd.seed, &priv, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_secret_persist(tpm, ek, &sd.pub, &priv, NULL, RT_SECRET_HANDLE_FIRST + 3, NULL, &err) ==
            RT_E_INVALID,
        "sealed object persisted as a key");
  CHECK_STR_CONTAINS(err.msg, "not an RSA key");
  /* The foreign object goes, by handle, as the test put it there. */
  ESYS_TR tr = ESYS_TR_NONE, gone = ESYS_TR_NONE;
  if (Esys_TR_FromTPMPublic(tpm->esys, RT_SECRET_HANDLE_FIRST + 1, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, &tr) == TSS2_RC_SUCCESS)
    Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                      RT_SECRET_HANDLE_FIRST + 1, &gone);
  EVP_PKEY_free(k);
  OPENSSL_free(cert.data);
  OPENSSL_free(cert2.data);
  *key_out = k2;
}

/* A PCR-bound rsa-key (authPolicy PolicyPCR over sha256:16, userWithAuth
 * clear): received with its selection, its proof is signed in a policy
 * session and verifies; state and key file record the selection (and the
 * file the PCR digest); the key and the selection must agree; after PCR 16
 * changes the proof cannot be signed and a new delivery leaves nothing. */
/* An rsa-key delivery "pcrkey" of a new key (returned) for EK `to`, its
 * authPolicy `policy` (NULL: none). */
static EVP_PKEY *key_delivery(const rt_ek *to, const TPM2B_DIGEST *policy, rt_bytes *cert,
                              rt_secret_delivery *d) {
  rt_err err;
  EVP_PKEY *k = rsa_key_and_cert(cert);
  memset(d, 0, sizeof *d);
  d->name = "pcrkey";
  d->type = RT_SECRET_TYPE_RSA_KEY;
  d->certs = cert;
  d->n_certs = 1;
  rt_import_object obj;
  CHECK(rt_import_rsa(k, policy, &obj, &err) == RT_OK, "rsa: %s", err.msg);
  wrap(to, &obj, d);
  return k;
}

static void check_bound_key(rt_tpm *tpm, const rt_ek *ek, rt_state *st, const rt_identity *via) {
  rt_err err;
  rt_bytes cert, proof = {0};
  uint32_t handle = 0;
  TPM2B_DIGEST policy;
  TPML_PCR_SELECTION sel;
  policy_now(tpm, "sha256:16", &sel, &policy);
  rt_secret_delivery d;
  EVP_PKEY *k = key_delivery(ek, &policy, &cert, &d);
  d.pcrs = sel;
  CHECK(!(d.pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH),
        "a PCR-bound key signs with its password");

  /* Key and selection must agree, checked before anything is persisted. */
  rt_secret_delivery no_sel = d;
  memset(&no_sel.pcrs, 0, sizeof no_sel.pcrs);
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &no_sel, (const uint8_t *)"n", 1, &proof,
                          &handle, &err) == RT_E_INVALID,
        "policy key received without a selection");
  CHECK_STR_CONTAINS(err.msg, "but no PCR selection came with it");
  rt_bytes cert2;
  rt_secret_delivery unbound;
  EVP_PKEY *k2 = key_delivery(ek, NULL, &cert2, &unbound);
  unbound.pcrs = sel;
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &unbound, (const uint8_t *)"n", 1, &proof,
                          &handle, &err) == RT_E_INVALID,
        "key without policy received with a selection");
  CHECK_STR_CONTAINS(err.msg, "but the key also signs with its password");
  rt_secret_entry none;
  CHECK(rt_state_secret_get(st, "pcrkey", &none, &err) == RT_E_NOT_FOUND, "refused key recorded");

  uint8_t nonce[32];
  RAND_bytes(nonce, sizeof nonce);
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &d, nonce, sizeof nonce, &proof, &handle,
                          &err) == RT_OK,
        "receive PCR-bound key: %s", err.msg);
  TPMT_SIGNATURE sig;
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  CHECK(rt_tpm_sig_unmarshal(proof.data, proof.len, &sig, &err) == RT_OK, "%s", err.msg);
  rt_secret_proof_message("pcrkey", nonce, sizeof nonce, &msg, &msg_len, &err);
  CHECK(rt_tpm_sig_verify(k, &sig, msg, msg_len, &err) == RT_OK,
        "proof of the PCR-bound key does not verify: %s", err.msg);
  free(msg);
  rt_bytes_free(&proof);

  rt_secret_entry s;
  rt_identity id;
  CHECK(rt_state_secret_get(st, "pcrkey", &s, &err) == RT_OK && strcmp(s.pcrs, "sha256:16") == 0 &&
            s.handle == handle,
        "state entry: %s / \"%s\"", err.msg, s.pcrs);
  CHECK(rt_state_get(st, "pcrkey", &id, &err) == RT_OK, "identity: %s", err.msg);
  rt_tss2key kf;
  rt_pcr_value *vals = NULL;
  size_t n = 0;
  TPM2B_DIGEST want;
  CHECK(rt_pcr_read_all(tpm, &d.pcrs, &vals, &n, &err) == RT_OK && n == 1, "%s", err.msg);
  CHECK(vals != NULL && rt_pcr_values_digest(TPM2_ALG_SHA256, vals[0].value.buffer,
                                             vals[0].value.size, &want, &err) == RT_OK,
        "%s", err.msg);
  free(vals);
  CHECK(rt_tss2key_read(id.key_file, &kf, &err) == RT_OK && kf.has_policy && kf.has_pcr_policy &&
            memcmp(&kf.policy_pcrs, &d.pcrs, sizeof d.pcrs) == 0 &&
            kf.policy_pcr_digest.size == 32 &&
            memcmp(kf.policy_pcr_digest.buffer, want.buffer, 32) == 0,
        "key file policy: %s", err.msg);

  /* Without its session the key does not sign; with it, it does. */
  TPMT_SIGNATURE again;
  CHECK(rt_secret_sign_proof(tpm, handle, &d.pub, NULL, "pcrkey", nonce, sizeof nonce, &again,
                             &err) == RT_E_TPM,
        "PCR-bound key signed with its password");
  CHECK(rt_secret_sign_proof(tpm, handle, &d.pub, &d.pcrs, "pcrkey", nonce, sizeof nonce, &again,
                             &err) == RT_OK,
        "sign in the policy session: %s", err.msg);
  extend(tpm, 16);
  CHECK(rt_secret_sign_proof(tpm, handle, &d.pub, &d.pcrs, "pcrkey", nonce, sizeof nonce, &again,
                             &err) == RT_E_INVALID,
        "signed after PCR 16 changed");
  CHECK(strcmp(err.msg, "PCR policy not satisfied: a PCR in sha256:16 changed since the key was "
                        "delivered") == 0,
        "message: %s", err.msg);
  /* Delivered under the old values to another name: persisted, the proof
   * fails, and the key is evicted again with nothing recorded. */
  rt_secret_delivery late = d;
  late.name = "pcrkey2";
  int files_before = count_files_in(state_dir);
  CHECK(rt_secret_receive(tpm, ek, st, state_dir, via, &late, nonce, sizeof nonce, &proof, &handle,
                          &err) == RT_E_INVALID,
        "a key bound to old PCR values was received");
  CHECK_STR_CONTAINS(err.msg, "secret pcrkey2: PCR policy not satisfied");
  CHECK(rt_state_secret_get(st, "pcrkey2", &none, &err) == RT_E_NOT_FOUND &&
            count_files_in(state_dir) == files_before,
        "a refused PCR-bound key left a record or files");
  rt_handle_owner owner;
  uint32_t next = 0;
  TPM2B_PUBLIC ours;
  int have_ours = 0;
  CHECK(rt_secret_choose_handle(tpm, st, "pcrkey2", NULL, &next, &ours, &have_ours, &err) ==
                RT_OK &&
            rt_handle_owner_of(tpm, next, NULL, &owner, &err) == RT_OK && owner == RT_HANDLE_FREE,
        "the refused key stayed persistent");
  EVP_PKEY_free(k);
  EVP_PKEY_free(k2);
  OPENSSL_free(cert.data);
  OPENSSL_free(cert2.data);
}

/* The enrolled identity a delivery comes with (its AK certificate file
 * must exist: the rsa-key's identity gets a copy). */
static rt_identity enrolled_identity(void) {
  rt_identity id;
  memset(&id, 0, sizeof id);
  snprintf(id.name, sizeof id.name, "default");
  id.handle = 0x81000100;
  snprintf(id.key_file, sizeof id.key_file, "%s/default.key.pem", state_dir);
  snprintf(id.cert_file, sizeof id.cert_file, "%s/default.cert.pem", state_dir);
  snprintf(id.chain_file, sizeof id.chain_file, "%s/default.chain.pem", state_dir);
  snprintf(id.ak_cert_file, sizeof id.ak_cert_file, "%s/default.ak.pem", state_dir);
  snprintf(id.algorithm, sizeof id.algorithm, "ecc-p256");
  memset(id.ek_sha256, 'a', 64);
  snprintf(id.verifier, sizeof id.verifier, "verifier.example:50051");
  snprintf(id.not_after, sizeof id.not_after, "2030-01-01T00:00:00Z");
  snprintf(id.enrolled_at, sizeof id.enrolled_at, "2025-01-01T00:00:00Z");
  rt_err err;
  CHECK(rt_file_write_atomic(id.ak_cert_file, "-----BEGIN CERTIFICATE-----\n", 28, 0600, &err) ==
            RT_OK,
        "%s", err.msg);
  return id;
}

/* The CLI on the state the API made; our TPM connection is closed so a
 * direct swtpm (one client at a time) serves the command. */
static void check_cli(const uint8_t *plain, size_t plain_len, const uint8_t *bound,
                      size_t bound_len) {
  char args[2400];
  size_t len = 0;
  snprintf(args, sizeof args, "unseal plain --state-dir '%s'", state_dir);
  CHECK(cli(args) == 0, "unseal plain failed: %s", slurp("err", NULL));
  char *out = slurp("out", &len);
  CHECK(out != NULL && len == plain_len && memcmp(out, plain, len) == 0,
        "stdout is not the secret");
  free(out);
  snprintf(args, sizeof args, "unseal bound --state-dir '%s' --out '%s/bound.bin'", state_dir,
           work);
  CHECK(cli(args) == 0, "unseal bound failed: %s", slurp("err", NULL));
  char path[700];
  snprintf(path, sizeof path, "%s/bound.bin", work);
  CHECK(mode_of(path) == 0600, "--out file mode %04o", (unsigned)mode_of(path));
  out = slurp("bound.bin", &len);
  CHECK(out != NULL && len == bound_len && memcmp(out, bound, len) == 0, "--out is not the secret");
  free(out);
  out = slurp("out", &len);
  CHECK(out != NULL && len == 0, "secret on stdout with --out");
  free(out);

  struct {
    const char *args;
    int rc;
    const char *want;
  } bad[] = {
      {"unseal nope", 1, "no secret \"nope\""},
      {"unseal svc", 1, "is an rsa-key, not a sealed secret"},
      {"unseal plain --tcti swtpm:host=127.0.0.1,port=1", 1, "TPM unreachable"},
      {"unseal", 2, "NAME is required"},
      {"unseal a b", 2, "unexpected argument"},
      {"unseal ../x", 2, "only A-Z a-z 0-9"},
      {"unseal plain --ek dsa", 2, "--ek must be"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(args, sizeof args, "%s --state-dir '%s'", bad[i].args, state_dir);
    int rc = cli(args);
    char *err = slurp("err", NULL);
    CHECK(rc == bad[i].rc, "%s: exit %d", bad[i].args, rc);
    CHECK_STR_CONTAINS(err ? err : "", bad[i].want);
    free(err);
  }
  snprintf(args, sizeof args, "unseal --help");
  CHECK(cli(args) == 0, "--help");
  out = slurp("out", NULL);
  CHECK_STR_CONTAINS(out ? out : "", "--out FILE");
  free(out);
  /* status lists the secrets, never their bytes; exit 0: the one identity,
   * the rsa-key's, has a day of validity left, outside its renewal window. */
  snprintf(args, sizeof args, "status --state-dir '%s'", state_dir);
  CHECK(cli(args) == 0, "status: %s", slurp("err", NULL));
  out = slurp("out", &len);
  CHECK_STR_CONTAINS(out ? out : "", "secret bound (sealed)");
  CHECK_STR_CONTAINS(out ? out : "", "PCR policy  sha256:23");
  CHECK_STR_CONTAINS(out ? out : "", "secret svc (rsa-key)");
  CHECK(out != NULL && memmem(out, len, plain, plain_len) == NULL, "status shows the secret");
  free(out);
  snprintf(args, sizeof args, "status --json --state-dir '%s'", state_dir);
  CHECK(cli(args) == 0, "status --json: %s", slurp("err", NULL));
  out = slurp("out", &len);
  CHECK_STR_CONTAINS(out ? out : "", "\"type\": \"rsa-key\"");
  CHECK_STR_CONTAINS(out ? out : "", "\"pcrs\": \"sha256:23\"");
  free(out);
  CHECK(cli("--help") == 0, "main help");
  out = slurp("out", NULL);
  CHECK_STR_CONTAINS(out ? out : "", "unseal     print a sealed secret");
  free(out);
}

/* `rattest:svc` signs through the provider with the imported key. */
static void check_provider(EVP_PKEY *key) {
  char p[700];
  snprintf(p, sizeof p, "%s/svc.pub.pem", work);
  FILE *f = fopen(p, "w");
  CHECK(f != NULL && PEM_write_PUBKEY(f, key) == 1, "writing the public key");
  if (f != NULL)
    fclose(f);
  const char *preload = getenv("RATTEST_PRELOAD");
  char cmd[3000];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && echo hello >msg && env %s%s OPENSSL_MODULES='%s/lib' "
           "RATTEST_STATE_DIR='%s' openssl dgst -sha256 -provider rattest -provider default "
           "-sign rattest:svc -out msg.sig msg >provider.log 2>&1 && "
           "openssl dgst -sha256 -verify svc.pub.pem -signature msg.sig msg >>provider.log 2>&1",
           work, preload && preload[0] ? "ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=" : "",
           preload && preload[0] ? preload : "", build, state_dir);
  int rc = system(cmd);
  char *log = slurp("provider.log", NULL);
  CHECK(rc == 0, "rattest:svc did not sign: %s", log ? log : "");
  free(log);
}

/* In direct mode tpm2-tools sees the whole TPM: no transient object and no
 * session of ours may be left. */
static void check_tpm_clean(void) {
  const char *mode = getenv("RATTEST_TPM_MODE");
  if (mode == NULL || strcmp(mode, "direct") != 0)
    return;
  const char *caps[] = {"handles-transient", "handles-loaded-session", "handles-saved-session"};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    char cmd[800];
    snprintf(cmd, sizeof cmd, "tpm2_getcap %s >'%s/cap' 2>&1", caps[i], work);
    CHECK(system(cmd) == 0, "tpm2_getcap %s", caps[i]);
    size_t len = 0;
    char *out = slurp("cap", &len);
    CHECK(out != NULL && strstr(out, "0x") == NULL, "%s: %s", caps[i], out ? out : "(none)");
    free(out);
  }
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[2], "rsa") != 0 && strcmp(argv[2], "ecc") != 0)) {
    fprintf(stderr, "usage: test_secrets_tpm WORKDIR rsa|ecc BUILD_DIR\n");
    return 2;
  }
  snprintf(work, sizeof work, "%s", argv[1]);
  snprintf(build, sizeof build, "%s", argv[3]);
  snprintf(state_dir, sizeof state_dir, "%s/state", work);
  choice = strcmp(argv[2], "rsa") == 0 ? RT_EK_RSA : RT_EK_ECC;
  if (mkdir(state_dir, 0700) != 0) {
    perror(state_dir);
    return 2;
  }
  rt_log_set_level(RT_LOG_ERROR);
  rt_tpm_quiet_tss_logs();
  rt_err err;

  rt_tpm *tpm = open_tpm();
  if (tpm == NULL)
    return rt_test_done("test_secrets_tpm");
  uint32_t before = 0, after = 99;
  rt_tpm_count_transients(tpm, &before, &err);
  rt_ek ek;
  CHECK(rt_ek_open(tpm, choice, NULL, &ek, &err) == RT_OK, "ek: %s", err.msg);

  check_unseal(tpm, &ek);
  rt_state *st = NULL;
  CHECK(rt_state_load(state_dir, &st, &err) == RT_OK, "%s", err.msg);
  rt_identity via = enrolled_identity();
  check_refusals(tpm, &ek, st);

  /* Received through the enroll flow's entry point: sealed (plain and
   * bound to sha256:23) and the rsa-key; then the CLI opens them. */
  uint8_t plain[40], bound[128], nonce[32], mac[32];
  RAND_bytes(plain, sizeof plain);
  RAND_bytes(bound, sizeof bound);
  RAND_bytes(nonce, sizeof nonce);
  rt_secret_delivery dp = sealed_for(tpm, &ek, "plain", plain, sizeof plain, NULL);
  rt_secret_delivery db = sealed_for(tpm, &ek, "bound", bound, sizeof bound, "sha256:23");
  rt_bytes proof = {0};
  uint32_t handle = 1;
  CHECK(rt_secret_receive(tpm, &ek, st, state_dir, &via, &dp, nonce, sizeof nonce, &proof, &handle,
                          &err) == RT_OK,
        "receive plain: %s", err.msg);
  CHECK(handle == 0, "a sealed secret got a handle");
  CHECK(rt_secret_proof_hmac(plain, sizeof plain, "plain", nonce, sizeof nonce, mac, &err) ==
                RT_OK &&
            proof.len == 32 && memcmp(proof.data, mac, 32) == 0,
        "HMAC proof differs");
  rt_bytes_free(&proof);
  CHECK(rt_secret_receive(tpm, &ek, st, state_dir, &via, &db, nonce, sizeof nonce, &proof, &handle,
                          &err) == RT_OK,
        "receive bound: %s", err.msg);
  CHECK(rt_secret_proof_hmac(bound, sizeof bound, "bound", nonce, sizeof nonce, mac, &err) ==
                RT_OK &&
            proof.len == 32 && memcmp(proof.data, mac, 32) == 0,
        "HMAC proof (bound) differs");
  rt_bytes_free(&proof);
  rt_secret_entry s;
  CHECK(rt_state_secret_get(st, "bound", &s, &err) == RT_OK && strcmp(s.pcrs, "sha256:23") == 0,
        "bound entry: %s / %s", err.msg, s.pcrs);
  CHECK(mode_of(s.pub_file) == 0600 && mode_of(s.priv_file) == 0600, "blob modes");
  /* Truncated blob files are refused by name. */
  {
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    rt_secret_entry t = s;
    snprintf(t.pub_file, sizeof t.pub_file, "%s/short.pub", work);
    rt_file_write_atomic(t.pub_file, "\x00\x10\x00", 3, 0600, &err);
    CHECK(rt_secret_load_blobs(&t, &pub, &priv, &err) == RT_E_INVALID, "short pub accepted");
    CHECK_STR_CONTAINS(err.msg, "short.pub is not one marshalled TPM2B_PUBLIC");
    /* A private blob with a byte after it. */
    snprintf(t.pub_file, sizeof t.pub_file, "%s", s.pub_file);
    snprintf(t.priv_file, sizeof t.priv_file, "%s/long.priv", work);
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    CHECK(rt_file_read(s.priv_file, 4096, &blob, &blob_len, &err) == RT_OK, "%s", err.msg);
    rt_file_write_atomic(t.priv_file, blob, blob_len + 1, 0600, &err); /* its NUL */
    free(blob);
    CHECK(rt_secret_load_blobs(&t, &pub, &priv, &err) == RT_E_INVALID, "long priv accepted");
    CHECK_STR_CONTAINS(err.msg, "long.priv is not one marshalled TPM2B_PRIVATE");
  }
  EVP_PKEY *key = NULL;
  check_rsa_key(tpm, &ek, st, &via, &key);
  check_bound_key(tpm, &ek, st, &via);
  rt_state_free(st);
  rt_ek_close(tpm, &ek);
  CHECK(rt_tpm_count_transients(tpm, &after, &err) == RT_OK && after == before,
        "transients after: %u, before: %u", after, before);
  rt_tpm_close(tpm);

  check_cli(plain, sizeof plain, bound, sizeof bound);
  if (key != NULL)
    check_provider(key);
  EVP_PKEY_free(key);

  /* PCR 23 changes: the CLI says so, exit 1, nothing written. */
  tpm = open_tpm();
  if (tpm != NULL)
    extend(tpm, 23);
  rt_tpm_close(tpm);
  char args[2400], path[700];
  snprintf(path, sizeof path, "%s/after.bin", work);
  snprintf(args, sizeof args, "unseal bound --state-dir '%s' --out '%s'", state_dir, path);
  CHECK(cli(args) == 1, "unsealed after PCR 23 changed");
  char *e = slurp("err", NULL);
  CHECK_STR_CONTAINS(e ? e : "", "rattest-bootstrap unseal: bound: PCR policy not satisfied: a PCR "
                                 "in sha256:23 changed since the secret was sealed");
  free(e);
  CHECK(mode_of(path) == 0, "--out written after a failure");

  /* The secrets are nowhere under the state directory (the scan does find
   * one that is). */
  char leak[700];
  snprintf(leak, sizeof leak, "%s/secrets/leak.bin", state_dir);
  rt_file_write_atomic(leak, plain, sizeof plain, 0600, &err);
  CHECK(secret_on_disk(plain, sizeof plain) == 1, "the scan misses a secret on disk");
  unlink(leak);
  CHECK(secret_on_disk(plain, sizeof plain) == 0, "plain secret on disk");
  CHECK(secret_on_disk(bound, sizeof bound) == 0, "bound secret on disk");
  check_tpm_clean();
  return rt_test_done("test_secrets_tpm");
}
