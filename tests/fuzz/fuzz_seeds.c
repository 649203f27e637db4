/* Writes the fuzz targets' seeds into DIR/<target>/: the real inputs of
 * tests/data where a target reads them (event logs, public areas, quotes,
 * signatures, certificates), and what tests/data cannot hold because it is
 * made with the fuzz harness's fixed keys and sessions (requests, token
 * plaintexts, TSS2 key files, policies and state files in their
 * documented forms). scripts/fuzz starts every run from these; ctest
 * (fuzz_seeds, then fuzz_replay_<target>) replays them.
 *
 * Usage: fuzz_seeds DIR */
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tss2/tss2_mu.h>

#include "fuzz.h"
#include "fuzz_seeds.h"
#include "rattest.pb-c.h"
#include "rt_possession.h"
#include "rt_secret_proof.h"
#include "rt_templates.h"
#include "rt_tss2key.h"

#define MAX_SEED (1 << 20)

/* The generator keeps what it made until it exits (fuzz_seeds.h): no leak
 * report for a run of a second under ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "detect_leaks=0";
}

static const char *out_dir;
static int n_seeds;

static void fail(const char *what) {
  fprintf(stderr, "fuzz_seeds: %s\n", what);
  exit(1);
}

/* What the parts point at, freed at exit. */
static void *kept[256];
static size_t n_kept;

static void free_kept(void) {
  for (size_t i = 0; i < n_kept; i++)
    free(kept[i]);
}

void *keep(void *p) {
  if (n_kept == sizeof kept / sizeof kept[0])
    fail("too many parts");
  return kept[n_kept++] = p;
}

/* DIR/target/name = mode byte (mode >= 0) then data. */
void put(const char *target, const char *name, int mode, const void *data, size_t len) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", out_dir, target);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    fail(path);
  if (mode >= 0)
    fputc(mode, f);
  if ((len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
    fail(path);
  n_seeds++;
}

void put_data(const char *target, const char *name, int mode, const char *rel) {
  size_t len;
  uint8_t *d = fuzz_data_file(rel, &len);
  put(target, name, mode, d, len);
  free(d);
}

void put_parts(const char *target, const char *name, int mode, const fuzz_part *p, size_t n) {
  uint8_t *buf = malloc(MAX_SEED);
  size_t len = fuzz_join(p, n, buf, MAX_SEED);
  if (len == 0)
    fail(name);
  put(target, name, mode, buf, len);
  free(buf);
}

void put_msg(const char *target, const char *name, int mode, const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(len + 1);
  protobuf_c_message_pack(m, buf);
  put(target, name, mode, buf, len);
  free(buf);
}

fuzz_part data_part(const char *rel) {
  size_t len;
  uint8_t *d = keep(fuzz_data_file(rel, &len));
  return (fuzz_part){d, len};
}

/* A TPM2B_PUBLIC marshalled (malloc'd, never freed: the program is short). */
fuzz_part marshal_pub(const TPM2B_PUBLIC *pub) {
  uint8_t *buf = keep(malloc(sizeof *pub));
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof *pub, &off) != TSS2_RC_SUCCESS)
    fail("TPM2B_PUBLIC");
  return (fuzz_part){buf, off};
}

/* The quote as Finish carries it: the TPMS_ATTEST in a TPM2B_ATTEST. */
fuzz_part wrapped_quote(const char *rel) {
  fuzz_part raw = data_part(rel);
  TPM2B_ATTEST a = {.size = (UINT16)raw.n};
  uint8_t *buf = keep(malloc(sizeof a));
  size_t off = 0;
  memcpy(a.attestationData, raw.p, raw.n);
  if (Tss2_MU_TPM2B_ATTEST_Marshal(&a, buf, sizeof a, &off) != TSS2_RC_SUCCESS)
    fail(rel);
  return (fuzz_part){buf, off};
}

#define GCE "attestations/gce-cos85/"
#define WIN "eventlogs/windows-gcp-shielded-vm/"

static void eventlog_seeds(void) {
  static const char *const logs[] = {"eventlogs/glinux-alex-laptop/glinux-alex.bin",
                                     "eventlogs/arch-linux-workstation/arch-linux-workstation.bin",
                                     "eventlogs/rhel8-gce-vtpm/rhel8-uefi.bin", WIN "eventlog.bin",
                                     "eventlogs/gce-cos85/eventlog.bin"};
  for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "log%zu", i);
    put_data("eventlog", name, -1, logs[i]);
  }
}

static void tpm_seeds(void) {
  TPM2B_PUBLIC ak, ek;
  EVP_PKEY *k;
  fuzz_gce_ak(&ak);
  fuzz_google_ek(&ek, NULL, NULL);
  fuzz_part p[4] = {marshal_pub(&ak)};
  put("tpm", "public-gce-ak", 0, p[0].p, p[0].n);
  fuzz_part e = marshal_pub(&ek);
  put("tpm", "public-google-ek", 0, e.p, e.n);
  TPM2B_PUBLIC key = fuzz_ecc_public(rt_template_key(RT_ALG_ECC_P256), &k);
  fuzz_part kp = marshal_pub(&key);
  put("tpm", "public-key-ecc", 0, kp.p, kp.n);
  static const char *const banks[] = {"sha1", "sha256", "sha384"};
  for (size_t i = 0; i < 3; i++) {
    char rel[128], name[32];
    snprintf(rel, sizeof rel, GCE "quote_%s.tpms_attest.bin", banks[i]);
    fuzz_part q[2] = {wrapped_quote(rel)};
    snprintf(rel, sizeof rel, GCE "quote_%s.tpmt_signature.bin", banks[i]);
    q[1] = data_part(rel);
    snprintf(name, sizeof name, "quote-%s", banks[i]);
    put_parts("tpm", name, 1, q, 2);
    snprintf(name, sizeof name, "signature-%s", banks[i]);
    put("tpm", name, 4, q[1].p, q[1].n);
    fuzz_part c[4] = {kp, q[0], q[1], q[1]};
    snprintf(name, sizeof name, "certify-%s", banks[i]);
    put_parts("tpm", name, 3, c, 4);
    q[1] = data_part("eventlogs/gce-cos85/eventlog.bin");
    snprintf(name, sizeof name, "pcrs-%s", banks[i]);
    put_parts("tpm", name, 2, q, 2);
  }
  fuzz_part w[2] = {wrapped_quote(WIN "quote_sha1.tpms_attest.bin"),
                    data_part(WIN "quote_sha1.tpmt_signature.bin")};
  put_parts("tpm", "quote-windows", 1, w, 2);
  fuzz_part wl[2] = {w[0], data_part(WIN "eventlog.bin")};
  put_parts("tpm", "pcrs-windows", 2, wl, 2);
  EVP_PKEY_free(k);
}

