/* The bootstrap state file (common/rt_state) and atomic file replacement
 * (rt_file_write_atomic): round trips, every refusal with its message, and
 * failures in the middle of a save that must leave the old file. No TPM. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_file.h"
#include "rt_state.h"
#include "rt_test.h"

static char tmp_root[256];

static void write_file(const char *path, const char *text, mode_t mode) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
    fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    exit(2);
  }
  fchmod(fd, mode);
  close(fd);
}

static char *slurp(const char *path) {
  uint8_t *data = NULL;
  size_t len = 0;
  if (rt_file_read(path, 1 << 20, &data, &len, NULL) != RT_OK)
    return NULL;
  return (char *)data;
}

/* Files in dir whose name starts with prefix: leftover temp files. */
static int count_prefixed(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  int n = 0;
  if (d == NULL)
    return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
      n++;
  }
  closedir(d);
  return n;
}

static void make_dir(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", tmp_root, name);
  if (mkdir(out, 0700) != 0) {
    fprintf(stderr, "mkdir %s: %s\n", out, strerror(errno));
    exit(2);
  }
}

static rt_identity sample(const char *name, uint32_t handle) {
  rt_identity id;
  memset(&id, 0, sizeof id);
  snprintf(id.name, sizeof id.name, "%s", name);
  id.handle = handle;
  snprintf(id.key_file, sizeof id.key_file, "/var/lib/rattest/%s.key", name);
  snprintf(id.cert_file, sizeof id.cert_file, "/var/lib/rattest/%s.crt", name);
  snprintf(id.chain_file, sizeof id.chain_file, "/var/lib/rattest/%s-chain.pem", name);
  snprintf(id.ak_cert_file, sizeof id.ak_cert_file, "/var/lib/rattest/%s-ak.crt", name);
  snprintf(id.algorithm, sizeof id.algorithm, "ecc-p256");
  snprintf(id.ek_sha256, sizeof id.ek_sha256, "%s",
           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  snprintf(id.verifier, sizeof id.verifier, "verifier.example:50051");
  snprintf(id.not_after, sizeof id.not_after, "2026-03-01T12:00:00Z");
  snprintf(id.enrolled_at, sizeof id.enrolled_at, "2025-03-01T12:00:00Z");
  return id;
}

static int same_identity(const rt_identity *a, const rt_identity *b) {
  return strcmp(a->name, b->name) == 0 && a->handle == b->handle &&
         strcmp(a->key_file, b->key_file) == 0 && strcmp(a->cert_file, b->cert_file) == 0 &&
         strcmp(a->chain_file, b->chain_file) == 0 &&
         strcmp(a->ak_cert_file, b->ak_cert_file) == 0 && strcmp(a->algorithm, b->algorithm) == 0 &&
         strcmp(a->ek_sha256, b->ek_sha256) == 0 && strcmp(a->verifier, b->verifier) == 0 &&
         strcmp(a->not_after, b->not_after) == 0 && strcmp(a->enrolled_at, b->enrolled_at) == 0;
}

static void test_time(void) {
  rt_err err = {0};
  time_t t = 0;
  CHECK(rt_state_time_parse("1970-01-01T00:00:00Z", &t, &err) == RT_OK && t == 0, "%s", err.msg);
  CHECK(rt_state_time_parse("2024-02-29T23:59:59Z", &t, &err) == RT_OK && t == 1709251199,
        "leap day: %s", err.msg);
  const char *bad[] = {"2023-02-29T00:00:00Z",      "2025-13-01T00:00:00Z",
                       "2025-01-01T24:00:00Z",      "2025-01-01T00:00:00",
                       "2025-01-01T00:00:00+00:00", "2025-01-01 00:00:00Z",
                       "2025-01-01T00:00:00.5Z",    "",
                       "2025-1-01T00:00:00Z",       "2025-01-01t00:00:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(rt_state_time_parse(bad[i], &t, &err) == RT_E_INVALID, "accepted \"%s\"", bad[i]);
    CHECK_STR_CONTAINS(err.msg, "RFC 3339");
  }
  char buf[RT_STATE_TIME_LEN];
  CHECK(rt_state_time_format(1709251199, buf, &err) == RT_OK &&
            strcmp(buf, "2024-02-29T23:59:59Z") == 0,
        "format: %s", buf);
}

static void test_names(void) {
  rt_err err = {0};
  char longest[RT_STATE_NAME_MAX + 2];
  memset(longest, 'a', sizeof longest);
  longest[RT_STATE_NAME_MAX] = '\0';
  CHECK(rt_name_check("web-1.prod_X", &err) == RT_OK, "%s", err.msg);
  CHECK(rt_name_check(longest, &err) == RT_OK, "64 characters: %s", err.msg);
  longest[RT_STATE_NAME_MAX] = 'a';
  longest[RT_STATE_NAME_MAX + 1] = '\0';
  CHECK(rt_name_check(longest, &err) == RT_E_INVALID, "65 characters accepted");
  CHECK_STR_CONTAINS(err.msg, "1 to 64");
  const char *bad[] = {"", "a/b", "a b", "caf\xc3\xa9", "x:y", ".", "..", "a\\b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(rt_name_check(bad[i], &err) == RT_E_INVALID, "accepted name \"%s\"", bad[i]);
}

