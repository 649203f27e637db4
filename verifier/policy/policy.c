#include "policy.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_json.h"
#include "rattest.pb-c.h"
#include "rt_cli.h"
#include "rt_file.h"
#include "rt_hash.h"
#include "rt_hex.h"

/* The policy stores algorithms as bits (1 << rt_key_alg), and requests
 * carry rattest.v1.KeyAlgorithm values: both must keep this numbering. */
_Static_assert((int)RT_ALG_ECC_P256 == (int)RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256,
               "rt_key_alg must number algorithms as rattest.v1.KeyAlgorithm");
_Static_assert((int)RT_ALG_RSA_2048 == (int)RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_RSA_2048,
               "rt_key_alg must number algorithms as rattest.v1.KeyAlgorithm");

#define DEFAULT_LIFETIME ((int64_t)720 * 3600)
#define MIN_LIFETIME ((int64_t)60)
#define MAX_LIFETIME ((int64_t)87600 * 3600) /* ten years */
#define MAX_DIGEST 48
/* X.509 upper bounds (RFC 5280 ub-common-name etc.) and RFC 1035. */
#define MAX_NAME_FIELD 64
#define MAX_DNS_NAME 253
#define MAX_DNS_SANS 32
/* JSON paths in messages are at most this long; policies are shallow. */
#define PATH_LEN 96

/* The banks a policy may demand, in the order of its mask and expected
 * arrays; names and digest sizes are rt_hash's. */
static const TPM2_ALG_ID banks[RT_POLICY_MAX_BANKS] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256,
                                                       TPM2_ALG_SHA384};

/* Allowed values of one PCR; n == 0 means any value. */
typedef struct {
  size_t n;
  uint8_t *values; /* n digests of the bank's size, back to back */
} allow_list;

struct rt_policy {
  bool is_default;
  uint32_t mask[RT_POLICY_MAX_BANKS];
  allow_list expected[RT_POLICY_MAX_BANKS][RT_POLICY_NUM_PCRS];
  bool allow_sha1;
  bool require_event_log;
  bool server_auth;        /* the key's certificate may also serve TLS servers */
  bool ek_expiry_advisory; /* an expired EK certificate is accepted (noted) */
  /* SHA-256 of EK SubjectPublicKeyInfo DER trusted without a certificate,
   * sorted for bsearch. */
  uint8_t (*ek_allow)[32];
  size_t n_ek_allow;
  rt_policy_events *events;   /* NULL: no event rules */
  rt_policy_secrets *secrets; /* NULL: nothing to deliver */
  rt_policy_platform_mode platform_cert;
  rt_policy_name_binding name_binding; /* with a registry (serve --db) */
  bool uses_platform;                  /* a subject template has a {platform_*} placeholder */
  unsigned key_algs;                   /* bit (1 << rt_key_alg) */
  unsigned ak_algs;
  int64_t lifetime;
  char *common_name; /* templates with {name} and {ek} */
  char *organization;
  char *organizational_unit;
  char **dns_sans;
  size_t n_dns_sans;
};

static int bank_index(TPM2_ALG_ID alg) {
  for (int i = 0; i < RT_POLICY_MAX_BANKS; i++)
    if (banks[i] == alg)
      return i;
  return -1;
}

bool rt_policy_bank_known(TPM2_ALG_ID bank) {
  return bank_index(bank) >= 0;
}

static int bank_by_name(const char *name) {
  const rt_hash *a = rt_hash_by_name(name);
  return a == NULL ? -1 : bank_index(a->id);
}

static const rt_hash *bank_alg(int b) {
  return rt_hash_by_id(banks[b]);
}

static rt_code nomem(rt_err *err) {
  return rt_err_set(err, RT_E_NOMEM, "policy: out of memory");
}

static rt_code parse_pcrs(rt_policy *p, json_t *v, rt_err *err) {
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "pcrs: expected an object of banks");
  if (json_object_size(v) == 0)
    return rt_err_set(err, RT_E_INVALID, "pcrs: no bank selected");
  memset(p->mask, 0, sizeof p->mask);
  const char *key;
  json_t *arr;
  json_object_foreach(v, key, arr) {
    int b = bank_by_name(key);
    if (b < 0)
      return rt_err_set(err, RT_E_INVALID, "pcrs.%s: unknown bank (use sha1, sha256, sha384)", key);
    if (banks[b] == TPM2_ALG_SHA1 && !p->allow_sha1)
      return rt_err_set(err, RT_E_INVALID, "pcrs.sha1: sha1 bank demanded but allow_sha1 is false");
    if (!json_is_array(arr))
      return rt_err_set(err, RT_E_INVALID, "pcrs.%s: expected an array of PCR indexes", key);
    if (json_array_size(arr) == 0)
      return rt_err_set(err, RT_E_INVALID, "pcrs.%s: no PCR selected (leave the bank out)", key);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
      if (!json_is_integer(e))
        return rt_err_set(err, RT_E_INVALID, "pcrs.%s[%zu]: expected an integer", key, i);
      json_int_t n = json_integer_value(e);
      if (n < 0 || n >= RT_POLICY_NUM_PCRS)
        return rt_err_set(err, RT_E_INVALID, "pcrs.%s[%zu]: PCR index %lld out of 0..23", key, i,
                          (long long)n);
      if (p->mask[b] & (1u << n))
        return rt_err_set(err, RT_E_INVALID, "pcrs.%s[%zu]: PCR %lld listed twice", key, i,
                          (long long)n);
      p->mask[b] |= 1u << n;
    }
  }
  return RT_OK;
}

