#include "rt_state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_cli.h"
#include "rt_file.h"
#include "rt_json.h"
#include "rt_pcrsel.h"
#include "rt_templates.h"

struct rt_state {
  char *path;
  /* {"version": 1, "identities": {...}, "secrets": {...}}, always complete
   * and valid: load checks it, put only inserts checked identities. */
  json_t *root;
};

/* The string fields of an identity, in schema order, with where they live
 * in rt_identity. "handle" is stored as a string but parsed separately. */
typedef struct {
  const char *key;
  size_t offset;
  size_t size;
} string_field;

#define FIELD(f)                                                                                   \
  { #f, offsetof(rt_identity, f), sizeof(((rt_identity *)0)->f) }
static const string_field string_fields[] = {
    FIELD(name),      FIELD(key_file),  FIELD(cert_file), FIELD(chain_file), FIELD(ak_cert_file),
    FIELD(algorithm), FIELD(ek_sha256), FIELD(verifier),  FIELD(not_after),  FIELD(enrolled_at),
};
#undef FIELD
#define N_STRING_FIELDS (sizeof string_fields / sizeof string_fields[0])

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

rt_code rt_state_time_parse(const char *s, time_t *out, rt_err *err) {
  /* Exactly YYYY-MM-DDTHH:MM:SSZ: one canonical form keeps comparisons and
   * diffs simple; offsets and fractions are not needed for certificate
   * dates. */
  static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
  if (strlen(s) != sizeof shape - 1)
    goto bad;
  for (size_t i = 0; shape[i] != '\0'; i++) {
    if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
      goto bad;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = atoi(s) - 1900;
  tm.tm_mon = atoi(s + 5) - 1;
  tm.tm_mday = atoi(s + 8);
  tm.tm_hour = atoi(s + 11);
  tm.tm_min = atoi(s + 14);
  tm.tm_sec = atoi(s + 17);
  struct tm want = tm;
  time_t t = timegm(&tm);
  /* timegm normalises out-of-range fields (Feb 30 becomes Mar 2): a date
   * that does not come back unchanged does not exist. */
  struct tm back;
  if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_year != want.tm_year ||
      back.tm_mon != want.tm_mon || back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour ||
      back.tm_min != want.tm_min || back.tm_sec != want.tm_sec)
    goto bad;
  *out = t;
  return RT_OK;
bad:
  return rt_err_set(err, RT_E_INVALID,
                    "\"%.40s\" is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)", s);
}

rt_code rt_state_time_format(time_t t, char out[RT_STATE_TIME_LEN], rt_err *err) {
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 ||
      strftime(out, RT_STATE_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) != RT_STATE_TIME_LEN - 1) {
    out[0] = '\0';
    return rt_err_set(err, RT_E_INVALID, "time %lld cannot be written as YYYY-MM-DDTHH:MM:SSZ",
                      (long long)t);
  }
  return RT_OK;
}

/* The field must hold a NUL within its buffer before anything reads it. */
static const char *field_str(const rt_identity *id, const string_field *f) {
  const char *s = (const char *)id + f->offset;
  return memchr(s, '\0', f->size) ? s : NULL;
}

