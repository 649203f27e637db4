/* verifier/policy: the default policy, a full valid policy, every rejection
 * with the JSON path in its message, PCR and algorithm evaluation, subject
 * and SAN rendering. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "rt_test.h"

#define H64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define H64B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define H40 "0011223344556677889900112233445566778899"
#define H96 H64 "00112233445566778899aabbccddeeff"

static rt_policy *parse(const char *json, rt_err *e) {
  rt_policy *p = NULL;
  if (rt_policy_parse(json, strlen(json), &p, e) != RT_OK)
    return NULL;
  return p;
}

static void test_default(void) {
  rt_err e;
  rt_policy *p = NULL;
  CHECK(rt_policy_default(&p, &e) == RT_OK, "%s", e.msg);
  if (p == NULL)
    return;
  CHECK(rt_policy_is_default(p), "default not reported");
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  CHECK(rt_policy_selection(p, sel) == 1 && sel[0].bank == TPM2_ALG_SHA256 && sel[0].mask == 0xff,
        "default selection");
  CHECK(rt_policy_pcr_mask(p, TPM2_ALG_SHA256) == 0xff, "sha256 mask");
  CHECK(rt_policy_pcr_mask(p, TPM2_ALG_SHA1) == 0, "sha1 mask");
  CHECK(rt_policy_pcr_mask(p, TPM2_ALG_SHA512) == 0, "sha512 mask");
  CHECK(rt_policy_cert_lifetime(p) == 30 * 24 * 3600, "lifetime %lld",
        (long long)rt_policy_cert_lifetime(p));
  CHECK(rt_policy_require_event_log(p), "event log not required");
  CHECK(!rt_policy_allow_sha1(p), "sha1 allowed");
  CHECK(rt_policy_key_alg_allowed(p, RT_ALG_ECC_P256) &&
            rt_policy_key_alg_allowed(p, RT_ALG_RSA_2048),
        "key algorithms");
  CHECK(rt_policy_ak_alg_allowed(p, RT_ALG_ECC_P256) &&
            rt_policy_ak_alg_allowed(p, RT_ALG_RSA_2048),
        "AK algorithms");
  CHECK(!rt_policy_key_alg_allowed(p, RT_ALG_NONE), "NONE allowed");
  CHECK(!rt_policy_key_alg_allowed(p, (rt_key_alg)3) &&
            !rt_policy_key_alg_allowed(p, (rt_key_alg)99),
        "unknown algorithm allowed");

  uint8_t v[48];
  memset(v, 0x42, sizeof v);
  char why[256];
  for (uint32_t i = 0; i < 8; i++)
    CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, i, v, 32, why, sizeof why) == RT_POLICY_ALLOW,
          "PCR %u: %s", i, why);
  CHECK_STR_CONTAINS(why, "any value");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 8, v, 32, why, sizeof why) == RT_POLICY_DENY,
        "PCR 8");
  CHECK_STR_CONTAINS(why, "PCR sha256:8 is not in the policy's selection");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA1, 0, v, 20, why, sizeof why) == RT_POLICY_DENY,
        "sha1");
  CHECK_STR_CONTAINS(why, "PCR sha1:0 is not in the policy's selection");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 99, v, 32, why, sizeof why) == RT_POLICY_DENY,
        "PCR 99");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, v, 20, why, sizeof why) == RT_POLICY_DENY,
        "short value");
  CHECK_STR_CONTAINS(why, "PCR sha256:0 value is 20 bytes, the bank's digests are 32");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, NULL, 32, NULL, 0) == RT_POLICY_DENY,
        "NULL value");

  rt_policy_identity id;
  CHECK(rt_policy_render_identity(p, "web-01", H64, &id, &e) == RT_OK, "%s", e.msg);
  CHECK(strcmp(id.common_name, "web-01") == 0 && id.organization == NULL &&
            id.organizational_unit == NULL && id.n_dns_sans == 0,
        "default identity");
  rt_policy_identity_free(&id);
  CHECK(!rt_policy_server_auth(p), "default certificates serve TLS servers");
  CHECK(!rt_policy_ek_expiry_advisory(p), "default policy accepts expired EK certificates");
  rt_policy_free(p);

  /* "{}" is equivalent but chosen on purpose. */
  p = parse("{}", &e);
  CHECK(p != NULL && !rt_policy_is_default(p), "{} reported as default");
  CHECK(p != NULL && rt_policy_pcr_mask(p, TPM2_ALG_SHA256) == 0xff &&
            rt_policy_cert_lifetime(p) == 2592000,
        "{} defaults");
  rt_policy_free(p);
}

static const char *FULL =
    "{\n"
    "  \"allow_sha1\": true,\n"
    "  \"require_event_log\": false,\n"
    "  \"pcrs\": {\"sha1\": [0], \"sha256\": [23, 0, 1, 7], \"sha384\": [4]},\n"
    "  \"expected\": {\n"
    "    \"sha256\": {\"0\": [\"" H64 "\", \"" H64B "\"], \"1\": \"any\", \"7\": [\"" H64 "\"]},\n"
    "    \"sha1\": {\"0\": [\"" H40 "\"]},\n"
    "    \"sha384\": {\"4\": [\"" H96 "\"]}\n"
    "  },\n"
    "  \"key_algorithms\": [\"rsa-2048\"],\n"
    "  \"ak_algorithms\": [\"ecc-p256\"],\n"
    "  \"cert_lifetime\": \"48h\",\n"
    "  \"subject\": {\"common_name\": \"{name}.fleet\", \"organization\": \"Acme\",\n"
    "              \"organizational_unit\": \"ek {ek}\"},\n"
    "  \"dns_sans\": [\"{name}.hosts.example.com\", \"static.example.com\"]\n"
    "}\n";