/* "0".."23" exactly: no sign, no leading zero, no spaces. */
static int pcr_key(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > 2 || (len == 2 && s[0] == '0'))
    return -1;
  for (size_t i = 0; i < len; i++)
    if (!isdigit((unsigned char)s[i]))
      return -1;
  return atoi(s);
}

static rt_code parse_allow_list(int b, const char *path, json_t *v, allow_list *out, rt_err *err) {
  if (json_is_string(v) && strcmp(json_string_value(v), "any") == 0)
    return RT_OK;
  if (!json_is_array(v))
    return rt_err_set(err, RT_E_INVALID, "%s: expected \"any\" or an array of hex digests", path);
  size_t n = json_array_size(v);
  if (n == 0)
    return rt_err_set(err, RT_E_INVALID,
                      "%s: an empty list allows nothing (use \"any\" or list "
                      "values)",
                      path);
  size_t dlen = bank_alg(b)->size;
  out->values = malloc(n * dlen);
  if (out->values == NULL)
    return nomem(err);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *hex = json_string_value(e);
    if (hex == NULL)
      return rt_err_set(err, RT_E_INVALID, "%s[%zu]: expected a string of hex digits", path, i);
    if (!rt_unhex(hex, out->values + i * dlen, dlen))
      return rt_err_set(err, RT_E_INVALID, "%s[%zu]: not %zu hex digits", path, i, 2 * dlen);
    out->n = i + 1;
  }
  return RT_OK;
}

static rt_code parse_expected(rt_policy *p, json_t *v, rt_err *err) {
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "expected: expected an object of banks");
  const char *bkey;
  json_t *bank_obj;
  json_object_foreach(v, bkey, bank_obj) {
    int b = bank_by_name(bkey);
    if (b < 0)
      return rt_err_set(err, RT_E_INVALID, "expected.%s: unknown bank (use sha1, sha256, sha384)",
                        bkey);
    if (!json_is_object(bank_obj))
      return rt_err_set(err, RT_E_INVALID, "expected.%s: expected an object of PCR indexes", bkey);
    const char *pkey;
    json_t *list;
    json_object_foreach(bank_obj, pkey, list) {
      char path[PATH_LEN];
      snprintf(path, sizeof path, "expected.%s.%.8s", bkey, pkey);
      int idx = pcr_key(pkey);
      if (idx < 0)
        return rt_err_set(err, RT_E_INVALID, "%s: not a PCR index", path);
      if (idx >= RT_POLICY_NUM_PCRS)
        return rt_err_set(err, RT_E_INVALID, "%s: PCR index %d out of 0..23", path, idx);
      /* A value the verifier never demands could never be checked: the
       * author meant something else. */
      if (!(p->mask[b] & (1u << idx)))
        return rt_err_set(err, RT_E_INVALID, "%s: PCR %d is not in pcrs.%s", path, idx, bkey);
      rt_code code = parse_allow_list(b, path, list, &p->expected[b][idx], err);
      if (code != RT_OK)
        return code;
    }
  }
  return RT_OK;
}

static int cmp32(const void *a, const void *b) {
  return memcmp(a, b, 32);
}

/* TPMs without an EK certificate (some fTPMs, VMs, re-provisioned chips):
 * EKs an operator recorded at commissioning, by the SHA-256 of their
 * SubjectPublicKeyInfo, the digest the verifier already shows everywhere
 * (audit ek_sha256, the issued certificates' EK URN, ek-cert --json). */