/* Each bad field value is refused by put, with the field named. */
static void test_put_checks(rt_state *st) {
  rt_err err = {0};
  rt_identity id;
#define BAD(field, stmt)                                                                           \
  do {                                                                                             \
    id = sample("web", 0x81000100);                                                                \
    stmt;                                                                                          \
    CHECK(rt_state_put(st, &id, &err) == RT_E_INVALID, "put accepted bad " field);                 \
    CHECK_STR_CONTAINS(err.msg, field);                                                            \
  } while (0)
  BAD("name", snprintf(id.name, sizeof id.name, "a/b"));
  BAD("handle", id.handle = 0x80000001);
  BAD("handle", id.handle = 0x81800000);
  BAD("key_file", snprintf(id.key_file, sizeof id.key_file, "relative.key"));
  BAD("cert_file", id.cert_file[0] = '\0');
  BAD("chain_file", snprintf(id.chain_file, sizeof id.chain_file, "./chain.pem"));
  BAD("ak_cert_file", snprintf(id.ak_cert_file, sizeof id.ak_cert_file, "ak.crt"));
  BAD("algorithm", snprintf(id.algorithm, sizeof id.algorithm, "ecc-p384"));
  BAD("ek_sha256", id.ek_sha256[10] = 'A');
  BAD("ek_sha256", id.ek_sha256[63] = '\0');
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, "verifier.example"));
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, "verifier.example:0"));
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, "verifier.example:70000"));
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, ":443"));
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, "bad host:443"));
  /* The rule of --verifier (rt_cli_parse_hostport): what enroll accepts is
   * what the state can record. */
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, "::1:50051"));
  BAD("verifier", snprintf(id.verifier, sizeof id.verifier, "verifier.example:050051"));
  BAD("not_after", snprintf(id.not_after, sizeof id.not_after, "2026-03-01"));
  BAD("enrolled_at", snprintf(id.enrolled_at, sizeof id.enrolled_at, "2025-02-30T00:00:00Z"));
  BAD("verifier", memset(id.verifier, 'x', sizeof id.verifier));
#undef BAD
  CHECK(rt_state_count(st) == 0, "a refused put changed the state");
  id = sample("v6", 0x81000101);
  snprintf(id.verifier, sizeof id.verifier, "[::1]:50051");
  CHECK(rt_state_put(st, &id, &err) == RT_OK, "IPv6 verifier refused: %s", err.msg);
  CHECK(rt_state_remove(st, "v6", &err) == RT_OK, "%s", err.msg);
}

static int visit(const rt_identity *id, void *ctx) {
  char *order = ctx;
  strcat(order, id->name);
  strcat(order, ",");
  return 0;
}

static int visit_first(const rt_identity *id, void *ctx) {
  visit(id, ctx);
  return 1;
}

static rt_secret_entry sample_secret(const char *name, rt_secret_type type) {
  rt_secret_entry s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "%s", name);
  s.type = type;
  snprintf(s.pub_file, sizeof s.pub_file, "/var/lib/rattest/secrets/%s.pub", name);
  snprintf(s.priv_file, sizeof s.priv_file, "/var/lib/rattest/secrets/%s.priv", name);
  snprintf(s.received_at, sizeof s.received_at, "2025-03-01T12:00:00Z");
  if (type == RT_SECRET_TYPE_RSA_KEY) {
    s.handle = 0x81000200;
    snprintf(s.cert_file, sizeof s.cert_file, "/var/lib/rattest/secrets/%s.cert.pem", name);
  } else {
    snprintf(s.pcrs, sizeof s.pcrs, "sha256:0,7");
  }
  return s;
}

/* The identity that goes with an rsa-key secret. */
static rt_identity key_identity(const rt_secret_entry *s) {
  rt_identity id = sample(s->name, s->handle);
  snprintf(id.cert_file, sizeof id.cert_file, "%s", s->cert_file);
  snprintf(id.algorithm, sizeof id.algorithm, "rsa-2048");
  return id;
}

static int same_secret(const rt_secret_entry *a, const rt_secret_entry *b) {
  return strcmp(a->name, b->name) == 0 && a->type == b->type &&
         strcmp(a->pub_file, b->pub_file) == 0 && strcmp(a->priv_file, b->priv_file) == 0 &&
         strcmp(a->pcrs, b->pcrs) == 0 && strcmp(a->received_at, b->received_at) == 0 &&
         a->handle == b->handle && strcmp(a->cert_file, b->cert_file) == 0;
}

static int visit_secret(const rt_secret_entry *s, void *ctx) {
  strcat(ctx, s->name);
  strcat(ctx, ",");
  return 0;
}

/* Secrets: each bad value refused by put with the field named, round trip,
 * the rsa-key and its identity kept together. */
static void test_secrets(void) {
  rt_err err = {0};
  char dir[512], path[600];
  make_dir(dir, sizeof dir, "secrets");
  snprintf(path, sizeof path, "%s/state.json", dir);
  rt_state *st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK, "%s", err.msg);
  if (st == NULL)
    return;
  CHECK(rt_state_secret_count(st) == 0, "new state has secrets");
  CHECK(strcmp(rt_secret_type_name(RT_SECRET_TYPE_SEALED), "sealed") == 0 &&
            strcmp(rt_secret_type_name(RT_SECRET_TYPE_RSA_KEY), "rsa-key") == 0 &&
            rt_secret_type_parse("rsa-key") == RT_SECRET_TYPE_RSA_KEY &&
            rt_secret_type_parse("RSA-KEY") == 0,
        "type names");

  rt_secret_entry s;
  rt_identity id;
