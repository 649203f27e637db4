/* common/: errors, logging levels, file limits, the CLI parsers, hex, the
 * name rule, the hash algorithm table. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_cli.h"
#include "rt_err.h"
#include "rt_file.h"
#include "rt_hash.h"
#include "rt_hex.h"
#include "rt_kdf.h"
#include "rt_log.h"
#include "rt_name.h"
#include "rt_pcrsel.h"
#include "rt_secret_proof.h"
#include "rt_test.h"

static void test_err(void) {
  rt_err e;
  CHECK(rt_err_set(&e, RT_E_IO, "open %s", "x") == RT_E_IO, "return code");
  CHECK(rt_err_prefix(&e, "loading %d: ", 7) == RT_E_IO, "prefix keeps the code");
  CHECK(strcmp(e.msg, "loading 7: open x") == 0, "msg \"%s\"", e.msg);
  /* An overlong message is cut at the end, never overflowed. */
  char longtext[2000];
  memset(longtext, 'z', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = '\0';
  rt_err_set(&e, RT_E_INVALID, "%s", longtext);
  rt_err_prefix(&e, "ctx: ");
  CHECK(strlen(e.msg) == sizeof e.msg - 1, "length %zu", strlen(e.msg));
  CHECK(strncmp(e.msg, "ctx: zzz", 8) == 0, "prefix lost");
  CHECK(rt_err_set(NULL, RT_E_TPM, "ignored") == RT_E_TPM, "NULL err");
  rt_err_clear(&e);
  CHECK(e.code == RT_OK && e.msg[0] == '\0', "clear");
  CHECK(strcmp(rt_code_name(RT_E_NOT_FOUND), "not-found") == 0, "code name");
}

static void test_cli(void) {
  rt_err e;
  uint64_t v = 0;
  size_t sz = 0;
  CHECK(rt_cli_parse_u64("--n", "42", 1, 100, &v, &e) == RT_OK && v == 42, "42");
  CHECK(rt_cli_parse_u64("--n", "0x81000100", 0, UINT32_MAX, &v, &e) == RT_OK && v == 0x81000100u,
        "hex");
  CHECK(rt_cli_parse_u64("--n", "abc", 0, 100, &v, &e) == RT_E_INVALID, "abc accepted");
  CHECK_STR_CONTAINS(e.msg, "--n");
  CHECK(rt_cli_parse_u64("--n", "12x", 0, 100, &v, &e) == RT_E_INVALID, "12x accepted");
  CHECK(rt_cli_parse_u64("--n", "-1", 0, 100, &v, &e) == RT_E_INVALID, "-1 accepted");
  CHECK(rt_cli_parse_u64("--n", "", 0, 100, &v, &e) == RT_E_INVALID, "empty accepted");
  CHECK(rt_cli_parse_u64("--n", "101", 0, 100, &v, &e) == RT_E_INVALID, "out of range");
  CHECK(rt_cli_parse_u64("--n", "99999999999999999999999", 0, UINT64_MAX, &v, &e) == RT_E_INVALID,
        "overflow accepted");
  CHECK(rt_cli_parse_size("--s", "4MiB", &sz, &e) == RT_OK && sz == 4u * 1024 * 1024, "4MiB");
  CHECK(rt_cli_parse_size("--s", "512K", &sz, &e) == RT_OK && sz == 512u * 1024, "512K");
  CHECK(rt_cli_parse_size("--s", "100", &sz, &e) == RT_OK && sz == 100, "100");
  CHECK(rt_cli_parse_size("--s", "4TB", &sz, &e) == RT_E_INVALID, "4TB accepted");
  CHECK(rt_cli_parse_size("--s", "18446744073709551615G", &sz, &e) == RT_E_INVALID,
        "size overflow accepted");
  CHECK(rt_cli_parse_duration_ms("--t", "500ms", &v, &e) == RT_OK && v == 500, "500ms");
  CHECK(rt_cli_parse_duration_ms("--t", "30", &v, &e) == RT_OK && v == 30000, "30");
  CHECK(rt_cli_parse_duration_ms("--t", "2h", &v, &e) == RT_OK && v == 7200000, "2h");
  CHECK(rt_cli_parse_duration_ms("--t", "5d", &v, &e) == RT_E_INVALID, "5d accepted");
}

