#include "fuzz.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "confirm_token.h"
#include "rattest.pb-c.h"
#include "rt_file.h"
#include "rt_log.h"
#include "rt_templates.h"
#include "rt_tpm.h"
#include "rt_tpm_pub.h"
#include "session_token.h"

const uint8_t fuzz_secret[32] = {0x5e, 0xc7, 0xe7, 0x5e, 0xc7, 0xe7, 0x5e, 0xc7, 0xe7, 0x5e, 0xc7,
                                 0xe7, 0x5e, 0xc7, 0xe7, 0x5e, 0xc7, 0xe7, 0x5e, 0xc7, 0xe7, 0x5e,
                                 0xc7, 0xe7, 0x5e, 0xc7, 0xe7, 0x5e, 0xc7, 0xe7, 0x5e, 0xc7};
const uint8_t fuzz_nonce[32] = {0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90,
                                0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09,
                                0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09, 0x90, 0x09};

#define SESSION_TTL 600
#define GOOGLE_EK "ekcerts/google-vtpm/pca_tpm_rsa_enc_cert.pem"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  rt_log_set_level(RT_LOG_ERROR);
  rt_tpm_quiet_tss_logs();
  return 0;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what, why);
  abort();
}

void fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, size_t n) {
  for (size_t i = 0; i < n; i++) {
    size_t len = size;
    if (i + 1 < n) {
      len = size >= 2 ? ((size_t)data[0] << 8 | data[1]) : 0;
      size_t skip = size >= 2 ? 2 : size;
      data += skip;
      size -= skip;
      if (len > size)
        len = size;
    }
    parts[i] = (fuzz_part){data, len};
    data += len;
    size -= len;
  }
}

size_t fuzz_join(const fuzz_part *parts, size_t n, uint8_t *out, size_t cap) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    size_t need = parts[i].n + (i + 1 < n ? 2 : 0);
    if (parts[i].n > 0xffff || need > cap - off)
      return 0;
    if (i + 1 < n) {
      out[off++] = (uint8_t)(parts[i].n >> 8);
      out[off++] = (uint8_t)parts[i].n;
    }
    if (parts[i].n > 0)
      memcpy(out + off, parts[i].p, parts[i].n);
    off += parts[i].n;
  }
  return off;
}

static char tmpdir[64];

static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "fuzz harness: cannot remove %s\n", tmpdir);
}

const char *fuzz_tmpdir(void) {
  if (tmpdir[0] == '\0') {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rattest-fuzz.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
      die("mkdtemp", "cannot make a temporary directory");
    atexit(remove_tmpdir);
  }
  return tmpdir;
}

/* Not rt_file_write_atomic: its fsync would make the state target a
 * hundred times slower, and nothing here needs to survive a crash. */
void fuzz_write_file(const char *name, const void *data, size_t len, char *path) {
  snprintf(path, PATH_MAX, "%s/%s", fuzz_tmpdir(), name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) != 0)
    die(path, "cannot write");
}

uint8_t *fuzz_data_file(const char *rel, size_t *len) {
  char path[PATH_MAX];
  uint8_t *data = NULL;
  rt_err err;
  snprintf(path, sizeof path, "%s/%s", RATTEST_FUZZ_DATA, rel);
  if (rt_file_read(path, 1 << 20, &data, len, &err) != RT_OK)
    die(path, err.msg);
  return data;
}

void fuzz_google_ek(TPM2B_PUBLIC *ek, uint8_t **der, size_t *der_len) {
  size_t len;
  uint8_t *pem = fuzz_data_file(GOOGLE_EK, &len);
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  BIGNUM *n = NULL;
  if (cert == NULL || !EVP_PKEY_get_bn_param(X509_get0_pubkey(cert), OSSL_PKEY_PARAM_RSA_N, &n) ||
      BN_num_bytes(n) != 256)
    die(GOOGLE_EK, "not an RSA 2048 certificate");
  *ek = rt_template_ek(RT_ALG_RSA_2048);
  ek->publicArea.unique.rsa.size = 256;
  BN_bn2binpad(n, ek->publicArea.unique.rsa.buffer, 256);
  if (der != NULL) {
    unsigned char *out = NULL;
    int n_der = i2d_X509(cert, &out);
    if (n_der <= 0)
      die(GOOGLE_EK, "cannot encode");
    *der = malloc((size_t)n_der);
    memcpy(*der, out, (size_t)n_der);
    *der_len = (size_t)n_der;
    OPENSSL_free(out);
  }
  BN_free(n);
  X509_free(cert);
  BIO_free(bio);
  free(pem);
}

