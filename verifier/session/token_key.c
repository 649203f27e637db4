#include "token_key.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_file.h"

/* A key file is 64 hex digits and maybe a newline; a larger file is not
 * one, so it is refused before it is read. One byte of slack lets a second
 * newline reach the format check and its clearer message. */
#define KEY_FILE_MAX (2 * RT_TOKEN_KEY_LEN + 2)

struct rt_token_key {
  unsigned char k[RT_TOKEN_KEY_LEN];
  int ephemeral;
};

static rt_code key_alloc(rt_token_key **out, rt_err *err) {
  *out = calloc(1, sizeof **out);
  if (*out == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the token key");
  return RT_OK;
}

rt_code rt_token_key_random(rt_token_key **out, rt_err *err) {
  rt_code code = key_alloc(out, err);
  if (code != RT_OK)
    return code;
  if (RAND_bytes((*out)->k, sizeof(*out)->k) != 1) {
    ERR_clear_error();
    rt_token_key_free(*out);
    *out = NULL;
    return rt_err_set(err, RT_E_CRYPTO, "RAND_bytes failed making the token key");
  }
  (*out)->ephemeral = 1;
  return RT_OK;
}

/* text (len bytes, NUL-terminated, writable) as a key file's contents: 64
 * hex digits and at most one newline, which is cut off in place. */
static rt_code parse_key(const char *path, char *text, size_t len, unsigned char k[], rt_err *err) {
  if (len > 0 && text[len - 1] == '\n')
    text[--len] = '\0';
  size_t klen = 0;
  /* Length first: OPENSSL_hexstr2buf_ex would also accept shorter input. */
  if (len != 2 * RT_TOKEN_KEY_LEN ||
      OPENSSL_hexstr2buf_ex(k, RT_TOKEN_KEY_LEN, &klen, text, '\0') != 1 ||
      klen != RT_TOKEN_KEY_LEN) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID,
                      "token key %s: expected exactly %d hex digits (a 32-byte key)", path,
                      2 * RT_TOKEN_KEY_LEN);
  }
  return RT_OK;
}

rt_code rt_token_key_load(const char *path, rt_token_key **out, rt_err *err) {
  *out = NULL;
  uint8_t *text = NULL;
  size_t len = 0;
  rt_code code = rt_file_read_private(path, "token key", KEY_FILE_MAX, &text, &len, err);
  if (code != RT_OK)
    return code;
  unsigned char k[RT_TOKEN_KEY_LEN];
  code = parse_key(path, (char *)text, len, k, err);
  rt_file_free_secret(text, len);
  if (code == RT_OK)
    code = key_alloc(out, err);
  if (code == RT_OK)
    memcpy((*out)->k, k, sizeof k);
  OPENSSL_cleanse(k, sizeof k);
  return code;
}

/* Claims path for a new file: O_EXCL refuses an existing file (never
 * replace a key other verifiers may share), O_NOFOLLOW a planted symlink.
 * What is left there is an empty file that rt_file_write_atomic replaces. */
static rt_code claim_path(const char *path, rt_err *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST)
    return rt_err_set(err, RT_E_INVALID, "token key %s already exists; not replacing it", path);
  if (fd < 0)
    return rt_err_set(err, RT_E_IO, "token key %s: cannot create: %s", path, strerror(errno));
  close(fd);
  return RT_OK;
}

rt_code rt_token_key_generate_file(const char *path, rt_err *err) {
  unsigned char k[RT_TOKEN_KEY_LEN];
  char hex[2 * RT_TOKEN_KEY_LEN + 2];
  size_t hexlen = 0;
  if (RAND_bytes(k, sizeof k) != 1) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_CRYPTO, "RAND_bytes failed making the token key");
  }
  int ok = OPENSSL_buf2hexstr_ex(hex, sizeof hex, &hexlen, k, sizeof k, '\0');
  OPENSSL_cleanse(k, sizeof k);
  if (ok != 1) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INTERNAL, "token key: hex encoding failed");
  }
  size_t len = strlen(hex);
  hex[len++] = '\n';
  rt_code code = claim_path(path, err);
  if (code == RT_OK) {
    code = rt_file_write_atomic(path, hex, len, 0600, err);
    if (code != RT_OK) {
      unlink(path);
      rt_err_prefix(err, "token key: ");
    }
  }
  OPENSSL_cleanse(hex, sizeof hex);
  return code;
}

int rt_token_key_is_ephemeral(const rt_token_key *key) {
  return key != NULL && key->ephemeral;
}

const unsigned char *rt_token_key_bytes(const rt_token_key *key) {
  return key->k;
}

void rt_token_key_free(rt_token_key *key) {
  if (key != NULL) {
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
  }
}