#define BAD(field, type, stmt)                                                                     \
  do {                                                                                             \
    s = sample_secret("x", type);                                                                  \
    id = key_identity(&s);                                                                         \
    stmt;                                                                                          \
    CHECK(rt_state_secret_put(st, &s, type == RT_SECRET_TYPE_RSA_KEY ? &id : NULL, &err) ==        \
              RT_E_INVALID,                                                                        \
          "put accepted bad " field);                                                              \
    CHECK_STR_CONTAINS(err.msg, field);                                                            \
  } while (0)
  BAD("name", RT_SECRET_TYPE_SEALED, snprintf(s.name, sizeof s.name, ".."));
  BAD("type", RT_SECRET_TYPE_SEALED, s.type = (rt_secret_type)7);
  BAD("pub_file", RT_SECRET_TYPE_SEALED, snprintf(s.pub_file, sizeof s.pub_file, "x.pub"));
  BAD("priv_file", RT_SECRET_TYPE_SEALED, s.priv_file[0] = '\0');
  BAD("pcrs", RT_SECRET_TYPE_SEALED, snprintf(s.pcrs, sizeof s.pcrs, "sha256:24"));
  BAD("pcrs", RT_SECRET_TYPE_SEALED, snprintf(s.pcrs, sizeof s.pcrs, "md5:1"));
  BAD("not in canonical form", RT_SECRET_TYPE_SEALED,
      snprintf(s.pcrs, sizeof s.pcrs, "sha256:0-2"));
  BAD("not in canonical form", RT_SECRET_TYPE_SEALED,
      snprintf(s.pcrs, sizeof s.pcrs, "sha256:7,0"));
  BAD("received_at", RT_SECRET_TYPE_SEALED, snprintf(s.received_at, sizeof s.received_at, "now"));
  BAD("handle", RT_SECRET_TYPE_SEALED, s.handle = 0x81000200);
  BAD("cert_file", RT_SECRET_TYPE_SEALED, snprintf(s.cert_file, sizeof s.cert_file, "/c.pem"));
  BAD("handle", RT_SECRET_TYPE_RSA_KEY, s.handle = id.handle = 0x81800000);
  BAD("cert_file", RT_SECRET_TYPE_RSA_KEY, s.cert_file[0] = id.cert_file[0] = 'c');
  /* An rsa-key's pcrs follow the sealed rules (a PCR-bound key). */
  BAD("pcrs", RT_SECRET_TYPE_RSA_KEY, snprintf(s.pcrs, sizeof s.pcrs, "sha256:24"));
  BAD("not in canonical form", RT_SECRET_TYPE_RSA_KEY,
      snprintf(s.pcrs, sizeof s.pcrs, "sha256:7,0"));
  BAD("pub_file", RT_SECRET_TYPE_RSA_KEY, memset(s.pub_file, 'x', sizeof s.pub_file));
  /* The identity that comes with an rsa-key must be valid and be that key. */
  BAD("identity: algorithm", RT_SECRET_TYPE_RSA_KEY,
      snprintf(id.algorithm, sizeof id.algorithm, "rsa-1024"));
  BAD("identities.x is not this rsa-key", RT_SECRET_TYPE_RSA_KEY, id.handle = 0x81000201);
  BAD("identities.x is not this rsa-key", RT_SECRET_TYPE_RSA_KEY,
      snprintf(id.cert_file, sizeof id.cert_file, "/other.pem"));
