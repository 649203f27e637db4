#include "policy_secrets.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert_files.h"
#include "policy.h" /* rt_policy_bank_known */
#include "policy_json.h"
#include "rt_file.h"
#include "rt_hash.h"
#include "rt_name.h" /* secret names follow identity names */
#include "rt_pcrsel.h"

#define MAX_KEY_FILE (64 * 1024)

static rt_code nomem(rt_err *err) {
  return rt_err_set(err, RT_E_NOMEM, "policy: out of memory");
}

static const char *get_string(json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static rt_code parse_pcrs(const char *path, json_t *v, const TPML_PCR_SELECTION *demanded,
                          TPML_PCR_SELECTION *out, rt_err *err) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(v) || json_object_size(v) == 0)
    return rt_err_set(err, RT_E_INVALID, "%s.pcrs: expected an object of banks", path);
  const char *bank;
  json_t *arr;
  json_object_foreach(v, bank, arr) {
    const rt_hash *h = rt_hash_by_name(bank);
    TPM2_ALG_ID alg = h != NULL ? h->id : TPM2_ALG_ERROR;
    if (!rt_policy_bank_known(alg))
      return rt_err_set(err, RT_E_INVALID, "%s.pcrs.%.16s: unknown bank", path, bank);
    if (!json_is_array(arr) || json_array_size(arr) == 0)
      return rt_err_set(err, RT_E_INVALID, "%s.pcrs.%s: expected a non-empty array of PCRs", path,
                        bank);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
      json_int_t n = json_is_integer(e) ? json_integer_value(e) : -1;
      if (n < 0 || n > 23)
        return rt_err_set(err, RT_E_INVALID, "%s.pcrs.%s[%zu]: expected a PCR index 0..23", path,
                          bank, i);
      /* Only a value the enrollment's quote proved can be sealed to. */
      if (!rt_pcrsel_has(demanded, alg, (uint32_t)n))
        return rt_err_set(err, RT_E_INVALID,
                          "%s.pcrs.%s[%zu]: PCR %lld is not in the policy's pcrs.%s (its value "
                          "would not be proven)",
                          path, bank, i, (long long)n, bank);
      if (rt_pcrsel_has(out, alg, (uint32_t)n))
        return rt_err_set(err, RT_E_INVALID, "%s.pcrs.%s[%zu]: PCR %lld listed twice", path, bank,
                          i, (long long)n);
      rt_code code = rt_pcrsel_add(out, alg, (uint32_t)n, err);
      if (code != RT_OK)
        return code;
    }
  }
  return RT_OK;
}