static void test_file(const char *dir) {
  rt_err e;
  char path[512];
  snprintf(path, sizeof path, "%s/f.bin", dir);
  FILE *f = fopen(path, "wb");
  for (int i = 0; i < 10000; i++)
    fputc(i & 0xff, f);
  fclose(f);
  uint8_t *d = NULL;
  size_t len = 0;
  CHECK(rt_file_read(path, 10000, &d, &len, &e) == RT_OK && len == 10000, "exact limit");
  CHECK(d != NULL && d[9999] == (9999 & 0xff) && d[10000] == 0, "content / NUL");
  free(d);
  CHECK(rt_file_read(path, 9999, &d, &len, &e) == RT_E_INVALID, "over limit accepted");
  CHECK(d == NULL, "data on failure");
  CHECK_STR_CONTAINS(e.msg, "larger than the limit");
  CHECK(rt_file_read(dir, 100, &d, &len, &e) == RT_E_INVALID, "directory accepted");
  snprintf(path, sizeof path, "%s/missing", dir);
  CHECK(rt_file_read(path, 100, &d, &len, &e) == RT_E_IO, "missing file");
  CHECK_STR_CONTAINS(e.msg, "missing");
  /* Files that report size 0 but have content (like securityfs). */
  CHECK(rt_file_read("/proc/self/status", 1 << 20, &d, &len, &e) == RT_OK && len > 0,
        "proc file read as empty");
  free(d);
}

static void test_log(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/log.txt", dir);
  fflush(stderr);
  int saved = dup(2);
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  dup2(fd, 2);
  close(fd);
  rt_log_set_level(RT_LOG_WARN);
  rt_info("hidden-info");
  rt_warn("shown-warn %d", 1);
  rt_log_set_level(RT_LOG_DEBUG);
  rt_debug("shown-debug");
  rt_log_set_level((rt_log_level)99); /* clamped, not out of range */
  rt_debug("clamped-debug");
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char buf[4096] = "";
  FILE *f = fopen(path, "r");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  CHECK(strstr(buf, "hidden-info") == NULL, "info shown at warn level");
  CHECK_STR_CONTAINS(buf, "warn: shown-warn 1\n");
  CHECK_STR_CONTAINS(buf, "debug: shown-debug\n");
  CHECK_STR_CONTAINS(buf, "clamped-debug");
  CHECK(rt_log_get_level() == RT_LOG_DEBUG, "level not clamped");
}

static void test_hex(void) {
  const uint8_t b[3] = {0x00, 0xab, 0x7f};
  char hex[7];
  uint8_t out[3] = {0};
  rt_hex(b, 3, hex);
  CHECK(strcmp(hex, "00ab7f") == 0, "rt_hex: %s", hex);
  CHECK(rt_unhex("00AB7f", out, 3) && memcmp(out, b, 3) == 0, "either case");
  CHECK(!rt_unhex(NULL, out, 3), "NULL");
  CHECK(!rt_unhex("00ab7", out, 3) && !rt_unhex("00ab7f00", out, 3), "other lengths");
  CHECK(!rt_unhex("00ag7f", out, 3) && !rt_unhex("00 b7f", out, 3) && !rt_unhex("0xab7f", out, 3),
        "non-hex characters");
  CHECK(rt_unhex("", out, 0), "empty for 0 bytes");
}

/* The one name rule (identities, secrets): 1-64 of [A-Za-z0-9._-], never a
 * path or a directory's name. */