rt_code rt_state_check_identity(const rt_identity *id, rt_err *err) {
  for (size_t i = 0; i < N_STRING_FIELDS; i++) {
    if (field_str(id, &string_fields[i]) == NULL)
      return rt_err_set(err, RT_E_INVALID, "%s: not NUL-terminated", string_fields[i].key);
  }
  rt_code code = rt_name_check(id->name, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "name: ");
  /* Owner-created persistent objects live in 0x81000000-0x817fffff; the
   * rest of 0x81 belongs to the platform. */
  if (id->handle < 0x81000000u || id->handle > 0x817fffffu)
    return rt_err_set(err, RT_E_INVALID,
                      "handle: 0x%08x is not an owner persistent handle (0x81000000-0x817fffff)",
                      (unsigned)id->handle);
  const struct {
    const char *key;
    const char *value;
  } paths[] = {{"key_file", id->key_file},
               {"cert_file", id->cert_file},
               {"chain_file", id->chain_file},
               {"ak_cert_file", id->ak_cert_file}};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    /* Absolute, so the state means the same thing whatever the working
     * directory of the program reading it. */
    if (paths[i].value[0] != '/')
      return rt_err_set(err, RT_E_INVALID, "%s: \"%.200s\" is not an absolute path", paths[i].key,
                        paths[i].value);
  }
  /* rsa-3072 and rsa-4096 only come from delivered rsa-key secrets: the
   * enrollment itself creates ecc-p256 or rsa-2048 keys. */
  if (rt_key_alg_parse(id->algorithm) == RT_ALG_NONE && strcmp(id->algorithm, "rsa-3072") != 0 &&
      strcmp(id->algorithm, "rsa-4096") != 0)
    return rt_err_set(err, RT_E_INVALID,
                      "algorithm: \"%.16s\" is not ecc-p256, rsa-2048, rsa-3072 or rsa-4096",
                      id->algorithm);
  size_t n = strlen(id->ek_sha256);
  int hex = n == 64;
  for (size_t i = 0; hex && i < n; i++)
    hex = is_hex(id->ek_sha256[i]);
  if (!hex)
    return rt_err_set(err, RT_E_INVALID, "ek_sha256: expected 64 lowercase hex digits");
  /* The rule --verifier follows, so what enroll accepts the state records. */
  if (rt_cli_parse_hostport("verifier", id->verifier, 1, NULL, err) != RT_OK)
    return RT_E_INVALID;
  time_t t;
  if (rt_state_time_parse(id->not_after, &t, err) != RT_OK)
    return rt_err_prefix(err, "not_after: ");
  if (rt_state_time_parse(id->enrolled_at, &t, err) != RT_OK)
    return rt_err_prefix(err, "enrolled_at: ");
  return RT_OK;
}

/* obj's "handle": "0x" and 8 hex digits. */
static rt_code handle_from_json(const char *where, json_t *obj, uint32_t *out, rt_err *err) {
  json_t *v = json_object_get(obj, "handle");
  if (v == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s.handle: missing", where);
  if (!json_is_string(v))
    return rt_err_set(err, RT_E_INVALID, "%s.handle: expected a string like \"0x81000100\"", where);
  const char *h = json_string_value(v);
  int ok = json_string_length(v) == 10 && h[0] == '0' && h[1] == 'x';
  for (size_t i = 2; ok && i < 10; i++)
    ok = isxdigit((unsigned char)h[i]);
  if (!ok)
    return rt_err_set(err, RT_E_INVALID, "%s.handle: \"%.16s\" is not 0x and 8 hex digits", where,
                      h);
  *out = (uint32_t)strtoul(h + 2, NULL, 16);
  return RT_OK;
}

/* obj[key] as a string into buf (size bytes with the NUL). */
static rt_code string_from_json(const char *where, json_t *obj, const char *key, char *buf,
                                size_t size, rt_err *err) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s.%s: missing", where, key);
  if (!json_is_string(v))
    return rt_err_set(err, RT_E_INVALID, "%s.%s: expected a string", where, key);
  /* No NUL inside: jansson refuses \u0000 unless JSON_ALLOW_NUL. */
  size_t len = json_string_length(v);
  if (len >= size)
    return rt_err_set(err, RT_E_INVALID, "%s.%s: longer than %zu bytes", where, key, size - 1);
  memcpy(buf, json_string_value(v), len + 1);
  return RT_OK;
}

/* JSON object -> identity, checking types and lengths, then the values
 * with rt_state_check_identity. Messages start with where the problem is:
 * "WHERE: ..." or "WHERE.FIELD: ...". */
static rt_code identity_from_json(const char *where, json_t *obj, rt_identity *id, rt_err *err) {
  memset(id, 0, sizeof *id);
  if (!json_is_object(obj))
    return rt_err_set(err, RT_E_INVALID, "%s: expected an object", where);
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    int known = strcmp(key, "handle") == 0;
    for (size_t i = 0; !known && i < N_STRING_FIELDS; i++)
      known = strcmp(key, string_fields[i].key) == 0;
    if (!known)
      return rt_err_set(err, RT_E_INVALID, "%s: unknown field \"%.64s\"", where, key);
  }
  for (size_t i = 0; i < N_STRING_FIELDS; i++) {
    const string_field *f = &string_fields[i];
    if (string_from_json(where, obj, f->key, (char *)id + f->offset, f->size, err) != RT_OK)
      return RT_E_INVALID;
  }
  if (handle_from_json(where, obj, &id->handle, err) != RT_OK)
    return RT_E_INVALID;
  if (rt_state_check_identity(id, err) != RT_OK)
    return rt_err_prefix(err, "%s.", where);
  return RT_OK;
}