static rt_code parse_ek_allowlist(rt_policy *p, json_t *v, rt_err *err) {
  if (!json_is_array(v))
    return rt_err_set(err, RT_E_INVALID, "ek_allowlist: expected an array of SHA-256 hex digests");
  size_t n = json_array_size(v);
  if (n == 0)
    return rt_err_set(err, RT_E_INVALID,
                      "ek_allowlist: empty (leave the key out to trust certificates only)");
  p->ek_allow = malloc(n * sizeof *p->ek_allow);
  if (p->ek_allow == NULL)
    return nomem(err);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    if (!rt_unhex(json_string_value(e), p->ek_allow[i], 32))
      return rt_err_set(err, RT_E_INVALID, "ek_allowlist[%zu]: not 64 hex digits", i);
    p->n_ek_allow = i + 1;
  }
  qsort(p->ek_allow, n, sizeof *p->ek_allow, cmp32);
  for (i = 1; i < n; i++)
    if (memcmp(p->ek_allow[i - 1], p->ek_allow[i], 32) == 0) {
      char hex[65];
      rt_hex(p->ek_allow[i], 32, hex);
      return rt_err_set(err, RT_E_INVALID, "ek_allowlist: %s listed twice", hex);
    }
  return RT_OK;
}

static rt_code parse_algs(const char *key, json_t *v, unsigned *out, rt_err *err) {
  if (!json_is_array(v))
    return rt_err_set(err, RT_E_INVALID, "%s: expected an array of algorithm names", key);
  if (json_array_size(v) == 0)
    return rt_err_set(err, RT_E_INVALID, "%s: empty, no key could ever be accepted", key);
  *out = 0;
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *name = json_string_value(e);
    if (name == NULL)
      return rt_err_set(err, RT_E_INVALID, "%s[%zu]: expected a string", key, i);
    rt_key_alg alg = rt_key_alg_parse(name);
    if (alg == RT_ALG_NONE)
      return rt_err_set(err, RT_E_INVALID,
                        "%s[%zu]: unknown algorithm \"%.32s\" (use ecc-p256, "
                        "rsa-2048)",
                        key, i, name);
    unsigned bit = 1u << alg;
    if (*out & bit)
      return rt_err_set(err, RT_E_INVALID, "%s[%zu]: %s listed twice", key, i, name);
    *out |= bit;
  }
  return RT_OK;
}

static rt_code parse_lifetime(rt_policy *p, json_t *v, rt_err *err) {
  const char *s = json_string_value(v);
  if (s == NULL)
    return rt_err_set(err, RT_E_INVALID,
                      "cert_lifetime: expected a duration string such as "
                      "\"720h\"");
  uint64_t ms = 0;
  rt_code code = rt_cli_parse_duration_ms("cert_lifetime", s, &ms, err);
  if (code != RT_OK)
    return code;
  if (ms % 1000 != 0)
    return rt_err_set(err, RT_E_INVALID, "cert_lifetime: \"%.32s\" is not whole seconds", s);
  if (ms / 1000 < (uint64_t)MIN_LIFETIME || ms / 1000 > (uint64_t)MAX_LIFETIME)
    return rt_err_set(err, RT_E_INVALID, "cert_lifetime: \"%.32s\" outside 1m..87600h", s);
  p->lifetime = (int64_t)(ms / 1000);
  return RT_OK;
}

/* The platform placeholders: values from the verified platform
 * certificate, for subject fields only (a model such as "ProLiant DL380"
 * is no DNS label). */
static const char *const platform_placeholders[] = {"{platform_manufacturer}", "{platform_model}",
                                                    "{platform_serial}"};

static bool is_platform_placeholder(const char *c, size_t n) {
  for (size_t i = 0; i < 3; i++)
    if (n == strlen(platform_placeholders[i]) && strncmp(c, platform_placeholders[i], n) == 0)
      return true;
  return false;
}

/* Templates: literal text and the placeholders {name} and {ek}, and in
 * subject fields (platform non-NULL, set when one is used) the platform
 * placeholders. For DNS names the literal text must be DNS characters and
 * {ek} (64 characters, longer than a DNS label's 63) cannot appear. */
