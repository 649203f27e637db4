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
  CHECK(rt_state_check_name("web-1.prod_X", &err) == RT_OK, "%s", err.msg);
  CHECK(rt_state_check_name(longest, &err) == RT_OK, "64 characters: %s", err.msg);
  longest[RT_STATE_NAME_MAX] = 'a';
  longest[RT_STATE_NAME_MAX + 1] = '\0';
  CHECK(rt_state_check_name(longest, &err) == RT_E_INVALID, "65 characters accepted");
  CHECK_STR_CONTAINS(err.msg, "1 to 64");
  const char *bad[] = {"", "a/b", "a b", "caf\xc3\xa9", "x:y", ".", "..", "a\\b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(rt_state_check_name(bad[i], &err) == RT_E_INVALID, "accepted name \"%s\"", bad[i]);
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

/* "secrets" is reserved: whatever it holds survives a load and save. */
static void test_secrets_kept(void) {
  rt_err err = {0};
  char dir[512], path[600];
  make_dir(dir, sizeof dir, "secrets");
  snprintf(path, sizeof path, "%s/state.json", dir);
  write_file(path, "{\"version\": 1, \"identities\": {}, \"secrets\": {\"later\": [1, 2]}}", 0600);
  rt_state *st = NULL;
  CHECK(rt_state_load(dir, &st, &err) == RT_OK, "%s", err.msg);
  if (st == NULL)
    return;
  rt_identity id = sample("web", 0x81000100);
  CHECK(rt_state_put(st, &id, &err) == RT_OK && rt_state_save(st, &err) == RT_OK, "%s", err.msg);
  rt_state_free(st);
  char *text = slurp(path);
  CHECK(text != NULL && strstr(text, "\"later\": [") != NULL, "secrets lost: %s",
        text ? text : "(null)");
  free(text);
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
  test_secrets_kept();
  test_refusals();
  test_atomic();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmp_root);
  return rt_test_done("test_state");
}