static void test_name(void) {
  rt_err e;
  char longest[RT_NAME_MAX + 2];
  memset(longest, 'a', sizeof longest);
  longest[RT_NAME_MAX] = '\0';
  const char *good[] = {"web-1.prod_X", "a", ".a", "a..b", "...", longest};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CHECK(rt_name_check(good[i], &e) == RT_OK, "refused \"%s\": %s", good[i], e.msg);
  longest[RT_NAME_MAX] = 'a';
  longest[RT_NAME_MAX + 1] = '\0';
  const char *bad[] = {NULL, "", longest, ".", "..", "a/b", "../x", "a b", "x:y", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(rt_name_check(bad[i], &e) == RT_E_INVALID, "accepted \"%s\"", bad[i] ? bad[i] : "NULL");
  CHECK(rt_name_check("..", &e) == RT_E_INVALID && strstr(e.msg, "reserved") != NULL, "%s", e.msg);
  /* The name of an EK ("name_binding": "ek"): a valid name and DNS label. */
  char ek_name[RT_NAME_EK_SIZE];
  const char *ek = "3f9a0c1d2b4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd";
  CHECK(rt_name_from_ek(ek, ek_name, &e) == RT_OK && strcmp(ek_name, "ek-3f9a0c1d2b4e5f60") == 0,
        "%s", ek_name);
  CHECK(rt_name_check(ek_name, &e) == RT_OK, "%s", e.msg);
  const char *bad_ek[] = {
      NULL, "", "3F9A0C1D2B4E5F60718293A4B5C6D7E8F90123456789ABCDEF0123456789ABCD",
      "3f9a0c1d2b4e5f60", "3f9a0c1d2b4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdX"};
  for (size_t i = 0; i < sizeof bad_ek / sizeof bad_ek[0]; i++)
    CHECK(rt_name_from_ek(bad_ek[i], ek_name, &e) == RT_E_INVALID, "EK %zu accepted", i);
}

/* Known answers from Python's hmac/hashlib over the documented message. */
static void test_secret_proof(void) {
  const uint8_t nonce[3] = {1, 2, 3};
  uint8_t mac[32], digest[32];
  char hex[65];
  rt_err e;
  CHECK(rt_secret_proof_hmac((const uint8_t *)"0123456789abcdef", 16, "disk", nonce, 3, mac, &e) ==
            RT_OK,
        "hmac: %s", e.msg);
  rt_hex(mac, 32, hex);
  CHECK(strcmp(hex, "c5dfb04f4e7dab537c181799b6acee4f24164a2beee55cf104acc2ccac290fdc") == 0,
        "hmac %s", hex);
  CHECK(rt_secret_proof_digest("disk", nonce, 3, digest, &e) == RT_OK, "digest");
  rt_hex(digest, 32, hex);
  CHECK(strcmp(hex, "6eb296717d823e303190d821a488c026a5f59c1435d8d47912925d891746b291") == 0,
        "digest %s", hex);
  /* Another name or nonce is another proof. */
  uint8_t other[32];
  CHECK(rt_secret_proof_hmac((const uint8_t *)"0123456789abcdef", 16, "disk2", nonce, 3, other,
                             &e) == RT_OK &&
            memcmp(mac, other, 32) != 0,
        "name not bound");
  CHECK(rt_secret_proof_hmac((const uint8_t *)"0123456789abcdef", 16, "disk", nonce, 2, other,
                             &e) == RT_OK &&
            memcmp(mac, other, 32) != 0,
        "nonce not bound");
  CHECK(rt_secret_proof_digest("", nonce, 3, digest, &e) == RT_E_INVALID, "empty name");
}

/* The one algorithm table: lookups both ways, sizes OpenSSL agrees with,
 * and the TPM subset the PCR-bank and KDF lookups take from it. */
static void test_hash(void) {
  const rt_hash *a = rt_hash_by_name("sha384");
  CHECK(a != NULL && a->id == TPM2_ALG_SHA384 && a->size == 48 && a->tpm, "sha384");
  CHECK(a != NULL && strcmp(a->evp_name, "SHA384") == 0, "sha384 EVP name");
  CHECK(rt_hash_by_id(TPM2_ALG_SM3_256) != NULL && !rt_hash_by_id(TPM2_ALG_SM3_256)->tpm,
        "sm3_256");
  CHECK(rt_hash_by_name(NULL) == NULL && rt_hash_by_name("SHA256") == NULL &&
            rt_hash_by_name("sha3_256") == NULL && rt_hash_by_id(TPM2_ALG_SHA3_256) == NULL,
        "unknown algorithms");
  CHECK(rt_hash_at(RT_HASH_COUNT) == NULL, "past the end");
  for (size_t i = 0; i < RT_HASH_COUNT; i++) {
    const rt_hash *e = rt_hash_at(i);
    CHECK(rt_hash_by_id(e->id) == e && rt_hash_by_name(e->name) == e, "%s lookups", e->name);
    CHECK(e->size <= RT_HASH_MAX_DIGEST, "%s size", e->name);
    EVP_MD *md = EVP_MD_fetch(NULL, e->evp_name, NULL);
    CHECK(md == NULL ? e->id == TPM2_ALG_SM3_256 : EVP_MD_get_size(md) == e->size,
          "%s: OpenSSL's %s", e->name, e->evp_name);
    EVP_MD_free(md);
    /* PCR banks and TPM hashes are exactly the table's TPM algorithms. */
    CHECK((rt_pcr_bank_parse(e->name) == e->id) == e->tpm, "%s bank", e->name);
    CHECK((rt_pcr_bank_size(e->id) == e->size) == e->tpm, "%s bank size", e->name);
    CHECK((rt_tpm_hash_name(e->id) == e->evp_name) == e->tpm, "%s hash name", e->name);
    CHECK((rt_tpm_hash_size(e->id) == e->size) == e->tpm, "%s hash size", e->name);
  }
}

/* Addresses: HOST:PORT with a port the kernel can bind, never a default
 * port or one gRPC would wrap modulo 65536. */
static void test_hostport(void) {
  rt_err e;
  uint16_t port = 0;
  static const struct {
    const char *s;
    unsigned min;
    uint16_t port;
  } good[] = {
      {"localhost:50051", 1, 50051},
      {"127.0.0.1:1", 1, 1},
      {"verifier.example:65535", 1, 65535},
      {"[::1]:50051", 1, 50051},
      {"[fe80::1%eth0]:443", 1, 443},
      {"127.0.0.1:0", 0, 0},
      {"[::]:0", 0, 0},
      {"my_host-1.example:8", 1, 8},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    rt_code c = rt_cli_parse_hostport("--a", good[i].s, good[i].min, &port, &e);
    CHECK(c == RT_OK && port == good[i].port, "%s: %s", good[i].s, c == RT_OK ? "port" : e.msg);
  }
  CHECK(rt_cli_parse_hostport("--a", "h:1", 1, NULL, &e) == RT_OK, "NULL port out");
  static const struct {
    const char *s;
    unsigned min;
    const char *why;
  } bad[] = {
      {"localhost:99999", 1, "port 99999 is out of range [1, 65535]"},
      {"localhost:65536", 1, "out of range"},
      {"127.0.0.1:0", 1, "port 0 is out of range [1, 65535]"},
      {"localhost", 1, "has no port"},
      {"localhost:", 1, "has no port"},
      {"[::1]", 1, "has no port"},
      {"::1", 1, "an IPv6 address goes in brackets"},
      {"::1:50051", 1, "an IPv6 address goes in brackets"},
      {":50051", 1, "has no host"},
      {"[]:50051", 1, "has no host"},
      {"[::1:50051", 1, "an IPv6 address goes in brackets"},
      {"[::1]x:1", 1, "is not HOST:PORT"},
      {"a b:1", 1, "host"},
      {"dns:///v:1", 1, "is not HOST:PORT"},
      {"v/x:1", 1, "the host must be"},
      {"[::g]:1", 1, "the host must be"},
      {"h:+1", 1, "is not a number"},
      {"h:-1", 1, "is not a number"},
      {"h:0x10", 1, "is not a number"},
      {"h:050051", 1, "is not a number"},
      {"h:1 ", 1, "is not a number"},
      {"h:99999999999999999999", 1, "out of range"},
      {"", 1, "HOST:PORT is required"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(rt_cli_parse_hostport("--a", bad[i].s, bad[i].min, &port, &e) == RT_E_INVALID,
          "%s accepted", bad[i].s);
    CHECK_STR_CONTAINS(e.msg, bad[i].why);
    CHECK(strncmp(e.msg, "--a: ", 5) == 0, "flag not named: %s", e.msg);
  }
  CHECK(rt_cli_parse_hostport("--a", NULL, 1, &port, &e) == RT_E_INVALID, "NULL accepted");
}

int main(void) {
  char dir[] = "/tmp/rt_test_common.XXXXXX";
  if (mkdtemp(dir) == NULL)
    return 2;
  test_err();
  test_hex();
  test_name();
  test_hash();
  test_secret_proof();
  test_cli();
  test_hostport();
  test_file(dir);
  test_log(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rt_test_done("test_common");
}