static rt_code check_template(const char *path, const char *s, bool dns, size_t max_literal,
                              bool *platform, rt_err *err) {
  if (*s == '\0')
    return rt_err_set(err, RT_E_INVALID, "%s: empty", path);
  size_t literal = 0;
  for (const char *c = s; *c != '\0'; c++) {
    if (*c == '{') {
      const char *end = strchr(c, '}');
      if (end == NULL)
        return rt_err_set(err, RT_E_INVALID, "%s: '{' without '}'", path);
      size_t n = (size_t)(end - c + 1);
      if (n == 6 && strncmp(c, "{name}", 6) == 0) {
        /* ok */
      } else if (n == 4 && strncmp(c, "{ek}", 4) == 0) {
        if (dns)
          return rt_err_set(err, RT_E_INVALID,
                            "%s: {ek} cannot be part of a DNS name (64 characters, a label "
                            "holds 63)",
                            path);
      } else if (is_platform_placeholder(c, n) && platform != NULL) {
        *platform = true;
      } else if (is_platform_placeholder(c, n)) {
        return rt_err_set(err, RT_E_INVALID,
                          "%s: %.*s can only be used in subject fields, not in a DNS name", path,
                          (int)n, c);
      } else {
        return rt_err_set(
            err, RT_E_INVALID, "%s: unknown placeholder \"%.*s\" (use {name}, {ek}%s)", path,
            (int)(n > 32 ? 32 : n), c,
            platform != NULL ? ", {platform_manufacturer}, {platform_model} or {platform_serial}"
                             : "");
      }
      c = end;
      continue;
    }
    if (*c == '}')
      return rt_err_set(err, RT_E_INVALID, "%s: '}' without '{'", path);
    if (dns && !isalnum((unsigned char)*c) && *c != '-' && *c != '.')
      return rt_err_set(err, RT_E_INVALID, "%s: '%c' is not allowed in a DNS name", path, *c);
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      return rt_err_set(err, RT_E_INVALID, "%s: control character", path);
    literal++;
  }
  if (literal > max_literal)
    return rt_err_set(err, RT_E_INVALID, "%s: longer than %zu characters", path, max_literal);
  return RT_OK;
}

static rt_code set_string(char **dst, const char *src, rt_err *err) {
  char *copy = strdup(src);
  if (copy == NULL)
    return nomem(err);
  free(*dst);
  *dst = copy;
  return RT_OK;
}

static rt_code parse_subject(rt_policy *p, json_t *v, rt_err *err) {
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "subject: expected an object");
  static const char *const keys[] = {"common_name", "organization", "organizational_unit", NULL};
  rt_code code = rt_policy_check_keys(v, "subject", keys, err);
  if (code != RT_OK)
    return code;
  char **dst[] = {&p->common_name, &p->organization, &p->organizational_unit};
  for (size_t i = 0; i < 3; i++) {
    json_t *s = json_object_get(v, keys[i]);
    if (s == NULL)
      continue;
    char path[PATH_LEN];
    snprintf(path, sizeof path, "subject.%s", keys[i]);
    if (!json_is_string(s))
      return rt_err_set(err, RT_E_INVALID, "%s: expected a string", path);
    code =
        check_template(path, json_string_value(s), false, MAX_NAME_FIELD, &p->uses_platform, err);
    if (code == RT_OK)
      code = set_string(dst[i], json_string_value(s), err);
    if (code != RT_OK)
      return code;
  }
  return RT_OK;
}

static rt_code parse_dns_sans(rt_policy *p, json_t *v, rt_err *err) {
  if (!json_is_array(v))
    return rt_err_set(err, RT_E_INVALID, "dns_sans: expected an array of DNS names");
  size_t n = json_array_size(v);
  if (n > MAX_DNS_SANS)
    return rt_err_set(err, RT_E_INVALID, "dns_sans: more than %d names", MAX_DNS_SANS);
  p->dns_sans = calloc(n > 0 ? n : 1, sizeof *p->dns_sans);
  if (p->dns_sans == NULL)
    return nomem(err);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    char path[PATH_LEN];
    snprintf(path, sizeof path, "dns_sans[%zu]", i);
    if (!json_is_string(e))
      return rt_err_set(err, RT_E_INVALID, "%s: expected a string", path);
    rt_code code = check_template(path, json_string_value(e), true, MAX_DNS_NAME, NULL, err);
    if (code == RT_OK)
      code = set_string(&p->dns_sans[i], json_string_value(e), err);
    if (code != RT_OK)
      return code;
    p->n_dns_sans = i + 1;
  }
  return RT_OK;
}

static rt_code policy_new(rt_policy **out, rt_err *err) {
  rt_policy *p = calloc(1, sizeof *p);
  if (p == NULL)
    return nomem(err);
  p->mask[bank_index(TPM2_ALG_SHA256)] = 0xffu; /* PCRs 0-7: firmware and boot loader */
  p->allow_sha1 = false;
  p->require_event_log = true;
  p->key_algs = p->ak_algs = (1u << RT_ALG_ECC_P256) | (1u << RT_ALG_RSA_2048);
  p->lifetime = DEFAULT_LIFETIME;
  p->common_name = strdup("{name}");
  if (p->common_name == NULL) {
    free(p);
    return nomem(err);
  }
  *out = p;
  return RT_OK;
}

rt_code rt_policy_default(rt_policy **out, rt_err *err) {
  *out = NULL;
  rt_code code = policy_new(out, err);
  if (code == RT_OK)
    (*out)->is_default = true;
  return code;
}