void fuzz_gce_ak(TPM2B_PUBLIC *ak) {
  size_t len, off = 0;
  uint8_t *raw = fuzz_data_file("attestations/gce-cos85/ak_pub.tpmt_public.bin", &len);
  memset(ak, 0, sizeof *ak);
  if (Tss2_MU_TPMT_PUBLIC_Unmarshal(raw, len, &off, &ak->publicArea) != TSS2_RC_SUCCESS ||
      off != len)
    die("gce-cos85 AK", "does not unmarshal");
  free(raw);
}

TPM2B_PUBLIC fuzz_ecc_public(TPM2B_PUBLIC t, EVP_PKEY **key) {
  BIGNUM *x = NULL, *y = NULL;
  *key = EVP_EC_gen("P-256");
  if (*key == NULL || !EVP_PKEY_get_bn_param(*key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
      !EVP_PKEY_get_bn_param(*key, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
    die("P-256 key", "cannot make one");
  t.publicArea.unique.ecc.x.size = 32;
  t.publicArea.unique.ecc.y.size = 32;
  BN_bn2binpad(x, t.publicArea.unique.ecc.x.buffer, 32);
  BN_bn2binpad(y, t.publicArea.unique.ecc.y.buffer, 32);
  BN_free(x);
  BN_free(y);
  return t;
}

EVP_PKEY *fuzz_ak(TPM2B_PUBLIC *pub) {
  static EVP_PKEY *key;
  static TPM2B_PUBLIC ak;
  if (key == NULL)
    ak = fuzz_ecc_public(rt_template_ak(RT_ALG_ECC_P256), &key);
  if (pub != NULL)
    *pub = ak;
  return key;
}

size_t fuzz_tpm_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap) {
  uint8_t der[80];
  size_t der_len = sizeof der, off = 0;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(md, der, &der_len, msg, len) != 1)
    die("signing", "ECDSA failed");
  EVP_MD_CTX_free(md);
  const unsigned char *p = der;
  ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
  TPMT_SIGNATURE t = {.sigAlg = TPM2_ALG_ECDSA};
  t.signature.ecdsa.hash = TPM2_ALG_SHA256;
  t.signature.ecdsa.signatureR.size = 32;
  t.signature.ecdsa.signatureS.size = 32;
  if (e == NULL ||
      BN_bn2binpad(ECDSA_SIG_get0_r(e), t.signature.ecdsa.signatureR.buffer, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(e), t.signature.ecdsa.signatureS.buffer, 32) != 32 ||
      Tss2_MU_TPMT_SIGNATURE_Marshal(&t, out, cap, &off) != TSS2_RC_SUCCESS)
    die("signing", "cannot encode the signature");
  ECDSA_SIG_free(e);
  return off;
}

void fuzz_ak_resign(const ProtobufCBinaryData *attest, ProtobufCBinaryData *sig) {
  if (attest->len < 2)
    return;
  size_t n = (size_t)attest->data[0] << 8 | attest->data[1];
  if (n > attest->len - 2)
    n = attest->len - 2;
  uint8_t *out = malloc(128);
  size_t len = fuzz_tpm_sign(fuzz_ak(NULL), attest->data + 2, n, out, 128);
  free(sig->data);
  sig->data = out;
  sig->len = len;
}

const rt_token_key *fuzz_token_key(void) {
  static rt_token_key *key;
  if (key == NULL) {
    char hex[2 * RT_TOKEN_KEY_LEN + 2], path[PATH_MAX];
    rt_err err;
    memset(hex, '4', 2 * RT_TOKEN_KEY_LEN);
    hex[2 * RT_TOKEN_KEY_LEN] = '\n';
    fuzz_write_file("token.key", hex, 2 * RT_TOKEN_KEY_LEN + 1, path);
    if (rt_token_key_load(path, &key, &err) != RT_OK)
      die("token key", err.msg);
  }
  return key;
}

/* A self-signed EC issuing CA (BasicConstraints CA, keyCertSign, a key
 * identifier for its certificates' authorityKeyIdentifier), valid
 * from a day ago for ten years, written as PEM files. */
static void make_issuer(char *cert_path, char *key_path) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *c = X509_new();
  X509V3_CTX ctx;
  X509_NAME *name = X509_NAME_new();
  if (k == NULL || c == NULL || name == NULL ||
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA", -1,
                                  -1, 0))
    die("issuer", "cannot make the key");
  X509_set_version(c, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
  X509_gmtime_adj(X509_getm_notBefore(c), -86400);
  X509_gmtime_adj(X509_getm_notAfter(c), 10L * 365 * 86400);
  X509_set_subject_name(c, name);
  X509_set_issuer_name(c, name);
  X509_set_pubkey(c, k);
  X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
  X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign");
  X509_EXTENSION *ski = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
  if (bc == NULL || ku == NULL || ski == NULL || !X509_add_ext(c, bc, -1) ||
      !X509_add_ext(c, ku, -1) || !X509_add_ext(c, ski, -1) || !X509_sign(c, k, EVP_sha256()))
    die("issuer", "cannot sign the certificate");
  unsigned char *der = NULL;
  int n = i2d_X509(c, &der);
  BIO *pem = BIO_new(BIO_s_mem()), *kpem = BIO_new(BIO_s_mem());
  char *p;
  if (n <= 0 || !PEM_write_bio_X509(pem, c) ||
      !PEM_write_bio_PrivateKey(kpem, k, NULL, NULL, 0, NULL, NULL))
    die("issuer", "cannot encode");
  long len = BIO_get_mem_data(pem, &p);
  fuzz_write_file("issuer.pem", p, (size_t)len, cert_path);
  len = BIO_get_mem_data(kpem, &p);
  fuzz_write_file("issuer.key", p, (size_t)len, key_path);
  OPENSSL_free(der);
  BIO_free(pem);
  BIO_free(kpem);
  X509_EXTENSION_free(bc);
  X509_EXTENSION_free(ku);
  X509_EXTENSION_free(ski);
  X509_NAME_free(name);
  X509_free(c);
  EVP_PKEY_free(k);
}