static json_t *identity_to_json(const rt_identity *id) {
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  for (size_t i = 0; i < N_STRING_FIELDS; i++) {
    if (json_object_set_new(obj, string_fields[i].key,
                            json_string(field_str(id, &string_fields[i]))) != 0)
      goto fail;
  }
  char h[11];
  snprintf(h, sizeof h, "0x%08x", (unsigned)id->handle);
  if (json_object_set_new(obj, "handle", json_string(h)) != 0)
    goto fail;
  return obj;
fail:
  json_decref(obj);
  return NULL;
}

const char *rt_secret_type_name(rt_secret_type type) {
  switch (type) {
  case RT_SECRET_TYPE_SEALED:
    return "sealed";
  case RT_SECRET_TYPE_RSA_KEY:
    return "rsa-key";
  }
  return NULL;
}

rt_secret_type rt_secret_type_parse(const char *name) {
  if (strcmp(name, "sealed") == 0)
    return RT_SECRET_TYPE_SEALED;
  if (strcmp(name, "rsa-key") == 0)
    return RT_SECRET_TYPE_RSA_KEY;
  return (rt_secret_type)0;
}

/* "" or a selection exactly as rt_pcrsel_format writes it: one spelling per
 * selection, so the file says the same thing to every reader and the
 * unseal message can quote it. */
static rt_code check_pcrs(const char *pcrs, rt_err *err) {
  if (pcrs[0] == '\0')
    return RT_OK;
  TPML_PCR_SELECTION sel;
  rt_err why;
  if (rt_pcrsel_parse(pcrs, &sel, &why) != RT_OK)
    return rt_err_set(err, RT_E_INVALID, "pcrs: \"%.64s\": %s", pcrs, why.msg);
  char canon[RT_STATE_PCRS_MAX];
  rt_pcrsel_format(&sel, canon, sizeof canon);
  if (strcmp(canon, pcrs) != 0)
    return rt_err_set(err, RT_E_INVALID, "pcrs: \"%.64s\" is not in canonical form (\"%s\")", pcrs,
                      canon);
  return RT_OK;
}