#undef BAD
  s = sample_secret("x", RT_SECRET_TYPE_RSA_KEY);
  CHECK(rt_state_secret_put(st, &s, NULL, &err) == RT_E_INVALID, "rsa-key without identity");
  CHECK_STR_CONTAINS(err.msg, "comes with its identity");
  s = sample_secret("x", RT_SECRET_TYPE_SEALED);
  id = sample("x", 0x81000100);
  CHECK(rt_state_secret_put(st, &s, &id, &err) == RT_E_INVALID, "sealed with identity");
  CHECK(rt_state_secret_count(st) == 0 && rt_state_count(st) == 0, "a refused put changed it");

  /* A sealed secret without PCRs, one with PCRs over two banks, an rsa-key
   * (3072 bits: imported keys may be larger than enrolled ones). */
  rt_secret_entry plain = sample_secret("plain", RT_SECRET_TYPE_SEALED);
  plain.pcrs[0] = '\0';
  rt_secret_entry bound = sample_secret("bound", RT_SECRET_TYPE_SEALED);
  snprintf(bound.pcrs, sizeof bound.pcrs, "sha256:0,7,23+sha1:7");
  rt_secret_entry key = sample_secret("svc", RT_SECRET_TYPE_RSA_KEY);
  rt_identity key_id = key_identity(&key);
  snprintf(key_id.algorithm, sizeof key_id.algorithm, "rsa-3072");
  /* A PCR-bound rsa-key: its selection is recorded like a sealed one's. */
  snprintf(key.pcrs, sizeof key.pcrs, "sha256:7");
  CHECK(rt_state_secret_put(st, &plain, NULL, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_secret_put(st, &bound, NULL, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_secret_put(st, &key, &key_id, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_secret_count(st) == 3 && rt_state_count(st) == 1, "counts %zu %zu",
        rt_state_secret_count(st), rt_state_count(st));
  /* A sealed secret may share a name with an enrolled identity; an rsa-key
   * may not take over an enrolled identity's name. */
  rt_identity web = sample("web", 0x81000100);
  CHECK(rt_state_put(st, &web, &err) == RT_OK, "%s", err.msg);
  rt_secret_entry web_sealed = sample_secret("web", RT_SECRET_TYPE_SEALED);
  CHECK(rt_state_secret_put(st, &web_sealed, NULL, &err) == RT_OK, "%s", err.msg);
  rt_secret_entry web_key = sample_secret("web", RT_SECRET_TYPE_RSA_KEY);
  rt_identity web_key_id = key_identity(&web_key);
  CHECK(rt_state_secret_put(st, &web_key, &web_key_id, &err) == RT_E_INVALID,
        "rsa-key took an enrolled identity's name");
  CHECK_STR_CONTAINS(err.msg, "enrolled identity has that name");
  rt_identity got_id;
  CHECK(rt_state_get(st, "web", &got_id, &err) == RT_OK && same_identity(&got_id, &web),
        "enrolled identity changed");
  /* The rsa-key's identity changes only with its secret. */
  rt_identity other = key_identity(&key);
  other.handle = 0x81000300;
  CHECK(rt_state_put(st, &other, &err) == RT_E_INVALID, "identity of an rsa-key replaced");
  CHECK_STR_CONTAINS(err.msg, "delivered rsa-key secret");
  CHECK(rt_state_remove(st, "svc", &err) == RT_E_INVALID, "identity of an rsa-key removed");
  CHECK_STR_CONTAINS(err.msg, "remove the secret");
  other = key_id;
  snprintf(other.enrolled_at, sizeof other.enrolled_at, "2025-04-01T00:00:00Z");
  CHECK(rt_state_put(st, &other, &err) == RT_OK, "same key, new date: %s", err.msg);
  CHECK(rt_state_put(st, &key_id, &err) == RT_OK, "%s", err.msg);

  CHECK(rt_state_save(st, &err) == RT_OK, "%s", err.msg);
  rt_state_free(st);
  st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK, "reload: %s", err.msg);
  if (st == NULL)
    return;
  rt_secret_entry got;
  CHECK(rt_state_secret_get(st, "plain", &got, &err) == RT_OK && same_secret(&got, &plain),
        "plain differs: %s", err.msg);
  CHECK(rt_state_secret_get(st, "bound", &got, &err) == RT_OK && same_secret(&got, &bound),
        "bound differs: %s", err.msg);
  CHECK(rt_state_secret_get(st, "svc", &got, &err) == RT_OK && same_secret(&got, &key),
        "svc differs: %s", err.msg);
  CHECK(rt_state_get(st, "svc", &got_id, &err) == RT_OK && same_identity(&got_id, &key_id),
        "svc identity differs: %s", err.msg);
  CHECK(rt_state_secret_get(st, "nope", &got, &err) == RT_E_NOT_FOUND, "unknown secret found");
  CHECK_STR_CONTAINS(err.msg, "no secret \"nope\"");
  char order[64] = "";
  CHECK(rt_state_secret_foreach(st, visit_secret, order, &err) == RT_OK &&
            strcmp(order, "bound,plain,svc,web,") == 0,
        "foreach order \"%s\"", order);
  char *text = slurp(path);
  CHECK(text != NULL && strstr(text, "\"type\": \"rsa-key\"") != NULL &&
            strstr(text, "\"pcrs\": \"sha256:0,7,23+sha1:7\"") != NULL &&
            strstr(text, "\"handle\": \"0x81000200\"") != NULL,
        "saved text: %s", text ? text : "(null)");
  free(text);

  /* Replacing the rsa-key by a sealed secret takes its identity along;
   * removing a secret removes only what is its own. */
  rt_secret_entry svc_sealed = sample_secret("svc", RT_SECRET_TYPE_SEALED);
  CHECK(rt_state_secret_put(st, &svc_sealed, NULL, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_get(st, "svc", &got_id, &err) == RT_E_NOT_FOUND, "rsa-key identity left behind");
  CHECK(rt_state_secret_put(st, &key, &key_id, &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_secret_remove(st, "svc", &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_get(st, "svc", &got_id, &err) == RT_E_NOT_FOUND, "identity kept after remove");
  CHECK(rt_state_secret_remove(st, "web", &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_get(st, "web", &got_id, &err) == RT_OK, "a sealed secret took an identity along");
  CHECK(rt_state_secret_remove(st, "web", &err) == RT_E_NOT_FOUND, "removed twice");
  CHECK(rt_state_remove(st, "web", &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_save(st, &err) == RT_OK, "%s", err.msg);
  rt_state_free(st);
}

static void test_round_trip(void) {
  rt_err err = {0};
  char dir[512], path[600];
  make_dir(dir, sizeof dir, "roundtrip");
  snprintf(path, sizeof path, "%s/state.json", dir);

  /* Missing file: an empty state that saving creates. */
  rt_state *st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK, "missing file: %s", err.msg);
  if (st == NULL)
    return;
  CHECK(rt_state_count(st) == 0, "missing file not empty");
  CHECK(strcmp(rt_state_path(st), path) == 0, "path %s", rt_state_path(st));
  rt_identity got;
  CHECK(rt_state_get(st, "web", &got, &err) == RT_E_NOT_FOUND, "get on empty: %s", err.msg);
  CHECK(rt_state_remove(st, "web", &err) == RT_E_NOT_FOUND, "remove on empty: %s", err.msg);

  test_put_checks(st);

  rt_identity web = sample("web", 0x81000100), db = sample("db", 0x81000101);
  snprintf(db.algorithm, sizeof db.algorithm, "rsa-2048");
  CHECK(rt_state_put(st, &web, &err) == RT_OK, "put: %s", err.msg);
  CHECK(rt_state_put(st, &db, &err) == RT_OK, "put: %s", err.msg);
  /* Replacing keeps one entry of that name. */
  web.handle = 0x81000102;
  CHECK(rt_state_put(st, &web, &err) == RT_OK, "replace: %s", err.msg);
  CHECK(rt_state_count(st) == 2, "count %zu", rt_state_count(st));

  /* Saved 0600 whatever the umask. */
  mode_t old_umask = umask(0);
  CHECK(rt_state_save(st, &err) == RT_OK, "save: %s", err.msg);
  umask(old_umask);
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600, "mode %04o",
        (unsigned)(sb.st_mode & 07777));
  CHECK(count_prefixed(dir, ".state.json.") == 0, "temp file left after save");
  char *text = slurp(path);
  CHECK(text != NULL && strstr(text, "\"handle\": \"0x81000102\"") != NULL &&
            strstr(text, "\"version\": 1") != NULL && strstr(text, "\"secrets\": {}") != NULL,
        "saved text: %s", text ? text : "(null)");
  free(text);
  rt_state_free(st);

  st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK, "reload: %s", err.msg);
  if (st == NULL)
    return;
  CHECK(rt_state_count(st) == 2, "reloaded count %zu", rt_state_count(st));
  CHECK(rt_state_get(st, "web", &got, &err) == RT_OK && same_identity(&got, &web),
        "web differs after reload: %s", err.msg);
  CHECK(rt_state_get(st, "db", &got, &err) == RT_OK && same_identity(&got, &db),
        "db differs after reload: %s", err.msg);
  char order[64] = "";
  CHECK(rt_state_foreach(st, visit, order, &err) == RT_OK && strcmp(order, "db,web,") == 0,
        "foreach order \"%s\"", order);
  order[0] = '\0';
  CHECK(rt_state_foreach(st, visit_first, order, &err) == RT_OK && strcmp(order, "db,") == 0,
        "foreach did not stop: \"%s\"", order);
  CHECK(rt_state_remove(st, "db", &err) == RT_OK, "remove: %s", err.msg);
  CHECK(rt_state_get(st, "db", &got, &err) == RT_E_NOT_FOUND, "removed identity still there");
  CHECK_STR_CONTAINS(err.msg, "db");
  CHECK(rt_state_save(st, &err) == RT_OK, "save: %s", err.msg);
  rt_state_free(st);
  st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK && rt_state_count(st) == 1, "after remove+save: %s",
        err.msg);
  rt_state_free(st);
}

/* A file that must be refused, and a piece of the message. */
static void refused(const char *dir, const char *json, mode_t mode, const char *want) {
  char path[600];
  snprintf(path, sizeof path, "%s/state.json", dir);
  write_file(path, json, mode);
  rt_err err = {0};
  rt_state *st = NULL;
  rt_code code = rt_state_load(dir, &st, &err);
  CHECK(code == RT_E_INVALID && st == NULL, "accepted (%s): %s", rt_code_name(code), json);
  CHECK_STR_CONTAINS(err.msg, want);
  rt_state_free(st);
}

#define ID_JSON(name, extra)                                                                       \
  "{\"name\": \"" name "\", \"handle\": \"0x81000100\", \"key_file\": \"/k\", \"cert_file\": "     \
  "\"/c\", \"chain_file\": \"/ch\", \"ak_cert_file\": \"/ak\", \"algorithm\": \"ecc-p256\", "      \
  "\"ek_sha256\": "                                                                                \
  "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"verifier\": "           \
  "\"h:1\", \"not_after\": \"2026-01-01T00:00:00Z\", \"enrolled_at\": "                            \
  "\"2025-01-01T00:00:00Z\"" extra "}"

static void test_refusals(void) {
  char dir[512], path[600];
  make_dir(dir, sizeof dir, "refusals");
  snprintf(path, sizeof path, "%s/state.json", dir);
  rt_err err = {0};
  rt_state *st = NULL;

  /* The baseline is accepted, so each refusal below is the one change. */
  write_file(path,
             "{\"version\": 1, \"identities\": {\"web\": " ID_JSON("web", "") "}, "
                                                                              "\"secrets\": {}}",
             0600);
  CHECK(rt_state_load(dir, &st, &err) == RT_OK && rt_state_count(st) == 1, "baseline: %s", err.msg);
  rt_state_free(st);

  refused(dir, "{", 0600, "malformed JSON");
  refused(dir, "", 0600, "malformed JSON");
  refused(dir, "{\"version\": 1, \"identities\": {}, \"secrets\": {}} x", 0600, "malformed JSON");
  refused(dir, "{\"version\": 1, \"version\": 1, \"identities\": {}, \"secrets\": {}}", 0600,
          "malformed JSON");
  refused(dir, "[]", 0600, "JSON object");
  refused(dir, "{\"version\": 2, \"identities\": {}, \"secrets\": {}}", 0600,
          "version: 2 is not supported");
  refused(dir, "{\"version\": \"1\", \"identities\": {}, \"secrets\": {}}", 0600,
          "version: expected an integer");
  refused(dir, "{\"identities\": {}, \"secrets\": {}}", 0600, "version: missing");
  refused(dir, "{\"version\": 1, \"identities\": [], \"secrets\": {}}", 0600,
          "identities: expected an object");
  refused(dir, "{\"version\": 1, \"identities\": {}}", 0600, "secrets: missing");
  refused(dir, "{\"version\": 1, \"identities\": {}, \"secrets\": []}", 0600,
          "secrets: expected an object");
  refused(dir, "{\"version\": 1, \"secrets\": {}}", 0600, "identities: missing");
  refused(dir, "{\"version\": 1, \"identities\": {}, \"secrets\": {}, \"extra\": 1}", 0600,
          "unknown field \"extra\"");
  refused(dir, "{\"version\": 1, \"identities\": {\"web\": 5}, \"secrets\": {}}", 0600,
          "identities.web: expected an object");
  refused(dir,
          "{\"version\": 1, \"identities\": {\"a/b\": " ID_JSON("a/b", "") "}, \"secrets\": {}}",
          0600, "identities: identity name");
  refused(dir,
          "{\"version\": 1, \"identities\": {\"web\": " ID_JSON("db", "") "}, \"secrets\": {}}",
          0600, "identities.web.name: \"db\" differs");
  refused(dir,
          "{\"version\": 1, \"identities\": {\"web\": " ID_JSON(
              "web", ", \"extra\": \"x\"") "}, \"secrets\": {}}",
          0600, "identities.web: unknown field \"extra\"");
  refused(dir, "{\"version\": 1, \"identities\": {\"web\": {\"name\": \"web\"}}, \"secrets\": {}}",
          0600, "identities.web.key_file: missing");
  refused(dir,
          "{\"version\": 1, \"identities\": {\"web\": {\"name\": \"web\", \"handle\": 1}}, "
          "\"secrets\": {}}",
          0600, "key_file: missing");
  /* Type and content errors inside an identity name the field. */
  const char *tail = "}, \"secrets\": {}}";
  char buf[4096];
#define ONE(extra_json, want)                                                                      \
  do {                                                                                             \
    snprintf(buf, sizeof buf, "{\"version\": 1, \"identities\": {\"web\": %s%s", extra_json,       \
             tail);                                                                                \
    refused(dir, buf, 0600, want);                                                                 \
  } while (0)
  {
    /* Same identity with one field swapped for a wrong type or value. */
    struct {
      const char *from, *to, *want;
    } swaps[] = {
        {"\"handle\": \"0x81000100\"", "\"handle\": 2164261120",
         "identities.web.handle: expected a string"},
        {"\"handle\": \"0x81000100\"", "\"handle\": \"0x8100010\"",
         "identities.web.handle: \"0x8100010\" is not 0x and 8 hex digits"},
        {"\"handle\": \"0x81000100\"", "\"handle\": \"0x8100010g\"",
         "identities.web.handle: \"0x8100010g\" is not"},
        {"\"handle\": \"0x81000100\"", "\"handle\": \"0x40000001\"",
         "identities.web.handle: 0x40000001 is not an owner persistent handle"},
        {"\"key_file\": \"/k\"", "\"key_file\": 7", "identities.web.key_file: expected a string"},
        {"\"key_file\": \"/k\"", "\"key_file\": \"k\"",
         "identities.web.key_file: \"k\" is not an absolute path"},
        {"\"key_file\": \"/k\"", "\"key_file\": \"/k\\u0000x\"", "\\u0000 is not allowed"},
        {"\"algorithm\": \"ecc-p256\"", "\"algorithm\": \"dsa\"", "identities.web.algorithm"},
        {"\"verifier\": \"h:1\"", "\"verifier\": null", "identities.web.verifier: expected"},
        {"\"not_after\": \"2026-01-01T00:00:00Z\"", "\"not_after\": \"tomorrow\"",
         "identities.web.not_after"},
        {"\"ek_sha256\": \"0123", "\"ek_sha256\": \"X123", "identities.web.ek_sha256"},
    };
    for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
      char j[2048];
      const char *base = ID_JSON("web", "");
      const char *at = strstr(base, swaps[i].from);
      if (at == NULL) {
        CHECK(0, "test bug: %s not in the sample", swaps[i].from);
        continue;
      }
      snprintf(j, sizeof j, "%.*s%s%s", (int)(at - base), base, swaps[i].to,
               at + strlen(swaps[i].from));
      ONE(j, swaps[i].want);
    }
  }
#undef ONE

  /* Secrets: the same strictness, and an rsa-key needs its identity. A
   * file with both kinds loads; each case below changes one thing. */
  {
#define SEALED_JSON(name, extra)                                                                   \
  "{\"name\": \"" name "\", \"type\": \"sealed\", \"pub_file\": \"/s.pub\", \"priv_file\": "       \
  "\"/s.priv\", \"pcrs\": \"sha256:7\", \"received_at\": \"2025-01-01T00:00:00Z\"" extra "}"
#define KEY_JSON(name, extra)                                                                      \
  "{\"name\": \"" name "\", \"type\": \"rsa-key\", \"pub_file\": \"/k.pub\", \"priv_file\": "      \
  "\"/k.priv\", \"pcrs\": \"\", \"received_at\": \"2025-01-01T00:00:00Z\", \"handle\": "           \
  "\"0x81000100\", \"cert_file\": \"/c\"" extra "}"
    const char *key_id = "{\"k\": " ID_JSON("k", "") "}";
    char j[8192];
    snprintf(j, sizeof j,
             "{\"version\": 1, \"identities\": %s, \"secrets\": {\"s\": " SEALED_JSON(
                 "s", "") ", \"k\": " KEY_JSON("k", "") "}}",
             key_id);
    write_file(path, j, 0600);
    st = NULL;
    CHECK(rt_state_load(dir, &st, &err) == RT_OK && rt_state_secret_count(st) == 2,
          "secrets baseline: %s", err.msg);
    rt_state_free(st);
    struct {
      const char *ids, *secrets, *want;
    } bad[] = {
        {"{}", "{\"s\": 1}", "secrets.s: expected an object"},
        {"{}", "{\"a b\": " SEALED_JSON("a b", "") "}", "secrets: identity name"},
        {"{}", "{\"s\": " SEALED_JSON("t", "") "}", "secrets.s.name: \"t\" differs"},
        {"{}", "{\"s\": " SEALED_JSON("s", ", \"x\": 1") "}",
         "secrets.s: unknown field \"x\" for a sealed secret"},
        {"{}", "{\"s\": " SEALED_JSON("s", ", \"handle\": \"0x81000100\"") "}",
         "secrets.s: unknown field \"handle\" for a sealed secret"},
        {"{}", "{\"s\": {\"name\": \"s\"}}", "secrets.s.type: missing"},
        {"{}", "{\"s\": {\"name\": \"s\", \"type\": 1}}", "secrets.s.type: expected a string"},
        {"{}", "{\"s\": {\"name\": \"s\", \"type\": \"password\"}}",
         "secrets.s.type: \"password\" is not sealed or rsa-key"},
        {"{}", "{\"s\": {\"name\": \"s\", \"type\": \"sealed\"}}", "secrets.s.pub_file: missing"},
        {key_id, "{\"k\": " KEY_JSON("k", ", \"x\": 1") "}",
         "secrets.k: unknown field \"x\" for a rsa-key secret"},
        {"{}", "{\"k\": " KEY_JSON("k", "") "}",
         "secrets.k: an rsa-key needs the identity of the same name"},
        {"{\"k\": " ID_JSON("k", "") "}",
         "{\"k\": {\"name\": \"k\", \"type\": \"rsa-key\", \"pub_file\": \"/k.pub\", "
         "\"priv_file\": \"/k.priv\", \"pcrs\": \"\", \"received_at\": "
         "\"2025-01-01T00:00:00Z\", \"handle\": \"0x81000101\", \"cert_file\": \"/c\"}}",
         "secrets.k: identities.k is not this rsa-key"},
        {key_id,
         "{\"k\": {\"name\": \"k\", \"type\": \"rsa-key\", \"pub_file\": \"/k.pub\", "
         "\"priv_file\": \"/k.priv\", \"pcrs\": \"\", \"received_at\": "
         "\"2025-01-01T00:00:00Z\", \"cert_file\": \"/c\"}}",
         "secrets.k.handle: missing"},
        {key_id,
         "{\"k\": {\"name\": \"k\", \"type\": \"rsa-key\", \"pub_file\": \"/k.pub\", "
         "\"priv_file\": \"/k.priv\", \"pcrs\": \"\", \"received_at\": "
         "\"2025-01-01T00:00:00Z\", \"handle\": \"0x81000100\"}}",
         "secrets.k.cert_file: missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      snprintf(j, sizeof j, "{\"version\": 1, \"identities\": %s, \"secrets\": %s}", bad[i].ids,
               bad[i].secrets);
      refused(dir, j, 0600, bad[i].want);
    }
    /* One field of the sealed entry swapped for a bad value. */
    struct {
      const char *from, *to, *want;
    } swaps[] = {
        {"\"pub_file\": \"/s.pub\"", "\"pub_file\": \"s.pub\"",
         "secrets.s.pub_file: \"s.pub\" is not an absolute path"},
        {"\"priv_file\": \"/s.priv\"", "\"priv_file\": 3",
         "secrets.s.priv_file: expected a string"},
        {"\"pcrs\": \"sha256:7\"", "\"pcrs\": \"sha256:7,7\"", "secrets.s.pcrs"},
        {"\"pcrs\": \"sha256:7\"", "\"pcrs\": \"sha256:07\"", "secrets.s.pcrs"},
        {"\"pcrs\": \"sha256:7\"", "\"pcrs\": \"sha256:1-3\"", "not in canonical form"},
        {"\"received_at\": \"2025-01-01T00:00:00Z\"", "\"received_at\": \"2025-01-01\"",
         "secrets.s.received_at"},
    };
    for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
      const char *base = SEALED_JSON("s", "");
      const char *at = strstr(base, swaps[i].from);
      if (at == NULL) {
        CHECK(0, "test bug: %s not in the sample", swaps[i].from);
        continue;
      }
      snprintf(j, sizeof j, "{\"version\": 1, \"identities\": {}, \"secrets\": {\"s\": %.*s%s%s}}",
               (int)(at - base), base, swaps[i].to, at + strlen(swaps[i].from));
      refused(dir, j, 0600, swaps[i].want);
    }
#undef SEALED_JSON
#undef KEY_JSON
  }

  /* Too large to be a state file: refused unread. */
  {
    char *big = malloc(RT_STATE_MAX_FILE + 2);
    memset(big, ' ', RT_STATE_MAX_FILE + 1);
    big[RT_STATE_MAX_FILE + 1] = '\0';
    refused(dir, big, 0600, "larger than");
    free(big);
  }

  /* Permissions: the file points at keys, so only its owner may touch it. */
  const char *good = "{\"version\": 1, \"identities\": {}, \"secrets\": {}}";
  refused(dir, good, 0644, "mode 0644");
  refused(dir, good, 0640, "chmod 600");
  refused(dir, good, 0606, "must be 0600");
  write_file(path, good, 0600);
  if (geteuid() == 0) {
    /* As root we can hand the file to someone else. */
    CHECK(chown(path, 65534, 65534) == 0, "chown: %s", strerror(errno));
    st = NULL;
    CHECK(rt_state_load(dir, &st, &err) == RT_E_INVALID && st == NULL,
          "file of another user accepted");
    CHECK_STR_CONTAINS(err.msg, "owned by uid 65534");
    rt_state_free(st);
    write_file(path, good, 0600);
  }
  /* A symlink to a perfectly good file is still refused. */
  char target[600];
  snprintf(target, sizeof target, "%s/real.json", dir);
  write_file(target, good, 0600);
  unlink(path);
  CHECK(symlink(target, path) == 0, "symlink: %s", strerror(errno));
  st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_E_INVALID && st == NULL, "symlink accepted");
  CHECK_STR_CONTAINS(err.msg, "symlink");
  rt_state_free(st);
  unlink(path);
  /* A directory where the file should be. */
  CHECK(mkdir(path, 0700) == 0, "mkdir");
  st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_E_INVALID && st == NULL, "directory accepted");
  CHECK_STR_CONTAINS(err.msg, "not a regular file");
  rt_state_free(st);
  rmdir(path);
}

