/* The verifier's session building blocks: sealed session and confirm
 * tokens (layout, every tampering refused with its reason, expiry, key
 * files), the replay guard (replay, expiry pruning against a model, cap,
 * concurrent marking), and the refusal each reason becomes on the wire. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confirm_token.h"
#include "decision.h"
#include "replay_guard.h"
#include "rt_test.h"
#include "session_token.h"
#include "token_key.h"

/* A known key, so the test can build tokens by hand from the documented
 * layout and prove the format, not just round trips through our code. */
static const char *KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const time_t NOW = 1700000000;

static void write_file(const char *path, const char *text, mode_t mode) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd >= 0) {
    if (write(fd, text, strlen(text)) < 0)
      perror("write");
    fchmod(fd, mode);
    close(fd);
  }
}

/* A complete state, as Begin would make it. */
static rt_session_state *make_state(time_t now, int64_t ttl) {
  rt_err e;
  rt_session_state *st = NULL;
  if (rt_token_state_new(now, ttl, &st, &e) != RT_OK) {
    fprintf(stderr, "state_new: %s\n", e.msg);
    return NULL;
  }
  uint8_t ekpub[300], akpub[90], hash[32];
  memset(ekpub, 0xe1, sizeof ekpub);
  memset(akpub, 0xa1, sizeof akpub);
  memset(hash, 0x5a, sizeof hash);
  st->name = strdup("web-01");
  st->key_algorithm = 1;
  rt_token_state_set_bytes(&st->ek_public, ekpub, sizeof ekpub, &e);
  rt_token_state_set_bytes(&st->ak_public, akpub, sizeof akpub, &e);
  rt_token_state_set_bytes(&st->ek_cert_sha256, hash, sizeof hash, &e);
  uint32_t pcrs[] = {0, 1, 2, 3, 4, 5, 6, 7};
  rt_token_state_add_selection(st, "sha256", pcrs, 8, &e);
  uint32_t pcrs1[] = {0};
  rt_token_state_add_selection(st, "sha1", pcrs1, 1, &e);
  return st;
}

static int bytes_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Seals arbitrary plaintext by the documented layout, with the given
 * version byte and context string. */
static size_t hand_seal(const uint8_t key[32], uint8_t version, const char *context,
                        const uint8_t *pt, size_t pt_len, uint8_t *out) {
  uint8_t aad[128];
  size_t clen = strlen(context);
  memcpy(aad, context, clen);
  aad[clen] = version;
  out[0] = version;
  RAND_bytes(out + 1, 12);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int l = 0, f = 0;
  EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key, out + 1, NULL);
  EVP_EncryptUpdate(c, NULL, &l, aad, (int)clen + 1);
  EVP_EncryptUpdate(c, out + 13, &l, pt, (int)pt_len);
  EVP_EncryptFinal_ex(c, out + 13 + l, &f);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + 13 + pt_len);
  EVP_CIPHER_CTX_free(c);
  return 13 + pt_len + 16;
}