static void platform_seeds(void) {
  uint8_t *der;
  size_t len;
  TPM2B_PUBLIC ek;
  fuzz_google_ek(&ek, &der, &len);
  put("platform_cert", "google-ek-x509", -1, der, len);
  free(der);
  /* The RFC 7468 attribute certificate, its PEM armour removed. */
  fuzz_part pem = data_part("platformcerts/rfc7468-attribute-cert.pem");
  EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
  uint8_t *out = malloc(pem.n);
  int n = 0, fin = 0;
  const char *b = strstr((const char *)pem.p, "-----\n"),
             *e = strstr((const char *)pem.p, "-----END");
  if (ctx == NULL || b == NULL || e == NULL)
    fail("rfc7468-attribute-cert.pem");
  b += 6;
  EVP_DecodeInit(ctx);
  if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)b, (int)(e - b)) < 0 ||
      EVP_DecodeFinal(ctx, out + n, &fin) != 1)
    fail("rfc7468-attribute-cert.pem base64");
  put("platform_cert", "rfc7468-attribute-cert", -1, out, (size_t)(n + fin));
  EVP_ENCODE_CTX_free(ctx);
  free(out);
}

/* Loadable, importable and sealed keys, with and without a PolicyPCR,
 * description and RSA parent, each as DER and PEM. */
static void tss2key_seeds(void) {
  EVP_PKEY *k;
  for (int i = 0; i < 4; i++) {
    rt_tss2key key = {.type = RT_TSS2KEY_LOADABLE, .empty_auth = 1, .parent = 0x40000001};
    key.pub = fuzz_ecc_public(rt_template_key(RT_ALG_ECC_P256), &k);
    EVP_PKEY_free(k);
    key.priv.size = 126;
    memset(key.priv.buffer, 0x33, key.priv.size);
    if (i == 1) {
      key.type = RT_TSS2KEY_IMPORTABLE;
      key.has_secret = 1;
      key.secret.size = 66;
      memset(key.secret.secret, 0x44, key.secret.size);
      key.parent = 0x81000001;
    } else if (i == 2) {
      key.has_policy = key.has_pcr_policy = 1;
      key.policy_pcrs.count = 1;
      key.policy_pcrs.pcrSelections[0] = (TPMS_PCR_SELECTION){TPM2_ALG_SHA256, 3, {0x81, 0, 0}};
      key.policy_pcr_digest.size = 32;
      memset(key.policy_pcr_digest.buffer, 0x55, 32);
      snprintf(key.description, sizeof key.description, "rattest:db");
    } else if (i == 3) {
      key.type = RT_TSS2KEY_SEALED;
      key.rsa_parent = 1;
      key.empty_auth = 0;
    }
    uint8_t *der = NULL;
    char *pem = NULL, name[16];
    size_t len;
    rt_err err;
    if (rt_tss2key_encode_der(&key, &der, &len, &err) != RT_OK)
      fail(err.msg);
    snprintf(name, sizeof name, "key%d.der", i);
    put("tss2key", name, -1, der, len);
    if (rt_tss2key_encode_pem(&key, &pem, &len, &err) != RT_OK)
      fail(err.msg);
    snprintf(name, sizeof name, "key%d.pem", i);
    put("tss2key", name, -1, pem, len);
    OPENSSL_free(der);
    OPENSSL_free(pem);
  }
}

static void token_seeds(void) {
  rt_session_state *ss = fuzz_session_state(FUZZ_NOW - 10);
  rt_confirm_state *cs = fuzz_confirm_state(FUZZ_NOW - 10);
  uint8_t *tok;
  size_t len;
  rt_err err;
  put_msg("token", "session-state", 1, &ss->base);
  put_msg("token", "confirm-state", 2, &cs->base);
  if (rt_token_seal(fuzz_token_key(), ss, &tok, &len, &err) != RT_OK)
    fail(err.msg);
  put("token", "session-token", 0, tok, len);
  free(tok);
  if (rt_confirm_seal(fuzz_token_key(), cs, &tok, &len, &err) != RT_OK)
    fail(err.msg);
  put("token", "confirm-token", 0, tok, len);
  free(tok);
  rt_token_state_free(ss);
  rt_confirm_state_free(cs);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  out_dir = argv[1];
  atexit(free_kept);
  mkdir(out_dir, 0700);
  eventlog_seeds();
  tpm_seeds();
  platform_seeds();
  text_seeds();
  tss2key_seeds();
  token_seeds();
  begin_seeds();
  finish_seeds();
  confirm_seeds();
  printf("fuzz_seeds: %d seeds in %s\n", n_seeds, out_dir);
  return 0;
}