/* The secret's string fields with where they live, as for identities. */
#define SFIELD(f)                                                                                  \
  { #f, offsetof(rt_secret_entry, f), sizeof(((rt_secret_entry *)0)->f) }
static const string_field secret_fields[] = {SFIELD(name), SFIELD(pub_file), SFIELD(priv_file),
                                             SFIELD(pcrs), SFIELD(received_at)};
static const string_field secret_cert_field = SFIELD(cert_file);
#undef SFIELD
#define N_SECRET_FIELDS (sizeof secret_fields / sizeof secret_fields[0])

static const char *secret_str(const rt_secret_entry *s, const string_field *f) {
  const char *p = (const char *)s + f->offset;
  return memchr(p, '\0', f->size) ? p : NULL;
}

rt_code rt_state_check_secret(const rt_secret_entry *s, rt_err *err) {
  for (size_t i = 0; i < N_SECRET_FIELDS; i++) {
    if (secret_str(s, &secret_fields[i]) == NULL)
      return rt_err_set(err, RT_E_INVALID, "%s: not NUL-terminated", secret_fields[i].key);
  }
  if (secret_str(s, &secret_cert_field) == NULL)
    return rt_err_set(err, RT_E_INVALID, "cert_file: not NUL-terminated");
  if (rt_name_check(s->name, err) != RT_OK)
    return rt_err_prefix(err, "name: ");
  if (rt_secret_type_name(s->type) == NULL)
    return rt_err_set(err, RT_E_INVALID, "type: %d is not sealed or rsa-key", (int)s->type);
  if (s->pub_file[0] != '/')
    return rt_err_set(err, RT_E_INVALID, "pub_file: \"%.200s\" is not an absolute path",
                      s->pub_file);
  if (s->priv_file[0] != '/')
    return rt_err_set(err, RT_E_INVALID, "priv_file: \"%.200s\" is not an absolute path",
                      s->priv_file);
  if (check_pcrs(s->pcrs, err) != RT_OK)
    return RT_E_INVALID;
  time_t t;
  if (rt_state_time_parse(s->received_at, &t, err) != RT_OK)
    return rt_err_prefix(err, "received_at: ");
  if (s->type == RT_SECRET_TYPE_SEALED) {
    if (s->handle != 0)
      return rt_err_set(err, RT_E_INVALID, "handle: a sealed secret has no handle");
    if (s->cert_file[0] != '\0')
      return rt_err_set(err, RT_E_INVALID, "cert_file: a sealed secret has no certificate");
    return RT_OK;
  }
  /* An rsa-key's pcrs, when set, is the selection its signatures need a
   * PolicyPCR session over; whether the key has that policy is checked
   * where its public area is at hand (rattest-bootstrap receiving it, the
   * provider loading it). */
  if (s->handle < 0x81000000u || s->handle > 0x817fffffu)
    return rt_err_set(err, RT_E_INVALID,
                      "handle: 0x%08x is not an owner persistent handle (0x81000000-0x817fffff)",
                      (unsigned)s->handle);
  if (s->cert_file[0] != '/')
    return rt_err_set(err, RT_E_INVALID, "cert_file: \"%.200s\" is not an absolute path",
                      s->cert_file);
  return RT_OK;
}

/* JSON object -> secret; messages start with WHERE like identities'. */
static rt_code secret_from_json(const char *where, json_t *obj, rt_secret_entry *s, rt_err *err) {
  memset(s, 0, sizeof *s);
  if (!json_is_object(obj))
    return rt_err_set(err, RT_E_INVALID, "%s: expected an object", where);
  char type[16];
  if (string_from_json(where, obj, "type", type, sizeof type, err) != RT_OK)
    return RT_E_INVALID;
  s->type = rt_secret_type_parse(type);
  if (s->type == 0)
    return rt_err_set(err, RT_E_INVALID, "%s.type: \"%s\" is not sealed or rsa-key", where, type);
  int key = s->type == RT_SECRET_TYPE_RSA_KEY;
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    int known = strcmp(k, "type") == 0 ||
                (key && (strcmp(k, "handle") == 0 || strcmp(k, "cert_file") == 0));
    for (size_t i = 0; !known && i < N_SECRET_FIELDS; i++)
      known = strcmp(k, secret_fields[i].key) == 0;
    if (!known)
      return rt_err_set(err, RT_E_INVALID, "%s: unknown field \"%.64s\" for a %s secret", where, k,
                        type);
  }
  for (size_t i = 0; i < N_SECRET_FIELDS; i++) {
    const string_field *f = &secret_fields[i];
    if (string_from_json(where, obj, f->key, (char *)s + f->offset, f->size, err) != RT_OK)
      return RT_E_INVALID;
  }
  if (key &&
      (handle_from_json(where, obj, &s->handle, err) != RT_OK ||
       string_from_json(where, obj, "cert_file", s->cert_file, sizeof s->cert_file, err) != RT_OK))
    return RT_E_INVALID;
  if (rt_state_check_secret(s, err) != RT_OK)
    return rt_err_prefix(err, "%s.", where);
  return RT_OK;
}

static json_t *secret_to_json(const rt_secret_entry *s) {
  json_t *obj = json_object();
  if (obj == NULL || json_object_set_new(obj, "type", json_string(rt_secret_type_name(s->type))))
    goto fail;
  for (size_t i = 0; i < N_SECRET_FIELDS; i++) {
    if (json_object_set_new(obj, secret_fields[i].key,
                            json_string(secret_str(s, &secret_fields[i]))) != 0)
      goto fail;
  }
  if (s->type == RT_SECRET_TYPE_RSA_KEY) {
    char h[11];
    snprintf(h, sizeof h, "0x%08x", (unsigned)s->handle);
    if (json_object_set_new(obj, "handle", json_string(h)) != 0 ||
        json_object_set_new(obj, "cert_file", json_string(s->cert_file)) != 0)
      goto fail;
  }
  return obj;
fail:
  json_decref(obj);
  return NULL;
}

/* An rsa-key and the identity of its name must be the same key: same
 * handle, same certificate. id NULL: there is none. */
static rt_code check_link(const rt_secret_entry *s, const rt_identity *id, rt_err *err) {
  if (id == NULL)
    return rt_err_set(err, RT_E_INVALID,
                      "secrets.%s: an rsa-key needs the identity of the same name "
                      "(identities.%s)",
                      s->name, s->name);
  if (strcmp(id->name, s->name) != 0 || id->handle != s->handle ||
      strcmp(id->cert_file, s->cert_file) != 0)
    return rt_err_set(err, RT_E_INVALID,
                      "secrets.%s: identities.%s is not this rsa-key (handle 0x%08x, cert_file "
                      "%.200s)",
                      s->name, id->name, (unsigned)s->handle, s->cert_file);
  return RT_OK;
}