static void test_server_auth(void) {
  rt_err e;
  rt_policy *p = parse("{\"server_auth\": true}", &e);
  CHECK(p != NULL && rt_policy_server_auth(p), "server_auth not read: %s", e.msg);
  rt_policy_free(p);
  p = parse("{\"server_auth\": false}", &e);
  CHECK(p != NULL && !rt_policy_server_auth(p), "server_auth false read as true");
  rt_policy_free(p);
}

static void test_ek_expiry(void) {
  rt_err e;
  rt_policy *p = parse("{\"ek_expiry_advisory\": true}", &e);
  CHECK(p != NULL && rt_policy_ek_expiry_advisory(p), "ek_expiry_advisory not read: %s", e.msg);
  rt_policy_free(p);
  p = parse("{\"ek_expiry_advisory\": \"yes\"}", &e);
  CHECK(p == NULL && strstr(e.msg, "ek_expiry_advisory") != NULL,
        "a string ek_expiry_advisory accepted or unnamed: %s", e.msg);
  rt_policy_free(p);
}

/* "name_binding" (issue 14): first come by default, "registered", "ek". */
static void test_name_binding(void) {
  rt_err e;
  rt_policy *p = parse("{}", &e);
  CHECK(p != NULL && rt_policy_names(p) == RT_POLICY_NAMES_FIRST_COME, "default: %s", e.msg);
  rt_policy_free(p);
  p = parse("{\"name_binding\": \"registered\"}", &e);
  CHECK(p != NULL && rt_policy_names(p) == RT_POLICY_NAMES_REGISTERED, "registered: %s", e.msg);
  rt_policy_free(p);
  p = parse("{\"name_binding\": \"first-come\"}", &e);
  CHECK(p != NULL && rt_policy_names(p) == RT_POLICY_NAMES_FIRST_COME, "first-come: %s", e.msg);
  rt_policy_free(p);
  p = parse("{\"name_binding\": \"ek\"}", &e);
  CHECK(p != NULL && rt_policy_names(p) == RT_POLICY_NAMES_EK, "ek: %s", e.msg);
  rt_policy_free(p);
  const char *bad[] = {"{\"name_binding\": \"EK\"}", "{\"name_binding\": true}",
                       "{\"name_binding\": \"Registered\"}"};
  for (size_t i = 0; i < 3; i++) {
    p = parse(bad[i], &e);
    CHECK(p == NULL &&
              strstr(e.msg, "name_binding: expected \"first-come\", \"registered\" or \"ek\"") !=
                  NULL,
          "%s: %s", bad[i], e.msg);
    rt_policy_free(p);
  }
}

static void test_ek_allowlist(void) {
  rt_err e;
  uint8_t a[32], b[32];
  memset(a, 0xab, 32);
  memset(b, 0xcd, 32);
  rt_policy *p = parse("{}", &e);
  CHECK(p != NULL && !rt_policy_has_ek_allowlist(p) && !rt_policy_ek_allowlisted(p, a),
        "an allow-list without the key");
  rt_policy_free(p);
  /* Listed in upper case, looked up from bytes; the list is sorted. */
  p = parse("{\"ek_allowlist\": [\"" H64 "\", \"ABABABABABABABABABABABABABABABAB"
            "ABABABABABABABABABABABABABABABAB\"]}",
            &e);
  CHECK(p != NULL && rt_policy_has_ek_allowlist(p), "ek_allowlist not read: %s", e.msg);
  CHECK(p != NULL && rt_policy_ek_allowlisted(p, a), "listed EK not found");
  CHECK(p != NULL && !rt_policy_ek_allowlisted(p, b), "unlisted EK found");
  rt_policy_free(p);
}

static void test_events_parse(void) {
  rt_err e;
  rt_policy *p = parse("{}", &e);
  CHECK(p != NULL && rt_policy_event_rules(p) == NULL, "rules without \"events\"");
  rt_policy_free(p);
  p = parse("{\"allow_sha1\": true, \"pcrs\": {\"sha1\": [4], \"sha256\": [0, 4, 7, 8]}, "
            "\"events\": {\"secure_boot\": true, "
            "\"no_mismatched_events\": true, \"separators\": [0, 4, 7], \"boot_apps\": "
            "{\"allow\": [\"" H64 "\", \"0011223344556677889900112233445566778899\"], "
            "\"forbid\": [\"" H64B "\"]}, \"dbx_required\": [\"" H64 "\"], "
            "\"authorities\": [\"" H64B "\"], \"kernel_cmdline\": \"^ro( |$)\"}}",
            &e);
  CHECK(p != NULL && rt_policy_event_rules(p) != NULL, "full event rules: %s", e.msg);
  rt_evproof proof;
  if (p != NULL)
    rt_policy_proof(p, &proof);
  CHECK(p != NULL && proof.n == 2 && proof.banks[0].alg == TPM2_ALG_SHA1 &&
            proof.banks[0].pcrs == 0x10 && proof.banks[1].alg == TPM2_ALG_SHA256 &&
            proof.banks[1].pcrs == 0x191,
        "proof: the demanded banks and PCRs");
  rt_policy_free(p);
}