static rt_verifier verifier;

static void load_verifier(void) {
  char cert[PATH_MAX], key[PATH_MAX], secret[PATH_MAX], policy[PATH_MAX + 256], ca[PATH_MAX];
  rt_err err;
  make_issuer(cert, key);
  fuzz_write_file(FUZZ_SECRET_NAME, FUZZ_SECRET_DATA, strlen(FUZZ_SECRET_DATA), secret);
  int n = snprintf(policy, sizeof policy,
                   "{\"ek_expiry_advisory\": true, \"secrets\": [{\"name\": \"" FUZZ_SECRET_NAME
                   "\", \"type\": \"sealed\", \"file\": \"%s\"}]}",
                   secret);
  snprintf(ca, sizeof ca, "%s/ekcerts/google-vtpm/ca", RATTEST_FUZZ_DATA);
  verifier.token_key = (rt_token_key *)fuzz_token_key();
  verifier.session_ttl = SESSION_TTL;
  if (rt_ca_set_load(ca, "EK CA", &verifier.ek_roots, &err) != RT_OK ||
      rt_issuer_load(cert, key, &verifier.issuer, &err) != RT_OK ||
      rt_policy_parse(policy, (size_t)n, &verifier.policy, &err) != RT_OK)
    die("verifier", err.msg);
}

rt_verifier *fuzz_verifier(void) {
  rt_err err;
  if (verifier.policy == NULL)
    load_verifier();
  rt_replay_guard_free(verifier.guard);
  verifier.guard = NULL;
  if (rt_replay_guard_new(16, &verifier.guard, &err) != RT_OK)
    die("replay guard", err.msg);
  return &verifier;
}

static void set_public(ProtobufCBinaryData *f, const TPM2B_PUBLIC *pub) {
  uint8_t buf[sizeof(TPM2B_PUBLIC)];
  size_t off = 0;
  rt_err err;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof buf, &off) != TSS2_RC_SUCCESS ||
      rt_token_state_set_bytes(f, buf, off, &err) != RT_OK)
    die("session state", "cannot set a public area");
}

rt_session_state *fuzz_session_state(time_t now) {
  static const uint32_t pcrs[] = {0, 1, 2, 3, 4, 5, 6, 7};
  static TPM2B_PUBLIC ek, ak;
  rt_session_state *st = NULL;
  uint8_t ek_hash[32];
  rt_err err;
  if (ek.publicArea.type == 0) {
    fuzz_google_ek(&ek, NULL, NULL);
    fuzz_ak(&ak);
  }
  memset(ek_hash, 0xe4, sizeof ek_hash);
  if (rt_token_state_new(now, SESSION_TTL, &st, &err) != RT_OK ||
      rt_token_state_set_bytes(&st->credential_secret, fuzz_secret, 32, &err) != RT_OK ||
      rt_token_state_set_bytes(&st->nonce, fuzz_nonce, 32, &err) != RT_OK ||
      rt_token_state_set_bytes(&st->ek_cert_sha256, ek_hash, 32, &err) != RT_OK ||
      rt_token_state_add_selection(st, "sha256", pcrs, 8, &err) != RT_OK)
    die("session state", err.msg);
  set_public(&st->ek_public, &ek);
  set_public(&st->ak_public, &ak);
  st->name = strdup(FUZZ_NAME);
  st->key_algorithm = RT_ALG_ECC_P256;
  return st;
}