static void test_atomic(void) {
  rt_err err = {0};
  char dir[512], path[600];
  make_dir(dir, sizeof dir, "atomic");
  snprintf(path, sizeof path, "%s/state.json", dir);

  rt_state *st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK, "%s", err.msg);
  if (st == NULL)
    return;
  rt_identity id = sample("first", 0x81000100);
  CHECK(rt_state_put(st, &id, &err) == RT_OK && rt_state_save(st, &err) == RT_OK, "%s", err.msg);
  char *before = slurp(path);

  /* A save that fails half-way through writing: the file-size limit makes
   * write() fail with EFBIG once the temp file reaches it (root included).
   * The old file must be byte for byte what it was, with no temp left. */
  for (int i = 0; i < 20; i++) {
    char name[32];
    snprintf(name, sizeof name, "id%02d", i);
    id = sample(name, 0x81000200 + (uint32_t)i);
    rt_state_put(st, &id, &err);
  }
  struct rlimit saved, small;
  getrlimit(RLIMIT_FSIZE, &saved);
  small = saved;
  small.rlim_cur = 4096;
  signal(SIGXFSZ, SIG_IGN);
  setrlimit(RLIMIT_FSIZE, &small);
  rt_code code = rt_state_save(st, &err);
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, SIG_DFL);
  CHECK(code == RT_E_IO, "save past the size limit: %s %s", rt_code_name(code), err.msg);
  CHECK_STR_CONTAINS(err.msg, "cannot write");
  char *after = slurp(path);
  CHECK(before != NULL && after != NULL && strcmp(before, after) == 0,
        "old file changed by a failed save");
  CHECK(count_prefixed(dir, ".state.json.") == 0, "temp file left after a failed save");
  free(after);
  rt_state_free(st);
  st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK && rt_state_count(st) == 1,
        "old state does not load after a failed save: %s", err.msg);
  rt_state_free(st);

  /* The state directory does not exist: load is empty, save fails cleanly. */
  char gone[600];
  snprintf(gone, sizeof gone, "%s/no-such-dir", dir);
  st = NULL;
  CHECK(rt_state_load(gone, &st, &err) == RT_OK, "%s", err.msg);
  if (st != NULL) {
    id = sample("x", 0x81000100);
    rt_state_put(st, &id, &err);
    CHECK(rt_state_save(st, &err) == RT_E_IO, "save into a missing directory");
    CHECK_STR_CONTAINS(err.msg, "no-such-dir");
    rt_state_free(st);
  }
  struct stat sb;
  CHECK(stat(gone, &sb) != 0, "missing directory was created");

  /* The target is a directory: rename fails after everything was written,
   * the directory stays and no temp file is left beside it. */
  char target[600];
  snprintf(target, sizeof target, "%s/target", dir);
  CHECK(mkdir(target, 0700) == 0, "mkdir");
  code = rt_file_write_atomic(target, "data", 4, 0600, &err);
  CHECK(code == RT_E_IO, "write over a directory: %s", rt_code_name(code));
  CHECK_STR_CONTAINS(err.msg, "cannot replace");
  CHECK(stat(target, &sb) == 0 && S_ISDIR(sb.st_mode), "directory replaced");
  CHECK(count_prefixed(dir, ".target.") == 0, "temp file left after failed rename");
  CHECK(rt_file_write_atomic(dir, "data", 4, 0600, &err) == RT_E_IO, "wrote over the test dir");
  char slash[600];
  snprintf(slash, sizeof slash, "%s/", dir);
  CHECK(rt_file_write_atomic(slash, "data", 4, 0600, &err) == RT_E_INVALID, "trailing slash");
  CHECK(rt_file_write_atomic("", "data", 4, 0600, &err) == RT_E_INVALID, "empty name");

  /* Modes are exact whatever the umask, and an existing file is replaced. */
  char f[600];
  snprintf(f, sizeof f, "%s/plain", dir);
  mode_t old_umask = umask(077);
  CHECK(rt_file_write_atomic(f, "one", 3, 0644, &err) == RT_OK, "%s", err.msg);
  CHECK(stat(f, &sb) == 0 && (sb.st_mode & 07777) == 0644, "mode %04o under umask 077",
        (unsigned)(sb.st_mode & 07777));
  umask(0);
  CHECK(rt_file_write_atomic(f, "two!", 4, 0600, &err) == RT_OK, "%s", err.msg);
  umask(old_umask);
  CHECK(stat(f, &sb) == 0 && (sb.st_mode & 07777) == 0600 && sb.st_size == 4,
        "mode %04o size %lld after replace", (unsigned)(sb.st_mode & 07777), (long long)sb.st_size);
  char *two = slurp(f);
  CHECK(two != NULL && strcmp(two, "two!") == 0, "content after replace");
  free(two);
  CHECK(rt_file_write_atomic(f, "", 0, 0600, &err) == RT_OK && stat(f, &sb) == 0 && sb.st_size == 0,
        "empty content: %s", err.msg);

  /* A symlink at the path is replaced by the file, its target untouched. */
  char link[600], victim[600];
  snprintf(link, sizeof link, "%s/link", dir);
  snprintf(victim, sizeof victim, "%s/victim", dir);
  write_file(victim, "keep", 0600);
  CHECK(symlink(victim, link) == 0, "symlink");
  CHECK(rt_file_write_atomic(link, "new", 3, 0600, &err) == RT_OK, "%s", err.msg);
  char *v = slurp(victim);
  CHECK(v != NULL && strcmp(v, "keep") == 0, "symlink target overwritten");
  free(v);
  CHECK(lstat(link, &sb) == 0 && S_ISREG(sb.st_mode), "symlink not replaced by a file");

  /* A relative name writes in the working directory. */
  char cwd[600];
  CHECK(getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0, "chdir");
  CHECK(rt_file_write_atomic("relative", "r", 1, 0600, &err) == RT_OK, "%s", err.msg);
  CHECK(chdir(cwd) == 0, "chdir back");
  char rel[600];
  snprintf(rel, sizeof rel, "%s/relative", dir);
  CHECK(stat(rel, &sb) == 0 && sb.st_size == 1, "relative write landed elsewhere");
  free(before);
}