static void test_full(const char *dir) {
  rt_err e;
  rt_policy *p = parse(FULL, &e);
  CHECK(p != NULL, "full policy: %s", e.msg);
  if (p == NULL)
    return;
  CHECK(!rt_policy_is_default(p), "file policy reported as default");
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  CHECK(rt_policy_selection(p, sel) == 3, "3 banks");
  CHECK(sel[0].bank == TPM2_ALG_SHA1 && sel[0].mask == 0x1, "sha1 %x", sel[0].mask);
  CHECK(sel[1].bank == TPM2_ALG_SHA256 && sel[1].mask == (0x800000u | 0x83u), "sha256 %x",
        sel[1].mask);
  CHECK(sel[2].bank == TPM2_ALG_SHA384 && sel[2].mask == 0x10, "sha384 %x", sel[2].mask);
  TPML_PCR_SELECTION t;
  rt_policy_tpml_selection(p, &t);
  CHECK(t.count == 3, "tpml count");
  CHECK(t.pcrSelections[1].hash == TPM2_ALG_SHA256 && t.pcrSelections[1].sizeofSelect == 3 &&
            t.pcrSelections[1].pcrSelect[0] == 0x83 && t.pcrSelections[1].pcrSelect[1] == 0 &&
            t.pcrSelections[1].pcrSelect[2] == 0x80,
        "tpml sha256 bitmap");
  CHECK(t.pcrSelections[2].hash == TPM2_ALG_SHA384 && t.pcrSelections[2].pcrSelect[0] == 0x10,
        "tpml sha384");
  CHECK(rt_policy_allow_sha1(p) && !rt_policy_require_event_log(p), "booleans");
  CHECK(rt_policy_cert_lifetime(p) == 48 * 3600, "lifetime");
  CHECK(rt_policy_key_alg_allowed(p, RT_ALG_RSA_2048) &&
            !rt_policy_key_alg_allowed(p, RT_ALG_ECC_P256),
        "key algorithms");
  CHECK(rt_policy_ak_alg_allowed(p, RT_ALG_ECC_P256) &&
            !rt_policy_ak_alg_allowed(p, RT_ALG_RSA_2048),
        "AK algorithms");

  uint8_t a[48], b[48], c[48];
  size_t n;
  OPENSSL_hexstr2buf_ex(a, sizeof a, &n, H64, '\0');
  OPENSSL_hexstr2buf_ex(b, sizeof b, &n, H64B, '\0');
  memset(c, 0x42, sizeof c);
  char why[256];
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, a, 32, why, sizeof why) == RT_POLICY_ALLOW,
        "first listed value: %s", why);
  CHECK_STR_CONTAINS(why, "PCR sha256:0 value is allowed");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, b, 32, why, sizeof why) == RT_POLICY_ALLOW,
        "second listed value: %s", why);
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, c, 32, why, sizeof why) == RT_POLICY_DENY,
        "unlisted value");
  CHECK_STR_CONTAINS(why, "PCR sha256:0 value "
                          "4242424242424242424242424242424242424242424242424242424242424242 is "
                          "not one of the 2 values the policy allows");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 7, b, 32, why, sizeof why) == RT_POLICY_DENY,
        "PCR 7 other value");
  CHECK_STR_CONTAINS(why, "not one of the 1 value the policy allows");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 1, c, 32, why, sizeof why) == RT_POLICY_ALLOW,
        "PCR 1 any");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 23, c, 32, why, sizeof why) == RT_POLICY_ALLOW,
        "PCR 23 missing = any");
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 2, c, 32, why, sizeof why) == RT_POLICY_DENY,
        "PCR 2 not selected");
  uint8_t h40[20];
  OPENSSL_hexstr2buf_ex(h40, sizeof h40, &n, H40, '\0');
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA1, 0, h40, 20, why, sizeof why) == RT_POLICY_ALLOW,
        "sha1 listed: %s", why);
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA1, 0, b, 20, why, sizeof why) == RT_POLICY_DENY,
        "sha1 unlisted");
  CHECK_STR_CONTAINS(why, "PCR sha1:0 value ffeeddcc");
  uint8_t h96[48];
  OPENSSL_hexstr2buf_ex(h96, sizeof h96, &n, H96, '\0');
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA384, 4, h96, 48, why, sizeof why) == RT_POLICY_ALLOW,
        "sha384 listed: %s", why);
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA384, 4, h96, 32, why, sizeof why) == RT_POLICY_DENY,
        "sha384 short");
  /* A small buffer truncates the message, never overflows. */
  char tiny[8];
  CHECK(rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, c, 32, tiny, sizeof tiny) == RT_POLICY_DENY &&
            strlen(tiny) == 7,
        "tiny buffer");

  rt_policy_identity id;
  CHECK(rt_policy_render_identity(p, "web-01", H64, &id, &e) == RT_OK, "%s", e.msg);
  CHECK(strcmp(id.common_name, "web-01.fleet") == 0, "cn %s", id.common_name);
  CHECK(strcmp(id.organization, "Acme") == 0, "o");
  CHECK(strcmp(id.organizational_unit, "ek " H64) == 0, "ou %s", id.organizational_unit);
  CHECK(id.n_dns_sans == 2 && strcmp(id.dns_sans[0], "web-01.hosts.example.com") == 0 &&
            strcmp(id.dns_sans[1], "static.example.com") == 0,
        "dns sans");
  rt_policy_identity_free(&id);
  rt_policy_free(p);

  /* From a file; errors name the file. */
  char path[512];
  snprintf(path, sizeof path, "%s/policy.json", dir);
  FILE *f = fopen(path, "w");
  fputs(FULL, f);
  fclose(f);
  CHECK(rt_policy_load(path, &p, &e) == RT_OK, "%s", e.msg);
  CHECK(p != NULL && rt_policy_cert_lifetime(p) == 48 * 3600, "loaded");
  rt_policy_free(p);
  f = fopen(path, "w");
  fputs("{\"pcrs\": {\"sha256\": [24]}}", f);
  fclose(f);
  CHECK(rt_policy_load(path, &p, &e) == RT_E_INVALID && p == NULL, "bad file");
  char want[600];
  snprintf(want, sizeof want, "policy %s: pcrs.sha256[0]: PCR index 24 out of 0..23", path);
  CHECK(strcmp(e.msg, want) == 0, "message \"%s\"", e.msg);
  snprintf(path, sizeof path, "%s/missing.json", dir);
  CHECK(rt_policy_load(path, &p, &e) == RT_E_IO, "missing file");
  CHECK_STR_CONTAINS(e.msg, "missing.json");
}