uint8_t *fuzz_session_token(size_t *len) {
  rt_session_state *st = fuzz_session_state(time(NULL));
  uint8_t *tok = NULL;
  rt_err err;
  if (rt_token_seal(fuzz_token_key(), st, &tok, len, &err) != RT_OK)
    die("session token", err.msg);
  rt_token_state_free(st);
  return tok;
}

rt_confirm_state *fuzz_confirm_state(time_t now) {
  rt_confirm_state *st = NULL;
  rt_err err;
  if (rt_confirm_state_new(now, SESSION_TTL, &st, &err) != RT_OK ||
      rt_confirm_state_add(st, FUZZ_SECRET_NAME, RATTEST__V1__SECRET_KIND__SECRET_KIND_SEALED,
                           &err) != RT_OK)
    die("confirm state", err.msg);
  memcpy(st->nonce.data, fuzz_nonce, 32);
  st->name = strdup(FUZZ_NAME);
  st->ek_cert_sha256.data = malloc(32);
  memset(st->ek_cert_sha256.data, 0xe4, 32);
  st->ek_cert_sha256.len = 32;
  return st;
}

uint8_t *fuzz_confirm_token(size_t *len) {
  rt_confirm_state *st = fuzz_confirm_state(time(NULL));
  uint8_t *tok = NULL;
  rt_err err;
  if (rt_confirm_seal(fuzz_token_key(), st, &tok, len, &err) != RT_OK)
    die("confirm token", err.msg);
  rt_confirm_state_free(st);
  return tok;
}

size_t fuzz_seal_raw(const char *context, const uint8_t *pt, size_t pt_len, uint8_t *out,
                     size_t cap) {
  uint8_t aad[64];
  size_t aad_len = strlen(context);
  int outl = 0, fin = 0;
  if (pt_len > cap || cap - pt_len < RT_TOKEN_MIN_LEN || aad_len + 1 > sizeof aad ||
      pt_len > INT_MAX)
    return 0;
  memcpy(aad, context, aad_len);
  aad[aad_len++] = RT_TOKEN_VERSION;
  out[0] = RT_TOKEN_VERSION;
  memset(out + 1, 0x17, RT_TOKEN_IV_LEN); /* any IV: deterministic inputs */
  uint8_t *ct = out + 1 + RT_TOKEN_IV_LEN;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (c == NULL || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, RT_TOKEN_IV_LEN, NULL) != 1 ||
      EVP_EncryptInit_ex(c, NULL, NULL, rt_token_key_bytes(fuzz_token_key()), out + 1) != 1 ||
      EVP_EncryptUpdate(c, NULL, &outl, aad, (int)aad_len) != 1 ||
      EVP_EncryptUpdate(c, ct, &outl, pt, (int)pt_len) != 1 ||
      EVP_EncryptFinal_ex(c, ct + outl, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, RT_TOKEN_TAG_LEN, ct + pt_len) != 1)
    die("sealing", "AES-GCM failed");
  EVP_CIPHER_CTX_free(c);
  return 1 + RT_TOKEN_IV_LEN + pt_len + RT_TOKEN_TAG_LEN;
}

void fuzz_call(const ProtobufCMessageDescriptor *desc, rt_rpc_handler handler,
               void (*free_response)(ProtobufCMessage *), void (*fix)(ProtobufCMessage *),
               const uint8_t *data, size_t size) {
  rt_verifier *v = fuzz_verifier();
  ProtobufCMessage *req = protobuf_c_message_unpack(desc, NULL, size, data);
  if (req == NULL)
    return;
  if (fix != NULL)
    fix(req);
  rt_rpc_call_info info = {.peer = "ipv4:192.0.2.1:40000"};
  rt_rpc_status st = {0};
  ProtobufCMessage *resp = NULL;
  if (handler(v, &info, req, &resp, &st) == GRPC_STATUS_OK)
    free_response(resp);
  protobuf_c_message_free_unpacked(req, NULL);
}

void fuzz_put_token(ProtobufCBinaryData *field, uint8_t *token, size_t len) {
  free(field->data);
  field->data = token;
  field->len = len;
}