/* The top level: its fields, the version, and objects of identities and
 * secrets. */
static rt_code check_top(json_t *root, rt_err *err) {
  if (!json_is_object(root))
    return rt_err_set(err, RT_E_INVALID, "expected a JSON object at the top");
  static const char *const keys[] = {"version", "identities", "secrets", NULL};
  const char *key = rt_json_unknown_key(root, keys);
  if (key != NULL)
    return rt_err_set(err, RT_E_INVALID, "unknown field \"%.64s\"", key);
  json_t *v = json_object_get(root, "version");
  if (v == NULL)
    return rt_err_set(err, RT_E_INVALID, "version: missing");
  if (!json_is_integer(v))
    return rt_err_set(err, RT_E_INVALID, "version: expected an integer");
  if (json_integer_value(v) != RT_STATE_VERSION)
    return rt_err_set(err, RT_E_INVALID, "version: %lld is not supported (this rattest reads %d)",
                      (long long)json_integer_value(v), RT_STATE_VERSION);
  v = json_object_get(root, "secrets");
  if (v == NULL)
    return rt_err_set(err, RT_E_INVALID, "secrets: missing");
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "secrets: expected an object");
  v = json_object_get(root, "identities");
  if (v == NULL)
    return rt_err_set(err, RT_E_INVALID, "identities: missing");
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "identities: expected an object");
  return RT_OK;
}

/* Every identity, each under a valid name that is its own; id is scratch. */
static rt_code check_identities(json_t *ids, rt_identity *id, rt_err *err) {
  const char *key;
  json_t *v;
  json_object_foreach(ids, key, v) {
    if (rt_name_check(key, err) != RT_OK)
      return rt_err_prefix(err, "identities: ");
    char where[96];
    snprintf(where, sizeof where, "identities.%s", key);
    rt_code code = identity_from_json(where, v, id, err);
    if (code != RT_OK)
      return code;
    if (strcmp(id->name, key) != 0)
      return rt_err_set(err, RT_E_INVALID, "identities.%s.name: \"%s\" differs from its key", key,
                        id->name);
  }
  return RT_OK;
}

/* Every secret, each under a valid name that is its own, an rsa-key with
 * the identity of its name (ids); id and sec are scratch. */
static rt_code check_secrets(json_t *secrets, json_t *ids, rt_identity *id, rt_secret_entry *sec,
                             rt_err *err) {
  const char *key;
  json_t *v;
  json_object_foreach(secrets, key, v) {
    if (rt_name_check(key, err) != RT_OK)
      return rt_err_prefix(err, "secrets: ");
    char where[96];
    snprintf(where, sizeof where, "secrets.%s", key);
    rt_code code = secret_from_json(where, v, sec, err);
    if (code != RT_OK)
      return code;
    if (strcmp(sec->name, key) != 0)
      return rt_err_set(err, RT_E_INVALID, "secrets.%s.name: \"%s\" differs from its key", key,
                        sec->name);
    if (sec->type != RT_SECRET_TYPE_RSA_KEY)
      continue;
    json_t *linked = json_object_get(ids, key);
    if (linked != NULL && (code = identity_from_json("identities", linked, id, err)) != RT_OK)
      return code;
    if ((code = check_link(sec, linked ? id : NULL, err)) != RT_OK)
      return code;
  }
  return RT_OK;
}

/* Checks a parsed file against the schema, stopping at the first error. */
static rt_code validate_root(json_t *root, rt_err *err) {
  rt_code code = check_top(root, err);
  if (code != RT_OK)
    return code;
  json_t *ids = json_object_get(root, "identities");
  rt_identity *id = malloc(sizeof *id);
  rt_secret_entry *sec = malloc(sizeof *sec);
  if (id == NULL || sec == NULL)
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
  else if ((code = check_identities(ids, id, err)) == RT_OK)
    code = check_secrets(json_object_get(root, "secrets"), ids, id, sec, err);
  free(id);
  free(sec);
  return code;
}