/* "platform_cert" and the {platform_*} subject placeholders. */
static void test_platform(void) {
  rt_err e;
  rt_policy *p = NULL;
  CHECK(rt_policy_default(&p, &e) == RT_OK, "%s", e.msg);
  CHECK(p != NULL && rt_policy_platform_cert(p) == RT_POLICY_PLATFORM_UNSET &&
            !rt_policy_uses_platform(p),
        "default platform mode");
  rt_policy_free(p);
  static const struct {
    const char *json;
    rt_policy_platform_mode mode;
  } modes[] = {{"{\"platform_cert\": \"ignore\"}", RT_POLICY_PLATFORM_IGNORE},
               {"{\"platform_cert\": \"verify\"}", RT_POLICY_PLATFORM_VERIFY},
               {"{\"platform_cert\": \"required\"}", RT_POLICY_PLATFORM_REQUIRED}};
  for (size_t i = 0; i < 3; i++) {
    p = parse(modes[i].json, &e);
    CHECK(p != NULL && rt_policy_platform_cert(p) == modes[i].mode, "%s: %s", modes[i].json,
          p ? "wrong mode" : e.msg);
    rt_policy_free(p);
  }
  p = parse("{\"platform_cert\": \"required\", \"subject\": {\"common_name\": "
            "\"{name}-{platform_serial}\", \"organization\": \"{platform_manufacturer}\", "
            "\"organizational_unit\": \"{platform_model}\"}, \"dns_sans\": [\"{name}.example\"]}",
            &e);
  CHECK(p != NULL && rt_policy_uses_platform(p), "platform templates: %s", p ? "" : e.msg);
  if (p == NULL)
    return;
  rt_policy_identity id;
  rt_policy_platform pl = {"Example Corp", "Box 9000", "SN-1"};
  CHECK(rt_policy_render_identity_platform(p, "web-01", H64, &pl, &id, &e) == RT_OK, "%s", e.msg);
  CHECK(id.common_name && strcmp(id.common_name, "web-01-SN-1") == 0 && id.organization &&
            strcmp(id.organization, "Example Corp") == 0 && id.organizational_unit &&
            strcmp(id.organizational_unit, "Box 9000") == 0 && id.n_dns_sans == 1 &&
            strcmp(id.dns_sans[0], "web-01.example") == 0,
        "rendered platform subject");
  rt_policy_identity_free(&id);
  /* One pass: a value is not expanded again. */
  pl.model = "{name}";
  CHECK(rt_policy_render_identity_platform(p, "web-01", H64, &pl, &id, &e) == RT_OK, "%s", e.msg);
  CHECK(id.organizational_unit && strcmp(id.organizational_unit, "{name}") == 0,
        "value expanded again: %s", id.organizational_unit ? id.organizational_unit : "(null)");
  rt_policy_identity_free(&id);
  pl.model = "Box 9000";
  /* Without a verified platform certificate, or without the field. */
  CHECK(rt_policy_render_identity_platform(p, "web-01", H64, NULL, &id, &e) == RT_E_INVALID,
        "rendered without platform");
  CHECK_STR_CONTAINS(e.msg, "subject.common_name: {platform_serial}: the machine has no verified "
                            "platform certificate naming it");
  CHECK(rt_policy_render_identity(p, "web-01", H64, &id, &e) == RT_E_INVALID,
        "plain render of a platform template");
  pl.serial = "";
  CHECK(rt_policy_render_identity_platform(p, "web-01", H64, &pl, &id, &e) == RT_E_INVALID,
        "rendered without serial");
  CHECK_STR_CONTAINS(e.msg, "{platform_serial}");
  pl.serial = "SN\n1";
  CHECK(rt_policy_render_identity_platform(p, "web-01", H64, &pl, &id, &e) == RT_E_INVALID,
        "rendered a control character");
  CHECK_STR_CONTAINS(e.msg, "subject.common_name: {platform_serial}: the platform value is not "
                            "printable ASCII");
  char long_model[80];
  memset(long_model, 'm', 65);
  long_model[65] = '\0';
  pl.serial = "SN-1";
  pl.model = long_model;
  CHECK(rt_policy_render_identity_platform(p, "web-01", H64, &pl, &id, &e) == RT_E_INVALID,
        "rendered a 65-character value");
  CHECK_STR_CONTAINS(e.msg, "subject.organizational_unit: {platform_model}: the platform value is "
                            "longer than 64 characters");
  rt_policy_free(p);
}