/* The directory a state may live in: only its user (or root) can change
 * it. */
static void test_dir_check(void) {
  char dir[512];
  rt_err err;
  uid_t me = geteuid();
  snprintf(dir, sizeof dir, "%s/dir-check", tmp_root);
  CHECK(rt_state_dir_check(dir, me, &err) == RT_E_NOT_FOUND, "missing: %s", err.msg);
  CHECK(mkdir(dir, 0700) == 0, "mkdir");
  CHECK(rt_state_dir_check(dir, me, &err) == RT_OK, "0700: %s", err.msg);
  static const mode_t fine[] = {0755, 0750, 0711, 0700};
  static const mode_t unfit[] = {0777, 0770, 0702, 0720, 01777};
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    chmod(dir, fine[i]);
    CHECK(rt_state_dir_check(dir, me, &err) == RT_OK, "%04o: %s", (unsigned)fine[i], err.msg);
  }
  for (size_t i = 0; i < sizeof unfit / sizeof unfit[0]; i++) {
    chmod(dir, unfit[i]);
    CHECK(rt_state_dir_check(dir, me, &err) == RT_E_INVALID, "%04o accepted", (unsigned)unfit[i]);
    CHECK(strncmp(err.msg, dir, strlen(dir)) == 0, "directory not named: %s", err.msg);
    CHECK_STR_CONTAINS(err.msg, "group or other users can write to it");
  }
  chmod(dir, 0700);
  /* Another user's: as root, a directory given to uid 65534 and judged for
   * uid 1; otherwise our own, judged for another uid. Root's are fine for
   * anyone. */
  uid_t judged_for = me == 0 ? 1 : me + 1;
  if (me == 0)
    CHECK(chown(dir, 65534, (gid_t)-1) == 0, "chown");
  CHECK(rt_state_dir_check(dir, judged_for, &err) == RT_E_INVALID,
        "another user's directory accepted");
  CHECK_STR_CONTAINS(err.msg, "owned by uid");
  CHECK(rt_state_dir_check("/", judged_for, &err) == RT_OK, "root's: %s", err.msg);
  char file[600];
  snprintf(file, sizeof file, "%s/f", dir);
  CHECK(rt_file_write_atomic(file, "x", 1, 0600, &err) == RT_OK, "write: %s", err.msg);
  CHECK(rt_state_dir_check(file, me, &err) == RT_E_INVALID, "a file accepted as directory");
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmp_root, sizeof tmp_root, "%s/rt-state-XXXXXX", t && t[0] ? t : "/tmp");
  if (mkdtemp(tmp_root) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  test_time();
  test_names();
  test_round_trip();
  test_secrets();
  test_refusals();
  test_atomic();
  test_dir_check();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmp_root);
  return rt_test_done("test_state");
}