static void test_round_trip(void) {
  rt_err e;
  rt_token_key *key = NULL;
  CHECK(rt_token_key_random(&key, &e) == RT_OK, "%s", e.msg);
  CHECK(rt_token_key_is_ephemeral(key) == 1, "random key not ephemeral");
  rt_session_state *st = make_state(NOW, 300);
  CHECK(st != NULL, "state");
  if (st == NULL)
    return;
  CHECK(st->token_id.len == 16 && st->credential_secret.len == 32 && st->nonce.len == 32,
        "fresh state lengths");
  CHECK(st->created_unix == NOW && st->expires_unix == NOW + 300, "times");

  uint8_t *tok = NULL, *tok2 = NULL;
  size_t len = 0, len2 = 0;
  CHECK(rt_token_seal(key, st, &tok, &len, &e) == RT_OK, "%s", e.msg);
  CHECK(len == 1 + 12 + rattest__internal__v1__session_state__get_packed_size(st) + 16,
        "layout length %zu", len);
  CHECK(tok[0] == RT_TOKEN_VERSION, "version byte");
  CHECK(rt_token_seal(key, st, &tok2, &len2, &e) == RT_OK, "%s", e.msg);
  CHECK(len2 == len && memcmp(tok + 1, tok2 + 1, 12) != 0, "IV not fresh per seal");
  CHECK(memcmp(tok + 13, tok2 + 13, len - 13) != 0, "same ciphertext twice");
  /* The secret must not appear in the token in clear. */
  int found = 0;
  for (size_t i = 0; i + 32 <= len; i++)
    found |= memcmp(tok + i, st->credential_secret.data, 32) == 0;
  CHECK(!found, "secret visible in the token");

  rt_session_state *got = NULL;
  rt_token_reason why = RT_TOKEN_FAILURE;
  CHECK(rt_token_open(key, tok, len, NOW + 299, &got, &why, &e) == RT_OK, "%s", e.msg);
  CHECK(why == RT_TOKEN_OK, "reason %d", why);
  if (got != NULL) {
    CHECK(bytes_eq(&got->token_id, &st->token_id), "token id");
    CHECK(bytes_eq(&got->credential_secret, &st->credential_secret), "secret");
    CHECK(bytes_eq(&got->nonce, &st->nonce), "nonce");
    CHECK(bytes_eq(&got->ek_public, &st->ek_public), "ek public");
    CHECK(bytes_eq(&got->ak_public, &st->ak_public), "ak public");
    CHECK(bytes_eq(&got->ek_cert_sha256, &st->ek_cert_sha256), "ek cert hash");
    CHECK(strcmp(got->name, "web-01") == 0, "name");
    CHECK(got->key_algorithm == 1, "key algorithm");
    CHECK(got->created_unix == NOW && got->expires_unix == NOW + 300, "times");
    CHECK(got->n_pcr_selection == 2 && strcmp(got->pcr_selection[0]->bank, "sha256") == 0 &&
              got->pcr_selection[0]->n_pcrs == 8 && got->pcr_selection[0]->pcrs[7] == 7 &&
              strcmp(got->pcr_selection[1]->bank, "sha1") == 0,
          "selection");
  }
  rt_token_state_free(got);

  /* Expiry: the last second is accepted, the deadline itself is not. */
  got = NULL;
  CHECK(rt_token_open(key, tok, len, NOW + 300, &got, &why, &e) == RT_E_INVALID, "expired");
  CHECK(why == RT_TOKEN_EXPIRED && got == NULL, "reason %s", rt_token_reason_name(why));
  CHECK(strcmp(rt_token_reason_code(why), "TOKEN_EXPIRED") == 0, "code");
  CHECK_STR_CONTAINS(e.msg, "expired");

  /* Another verifier's key. */
  rt_token_key *other = NULL;
  rt_token_key_random(&other, &e);
  CHECK(rt_token_open(other, tok, len, NOW, &got, &why, &e) == RT_E_CRYPTO, "other key");
  CHECK(why == RT_TOKEN_BAD_TAG, "reason %s", rt_token_reason_name(why));
  CHECK_STR_CONTAINS(e.msg, "does not authenticate");
  rt_token_key_free(other);

  /* Every single flipped bit position class: each byte, one bit. */
  int bad = 0;
  for (size_t i = 0; i < len; i++) {
    for (int bit = 0; bit < 8; bit += 7) {
      tok[i] ^= (uint8_t)(1u << bit);
      rt_code c = rt_token_open(key, tok, len, NOW, &got, &why, &e);
      tok[i] ^= (uint8_t)(1u << bit);
      rt_token_reason want = i == 0 ? RT_TOKEN_BAD_VERSION : RT_TOKEN_BAD_TAG;
      rt_code want_code = i == 0 ? RT_E_INVALID : RT_E_CRYPTO;
      if (c != want_code || why != want || got != NULL) {
        bad++;
        fprintf(stderr, "byte %zu bit %d: %s (%s)\n", i, bit, rt_code_name(c),
                rt_token_reason_name(why));
      }
      rt_token_state_free(got);
      got = NULL;
    }
  }
  CHECK(bad == 0, "%d flipped tokens not refused as expected", bad);
  CHECK(strcmp(rt_token_reason_code(RT_TOKEN_BAD_TAG), "TOKEN_INVALID") == 0, "code");

  /* Truncation: below the minimum is too short, above it the tag fails. */
  CHECK(rt_token_open(key, tok, 0, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_TOO_SHORT,
        "empty");
  CHECK(rt_token_open(key, tok, RT_TOKEN_MIN_LEN - 1, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_TOO_SHORT,
        "28 bytes");
  CHECK_STR_CONTAINS(e.msg, "too short");
  CHECK(rt_token_open(key, tok, RT_TOKEN_MIN_LEN, NOW, &got, &why, &e) == RT_E_CRYPTO &&
            why == RT_TOKEN_BAD_TAG,
        "29 bytes");
  CHECK(rt_token_open(key, tok, len - 1, NOW, &got, &why, &e) == RT_E_CRYPTO &&
            why == RT_TOKEN_BAD_TAG,
        "one byte short");
  /* Extended by a byte. */
  uint8_t *longer = malloc(RT_TOKEN_MAX_LEN + 1);
  memcpy(longer, tok, len);
  longer[len] = 0;
  CHECK(rt_token_open(key, longer, len + 1, NOW, &got, &why, &e) == RT_E_CRYPTO &&
            why == RT_TOKEN_BAD_TAG,
        "one byte more");
  memset(longer, RT_TOKEN_VERSION, RT_TOKEN_MAX_LEN + 1);
  CHECK(rt_token_open(key, longer, RT_TOKEN_MAX_LEN + 1, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_TOO_LONG,
        "too long");
  CHECK_STR_CONTAINS(e.msg, "too long");
  free(longer);
  /* Version byte changed to a future version. */
  tok[0] = 2;
  CHECK(rt_token_open(key, tok, len, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_BAD_VERSION,
        "version 2");
  CHECK_STR_CONTAINS(e.msg, "version 2 unknown");
  tok[0] = RT_TOKEN_VERSION;
  /* reason may be NULL. */
  CHECK(rt_token_open(key, tok, 3, NOW, &got, NULL, &e) == RT_E_INVALID, "NULL reason");

  /* Seal refuses states Finish could not rely on. */
  uint8_t *t3 = NULL;
  size_t l3 = 0;
  rt_token_state_set_bytes(&st->credential_secret, (const uint8_t *)"", 0, &e);
  CHECK(rt_token_seal(key, st, &t3, &l3, &e) == RT_E_INVALID && t3 == NULL, "empty secret sealed");
  CHECK_STR_CONTAINS(e.msg, "credential secret is 0 bytes");
  rt_token_state_set_bytes(&st->credential_secret, tok, 32, &e);
  rt_token_state_set_bytes(&st->nonce, tok, 31, &e);
  CHECK(rt_token_seal(key, st, &t3, &l3, &e) == RT_E_INVALID, "short nonce sealed");
  CHECK_STR_CONTAINS(e.msg, "nonce is 31 bytes");
  rt_token_state_set_bytes(&st->nonce, tok, 32, &e);
  st->expires_unix = st->created_unix;
  CHECK(rt_token_seal(key, st, &t3, &l3, &e) == RT_E_INVALID, "no lifetime sealed");
  st->expires_unix = st->created_unix + 10;
  st->pcr_selection[0]->pcrs[7] = 24;
  CHECK(rt_token_seal(key, st, &t3, &l3, &e) == RT_E_INVALID, "PCR 24 sealed");
  st->pcr_selection[0]->pcrs[7] = 7;
  CHECK(rt_token_seal(key, st, &t3, &l3, &e) == RT_OK, "%s", e.msg);
  free(t3);

  rt_session_state *s2 = NULL;
  CHECK(rt_token_state_new(NOW, 0, &s2, &e) == RT_E_INVALID, "ttl 0");
  CHECK(rt_token_state_new(NOW, 86401, &s2, &e) == RT_E_INVALID, "ttl over a day");
  CHECK_STR_CONTAINS(e.msg, "session lifetime");

  free(tok);
  free(tok2);
  rt_token_state_free(st);
  rt_token_key_free(key);
}

/* Tokens made by hand under a known key: the documented format opens, and
 * authentic but malformed plaintexts are refused as such. */
static void test_format(const char *dir) {
  rt_err e;
  char path[512];
  snprintf(path, sizeof path, "%s/known.key", dir);
  write_file(path, KEY_HEX, 0600);
  rt_token_key *key = NULL;
  CHECK(rt_token_key_load(path, &key, &e) == RT_OK, "%s", e.msg);
  if (key == NULL)
    return;
  CHECK(rt_token_key_is_ephemeral(key) == 0, "file key ephemeral");
  uint8_t k[32];
  for (int i = 0; i < 32; i++)
    k[i] = (uint8_t)i;

  rt_session_state *st = make_state(NOW, 60);
  size_t plen = rattest__internal__v1__session_state__get_packed_size(st);
  uint8_t *pt = malloc(plen), *tok = malloc(plen + 64);
  rattest__internal__v1__session_state__pack(st, pt);
  rt_session_state *got = NULL;
  rt_token_reason why;

  size_t n = hand_seal(k, RT_TOKEN_VERSION, RT_TOKEN_CONTEXT, pt, plen, tok);
  CHECK(rt_token_open(key, tok, n, NOW, &got, &why, &e) == RT_OK, "hand-made token: %s", e.msg);
  CHECK(got != NULL && bytes_eq(&got->nonce, &st->nonce), "hand-made token content");
  rt_token_state_free(got);
  got = NULL;

  /* The context string is authenticated. */
  n = hand_seal(k, RT_TOKEN_VERSION, "rattest something else v1", pt, plen, tok);
  CHECK(rt_token_open(key, tok, n, NOW, &got, &why, &e) == RT_E_CRYPTO && why == RT_TOKEN_BAD_TAG,
        "other context accepted");
  /* The version is authenticated: a token sealed as version 2 but
   * relabelled 1 fails the tag. */
  n = hand_seal(k, 2, RT_TOKEN_CONTEXT, pt, plen, tok);
  tok[0] = RT_TOKEN_VERSION;
  CHECK(rt_token_open(key, tok, n, NOW, &got, &why, &e) == RT_E_CRYPTO && why == RT_TOKEN_BAD_TAG,
        "relabelled version accepted");

  /* Authentic garbage. */
  uint8_t junk[40];
  memset(junk, 0xff, sizeof junk);
  n = hand_seal(k, RT_TOKEN_VERSION, RT_TOKEN_CONTEXT, junk, sizeof junk, tok);
  CHECK(rt_token_open(key, tok, n, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_BAD_PLAINTEXT && got == NULL,
        "garbage plaintext: %s", rt_token_reason_name(why));
  CHECK_STR_CONTAINS(e.msg, "no valid session state");
  CHECK(strcmp(rt_token_reason_code(why), "TOKEN_INVALID") == 0, "code");
  /* Authentic, empty plaintext: a state with nothing in it. */
  n = hand_seal(k, RT_TOKEN_VERSION, RT_TOKEN_CONTEXT, junk, 0, tok);
  CHECK(rt_token_open(key, tok, n, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_BAD_PLAINTEXT,
        "empty plaintext: %s", rt_token_reason_name(why));
  CHECK_STR_CONTAINS(e.msg, "token id is 0 bytes");
  /* Authentic well-formed state without a secret: refused, never "matches"
   * an empty activated secret. */
  free(st->credential_secret.data);
  st->credential_secret.data = NULL;
  st->credential_secret.len = 0;
  free(pt);
  plen = rattest__internal__v1__session_state__get_packed_size(st);
  pt = malloc(plen);
  rattest__internal__v1__session_state__pack(st, pt);
  n = hand_seal(k, RT_TOKEN_VERSION, RT_TOKEN_CONTEXT, pt, plen, tok);
  CHECK(rt_token_open(key, tok, n, NOW, &got, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_BAD_PLAINTEXT,
        "secretless state: %s", rt_token_reason_name(why));
  CHECK_STR_CONTAINS(e.msg, "credential secret is 0 bytes");

  free(pt);
  free(tok);
  rt_token_state_free(st);
  rt_token_key_free(key);
}

static void test_key_files(const char *dir) {
  rt_err e;
  char path[512], path2[512];
  rt_token_key *key = NULL;
  snprintf(path, sizeof path, "%s/k", dir);

  char text[200];
  snprintf(text, sizeof text, "%s\n", KEY_HEX);
  write_file(path, text, 0600);
  CHECK(rt_token_key_load(path, &key, &e) == RT_OK, "newline: %s", e.msg);
  rt_token_key_free(key);
  key = NULL;
  write_file(path, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", 0400);
  CHECK(rt_token_key_load(path, &key, &e) == RT_OK, "upper case, 0400: %s", e.msg);
  rt_token_key_free(key);
  key = NULL;

  write_file(path, KEY_HEX, 0640);
  CHECK(rt_token_key_load(path, &key, &e) == RT_E_INVALID && key == NULL, "0640 accepted");
  CHECK_STR_CONTAINS(e.msg, "mode 0640");
  CHECK_STR_CONTAINS(e.msg, "chmod 600");
  write_file(path, KEY_HEX, 0604);
  CHECK(rt_token_key_load(path, &key, &e) == RT_E_INVALID, "0604 accepted");

  const char *bad[] = {
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",   /* 63 */
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0", /* 65 */
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",  /* not hex */
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n",
      " 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(path, bad[i], 0600);
    CHECK(rt_token_key_load(path, &key, &e) == RT_E_INVALID && key == NULL, "bad key %zu", i);
    CHECK_STR_CONTAINS(e.msg, "expected exactly 64 hex digits");
  }
  /* A long file is refused by its size, before it is read. */
  char big[5000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  write_file(path, big, 0600);
  CHECK(rt_token_key_load(path, &key, &e) == RT_E_INVALID, "big file accepted");

  CHECK(rt_token_key_load(dir, &key, &e) == RT_E_INVALID, "directory accepted");
  CHECK_STR_CONTAINS(e.msg, "not a regular file");
  snprintf(path2, sizeof path2, "%s/missing", dir);
  CHECK(rt_token_key_load(path2, &key, &e) == RT_E_IO, "missing file");
  CHECK_STR_CONTAINS(e.msg, "missing");

  /* Generated key files: 0600 whatever the umask, loadable, never
   * replaced, and each one new. */
  snprintf(path, sizeof path, "%s/gen1.key", dir);
  snprintf(path2, sizeof path2, "%s/gen2.key", dir);
  mode_t old = umask(0277);
  CHECK(rt_token_key_generate_file(path, &e) == RT_OK, "%s", e.msg);
  umask(0);
  CHECK(rt_token_key_generate_file(path2, &e) == RT_OK, "%s", e.msg);
  umask(old);
  struct stat st1, st2;
  CHECK(stat(path, &st1) == 0 && (st1.st_mode & 07777) == 0600, "mode %o", st1.st_mode & 07777);
  CHECK(stat(path2, &st2) == 0 && (st2.st_mode & 07777) == 0600, "mode %o", st2.st_mode & 07777);
  CHECK(st1.st_size == 65, "generated size %lld", (long long)st1.st_size);
  CHECK(rt_token_key_generate_file(path, &e) == RT_E_INVALID, "existing key replaced");
  CHECK_STR_CONTAINS(e.msg, "already exists");
  CHECK(stat(path, &st2) == 0 && st2.st_ino == st1.st_ino, "file changed");

  rt_token_key *k1 = NULL, *k2 = NULL, *k1b = NULL;
  CHECK(rt_token_key_load(path, &k1, &e) == RT_OK, "%s", e.msg);
  CHECK(rt_token_key_load(path2, &k2, &e) == RT_OK, "%s", e.msg);
  CHECK(rt_token_key_load(path, &k1b, &e) == RT_OK, "%s", e.msg);
  if (k1 && k2 && k1b) {
    /* Two verifiers sharing a key file finish each other's sessions; a
     * verifier with another key cannot. */
    rt_session_state *s = make_state(NOW, 60), *got = NULL;
    uint8_t *tok = NULL;
    size_t len = 0;
    rt_token_reason why;
    CHECK(rt_token_seal(k1, s, &tok, &len, &e) == RT_OK, "%s", e.msg);
    CHECK(rt_token_open(k1b, tok, len, NOW, &got, &why, &e) == RT_OK, "second verifier: %s", e.msg);
    rt_token_state_free(got);
    got = NULL;
    CHECK(rt_token_open(k2, tok, len, NOW, &got, &why, &e) == RT_E_CRYPTO &&
              why == RT_TOKEN_BAD_TAG,
          "other generated key opened the token");
    free(tok);
    rt_token_state_free(s);
  }
  rt_token_key_free(k1);
  rt_token_key_free(k2);
  rt_token_key_free(k1b);
  /* A symlink at the target is not followed. */
  snprintf(path, sizeof path, "%s/link.key", dir);
  snprintf(path2, sizeof path2, "%s/target", dir);
  CHECK(symlink(path2, path) == 0, "symlink");
  CHECK(rt_token_key_generate_file(path, &e) != RT_OK, "wrote through a symlink");
  CHECK(access(path2, F_OK) != 0, "symlink target created");
}

static void mkid(uint8_t id[16], unsigned n) {
  memset(id, 0, 16);
  /* Realistic ids are random; these are too, seeded by n, so the test is
   * repeatable. */
  uint64_t x = n * 0x9e3779b97f4a7c15ull + 1;
  for (int i = 0; i < 16; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    id[i] = (uint8_t)x;
  }
}

static void test_guard(void) {
  rt_err e;
  rt_token_replay_guard *g = NULL;
  rt_token_reason why;
  CHECK(rt_replay_guard_new(3, &g, &e) == RT_OK, "%s", e.msg);
  uint8_t a[16], b[16], c[16], d[16];
  mkid(a, 1);
  mkid(b, 2);
  mkid(c, 3);
  mkid(d, 4);
  CHECK(rt_replay_check_and_mark(g, a, NOW + 100, NOW, &why, &e) == RT_OK && why == RT_TOKEN_OK,
        "first use");
  CHECK(rt_replay_check_and_mark(g, a, NOW + 100, NOW + 1, &why, &e) == RT_E_INVALID, "replay");
  CHECK(why == RT_TOKEN_REPLAYED, "reason %s", rt_token_reason_name(why));
  CHECK(strcmp(rt_token_reason_code(why), "TOKEN_REPLAYED") == 0, "code");
  CHECK_STR_CONTAINS(e.msg, "already used");
  CHECK(rt_replay_check_and_mark(g, b, NOW, NOW, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_EXPIRED,
        "expired id stored");
  CHECK(rt_replay_guard_count(g) == 1, "count %zu", rt_replay_guard_count(g));
  CHECK(rt_replay_check_and_mark(g, b, NOW + 50, NOW, &why, &e) == RT_OK, "b");
  CHECK(rt_replay_check_and_mark(g, c, NOW + 200, NOW, &why, &e) == RT_OK, "c");
  /* Full: refused, and the live ids are all still remembered. */
  CHECK(rt_replay_check_and_mark(g, d, NOW + 200, NOW, &why, &e) == RT_E_NOMEM, "over cap");
  CHECK(why == RT_TOKEN_GUARD_FULL, "reason %s", rt_token_reason_name(why));
  CHECK(strcmp(rt_token_reason_code(why), "TOKEN_GUARD_FULL") == 0, "code");
  CHECK_STR_CONTAINS(e.msg, "replay guard full");
  CHECK(rt_replay_check_and_mark(g, a, NOW + 100, NOW, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_REPLAYED,
        "live id forgotten when full");
  /* b expires: room for d. a and c are still remembered. */
  CHECK(rt_replay_check_and_mark(g, d, NOW + 200, NOW + 50, &why, &e) == RT_OK, "d after prune");
  CHECK(rt_replay_guard_count(g) == 3, "count %zu", rt_replay_guard_count(g));
  CHECK(rt_replay_check_and_mark(g, c, NOW + 200, NOW + 60, &why, &e) == RT_E_INVALID &&
            why == RT_TOKEN_REPLAYED,
        "c forgotten");
  rt_replay_guard_free(g);

  /* Against a model: 3000 ids with random lifetimes, time moving on;
   * every decision must match a naive list, which exercises the hash
   * table's deletions and growth. */
  CHECK(rt_replay_guard_new(600, &g, &e) == RT_OK, "%s", e.msg);
  enum { N = 3000 };
  static int64_t model_exp[N]; /* 0 = never inserted */
  memset(model_exp, 0, sizeof model_exp);
  uint64_t rng = 42;
  int mismatches = 0;
  size_t full = 0, replays = 0;
  time_t now = NOW;
  for (unsigned step = 0; step < 20000; step++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    unsigned n = (unsigned)(rng >> 33) % N;
    if (step % 7 == 0)
      now++;
    int64_t exp = (int64_t)now + 1 + (int64_t)((rng >> 20) % 300);
    uint8_t id[16];
    mkid(id, n + 1000);
    /* Model: prune, then decide. */
    size_t live = 0;
    for (unsigned i = 0; i < N; i++) {
      if (model_exp[i] != 0 && model_exp[i] <= (int64_t)now)
        model_exp[i] = 0;
      live += model_exp[i] != 0;
    }
    rt_code want;
    if (model_exp[n] != 0)
      want = RT_E_INVALID, replays++;
    else if (live >= 600)
      want = RT_E_NOMEM, full++;
    else
      want = RT_OK, model_exp[n] = exp;
    rt_code got = rt_replay_check_and_mark(g, id, exp, now, &why, &e);
    if (got != want && mismatches++ < 5)
      fprintf(stderr, "step %u: got %s want %s\n", step, rt_code_name(got), rt_code_name(want));
    if (step % 1000 == 0) {
      size_t cnt = rt_replay_guard_count(g);
      if (cnt != live + (want == RT_OK) && mismatches++ < 5)
        fprintf(stderr, "step %u: count %zu model %zu\n", step, cnt, live + (want == RT_OK));
    }
  }
  CHECK(mismatches == 0, "%d mismatches against the model", mismatches);
  CHECK(replays > 1000, "model exercised few replays (%zu)", replays);
  CHECK(full > 100, "model never filled the guard (%zu)", full);
  rt_replay_guard_free(g);

  CHECK(rt_replay_guard_new(((size_t)1 << 28) + 1, &g, &e) == RT_E_INVALID, "huge cap");
  CHECK(rt_replay_guard_new(0, &g, &e) == RT_OK, "default cap");
  rt_replay_guard_free(g);
}

/* Many threads race to use the same ids: each id is accepted exactly once. */
enum { THREADS = 8, RACE_IDS = 2000 };
static rt_token_replay_guard *race_guard;
static int race_ok[THREADS];

static void *race(void *arg) {
  int t = (int)(intptr_t)arg;
  for (unsigned i = 0; i < RACE_IDS; i++) {
    uint8_t id[16];
    mkid(id, (i * 7 + (unsigned)t * 13) % RACE_IDS);
    if (rt_replay_check_and_mark(race_guard, id, NOW + 100, NOW, NULL, NULL) == RT_OK)
      race_ok[t]++;
  }
  return NULL;
}

static void test_race(void) {
  rt_err e;
  CHECK(rt_replay_guard_new(RACE_IDS, &race_guard, &e) == RT_OK, "%s", e.msg);
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++)
    pthread_create(&th[t], NULL, race, (void *)(intptr_t)t);
  int total = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    total += race_ok[t];
  }
  CHECK(total == RACE_IDS, "%d ids accepted, want %d", total, RACE_IDS);
  CHECK(rt_replay_guard_count(race_guard) == RACE_IDS, "count");
  rt_replay_guard_free(race_guard);
}

/* Confirm tokens: round trip, and the two kinds never open as each other
 * (their AAD contexts differ), though sealed under the same key. */
static void test_confirm(void) {
  rt_err e;
  rt_token_key *key = NULL;
  CHECK(rt_token_key_random(&key, &e) == RT_OK, "%s", e.msg);
  rt_confirm_state *cs = NULL;
  CHECK(rt_confirm_state_new(NOW, 300, &cs, &e) == RT_OK, "%s", e.msg);
  if (cs == NULL || key == NULL) {
    rt_token_key_free(key);
    return;
  }
  uint8_t *tok = NULL;
  size_t len = 0;
  /* Incomplete: no name, no EK hash, nothing delivered. */
  CHECK(rt_confirm_seal(key, cs, &tok, &len, &e) == RT_E_INVALID && tok == NULL,
        "incomplete confirm state sealed");
  cs->name = strdup("web");
  cs->ek_cert_sha256.data = calloc(1, 32);
  cs->ek_cert_sha256.len = 32;
  CHECK(rt_confirm_seal(key, cs, &tok, &len, &e) == RT_E_INVALID && strstr(e.msg, "delivered"),
        "nothing delivered sealed: %s", e.msg);
  CHECK(rt_confirm_state_add(cs, "disk", 1, &e) == RT_OK &&
            rt_confirm_state_add(cs, "legacy", 2, &e) == RT_OK,
        "%s", e.msg);
  CHECK(rt_confirm_seal(key, cs, &tok, &len, &e) == RT_OK, "%s", e.msg);
  rt_confirm_state *got = NULL;
  rt_token_reason why;
  CHECK(rt_confirm_open(key, tok, len, NOW + 1, &got, &why, &e) == RT_OK, "%s", e.msg);
  CHECK(got != NULL && strcmp(got->name, "web") == 0 && got->n_delivered == 2 &&
            strcmp(got->delivered[1]->name, "legacy") == 0 && got->delivered[1]->kind == 2 &&
            got->nonce.len == 32 && memcmp(got->nonce.data, cs->nonce.data, 32) == 0,
        "confirm round trip");
  rt_confirm_state_free(got);
  got = NULL;
  CHECK(rt_confirm_open(key, tok, len, NOW + 300, &got, &why, &e) != RT_OK &&
            why == RT_TOKEN_EXPIRED,
        "expired confirm token opened");
  /* A confirm token is no session token, and back. */
  rt_session_state *ss = NULL;
  CHECK(rt_token_open(key, tok, len, NOW + 1, &ss, &why, &e) != RT_OK && why == RT_TOKEN_BAD_TAG,
        "confirm token opened as a session token");
  rt_token_state_free(ss);
  free(tok);
  rt_session_state *st = make_state(NOW, 300);
  tok = NULL;
  if (st != NULL && rt_token_seal(key, st, &tok, &len, &e) == RT_OK) {
    CHECK(rt_confirm_open(key, tok, len, NOW + 1, &got, &why, &e) != RT_OK &&
              why == RT_TOKEN_BAD_TAG,
          "session token opened as a confirm token");
    rt_confirm_state_free(got);
  }
  free(tok);
  rt_token_state_free(st);
  CHECK(rt_confirm_state_new(NOW, 0, &got, &e) == RT_E_INVALID, "zero lifetime");
  rt_confirm_state_free(cs);
  rt_token_key_free(key);
}

/* Each reason's status and code as docs/protocol.md lists them: every
 * refused token is PERMISSION_DENIED; only the verifier's own failure (for
 * instance no memory left in the replay guard) is INTERNAL. */
static void test_deny(void) {
  static const struct {
    rt_token_reason why;
    grpc_status_code status;
    const char *code;
  } want[] = {
      {RT_TOKEN_TOO_SHORT, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_INVALID"},
      {RT_TOKEN_TOO_LONG, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_INVALID"},
      {RT_TOKEN_BAD_VERSION, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_INVALID"},
      {RT_TOKEN_BAD_TAG, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_INVALID"},
      {RT_TOKEN_BAD_PLAINTEXT, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_INVALID"},
      {RT_TOKEN_EXPIRED, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_EXPIRED"},
      {RT_TOKEN_REPLAYED, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_REPLAYED"},
      {RT_TOKEN_GUARD_FULL, GRPC_STATUS_PERMISSION_DENIED, "TOKEN_GUARD_FULL"},
      {RT_TOKEN_FAILURE, GRPC_STATUS_INTERNAL, "INTERNAL"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    rt_rpc_status st;
    memset(&st, 0, sizeof st);
    grpc_status_code s = rt_deny_token(&st, want[i].why, "why");
    CHECK(s == want[i].status && st.status == want[i].status && st.code != NULL &&
              strcmp(st.code, want[i].code) == 0 && strcmp(st.message, "why") == 0,
          "%s: %s %s", rt_token_reason_name(want[i].why), rt_grpc_status_name(s),
          st.code ? st.code : "(none)");
  }
}

int main(void) {
  char dir[] = "/tmp/rt_test_token.XXXXXX";
  if (mkdtemp(dir) == NULL)
    return 2;
  test_round_trip();
  test_confirm();
  test_format(dir);
  test_key_files(dir);
  test_guard();
  test_race();
  test_deny();
  CHECK(rt_token_reason_code(RT_TOKEN_OK) == NULL, "ok has no code");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rt_test_done("test_token");
}