static rt_code parse_sealed(const char *path, json_t *v, rt_secret_conf *c, rt_err *err) {
  static const char *const keys[] = {"name", "type", "file", "pcrs", NULL};
  rt_code code = rt_policy_check_keys(v, path, keys, err);
  if (code != RT_OK)
    return code;
  const char *file = get_string(v, "file");
  if (file == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s.file: expected the path of the secret", path);
  code = rt_file_read_private(file, "secret", RT_SECRET_MAX_SEALED, &c->data, &c->data_len, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "%s.file: ", path);
  if (c->data_len == 0)
    return rt_err_set(err, RT_E_INVALID, "%s.file: %s is empty", path, file);
  return RT_OK;
}

static int add_cert(const uint8_t *der, size_t len, void *arg) {
  rt_secret_conf *c = arg;
  uint8_t **certs = realloc(c->certs, (c->n_certs + 1) * sizeof *certs);
  size_t *lens = certs != NULL ? realloc(c->cert_lens, (c->n_certs + 1) * sizeof *lens) : NULL;
  if (certs != NULL)
    c->certs = certs;
  if (lens != NULL)
    c->cert_lens = lens;
  uint8_t *copy = lens != NULL ? malloc(len) : NULL;
  if (copy == NULL)
    return 0;
  memcpy(copy, der, len);
  c->certs[c->n_certs] = copy;
  c->cert_lens[c->n_certs++] = len;
  return 1;
}

static rt_code parse_rsa_key(const char *path, json_t *v, rt_secret_conf *c, rt_err *err) {
  static const char *const keys[] = {"name", "type", "key_file", "cert_file", "pcrs", NULL};
  rt_code code = rt_policy_check_keys(v, path, keys, err);
  if (code != RT_OK)
    return code;
  const char *key_file = get_string(v, "key_file"), *cert_file = get_string(v, "cert_file");
  if (key_file == NULL || cert_file == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s: rsa-key needs key_file and cert_file", path);
  int fd;
  code = rt_file_open_private(key_file, "secret key", MAX_KEY_FILE, &fd, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "%s.key_file: ", path);
  /* Read straight from the descriptor: no copy of the PEM to wipe. */
  BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
  if (bio == NULL) {
    close(fd);
    return nomem(err);
  }
  c->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  ERR_clear_error();
  if (c->key == NULL || !EVP_PKEY_is_a(c->key, "RSA"))
    return rt_err_set(err, RT_E_INVALID, "%s.key_file: %s holds no unencrypted PEM RSA key", path,
                      key_file);
  int bits = EVP_PKEY_get_bits(c->key);
  if (bits != 2048 && bits != 3072 && bits != 4096)
    return rt_err_set(err, RT_E_INVALID, "%s.key_file: RSA key of %d bits (2048, 3072, 4096)", path,
                      bits);
  code = rt_cert_file_each(cert_file, add_cert, c, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "%s.cert_file: ", path);
  const unsigned char *p = c->n_certs > 0 ? c->certs[0] : NULL;
  X509 *leaf = p != NULL ? d2i_X509(NULL, &p, (long)c->cert_lens[0]) : NULL;
  bool match = leaf != NULL && EVP_PKEY_eq(X509_get0_pubkey(leaf), c->key) == 1;
  X509_free(leaf);
  ERR_clear_error();
  if (!match)
    return rt_err_set(err, RT_E_INVALID,
                      "%s.cert_file: the first certificate of %s is not the key's (PEM, leaf "
                      "first)",
                      path, cert_file);
  return RT_OK;
}

static rt_code parse_one(const char *path, json_t *v, const TPML_PCR_SELECTION *demanded,
                         const rt_policy_secrets *done, rt_secret_conf *c, rt_err *err) {
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "%s: expected an object", path);
  const char *name = get_string(v, "name"), *type = get_string(v, "type");
  if (rt_name_check(name, err) != RT_OK)
    return rt_err_prefix(err, "%s.name: ", path);
  for (size_t i = 0; i < done->n; i++)
    if (strcmp(done->v[i].name, name) == 0)
      return rt_err_set(err, RT_E_INVALID, "%s.name: \"%s\" used twice", path, name);
  if ((c->name = strdup(name)) == NULL)
    return nomem(err);
  int sealed = type != NULL && strcmp(type, "sealed") == 0;
  if (!sealed && (type == NULL || strcmp(type, "rsa-key") != 0))
    return rt_err_set(err, RT_E_INVALID, "%s.type: expected \"sealed\" or \"rsa-key\"", path);
  /* The same rules for both kinds (an rsa-key then signs only in a
   * PolicyPCR session), checked before any file is read. */
  json_t *pcrs = json_object_get(v, "pcrs");
  if (pcrs != NULL) {
    rt_code code = parse_pcrs(path, pcrs, demanded, &c->pcrs, err);
    if (code != RT_OK)
      return code;
  }
  c->kind = sealed ? RT_SECRET_KIND_SEALED : RT_SECRET_KIND_RSA_KEY;
  return sealed ? parse_sealed(path, v, c, err) : parse_rsa_key(path, v, c, err);
}

rt_code rt_policy_secrets_parse(json_t *v, const TPML_PCR_SELECTION *demanded,
                                rt_policy_secrets **out, rt_err *err) {
  *out = NULL;
  if (!json_is_array(v))
    return rt_err_set(err, RT_E_INVALID, "secrets: expected an array of secrets");
  if (json_array_size(v) > RT_SECRET_MAX)
    return rt_err_set(err, RT_E_INVALID, "secrets: more than %d", RT_SECRET_MAX);
  rt_policy_secrets *s = calloc(1, sizeof *s);
  if (s == NULL || (s->v = calloc(json_array_size(v) + 1, sizeof *s->v)) == NULL) {
    free(s);
    return nomem(err);
  }
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    char path[32];
    snprintf(path, sizeof path, "secrets[%zu]", i);
    rt_code code = parse_one(path, e, demanded, s, &s->v[i], err);
    s->n = i + 1; /* freed with the rest, parsed or not */
    if (code != RT_OK) {
      rt_policy_secrets_free(s);
      return code;
    }
  }
  *out = s;
  return RT_OK;
}

void rt_policy_secrets_free(rt_policy_secrets *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++) {
    rt_secret_conf *c = &s->v[i];
    free(c->name);
    rt_file_free_secret(c->data, c->data_len);
    EVP_PKEY_free(c->key);
    for (size_t j = 0; j < c->n_certs; j++)
      free(c->certs[j]);
    free(c->certs);
    free(c->cert_lens);
  }
  free(s->v);
  free(s);
}