static rt_code parse_platform_cert(rt_policy *p, json_t *v, rt_err *err) {
  static const char *const modes[] = {"ignore", "verify", "required"};
  static const rt_policy_platform_mode values[] = {
      RT_POLICY_PLATFORM_IGNORE, RT_POLICY_PLATFORM_VERIFY, RT_POLICY_PLATFORM_REQUIRED};
  const char *s = json_string_value(v);
  for (size_t i = 0; s != NULL && i < 3; i++)
    if (strcmp(s, modes[i]) == 0) {
      p->platform_cert = values[i];
      return RT_OK;
    }
  return rt_err_set(err, RT_E_INVALID,
                    "platform_cert: expected \"ignore\", \"verify\" or \"required\"");
}

static rt_code parse_name_binding(rt_policy *p, json_t *v, rt_err *err) {
  const char *s = json_string_value(v);
  if (s != NULL && strcmp(s, "first-come") == 0)
    p->name_binding = RT_POLICY_NAMES_FIRST_COME;
  else if (s != NULL && strcmp(s, "registered") == 0)
    p->name_binding = RT_POLICY_NAMES_REGISTERED;
  else if (s != NULL && strcmp(s, "ek") == 0)
    p->name_binding = RT_POLICY_NAMES_EK;
  else
    return rt_err_set(err, RT_E_INVALID,
                      "name_binding: expected \"first-come\", \"registered\" or \"ek\"");
  return RT_OK;
}

static rt_code parse_events(rt_policy *p, json_t *v, rt_err *err) {
  rt_evproof proof;
  rt_policy_proof(p, &proof);
  return rt_policy_events_parse(v, &proof, &p->events, err);
}

static rt_code parse_flags(rt_policy *p, json_t *root, rt_err *err) {
  rt_code code = rt_policy_get_bool(root, "", "allow_sha1", &p->allow_sha1, err);
  if (code == RT_OK)
    code = rt_policy_get_bool(root, "", "require_event_log", &p->require_event_log, err);
  if (code == RT_OK)
    code = rt_policy_get_bool(root, "", "server_auth", &p->server_auth, err);
  if (code == RT_OK)
    code = rt_policy_get_bool(root, "", "ek_expiry_advisory", &p->ek_expiry_advisory, err);
  return code;
}

/* What the machine must prove: PCRs, event rules, sealed secrets, EKs. */
static rt_code parse_evidence(rt_policy *p, json_t *root, rt_err *err) {
  rt_code code = RT_OK;
  json_t *v;
  if ((v = json_object_get(root, "pcrs")) != NULL)
    code = parse_pcrs(p, v, err);
  if (code == RT_OK && (v = json_object_get(root, "expected")) != NULL)
    code = parse_expected(p, v, err);
  if (code == RT_OK && (v = json_object_get(root, "events")) != NULL) {
    /* Rules read the log: without one there is nothing they could judge. */
    if (!p->require_event_log)
      code = rt_err_set(err, RT_E_INVALID, "events: rules need require_event_log true");
    else
      code = parse_events(p, v, err);
  }
  if (code == RT_OK && (v = json_object_get(root, "secrets")) != NULL) {
    TPML_PCR_SELECTION demanded;
    rt_policy_tpml_selection(p, &demanded);
    code = rt_policy_secrets_parse(v, &demanded, &p->secrets, err);
  }
  if (code == RT_OK && (v = json_object_get(root, "ek_allowlist")) != NULL)
    code = parse_ek_allowlist(p, v, err);
  return code;
}

/* What the issued certificate may be: key types, lifetime, names. */
static rt_code parse_issuance(rt_policy *p, json_t *root, rt_err *err) {
  rt_code code = RT_OK;
  json_t *v;
  if ((v = json_object_get(root, "key_algorithms")) != NULL)
    code = parse_algs("key_algorithms", v, &p->key_algs, err);
  if (code == RT_OK && (v = json_object_get(root, "ak_algorithms")) != NULL)
    code = parse_algs("ak_algorithms", v, &p->ak_algs, err);
  if (code == RT_OK && (v = json_object_get(root, "cert_lifetime")) != NULL)
    code = parse_lifetime(p, v, err);
  if (code == RT_OK && (v = json_object_get(root, "subject")) != NULL)
    code = parse_subject(p, v, err);
  if (code == RT_OK && (v = json_object_get(root, "dns_sans")) != NULL)
    code = parse_dns_sans(p, v, err);
  if (code == RT_OK && (v = json_object_get(root, "platform_cert")) != NULL)
    code = parse_platform_cert(p, v, err);
  if (code == RT_OK && (v = json_object_get(root, "name_binding")) != NULL)
    code = parse_name_binding(p, v, err);
  return code;
}