static void test_rejections(void) {
  static const struct {
    const char *json;
    const char *msg;
  } cases[] = {
      /* syntax and shape */
      {"{\"pcrs\": ", "line 1 column"},
      {"{\"allow_sha1\": true, \"allow_sha1\": false}", "duplicate"},
      {"[]", "the policy must be a JSON object"},
      {"{\"foo\": 1}", "foo: unknown key"},
      {"{\"subject\": {\"cn\": \"x\"}}", "subject.cn: unknown key"},
      /* booleans */
      {"{\"allow_sha1\": \"no\"}", "allow_sha1: expected true or false"},
      {"{\"require_event_log\": 1}", "require_event_log: expected true or false"},
      {"{\"server_auth\": \"yes\"}", "server_auth: expected true or false"},
      /* events */
      {"{\"events\": []}", "events: expected an object of rules"},
      {"{\"events\": {\"secureboot\": true}}", "events.secureboot: unknown key"},
      {"{\"events\": {\"secure_boot\": 1}}", "events.secure_boot: expected true or false"},
      {"{\"require_event_log\": false, \"events\": {}}",
       "events: rules need require_event_log true"},
      {"{\"pcrs\": {\"sha256\": [0]}, \"events\": {\"secure_boot\": true}}",
       "events.secure_boot: needs PCR 7 in pcrs"},
      {"{\"events\": {\"kernel_cmdline\": \"ro\"}}", "events.kernel_cmdline: needs PCR 8"},
      {"{\"pcrs\": {\"sha256\": [8]}, \"events\": {\"kernel_cmdline\": \"(\"}}",
       "events.kernel_cmdline: "},
      {"{\"pcrs\": {\"sha256\": [8]}, \"events\": {\"kernel_cmdline\": \"\"}}",
       "events.kernel_cmdline: expected a POSIX extended regular expression"},
      {"{\"events\": {\"separators\": [1, 1]}}", "events.separators[1]: PCR 1 listed twice"},
      {"{\"events\": {\"separators\": [9]}}", "events.separators[0]: needs PCR 9 in pcrs"},
      {"{\"events\": {\"separators\": [24]}}", "events.separators[0]: expected a PCR index"},
      {"{\"events\": {\"separators\": []}}", "events.separators: expected a non-empty array"},
      {"{\"events\": {\"boot_apps\": {}}}", "events.boot_apps: expected an object"},
      {"{\"events\": {\"boot_apps\": {\"deny\": []}}}", "events.boot_apps.deny: unknown key"},
      {"{\"events\": {\"boot_apps\": {\"allow\": [\"abc\"]}}}",
       "events.boot_apps.allow[0]: not a sha1, sha256 or sha384 digest"},
      /* A digest of a bank the quote does not prove for PCR 4 could never
       * match: an allow-list entry would be useless, a forbid entry void. */
      {"{\"events\": {\"boot_apps\": {\"forbid\": "
       "[\"0011223344556677889900112233445566778899\"]}}}",
       "events.boot_apps.forbid[0]: a sha1 digest, but pcrs does not demand PCR 4 in the sha1 "
       "bank"},
      {"{\"allow_sha1\": true, \"pcrs\": {\"sha1\": [7], \"sha256\": [4]}, \"events\": "
       "{\"boot_apps\": {\"allow\": [\"" H64 "\", \"0011223344556677889900112233445566778899\"]}}}",
       "events.boot_apps.allow[1]: a sha1 digest, but pcrs does not demand PCR 4 in the sha1 bank"},
      {"{\"events\": {\"boot_apps\": {\"forbid\": []}}}",
       "events.boot_apps.forbid: expected a non-empty array"},
      {"{\"events\": {\"dbx_required\": [\"" H64 "00\"]}}",
       "events.dbx_required[0]: not 64 hex digits"},
      {"{\"events\": {\"authorities\": \"" H64 "\"}}",
       "events.authorities: expected a non-empty array"},
      /* secrets (files are checked in test_secrets.sh) */
      {"{\"secrets\": {}}", "secrets: expected an array"},
      {"{\"secrets\": [7]}", "secrets[0]: expected an object"},
      {"{\"secrets\": [{\"name\": \"a b\", \"type\": \"sealed\"}]}", "secrets[0].name:"},
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"aes\"}]}",
       "secrets[0].type: expected \"sealed\" or \"rsa-key\""},
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"sealed\"}]}",
       "secrets[0].file: expected the path"},
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"sealed\", \"fiel\": 1}]}",
       "secrets[0].fiel: unknown key"},
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"rsa-key\", \"key_file\": \"/x\"}]}",
       "secrets[0]: rsa-key needs key_file and cert_file"},
      /* An rsa-key's pcrs follow the sealed rules, checked before its files. */
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"rsa-key\", \"pcrs\": {}}]}",
       "secrets[0].pcrs: expected an object of banks"},
      {"{\"pcrs\": {\"sha256\": [0, 7]}, \"secrets\": [{\"name\": \"a\", \"type\": "
       "\"rsa-key\", \"pcrs\": {\"sha256\": [9]}}]}",
       "secrets[0].pcrs.sha256[0]: PCR 9 is not in the policy's pcrs.sha256"},
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"rsa-key\", \"pcrs\": {\"sha256\": "
       "[7, 7]}}]}",
       "secrets[0].pcrs.sha256[1]: PCR 7 listed twice"},
      {"{\"secrets\": [{\"name\": \"a\", \"type\": \"rsa-key\", \"pcrs\": {\"sha256\": "
       "[7]}, \"key_file\": \"/x\"}]}",
       "secrets[0]: rsa-key needs key_file and cert_file"},
      /* ek_allowlist */
      {"{\"ek_allowlist\": \"ab\"}", "ek_allowlist: expected an array"},
      {"{\"ek_allowlist\": []}", "ek_allowlist: empty"},
      {"{\"ek_allowlist\": [\"abcd\"]}", "ek_allowlist[0]: not 64 hex digits"},
      {"{\"ek_allowlist\": [\"" H64 "\", 7]}", "ek_allowlist[1]: not 64 hex digits"},
      {"{\"ek_allowlist\": [\"" H64 "\", \"" H64 "\"]}", "listed twice"},
      /* pcrs */
      {"{\"pcrs\": []}", "pcrs: expected an object of banks"},
      {"{\"pcrs\": {}}", "pcrs: no bank selected"},
      {"{\"pcrs\": {\"md5\": [0]}}", "pcrs.md5: unknown bank (use sha1, sha256, sha384)"},
      {"{\"pcrs\": {\"sha512\": [0]}}", "pcrs.sha512: unknown bank"},
      {"{\"pcrs\": {\"sha256\": \"0-7\"}}", "pcrs.sha256: expected an array of PCR indexes"},
      {"{\"pcrs\": {\"sha256\": []}}", "pcrs.sha256: no PCR selected"},
      {"{\"pcrs\": {\"sha256\": [0, \"1\"]}}", "pcrs.sha256[1]: expected an integer"},
      {"{\"pcrs\": {\"sha256\": [0, 1.0]}}", "pcrs.sha256[1]: expected an integer"},
      {"{\"pcrs\": {\"sha256\": [24]}}", "pcrs.sha256[0]: PCR index 24 out of 0..23"},
      {"{\"pcrs\": {\"sha256\": [0, -1]}}", "pcrs.sha256[1]: PCR index -1 out of 0..23"},
      {"{\"pcrs\": {\"sha256\": [4294967296]}}", "pcrs.sha256[0]: PCR index 4294967296 out of"},
      {"{\"pcrs\": {\"sha256\": [1, 2, 1]}}", "pcrs.sha256[2]: PCR 1 listed twice"},
      {"{\"pcrs\": {\"sha1\": [0]}}", "pcrs.sha1: sha1 bank demanded but allow_sha1 is false"},
      {"{\"allow_sha1\": false, \"pcrs\": {\"sha256\": [0], \"sha1\": [0]}}",
       "pcrs.sha1: sha1 bank demanded but allow_sha1 is false"},
      /* expected */
      {"{\"expected\": []}", "expected: expected an object of banks"},
      {"{\"expected\": {\"md5\": {}}}", "expected.md5: unknown bank"},
      {"{\"expected\": {\"sha256\": []}}", "expected.sha256: expected an object of PCR indexes"},
      {"{\"expected\": {\"sha256\": {\"x\": \"any\"}}}", "expected.sha256.x: not a PCR index"},
      {"{\"expected\": {\"sha256\": {\"07\": \"any\"}}}", "expected.sha256.07: not a PCR index"},
      {"{\"expected\": {\"sha256\": {\"-1\": \"any\"}}}", "expected.sha256.-1: not a PCR index"},
      {"{\"expected\": {\"sha256\": {\"\": \"any\"}}}", "expected.sha256.: not a PCR index"},
      {"{\"expected\": {\"sha256\": {\"24\": \"any\"}}}",
       "expected.sha256.24: PCR index 24 out of 0..23"},
      {"{\"expected\": {\"sha256\": {\"8\": \"any\"}}}",
       "expected.sha256.8: PCR 8 is not in pcrs.sha256"},
      {"{\"expected\": {\"sha384\": {\"0\": \"any\"}}}",
       "expected.sha384.0: PCR 0 is not in pcrs.sha384"},
      {"{\"expected\": {\"sha1\": {\"0\": [\"" H40 "\"]}}}",
       "expected.sha1.0: PCR 0 is not in pcrs.sha1"},
      {"{\"expected\": {\"sha256\": {\"7\": \"all\"}}}",
       "expected.sha256.7: expected \"any\" or an array of hex digests"},
      {"{\"expected\": {\"sha256\": {\"7\": 5}}}",
       "expected.sha256.7: expected \"any\" or an array of hex digests"},
      {"{\"expected\": {\"sha256\": {\"7\": []}}}",
       "expected.sha256.7: an empty list allows nothing"},
      {"{\"expected\": {\"sha256\": {\"7\": [\"" H64 "\", \"abc\"]}}}",
       "expected.sha256.7[1]: not 64 hex digits"},
      {"{\"expected\": {\"sha256\": {\"7\": [\"" H64 "\", 5]}}}",
       "expected.sha256.7[1]: expected a string of hex digits"},
      {"{\"expected\": {\"sha256\": {\"0\": [\"" H40 "\"]}}}",
       "expected.sha256.0[0]: not 64 hex digits"},
      {"{\"expected\": {\"sha256\": {\"0\": [\"" H64 "00\"]}}}",
       "expected.sha256.0[0]: not 64 hex digits"},
      {"{\"expected\": {\"sha256\": {\"0\": [\"g0112233445566778899aabbccddeeff00112233445566778899"
       "aabbccddeeff\"]}}}",
       "expected.sha256.0[0]: not 64 hex digits"},
      {"{\"expected\": {\"sha256\": {\"0\": [\"00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:"
       "11\"]}}}",
       "expected.sha256.0[0]: not 64 hex digits"},
      {"{\"pcrs\": {\"sha384\": [0]}, \"expected\": {\"sha384\": {\"0\": [\"" H64 "\"]}}}",
       "expected.sha384.0[0]: not 96 hex digits"},
      {"{\"allow_sha1\": true, \"pcrs\": {\"sha1\": [0]}, \"expected\": {\"sha1\": {\"0\": [\"" H64
       "\"]}}}",
       "expected.sha1.0[0]: not 40 hex digits"},
      /* algorithms */
      {"{\"key_algorithms\": \"ecc-p256\"}",
       "key_algorithms: expected an array of algorithm names"},
      {"{\"key_algorithms\": []}", "key_algorithms: empty, no key could ever be accepted"},
      {"{\"key_algorithms\": [\"ecc-p384\"]}",
       "key_algorithms[0]: unknown algorithm \"ecc-p384\" (use ecc-p256, rsa-2048)"},
      {"{\"key_algorithms\": [\"ecc-p256\", \"ecc-p256\"]}",
       "key_algorithms[1]: ecc-p256 listed twice"},
      {"{\"ak_algorithms\": [1]}", "ak_algorithms[0]: expected a string"},
      {"{\"ak_algorithms\": [\"RSA-2048\"]}", "ak_algorithms[0]: unknown algorithm \"RSA-2048\""},
      /* lifetime */
      {"{\"cert_lifetime\": 720}", "cert_lifetime: expected a duration string such as \"720h\""},
      {"{\"cert_lifetime\": \"30d\"}", "cert_lifetime: unknown duration unit in \"30d\""},
      {"{\"cert_lifetime\": \"abc\"}", "cert_lifetime: \"abc\" is not a number"},
      {"{\"cert_lifetime\": \"\"}", "cert_lifetime: \"\" is not a number"},
      {"{\"cert_lifetime\": \"-5h\"}", "cert_lifetime: \"-5h\" is not a number"},
      {"{\"cert_lifetime\": \"1500ms\"}", "cert_lifetime: \"1500ms\" is not whole seconds"},
      {"{\"cert_lifetime\": \"59s\"}", "cert_lifetime: \"59s\" outside 1m..87600h"},
      {"{\"cert_lifetime\": \"87601h\"}", "cert_lifetime: \"87601h\" outside 1m..87600h"},
      {"{\"cert_lifetime\": \"99999999999999999999h\"}", "cert_lifetime:"},
      /* subject and SANs */
      {"{\"subject\": \"x\"}", "subject: expected an object"},
      {"{\"subject\": {\"common_name\": 5}}", "subject.common_name: expected a string"},
      {"{\"subject\": {\"common_name\": \"\"}}", "subject.common_name: empty"},
      {"{\"subject\": {\"common_name\": \"{host}\"}}",
       "subject.common_name: unknown placeholder \"{host}\" (use {name}, {ek}, "
       "{platform_manufacturer}, {platform_model} or {platform_serial})"},
      {"{\"subject\": {\"organization\": \"a{name\"}}", "subject.organization: '{' without '}'"},
      {"{\"subject\": {\"organization\": \"a}\"}}", "subject.organization: '}' without '{'"},
      {"{\"subject\": {\"organizational_unit\": \"a\\nb\"}}",
       "subject.organizational_unit: control character"},
      {"{\"subject\": {\"organization\": "
       "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
       "subject.organization: longer than 64 characters"},
      {"{\"dns_sans\": \"x\"}", "dns_sans: expected an array of DNS names"},
      {"{\"dns_sans\": [1]}", "dns_sans[0]: expected a string"},
      {"{\"dns_sans\": [\"ok.example\", \"{ek}.example\"]}",
       "dns_sans[1]: {ek} cannot be part of a DNS name"},
      {"{\"dns_sans\": [\"a b\"]}", "dns_sans[0]: ' ' is not allowed in a DNS name"},
      {"{\"dns_sans\": [\"a_b\"]}", "dns_sans[0]: '_' is not allowed in a DNS name"},
      {"{\"dns_sans\": [\"\"]}", "dns_sans[0]: empty"},
      {"{\"dns_sans\": [\"{x}\"]}", "dns_sans[0]: unknown placeholder \"{x}\""},
      {"{\"dns_sans\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
       "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
       "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
       "dns_sans: more than 32 names"},
      /* platform certificates */
      {"{\"platform_cert\": \"maybe\"}",
       "platform_cert: expected \"ignore\", \"verify\" or \"required\""},
      {"{\"platform_cert\": true}",
       "platform_cert: expected \"ignore\", \"verify\" or \"required\""},
      {"{\"subject\": {\"organization\": \"{platform_model}\"}}",
       "subject: {platform_*} placeholders need \"platform_cert\": \"required\""},
      {"{\"platform_cert\": \"verify\", \"subject\": {\"common_name\": \"{platform_serial}\"}}",
       "subject: {platform_*} placeholders need \"platform_cert\": \"required\""},
      {"{\"platform_cert\": \"required\", \"dns_sans\": [\"{platform_model}.example\"]}",
       "dns_sans[0]: {platform_model} can only be used in subject fields, not in a DNS name"},
      {"{\"platform_cert\": \"required\", \"subject\": {\"common_name\": \"{platform_x}\"}}",
       "subject.common_name: unknown placeholder \"{platform_x}\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rt_err e;
    rt_err_clear(&e);
    rt_policy *p = (rt_policy *)1;
    rt_code code = rt_policy_parse(cases[i].json, strlen(cases[i].json), &p, &e);
    CHECK(code == RT_E_INVALID, "case %zu (%s) gave %s", i, cases[i].json, rt_code_name(code));
    CHECK(p == NULL, "case %zu: policy returned", i);
    CHECK(strstr(e.msg, cases[i].msg) != NULL, "case %zu: \"%s\" does not contain \"%s\"", i, e.msg,
          cases[i].msg);
  }
  /* The path leads the message. */
  rt_err e;
  rt_policy *p = NULL;
  const char *j = "{\"expected\": {\"sha256\": {\"7\": [\"" H64 "\", \"abc\"]}}}";
  rt_policy_parse(j, strlen(j), &p, &e);
  CHECK(strcmp(e.msg, "expected.sha256.7[1]: not 64 hex digits") == 0, "message \"%s\"", e.msg);

  /* And what is allowed right beside those rejections. */
  static const char *ok[] = {
      "{\"allow_sha1\": true, \"pcrs\": {\"sha1\": [0]}}",
      "{\"pcrs\": {\"sha256\": [0, 23]}, \"expected\": {\"sha256\": {\"23\": \"any\"}}}",
      "{\"expected\": {\"sha256\": {\"0\": [\"" H64 "\", \"" H64 "\"]}}}",
      "{\"expected\": {\"sha256\": {\"0\": [\"" H64 "\"]}}}",
      "{\"expected\": {\"sha256\": {\"0\": [\"00112233445566778899AABBCCDDEEFF00112233445566778899"
      "AABBCCDDEEFF\"]}}}",
      "{\"cert_lifetime\": \"1m\"}",
      "{\"cert_lifetime\": \"87600h\"}",
      "{\"cert_lifetime\": \"3600\"}",
      "{\"subject\": {\"organization\": "
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
      "{\"dns_sans\": []}",
      "{\"dns_sans\": [\"{name}-x.example\"]}",
      "{\"subject\": {\"common_name\": \"{name} ({ek})\"}}",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    p = NULL;
    CHECK(rt_policy_parse(ok[i], strlen(ok[i]), &p, &e) == RT_OK, "ok %zu: %s", i, e.msg);
    rt_policy_free(p);
  }
  /* An uppercase allow-list value matches the same bytes. */
  j = "{\"expected\": {\"sha256\": {\"0\": [\"00112233445566778899AABBCCDDEEFF001122334455667788"
      "99AABBCCDDEEFF\"]}}}";
  p = NULL;
  rt_policy_parse(j, strlen(j), &p, &e);
  uint8_t v[32];
  size_t n;
  OPENSSL_hexstr2buf_ex(v, sizeof v, &n, H64, '\0');
  CHECK(p != NULL && rt_policy_check_pcrs(p, TPM2_ALG_SHA256, 0, v, 32, NULL, 0) == RT_POLICY_ALLOW,
        "upper case hex");
  rt_policy_free(p);
}

int main(void) {
  char dir[] = "/tmp/rt_test_policy.XXXXXX";
  if (mkdtemp(dir) == NULL)
    return 2;
  test_server_auth();
  test_ek_expiry();
  test_name_binding();
  test_ek_allowlist();
  test_events_parse();
  test_default();
  test_full(dir);
  test_rejections();
  test_platform();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rt_test_done("test_policy");
}