static rt_code state_new(const char *dir, rt_state **out, rt_err *err) {
  rt_state *st = calloc(1, sizeof *st);
  size_t n = strlen(dir) + sizeof "/" RT_STATE_FILE;
  if (st == NULL || (st->path = malloc(n)) == NULL) {
    free(st);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  snprintf(st->path, n, "%s/%s", dir, RT_STATE_FILE);
  *out = st;
  return RT_OK;
}

/* The file's JSON, read in one go: jansson's json_loadfd reads a byte per
 * system call, which the provider would pay at every key load. */
static rt_code parse_fd(rt_state *st, int fd, rt_err *err) {
  uint8_t *text = NULL;
  size_t len = 0;
  json_error_t jerr;
  rt_code code = rt_file_read_fd(fd, st->path, RT_STATE_MAX_FILE, &text, &len, err);
  if (code != RT_OK)
    return code;
  st->root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (st->root == NULL)
    return rt_err_set(err, RT_E_INVALID, "%s: malformed JSON at line %d column %d: %s", st->path,
                      jerr.line, jerr.column, jerr.text);
  if (validate_root(st->root, err) != RT_OK)
    return rt_err_prefix(err, "%s: ", st->path);
  return RT_OK;
}

rt_code rt_state_load(const char *dir, rt_state **out, rt_err *err) {
  *out = NULL;
  if (dir == NULL || dir[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "no state directory given");
  rt_state *st = NULL;
  rt_code code = state_new(dir, &st, err);
  if (code != RT_OK)
    return code;

  /* No symlinks: the file decides which keys are used, so it must be this
   * file, checked through the same descriptor that is read. */
  int fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0 && errno == ENOENT) {
    st->root = json_pack("{s:i, s:{}, s:{}}", "version", RT_STATE_VERSION, "identities", "secrets");
    if (st->root == NULL) {
      rt_state_free(st);
      return rt_err_set(err, RT_E_NOMEM, "out of memory");
    }
    *out = st;
    return RT_OK;
  }
  if (fd < 0) {
    code = errno == ELOOP
               ? rt_err_set(err, RT_E_INVALID, "%s is a symlink; refusing it", st->path)
               : rt_err_set(err, RT_E_IO, "cannot open %s: %s", st->path, strerror(errno));
    rt_state_free(st);
    return code;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    code = rt_err_set(err, RT_E_IO, "cannot stat %s: %s", st->path, strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) {
    code = rt_err_set(err, RT_E_INVALID, "%s is not a regular file", st->path);
  } else if (sb.st_uid != geteuid()) {
    code = rt_err_set(err, RT_E_INVALID,
                      "%s is owned by uid %u, not by this user (uid %u); refusing a state file "
                      "that someone else could have written, since it points at keys",
                      st->path, (unsigned)sb.st_uid, (unsigned)geteuid());
  } else if ((sb.st_mode & 077) != 0) {
    code = rt_err_set(err, RT_E_INVALID,
                      "%s has mode %04o; it must be 0600 (no group or other access) since it "
                      "points at keys: chmod 600 it",
                      st->path, (unsigned)(sb.st_mode & 07777));
  } else if (sb.st_size > RT_STATE_MAX_FILE) {
    code = rt_err_set(err, RT_E_INVALID, "%s is larger than %d bytes", st->path, RT_STATE_MAX_FILE);
  } else {
    code = parse_fd(st, fd, err);
  }
  close(fd);
  if (code != RT_OK) {
    rt_state_free(st);
    return code;
  }
  *out = st;
  return RT_OK;
}

rt_code rt_state_dir_check(const char *dir, uid_t user, rt_err *err) {
  struct stat sb;
  if (stat(dir, &sb) != 0)
    return rt_err_set(err, errno == ENOENT ? RT_E_NOT_FOUND : RT_E_IO, "%s: %s", dir,
                      strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return rt_err_set(err, RT_E_INVALID, "%s: not a directory", dir);
  if (sb.st_uid != user && sb.st_uid != 0)
    return rt_err_set(err, RT_E_INVALID,
                      "%s: owned by uid %u, neither this user (uid %u) nor root, who could swap "
                      "the key files the state points at",
                      dir, (unsigned)sb.st_uid, (unsigned)user);
  if ((sb.st_mode & 022) != 0)
    return rt_err_set(err, RT_E_INVALID,
                      "%s: mode %04o: group or other users can write to it, and so swap the key "
                      "files the state points at (chmod go-w it)",
                      dir, (unsigned)(sb.st_mode & 07777));
  return RT_OK;
}

void rt_state_free(rt_state *st) {
  if (st == NULL)
    return;
  json_decref(st->root);
  free(st->path);
  free(st);
}

const char *rt_state_path(const rt_state *st) {
  return st->path;
}

static json_t *identities(const rt_state *st) {
  return json_object_get(st->root, "identities");
}

size_t rt_state_count(const rt_state *st) {
  return json_object_size(identities(st));
}

rt_code rt_state_get(const rt_state *st, const char *name, rt_identity *out, rt_err *err) {
  json_t *obj = json_object_get(identities(st), name);
  if (obj == NULL)
    return rt_err_set(err, RT_E_NOT_FOUND, "no identity \"%.64s\" in %s", name, st->path);
  char where[96];
  snprintf(where, sizeof where, "identities.%s", name);
  return identity_from_json(where, obj, out, err);
}

static json_t *secrets_of(const rt_state *st) {
  return json_object_get(st->root, "secrets");
}

/* The rsa-key secret called name, if there is one (1), else 0. */
static int rsa_key_named(const rt_state *st, const char *name, rt_secret_entry *out) {
  json_t *obj = json_object_get(secrets_of(st), name);
  rt_err ignored;
  /* Everything in memory passed the checks: this only reads it back. */
  return obj != NULL && secret_from_json("secrets", obj, out, &ignored) == RT_OK &&
         out->type == RT_SECRET_TYPE_RSA_KEY;
}

rt_code rt_state_put(rt_state *st, const rt_identity *id, rt_err *err) {
  if (rt_state_check_identity(id, err) != RT_OK)
    return rt_err_prefix(err, "identity: ");
  rt_secret_entry sec;
  if (rsa_key_named(st, id->name, &sec) && check_link(&sec, id, err) != RT_OK)
    return rt_err_set(err, RT_E_INVALID,
                      "identity: \"%s\" is the key of the delivered rsa-key secret of that name "
                      "(handle 0x%08x); it can only change with the secret",
                      id->name, (unsigned)sec.handle);
  json_t *obj = identity_to_json(id);
  if (obj == NULL || json_object_set_new(identities(st), id->name, obj) != 0)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  return RT_OK;
}

rt_code rt_state_remove(rt_state *st, const char *name, rt_err *err) {
  rt_secret_entry sec;
  if (rsa_key_named(st, name, &sec))
    return rt_err_set(err, RT_E_INVALID,
                      "identity \"%.64s\" is the key of the delivered rsa-key secret of that "
                      "name: remove the secret",
                      name);
  if (json_object_del(identities(st), name) != 0)
    return rt_err_set(err, RT_E_NOT_FOUND, "no identity \"%.64s\" in %s", name, st->path);
  return RT_OK;
}

rt_code rt_state_save(const rt_state *st, rt_err *err) {
  /* Sorted keys: the same state always gives the same bytes. */
  char *text = json_dumps(st->root, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (text == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  size_t n = strlen(text);
  char *with_nl = realloc(text, n + 2);
  if (with_nl == NULL) {
    free(text);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  with_nl[n] = '\n';
  with_nl[n + 1] = '\0';
  rt_code code = rt_file_write_atomic(st->path, with_nl, n + 1, 0600, err);
  free(with_nl);
  if (code != RT_OK)
    rt_err_prefix(err, "saving the state: ");
  return code;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

rt_code rt_state_foreach(const rt_state *st, rt_state_visit_fn fn, void *ctx, rt_err *err) {
  json_t *ids = identities(st);
  size_t n = json_object_size(ids);
  if (n == 0)
    return RT_OK;
  const char **names = malloc(n * sizeof *names);
  rt_identity *id = malloc(sizeof *id);
  rt_code code = RT_OK;
  if (names == NULL || id == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  size_t i = 0;
  const char *key;
  json_t *v;
  json_object_foreach(ids, key, v) {
    names[i++] = key;
  }
  qsort(names, n, sizeof *names, cmp_str);
  for (i = 0; i < n; i++) {
    code = rt_state_get(st, names[i], id, err);
    if (code != RT_OK || fn(id, ctx) != 0)
      break;
  }
out:
  free(id);
  free(names);
  return code;
}

size_t rt_state_secret_count(const rt_state *st) {
  return json_object_size(secrets_of(st));
}

rt_code rt_state_secret_get(const rt_state *st, const char *name, rt_secret_entry *out,
                            rt_err *err) {
  json_t *obj = json_object_get(secrets_of(st), name);
  if (obj == NULL)
    return rt_err_set(err, RT_E_NOT_FOUND, "no secret \"%.64s\" in %s", name, st->path);
  char where[96];
  snprintf(where, sizeof where, "secrets.%s", name);
  return secret_from_json(where, obj, out, err);
}

rt_code rt_state_secret_put(rt_state *st, const rt_secret_entry *s, const rt_identity *id,
                            rt_err *err) {
  if (rt_state_check_secret(s, err) != RT_OK)
    return rt_err_prefix(err, "secret: ");
  rt_secret_entry old;
  int had_key = rsa_key_named(st, s->name, &old);
  if (s->type == RT_SECRET_TYPE_SEALED && id != NULL)
    return rt_err_set(err, RT_E_INVALID, "secret %s: a sealed secret has no identity", s->name);
  if (s->type == RT_SECRET_TYPE_RSA_KEY) {
    if (id == NULL)
      return rt_err_set(err, RT_E_INVALID, "secret %s: an rsa-key comes with its identity",
                        s->name);
    if (rt_state_check_identity(id, err) != RT_OK)
      return rt_err_prefix(err, "secret %s: identity: ", s->name);
    if (check_link(s, id, err) != RT_OK)
      return RT_E_INVALID;
    /* An enrolled identity keeps its name: taking it over would leave its
     * key at its handle with nothing pointing at it. */
    if (!had_key && json_object_get(identities(st), s->name) != NULL)
      return rt_err_set(err, RT_E_INVALID,
                        "secret %s: an enrolled identity has that name; an rsa-key cannot "
                        "replace it",
                        s->name);
  }
  json_t *sobj = secret_to_json(s);
  json_t *iobj = id != NULL ? identity_to_json(id) : NULL;
  if (sobj == NULL || (id != NULL && iobj == NULL)) {
    json_decref(sobj);
    json_decref(iobj);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  /* Both or neither: the identity first; should the secret then fail (only
   * memory can), the previous identity is put back. */
  json_t *prev_id = json_incref(json_object_get(identities(st), s->name));
  rt_code code = RT_OK;
  if (iobj != NULL && json_object_set_new(identities(st), s->name, iobj) != 0) {
    json_decref(sobj);
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
  } else if (json_object_set_new(secrets_of(st), s->name, sobj) != 0) {
    if (prev_id != NULL)
      json_object_set(identities(st), s->name, prev_id);
    else if (iobj != NULL)
      json_object_del(identities(st), s->name);
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  json_decref(prev_id);
  if (code != RT_OK)
    return code;
  /* An rsa-key replaced by a sealed secret takes its identity along. */
  if (had_key && s->type == RT_SECRET_TYPE_SEALED)
    json_object_del(identities(st), s->name);
  return RT_OK;
}

rt_code rt_state_secret_remove(rt_state *st, const char *name, rt_err *err) {
  rt_secret_entry sec;
  int key = rsa_key_named(st, name, &sec);
  if (json_object_del(secrets_of(st), name) != 0)
    return rt_err_set(err, RT_E_NOT_FOUND, "no secret \"%.64s\" in %s", name, st->path);
  if (key)
    json_object_del(identities(st), name);
  return RT_OK;
}

rt_code rt_state_secret_foreach(const rt_state *st, rt_state_secret_visit_fn fn, void *ctx,
                                rt_err *err) {
  json_t *all = secrets_of(st);
  size_t n = json_object_size(all);
  if (n == 0)
    return RT_OK;
  const char **names = malloc(n * sizeof *names);
  rt_secret_entry *s = malloc(sizeof *s);
  rt_code code = RT_OK;
  if (names == NULL || s == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  size_t i = 0;
  const char *key;
  json_t *v;
  json_object_foreach(all, key, v) {
    names[i++] = key;
  }
  qsort(names, n, sizeof *names, cmp_str);
  for (i = 0; i < n; i++) {
    code = rt_state_secret_get(st, names[i], s, err);
    if (code != RT_OK || fn(s, ctx) != 0)
      break;
  }
out:
  free(s);
  free(names);
  return code;
}