static rt_code parse_root(rt_policy *p, json_t *root, rt_err *err) {
  static const char *const keys[] = {"pcrs",
                                     "expected",
                                     "allow_sha1",
                                     "require_event_log",
                                     "key_algorithms",
                                     "ak_algorithms",
                                     "cert_lifetime",
                                     "subject",
                                     "dns_sans",
                                     "server_auth",
                                     "ek_expiry_advisory",
                                     "ek_allowlist",
                                     "events",
                                     "platform_cert",
                                     "secrets",
                                     "name_binding",
                                     NULL};
  rt_code code = rt_policy_check_keys(root, "", keys, err);
  /* Fixed order, not the file's: allow_sha1 decides whether a sha1 bank may
   * be demanded, and pcrs whether an expected value can ever be checked. */
  if (code == RT_OK)
    code = parse_flags(p, root, err);
  if (code == RT_OK)
    code = parse_evidence(p, root, err);
  if (code == RT_OK)
    code = parse_issuance(p, root, err);
  /* A subject built from the platform certificate needs one from every
   * machine: under "verify" a machine without one would pass Begin and
   * fail only at Finish. */
  if (code == RT_OK && p->uses_platform && p->platform_cert != RT_POLICY_PLATFORM_REQUIRED)
    code = rt_err_set(err, RT_E_INVALID,
                      "subject: {platform_*} placeholders need \"platform_cert\": \"required\"");
  return code;
}

rt_code rt_policy_parse(const char *json, size_t len, rt_policy **out, rt_err *err) {
  *out = NULL;
  json_error_t jerr;
  /* Duplicate keys are refused: with them, which value wins is a parser
   * detail, and a reviewer may read the other one. */
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return rt_err_set(err, RT_E_INVALID, "line %d column %d: %s", jerr.line, jerr.column,
                      jerr.text);
  rt_policy *p = NULL;
  rt_code code = RT_OK;
  if (!json_is_object(root))
    code = rt_err_set(err, RT_E_INVALID, "the policy must be a JSON object");
  if (code == RT_OK)
    code = policy_new(&p, err);
  if (code == RT_OK)
    code = parse_root(p, root, err);
  json_decref(root);
  if (code != RT_OK) {
    rt_policy_free(p);
    return code;
  }
  *out = p;
  return RT_OK;
}

rt_code rt_policy_load(const char *path, rt_policy **out, rt_err *err) {
  *out = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, RT_POLICY_MAX_FILE, &data, &len, err);
  if (code == RT_OK)
    code = rt_policy_parse((const char *)data, len, out, err);
  free(data);
  if (code != RT_OK)
    return rt_err_prefix(err, "policy %s: ", path);
  return RT_OK;
}

void rt_policy_free(rt_policy *p) {
  if (p == NULL)
    return;
  for (int b = 0; b < RT_POLICY_MAX_BANKS; b++)
    for (int i = 0; i < RT_POLICY_NUM_PCRS; i++)
      free(p->expected[b][i].values);
  free(p->common_name);
  free(p->organization);
  free(p->organizational_unit);
  for (size_t i = 0; i < p->n_dns_sans; i++)
    free(p->dns_sans[i]);
  free(p->dns_sans);
  free(p->ek_allow);
  rt_policy_events_free(p->events);
  rt_policy_secrets_free(p->secrets);
  free(p);
}

bool rt_policy_is_default(const rt_policy *p) {
  return p->is_default;
}

size_t rt_policy_selection(const rt_policy *p, rt_policy_bank_sel out[RT_POLICY_MAX_BANKS]) {
  size_t n = 0;
  for (int b = 0; b < RT_POLICY_MAX_BANKS; b++)
    if (p->mask[b] != 0) {
      out[n].bank = banks[b];
      out[n].mask = p->mask[b];
      n++;
    }
  return n;
}

uint32_t rt_policy_pcr_mask(const rt_policy *p, TPM2_ALG_ID bank) {
  int b = bank_index(bank);
  return b < 0 ? 0 : p->mask[b];
}

void rt_policy_tpml_selection(const rt_policy *p, TPML_PCR_SELECTION *out) {
  memset(out, 0, sizeof *out);
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  size_t n = rt_policy_selection(p, sel);
  for (size_t i = 0; i < n; i++) {
    TPMS_PCR_SELECTION *s = &out->pcrSelections[i];
    s->hash = sel[i].bank;
    s->sizeofSelect = 3;
    for (int pcr = 0; pcr < RT_POLICY_NUM_PCRS; pcr++)
      if (sel[i].mask & (1u << pcr))
        s->pcrSelect[pcr / 8] |= (uint8_t)(1u << (pcr % 8));
  }
  out->count = (UINT32)n;
}

bool rt_policy_allow_sha1(const rt_policy *p) {
  return p->allow_sha1;
}
bool rt_policy_require_event_log(const rt_policy *p) {
  return p->require_event_log;
}
rt_policy_name_binding rt_policy_names(const rt_policy *p) {
  return p->name_binding;
}

bool rt_policy_server_auth(const rt_policy *p) {
  return p->server_auth;
}

bool rt_policy_ek_expiry_advisory(const rt_policy *p) {
  return p->ek_expiry_advisory;
}
rt_policy_platform_mode rt_policy_platform_cert(const rt_policy *p) {
  return p->platform_cert;
}
bool rt_policy_uses_platform(const rt_policy *p) {
  return p->uses_platform;
}
bool rt_policy_ek_allowlisted(const rt_policy *p, const uint8_t ek_key_sha256[32]) {
  return p->n_ek_allow > 0 &&
         bsearch(ek_key_sha256, p->ek_allow, p->n_ek_allow, sizeof *p->ek_allow, cmp32) != NULL;
}
const rt_policy_secrets *rt_policy_secrets_of(const rt_policy *p) {
  return p->secrets;
}
const rt_policy_events *rt_policy_event_rules(const rt_policy *p) {
  return p->events;
}
void rt_policy_proof(const rt_policy *p, rt_evproof *out) {
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  memset(out, 0, sizeof *out);
  out->n = rt_policy_selection(p, sel);
  for (size_t i = 0; i < out->n; i++) {
    out->banks[i].alg = sel[i].bank;
    out->banks[i].pcrs = sel[i].mask;
  }
}
bool rt_policy_has_ek_allowlist(const rt_policy *p) {
  return p->n_ek_allow > 0;
}
int64_t rt_policy_cert_lifetime(const rt_policy *p) {
  return p->lifetime;
}

static void say(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t why_size, const char *fmt, ...) {
  if (why == NULL || why_size == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_size, fmt, ap);
  va_end(ap);
}

rt_policy_verdict rt_policy_check_pcrs(const rt_policy *p, TPM2_ALG_ID bank, uint32_t index,
                                       const uint8_t *value, size_t len, char *why,
                                       size_t why_size) {
  int b = bank_index(bank);
  const char *bname = b < 0 ? "unknown" : bank_alg(b)->name;
  if (b < 0 || index >= RT_POLICY_NUM_PCRS || !(p->mask[b] & (1u << index))) {
    say(why, why_size, "PCR %s:%u is not in the policy's selection", bname, index);
    return RT_POLICY_DENY;
  }
  size_t dlen = bank_alg(b)->size;
  if (value == NULL || len != dlen) {
    say(why, why_size, "PCR %s:%u value is %zu bytes, the bank's digests are %zu", bname, index,
        len, dlen);
    return RT_POLICY_DENY;
  }
  const allow_list *al = &p->expected[b][index];
  if (al->n == 0) {
    say(why, why_size, "PCR %s:%u: the policy accepts any value", bname, index);
    return RT_POLICY_ALLOW;
  }
  /* PCR values are public measurements, not secrets: memcmp is fine. */
  for (size_t i = 0; i < al->n; i++)
    if (memcmp(al->values + i * dlen, value, dlen) == 0) {
      say(why, why_size, "PCR %s:%u value is allowed by the policy", bname, index);
      return RT_POLICY_ALLOW;
    }
  char hex[2 * MAX_DIGEST + 1];
  for (size_t i = 0; i < dlen; i++)
    snprintf(hex + 2 * i, 3, "%02x", value[i]);
  say(why, why_size, "PCR %s:%u value %s is not one of the %zu value%s the policy allows", bname,
      index, hex, al->n, al->n == 1 ? "" : "s");
  return RT_POLICY_DENY;
}

bool rt_policy_key_alg_allowed(const rt_policy *p, rt_key_alg alg) {
  return alg != RT_ALG_NONE && (unsigned)alg < 8 * sizeof p->key_algs &&
         (p->key_algs & (1u << alg)) != 0;
}

bool rt_policy_ak_alg_allowed(const rt_policy *p, rt_key_alg alg) {
  return alg != RT_ALG_NONE && (unsigned)alg < 8 * sizeof p->ak_algs &&
         (p->ak_algs & (1u << alg)) != 0;
}

/* A placeholder and its value. */
typedef struct {
  const char *key;
  const char *value;
} tvar;

static const tvar *tvar_at(const char *c, const tvar *vars, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strncmp(c, vars[i].key, strlen(vars[i].key)) == 0)
      return &vars[i];
  return NULL;
}

/* Replaces the placeholders of a template checked by check_template, in one
 * pass: a value is never expanded again, whatever braces it holds. */
static char *expand(const char *tmpl, const tvar *vars, size_t n) {
  size_t need = 1;
  for (const char *c = tmpl; *c != '\0';) {
    const tvar *v = tvar_at(c, vars, n);
    need += v != NULL ? strlen(v->value) : 1;
    c += v != NULL ? strlen(v->key) : 1;
  }
  char *out = malloc(need), *o = out;
  if (out == NULL)
    return NULL;
  for (const char *c = tmpl; *c != '\0';) {
    const tvar *v = tvar_at(c, vars, n);
    if (v != NULL) {
      size_t len = strlen(v->value);
      memcpy(o, v->value, len);
      o += len;
      c += strlen(v->key);
    } else {
      *o++ = *c++;
    }
  }
  *o = '\0';
  return out;
}

/* Platform values must be what rt_platform_info holds: 1-64 printable
 * ASCII characters. Anything else is refused here, not put in a subject. */
static rt_code check_platform_vars(const rt_policy *p, const tvar *vars, rt_err *err) {
  static const char *const fields[] = {"common_name", "organization", "organizational_unit"};
  const char *tmpls[] = {p->common_name, p->organization, p->organizational_unit};
  for (size_t f = 0; f < 3; f++)
    for (size_t i = 2; tmpls[f] != NULL && i < 5; i++) {
      if (strstr(tmpls[f], vars[i].key) == NULL)
        continue;
      const char *v = vars[i].value;
      size_t len = strlen(v);
      if (len == 0)
        return rt_err_set(err, RT_E_INVALID,
                          "subject.%s: %s: the machine has no verified platform certificate "
                          "naming it",
                          fields[f], vars[i].key);
      for (size_t k = 0; k < len; k++)
        if ((unsigned char)v[k] < 0x20 || (unsigned char)v[k] > 0x7e)
          return rt_err_set(err, RT_E_INVALID,
                            "subject.%s: %s: the platform value is not printable ASCII", fields[f],
                            vars[i].key);
      if (len > MAX_NAME_FIELD)
        return rt_err_set(err, RT_E_INVALID,
                          "subject.%s: %s: the platform value is longer than %d characters",
                          fields[f], vars[i].key, MAX_NAME_FIELD);
    }
  return RT_OK;
}

rt_code rt_policy_render_identity(const rt_policy *p, const char *name, const char *ek_hex,
                                  rt_policy_identity *out, rt_err *err) {
  return rt_policy_render_identity_platform(p, name, ek_hex, NULL, out, err);
}

rt_code rt_policy_render_identity_platform(const rt_policy *p, const char *name, const char *ek_hex,
                                           const rt_policy_platform *platform,
                                           rt_policy_identity *out, rt_err *err) {
  memset(out, 0, sizeof *out);
  rt_policy_platform none = {NULL, NULL, NULL};
  if (platform == NULL)
    platform = &none;
  const tvar vars[] = {
      {"{name}", name},
      {"{ek}", ek_hex},
      {"{platform_manufacturer}", platform->manufacturer ? platform->manufacturer : ""},
      {"{platform_model}", platform->model ? platform->model : ""},
      {"{platform_serial}", platform->serial ? platform->serial : ""},
  };
  const size_t nv = sizeof vars / sizeof vars[0];
  rt_code code = check_platform_vars(p, vars, err);
  if (code != RT_OK)
    return code;
  out->common_name = expand(p->common_name, vars, nv);
  bool ok = out->common_name != NULL;
  if (ok && p->organization != NULL)
    ok = (out->organization = expand(p->organization, vars, nv)) != NULL;
  if (ok && p->organizational_unit != NULL)
    ok = (out->organizational_unit = expand(p->organizational_unit, vars, nv)) != NULL;
  if (ok && p->n_dns_sans > 0) {
    out->dns_sans = calloc(p->n_dns_sans, sizeof *out->dns_sans);
    ok = out->dns_sans != NULL;
    for (size_t i = 0; ok && i < p->n_dns_sans; i++) {
      ok = (out->dns_sans[i] = expand(p->dns_sans[i], vars, nv)) != NULL;
      if (ok)
        out->n_dns_sans = i + 1;
    }
  }
  if (!ok) {
    rt_policy_identity_free(out);
    return nomem(err);
  }
  return RT_OK;
}

void rt_policy_identity_free(rt_policy_identity *id) {
  if (id == NULL)
    return;
  free(id->common_name);
  free(id->organization);
  free(id->organizational_unit);
  for (size_t i = 0; i < id->n_dns_sans; i++)
    free(id->dns_sans[i]);
  free(id->dns_sans);
  memset(id, 0, sizeof *id);
}
