#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_eventlog.h"

/* Longest session a token may describe: Begin to Finish takes seconds on a
 * real TPM, so a day is generous and keeps a stolen token's window small. */
#define MAX_SESSION_TTL ((int64_t)24 * 3600)

/* A key file is 64 hex digits and maybe a newline; anything longer is not
 * one, so reading stops there instead of slurping a wrong path. */
#define KEY_FILE_MAX 66

struct rt_token_key {
  unsigned char k[RT_TOKEN_KEY_LEN];
  int ephemeral;
};

const char *rt_token_reason_code(rt_token_reason reason) {
  switch (reason) {
  case RT_TOKEN_OK:
    return NULL;
  case RT_TOKEN_TOO_SHORT:
  case RT_TOKEN_TOO_LONG:
  case RT_TOKEN_BAD_VERSION:
  case RT_TOKEN_BAD_TAG:
  case RT_TOKEN_BAD_PLAINTEXT:
    return "TOKEN_INVALID";
  case RT_TOKEN_EXPIRED:
    return "TOKEN_EXPIRED";
  case RT_TOKEN_REPLAYED:
    return "TOKEN_REPLAYED";
  case RT_TOKEN_GUARD_FULL:
    return "TOKEN_GUARD_FULL";
  case RT_TOKEN_FAILURE:
    return "INTERNAL";
  }
  return "INTERNAL";
}

const char *rt_token_reason_name(rt_token_reason reason) {
  switch (reason) {
  case RT_TOKEN_OK:
    return "ok";
  case RT_TOKEN_TOO_SHORT:
    return "too-short";
  case RT_TOKEN_TOO_LONG:
    return "too-long";
  case RT_TOKEN_BAD_VERSION:
    return "bad-version";
  case RT_TOKEN_BAD_TAG:
    return "bad-tag";
  case RT_TOKEN_BAD_PLAINTEXT:
    return "bad-plaintext";
  case RT_TOKEN_EXPIRED:
    return "expired";
  case RT_TOKEN_REPLAYED:
    return "replayed";
  case RT_TOKEN_GUARD_FULL:
    return "guard-full";
  case RT_TOKEN_FAILURE:
    return "failure";
  }
  return "unknown";
}

static void set_reason(rt_token_reason *reason, rt_token_reason value) {
  if (reason != NULL)
    *reason = value;
}

/* ---- Key ------------------------------------------------------------------ */

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

rt_code rt_token_key_load(const char *path, rt_token_key **out, rt_err *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return rt_err_set(err, RT_E_IO, "token key %s: cannot open: %s", path, strerror(errno));
  /* Mode checked on the descriptor we read from, so the file checked is the
   * file used. */
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return rt_err_set(err, RT_E_IO, "token key %s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return rt_err_set(err, RT_E_INVALID, "token key %s: not a regular file", path);
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return rt_err_set(err, RT_E_INVALID,
                      "token key %s: mode %04o lets group or others read it (chmod 600)", path,
                      (unsigned)(st.st_mode & 07777));
  }

  char buf[KEY_FILE_MAX + 2];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      return rt_err_set(err, RT_E_IO, "token key %s: cannot read: %s", path, strerror(e));
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (used == sizeof buf - 1)
      break;
  }
  close(fd);
  buf[used] = '\0';
  if (used > 0 && buf[used - 1] == '\n')
    buf[--used] = '\0';

  rt_code code = RT_OK;
  unsigned char k[RT_TOKEN_KEY_LEN];
  size_t klen = 0;
  /* Length first: OPENSSL_hexstr2buf_ex would also accept shorter input. */
  if (used != 2 * RT_TOKEN_KEY_LEN || OPENSSL_hexstr2buf_ex(k, sizeof k, &klen, buf, '\0') != 1 ||
      klen != sizeof k) {
    ERR_clear_error();
    code = rt_err_set(err, RT_E_INVALID,
                      "token key %s: expected exactly %d hex digits (a 32-byte key)", path,
                      2 * RT_TOKEN_KEY_LEN);
  }
  OPENSSL_cleanse(buf, sizeof buf);
  if (code == RT_OK)
    code = key_alloc(out, err);
  if (code == RT_OK)
    memcpy((*out)->k, k, sizeof k);
  OPENSSL_cleanse(k, sizeof k);
  return code;
}

static rt_code write_all(int fd, const char *data, size_t len, const char *path, rt_err *err) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return rt_err_set(err, RT_E_IO, "token key %s: cannot write: %s", path, strerror(errno));
    data += n;
    len -= (size_t)n;
  }
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

  /* O_EXCL: never replace a key other verifiers may share; O_NOFOLLOW: a
   * planted symlink cannot redirect the write. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    OPENSSL_cleanse(hex, sizeof hex);
    if (e == EEXIST)
      return rt_err_set(err, RT_E_INVALID, "token key %s already exists; not replacing it", path);
    return rt_err_set(err, RT_E_IO, "token key %s: cannot create: %s", path, strerror(e));
  }
  /* The umask can only remove bits from 0600; fchmod makes it exactly 0600
   * so the owner can always read the key back. */
  rt_code code = RT_OK;
  if (fchmod(fd, 0600) != 0)
    code = rt_err_set(err, RT_E_IO, "token key %s: cannot chmod: %s", path, strerror(errno));
  if (code == RT_OK)
    code = write_all(fd, hex, len, path, err);
  if (code == RT_OK && fsync(fd) != 0)
    code = rt_err_set(err, RT_E_IO, "token key %s: cannot sync: %s", path, strerror(errno));
  OPENSSL_cleanse(hex, sizeof hex);
  if (close(fd) != 0 && code == RT_OK)
    code = rt_err_set(err, RT_E_IO, "token key %s: cannot close: %s", path, strerror(errno));
  if (code != RT_OK)
    unlink(path);
  return code;
}

int rt_token_key_is_ephemeral(const rt_token_key *key) {
  return key != NULL && key->ephemeral;
}

void rt_token_key_free(rt_token_key *key) {
  if (key != NULL) {
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
  }
}

/* ---- Session state ------------------------------------------------------- */

static rt_code random_bytes(ProtobufCBinaryData *field, size_t len, rt_err *err) {
  field->data = malloc(len);
  if (field->data == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  field->len = len;
  if (RAND_bytes(field->data, (int)len) != 1) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_CRYPTO, "RAND_bytes failed for the session state");
  }
  return RT_OK;
}

rt_code rt_token_state_new(time_t now, int64_t ttl_seconds, rt_session_state **out, rt_err *err) {
  *out = NULL;
  if (ttl_seconds <= 0 || ttl_seconds > MAX_SESSION_TTL)
    return rt_err_set(err, RT_E_INVALID, "session lifetime %lld s is outside 1..%lld s",
                      (long long)ttl_seconds, (long long)MAX_SESSION_TTL);
  rt_session_state *st = malloc(sizeof *st);
  if (st == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  rattest__internal__v1__session_state__init(st);
  rt_code code = random_bytes(&st->token_id, RT_TOKEN_ID_LEN, err);
  if (code == RT_OK)
    code = random_bytes(&st->credential_secret, RT_TOKEN_SECRET_LEN, err);
  if (code == RT_OK)
    code = random_bytes(&st->nonce, RT_TOKEN_NONCE_LEN, err);
  if (code != RT_OK) {
    rt_token_state_free(st);
    return code;
  }
  st->created_unix = (int64_t)now;
  st->expires_unix = (int64_t)now + ttl_seconds;
  *out = st;
  return RT_OK;
}

static void wipe_bytes(ProtobufCBinaryData *field) {
  if (field->data != NULL)
    OPENSSL_cleanse(field->data, field->len);
}

rt_code rt_token_state_set_bytes(ProtobufCBinaryData *field, const uint8_t *data, size_t len,
                                 rt_err *err) {
  uint8_t *copy = malloc(len > 0 ? len : 1);
  if (copy == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  if (len > 0)
    memcpy(copy, data, len);
  wipe_bytes(field);
  free(field->data);
  field->data = copy;
  field->len = len;
  return RT_OK;
}

rt_code rt_token_state_add_selection(rt_session_state *st, const char *bank, const uint32_t *pcrs,
                                     size_t n_pcrs, rt_err *err) {
  Rattest__Internal__V1__PcrSelection *sel = malloc(sizeof *sel);
  if (sel == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  rattest__internal__v1__pcr_selection__init(sel);
  sel->bank = strdup(bank);
  sel->pcrs = malloc((n_pcrs > 0 ? n_pcrs : 1) * sizeof *pcrs);
  Rattest__Internal__V1__PcrSelection **arr =
      realloc(st->pcr_selection, (st->n_pcr_selection + 1) * sizeof *arr);
  if (sel->bank == NULL || sel->pcrs == NULL || arr == NULL) {
    if (arr != NULL)
      st->pcr_selection = arr;
    free(sel->bank);
    free(sel->pcrs);
    free(sel);
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  }
  if (n_pcrs > 0)
    memcpy(sel->pcrs, pcrs, n_pcrs * sizeof *pcrs);
  sel->n_pcrs = n_pcrs;
  st->pcr_selection = arr;
  st->pcr_selection[st->n_pcr_selection++] = sel;
  return RT_OK;
}

void rt_token_state_free(rt_session_state *st) {
  if (st == NULL)
    return;
  wipe_bytes(&st->credential_secret);
  wipe_bytes(&st->nonce);
  wipe_bytes(&st->token_id);
  /* Frees every field the same way for unpacked and hand-built states; both
   * take their memory from malloc (protobuf-c's default allocator). */
  rattest__internal__v1__session_state__free_unpacked(st, NULL);
}

/* The invariants Finish relies on. Above all the fixed lengths: a state
 * with an empty secret would make an empty activated secret "match". */
static rt_code check_state(const rt_session_state *st, rt_err *err) {
  if (st->token_id.len != RT_TOKEN_ID_LEN)
    return rt_err_set(err, RT_E_INVALID, "session state: token id is %zu bytes, want %d",
                      st->token_id.len, RT_TOKEN_ID_LEN);
  if (st->credential_secret.len != RT_TOKEN_SECRET_LEN)
    return rt_err_set(err, RT_E_INVALID, "session state: credential secret is %zu bytes, want %d",
                      st->credential_secret.len, RT_TOKEN_SECRET_LEN);
  if (st->nonce.len != RT_TOKEN_NONCE_LEN)
    return rt_err_set(err, RT_E_INVALID, "session state: nonce is %zu bytes, want %d",
                      st->nonce.len, RT_TOKEN_NONCE_LEN);
  if (st->ek_cert_sha256.len != 32)
    return rt_err_set(err, RT_E_INVALID, "session state: EK certificate hash is %zu bytes, want 32",
                      st->ek_cert_sha256.len);
  if (st->ek_public.len == 0 || st->ak_public.len == 0)
    return rt_err_set(err, RT_E_INVALID, "session state: EK or AK public area missing");
  if (st->expires_unix <= st->created_unix)
    return rt_err_set(err, RT_E_INVALID, "session state: expires (%lld) not after created (%lld)",
                      (long long)st->expires_unix, (long long)st->created_unix);
  if (st->n_pcr_selection == 0)
    return rt_err_set(err, RT_E_INVALID, "session state: no PCR selection");
  for (size_t i = 0; i < st->n_pcr_selection; i++) {
    const Rattest__Internal__V1__PcrSelection *sel = st->pcr_selection[i];
    TPM2_ALG_ID alg = rt_eventlog_alg_from_name(sel->bank);
    if (alg != TPM2_ALG_SHA1 && alg != TPM2_ALG_SHA256 && alg != TPM2_ALG_SHA384)
      return rt_err_set(err, RT_E_INVALID, "session state: PCR bank \"%s\" unknown", sel->bank);
    for (size_t j = 0; j < sel->n_pcrs; j++)
      if (sel->pcrs[j] > 23 || (j > 0 && sel->pcrs[j] <= sel->pcrs[j - 1]))
        return rt_err_set(err, RT_E_INVALID,
                          "session state: PCRs of bank %s not ascending within 0..23", sel->bank);
  }
  return RT_OK;
}

/* ---- Seal / open -----------------------------------------------------------
 * One AEAD core for both kinds of token; the context string in the AAD is
 * what keeps a session token from opening as a confirm token and back. */

/* AAD: context string (without its NUL) || version byte. */
static size_t make_aad(const char *context, uint8_t aad[64]) {
  size_t n = strlen(context);
  memcpy(aad, context, n);
  aad[n] = RT_TOKEN_VERSION;
  return n + 1;
}

static rt_code seal_bytes(const rt_token_key *key, const char *context, const uint8_t *pt,
                          size_t pt_len, uint8_t **out, size_t *out_len, rt_err *err) {
  size_t total = RT_TOKEN_MIN_LEN + pt_len;
  if (total > RT_TOKEN_MAX_LEN)
    return rt_err_set(err, RT_E_INVALID, "sealing: a state of %zu bytes makes a token over %d",
                      pt_len, RT_TOKEN_MAX_LEN);
  rt_code code = RT_OK;
  uint8_t *tok = malloc(total);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (tok == NULL || ctx == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "sealing: out of memory");
    goto done;
  }
  uint8_t *iv = tok + 1, *ct = tok + 1 + RT_TOKEN_IV_LEN, *tag = ct + pt_len;
  uint8_t aad[64];
  size_t aad_len = make_aad(context, aad);
  tok[0] = RT_TOKEN_VERSION;
  int outl = 0, finl = 0;
  if (RAND_bytes(iv, RT_TOKEN_IV_LEN) != 1) {
    code = rt_err_set(err, RT_E_CRYPTO, "sealing: RAND_bytes failed");
    goto done;
  }
  /* GCM's default IV length is 12 bytes, the length RT_TOKEN_IV_LEN has. */
  if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key->k, iv, NULL) != 1 ||
      EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
      EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)pt_len) != 1 ||
      EVP_EncryptFinal_ex(ctx, ct + outl, &finl) != 1 || (size_t)(outl + finl) != pt_len ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, RT_TOKEN_TAG_LEN, tag) != 1) {
    code = rt_err_set(err, RT_E_CRYPTO, "sealing: AES-256-GCM failed");
    goto done;
  }
  *out = tok;
  *out_len = total;
  tok = NULL;
done:
  ERR_clear_error();
  EVP_CIPHER_CTX_free(ctx);
  free(tok);
  return code;
}

/* Checks length and version, authenticates and decrypts: *pt (malloc'd,
 * *pt_len bytes; wipe before freeing) is the authentic plaintext. what names
 * the token in messages. */
static rt_code open_bytes(const rt_token_key *key, const char *context, const char *what,
                          const uint8_t *token, size_t token_len, uint8_t **pt_out, size_t *pt_len,
                          rt_token_reason *reason, rt_err *err) {
  *pt_out = NULL;
  *pt_len = 0;
  if (token_len < RT_TOKEN_MIN_LEN) {
    set_reason(reason, RT_TOKEN_TOO_SHORT);
    return rt_err_set(err, RT_E_INVALID, "%s too short (%zu bytes, at least %d)", what, token_len,
                      RT_TOKEN_MIN_LEN);
  }
  if (token_len > RT_TOKEN_MAX_LEN) {
    set_reason(reason, RT_TOKEN_TOO_LONG);
    return rt_err_set(err, RT_E_INVALID, "%s too long (%zu bytes, at most %d)", what, token_len,
                      RT_TOKEN_MAX_LEN);
  }
  if (token[0] != RT_TOKEN_VERSION) {
    set_reason(reason, RT_TOKEN_BAD_VERSION);
    return rt_err_set(err, RT_E_INVALID, "%s version %u unknown (want %u)", what, token[0],
                      RT_TOKEN_VERSION);
  }
  const uint8_t *iv = token + 1, *ct = token + 1 + RT_TOKEN_IV_LEN;
  size_t ct_len = token_len - RT_TOKEN_MIN_LEN;
  uint8_t tag[RT_TOKEN_TAG_LEN];
  memcpy(tag, ct + ct_len, sizeof tag);
  uint8_t aad[64];
  size_t aad_len = make_aad(context, aad);

  rt_code code = RT_OK;
  uint8_t *pt = malloc(ct_len > 0 ? ct_len : 1);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int outl = 0, finl = 0;
  if (pt == NULL || ctx == NULL) {
    set_reason(reason, RT_TOKEN_FAILURE);
    code = rt_err_set(err, RT_E_NOMEM, "opening %s: out of memory", what);
    goto done;
  }
  if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key->k, iv, NULL) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
      EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)ct_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, RT_TOKEN_TAG_LEN, tag) != 1) {
    set_reason(reason, RT_TOKEN_FAILURE);
    code = rt_err_set(err, RT_E_INTERNAL, "opening %s: AES-256-GCM failed", what);
    goto done;
  }
  /* The tag is checked here; until it passes, pt is attacker-chosen garbage
   * and is never parsed. */
  if (EVP_DecryptFinal_ex(ctx, pt + outl, &finl) != 1) {
    set_reason(reason, RT_TOKEN_BAD_TAG);
    code = rt_err_set(err, RT_E_CRYPTO,
                      "%s does not authenticate (tampered, or sealed under another key)", what);
    goto done;
  }
  *pt_out = pt;
  *pt_len = ct_len;
  pt = NULL;
done:
  ERR_clear_error();
  EVP_CIPHER_CTX_free(ctx);
  if (pt != NULL)
    OPENSSL_cleanse(pt, ct_len > 0 ? ct_len : 1);
  free(pt);
  return code;
}

static rt_code expiry(int64_t expires, time_t now, const char *what, rt_token_reason *reason,
                      rt_err *err) {
  if ((int64_t)now < expires)
    return RT_OK;
  set_reason(reason, RT_TOKEN_EXPIRED);
  return rt_err_set(err, RT_E_INVALID, "%s expired at %lld (now %lld)", what, (long long)expires,
                    (long long)now);
}

rt_code rt_token_seal(const rt_token_key *key, const rt_session_state *st, uint8_t **out,
                      size_t *out_len, rt_err *err) {
  *out = NULL;
  *out_len = 0;
  rt_code code = check_state(st, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "sealing: ");
  size_t pt_len = rattest__internal__v1__session_state__get_packed_size(st);
  uint8_t *pt = malloc(pt_len > 0 ? pt_len : 1);
  if (pt == NULL)
    return rt_err_set(err, RT_E_NOMEM, "sealing: out of memory");
  rattest__internal__v1__session_state__pack(st, pt);
  code = seal_bytes(key, RT_TOKEN_CONTEXT, pt, pt_len, out, out_len, err);
  OPENSSL_cleanse(pt, pt_len > 0 ? pt_len : 1);
  free(pt);
  return code;
}

rt_code rt_token_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                      rt_session_state **out, rt_token_reason *reason, rt_err *err) {
  *out = NULL;
  set_reason(reason, RT_TOKEN_OK);
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  rt_code code = open_bytes(key, RT_TOKEN_CONTEXT, "session token", token, token_len, &pt, &pt_len,
                            reason, err);
  if (code != RT_OK)
    return code;
  rt_session_state *st = rattest__internal__v1__session_state__unpack(NULL, pt_len, pt);
  OPENSSL_cleanse(pt, pt_len > 0 ? pt_len : 1);
  free(pt);
  if (st == NULL) {
    set_reason(reason, RT_TOKEN_BAD_PLAINTEXT);
    return rt_err_set(err, RT_E_INVALID, "session token holds no valid session state");
  }
  code = check_state(st, err);
  if (code != RT_OK) {
    set_reason(reason, RT_TOKEN_BAD_PLAINTEXT);
    rt_err_prefix(err, "session token: ");
  } else {
    code = expiry(st->expires_unix, now, "session token", reason, err);
  }
  if (code != RT_OK) {
    rt_token_state_free(st);
    return code;
  }
  *out = st;
  return RT_OK;
}

/* ---- Confirm tokens ---------------------------------------------------------- */

static rt_code check_confirm(const rt_confirm_state *st, rt_err *err) {
  if (st->token_id.len != RT_TOKEN_ID_LEN)
    return rt_err_set(err, RT_E_INVALID, "confirm state: token id is %zu bytes, want %d",
                      st->token_id.len, RT_TOKEN_ID_LEN);
  if (st->nonce.len != RT_TOKEN_NONCE_LEN)
    return rt_err_set(err, RT_E_INVALID, "confirm state: nonce is %zu bytes, want %d",
                      st->nonce.len, RT_TOKEN_NONCE_LEN);
  if (st->ek_cert_sha256.len != 32)
    return rt_err_set(err, RT_E_INVALID, "confirm state: EK hash is %zu bytes, want 32",
                      st->ek_cert_sha256.len);
  if (st->expires_unix <= st->created_unix)
    return rt_err_set(err, RT_E_INVALID, "confirm state: expires not after created");
  if (st->name == NULL || st->name[0] == '\0' || st->n_delivered == 0)
    return rt_err_set(err, RT_E_INVALID, "confirm state: no name or nothing delivered");
  for (size_t i = 0; i < st->n_delivered; i++)
    if (st->delivered[i]->name == NULL || st->delivered[i]->name[0] == '\0')
      return rt_err_set(err, RT_E_INVALID, "confirm state: a delivered secret has no name");
  return RT_OK;
}

rt_code rt_confirm_state_new(time_t now, int64_t ttl_seconds, rt_confirm_state **out, rt_err *err) {
  *out = NULL;
  if (ttl_seconds <= 0 || ttl_seconds > MAX_SESSION_TTL)
    return rt_err_set(err, RT_E_INVALID, "confirm token lifetime %lld s out of range",
                      (long long)ttl_seconds);
  rt_confirm_state *st = malloc(sizeof *st);
  if (st == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  rattest__internal__v1__confirm_state__init(st);
  st->created_unix = (int64_t)now;
  st->expires_unix = (int64_t)now + ttl_seconds;
  rt_code code = random_bytes(&st->token_id, RT_TOKEN_ID_LEN, err);
  if (code == RT_OK)
    code = random_bytes(&st->nonce, RT_TOKEN_NONCE_LEN, err);
  if (code != RT_OK) {
    rt_confirm_state_free(st);
    return code;
  }
  *out = st;
  return RT_OK;
}

rt_code rt_confirm_state_add(rt_confirm_state *st, const char *name, int32_t kind, rt_err *err) {
  Rattest__Internal__V1__Delivered **arr =
      realloc(st->delivered, (st->n_delivered + 1) * sizeof *arr);
  if (arr == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  st->delivered = arr;
  Rattest__Internal__V1__Delivered *d = malloc(sizeof *d);
  if (d == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  rattest__internal__v1__delivered__init(d);
  d->kind = kind;
  if ((d->name = strdup(name)) == NULL) {
    free(d);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  arr[st->n_delivered++] = d;
  return RT_OK;
}

void rt_confirm_state_free(rt_confirm_state *st) {
  if (st == NULL)
    return;
  if (st->nonce.data != NULL)
    OPENSSL_cleanse(st->nonce.data, st->nonce.len);
  rattest__internal__v1__confirm_state__free_unpacked(st, NULL);
}

rt_code rt_confirm_seal(const rt_token_key *key, const rt_confirm_state *st, uint8_t **out,
                        size_t *out_len, rt_err *err) {
  *out = NULL;
  *out_len = 0;
  rt_code code = check_confirm(st, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "sealing: ");
  size_t pt_len = rattest__internal__v1__confirm_state__get_packed_size(st);
  uint8_t *pt = malloc(pt_len > 0 ? pt_len : 1);
  if (pt == NULL)
    return rt_err_set(err, RT_E_NOMEM, "sealing: out of memory");
  rattest__internal__v1__confirm_state__pack(st, pt);
  code = seal_bytes(key, RT_CONFIRM_CONTEXT, pt, pt_len, out, out_len, err);
  OPENSSL_cleanse(pt, pt_len > 0 ? pt_len : 1);
  free(pt);
  return code;
}

rt_code rt_confirm_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                        rt_confirm_state **out, rt_token_reason *reason, rt_err *err) {
  *out = NULL;
  set_reason(reason, RT_TOKEN_OK);
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  rt_code code = open_bytes(key, RT_CONFIRM_CONTEXT, "confirm token", token, token_len, &pt,
                            &pt_len, reason, err);
  if (code != RT_OK)
    return code;
  rt_confirm_state *st = rattest__internal__v1__confirm_state__unpack(NULL, pt_len, pt);
  OPENSSL_cleanse(pt, pt_len > 0 ? pt_len : 1);
  free(pt);
  if (st == NULL) {
    set_reason(reason, RT_TOKEN_BAD_PLAINTEXT);
    return rt_err_set(err, RT_E_INVALID, "confirm token holds no valid state");
  }
  code = check_confirm(st, err);
  if (code != RT_OK) {
    set_reason(reason, RT_TOKEN_BAD_PLAINTEXT);
    rt_err_prefix(err, "confirm token: ");
  } else {
    code = expiry(st->expires_unix, now, "confirm token", reason, err);
  }
  if (code != RT_OK) {
    rt_confirm_state_free(st);
    return code;
  }
  *out = st;
  return RT_OK;
}

/* ---- Replay guard ----------------------------------------------------------
 *
 * A hash set of live ids (open addressing, linear probing, backward-shift
 * deletion) plus a min-heap of (expires, id), so that pruning pops exactly
 * the expired ids in O(log n) each instead of sweeping the table. Ids come
 * from RAND_bytes inside authenticated tokens, so their first bytes are a
 * uniform hash that no client can steer. */

typedef struct {
  uint8_t id[RT_TOKEN_ID_LEN];
  uint8_t used;
} slot;

typedef struct {
  int64_t expires;
  uint8_t id[RT_TOKEN_ID_LEN];
} heap_entry;

struct rt_token_replay_guard {
  pthread_mutex_t mu;
  size_t cap;       /* most live ids */
  size_t max_slots; /* table size that keeps cap ids at load <= 1/2 */
  slot *slots;
  size_t n_slots; /* power of two */
  heap_entry *heap;
  size_t heap_cap;
  size_t count; /* ids in both the set and the heap */
};

static size_t home_of(const uint8_t *id, size_t n_slots) {
  uint64_t h;
  memcpy(&h, id, sizeof h);
  return (size_t)(h & (n_slots - 1));
}

/* Index of id in the table, or of the empty slot where it would go. */
static size_t set_find(const rt_token_replay_guard *g, const uint8_t *id) {
  size_t i = home_of(id, g->n_slots);
  /* Ids are not secrets to a caller who presents them, but the comparison
   * costs nothing in constant time, so timing says nothing either. */
  while (g->slots[i].used && CRYPTO_memcmp(g->slots[i].id, id, RT_TOKEN_ID_LEN) != 0)
    i = (i + 1) & (g->n_slots - 1);
  return i;
}

static void set_remove(rt_token_replay_guard *g, const uint8_t *id) {
  size_t mask = g->n_slots - 1;
  size_t i = set_find(g, id);
  if (!g->slots[i].used)
    return;
  g->slots[i].used = 0;
  /* Backward shift: move later members of the probe run into the hole when
   * their home position does not lie cyclically in (i, j]. */
  for (size_t j = (i + 1) & mask; g->slots[j].used; j = (j + 1) & mask) {
    size_t k = home_of(g->slots[j].id, g->n_slots);
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays)
      continue;
    g->slots[i] = g->slots[j];
    g->slots[j].used = 0;
    i = j;
  }
}

static rt_code set_grow(rt_token_replay_guard *g, rt_err *err) {
  size_t n = g->n_slots * 2;
  slot *ns = calloc(n, sizeof *ns);
  if (ns == NULL)
    return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
  slot *old = g->slots;
  size_t old_n = g->n_slots;
  g->slots = ns;
  g->n_slots = n;
  for (size_t i = 0; i < old_n; i++)
    if (old[i].used)
      g->slots[set_find(g, old[i].id)] = old[i];
  free(old);
  return RT_OK;
}

static int heap_less(const heap_entry *a, const heap_entry *b) {
  return a->expires < b->expires;
}

static void heap_swap(heap_entry *a, heap_entry *b) {
  heap_entry t = *a;
  *a = *b;
  *b = t;
}

static void heap_push(rt_token_replay_guard *g, const heap_entry *e) {
  size_t i = g->count;
  g->heap[i] = *e;
  while (i > 0 && heap_less(&g->heap[i], &g->heap[(i - 1) / 2])) {
    heap_swap(&g->heap[i], &g->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
}

static void heap_pop(rt_token_replay_guard *g) {
  g->heap[0] = g->heap[g->count - 1];
  size_t n = g->count - 1, i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_less(&g->heap[l], &g->heap[m]))
      m = l;
    if (r < n && heap_less(&g->heap[r], &g->heap[m]))
      m = r;
    if (m == i)
      break;
    heap_swap(&g->heap[i], &g->heap[m]);
    i = m;
  }
}

rt_code rt_replay_guard_new(size_t cap, rt_token_replay_guard **out, rt_err *err) {
  *out = NULL;
  if (cap == 0)
    cap = RT_REPLAY_GUARD_DEFAULT_CAP;
  if (cap > ((size_t)1 << 28))
    return rt_err_set(err, RT_E_INVALID, "replay guard: cap %zu too large", cap);
  rt_token_replay_guard *g = calloc(1, sizeof *g);
  if (g == NULL)
    return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
  g->cap = cap;
  g->max_slots = 4;
  while (g->max_slots < 2 * cap)
    g->max_slots *= 2;
  /* Start small and grow with the live ids, so memory follows the load and
   * cap only bounds it. */
  g->n_slots = g->max_slots < 64 ? g->max_slots : 64;
  g->heap_cap = cap < 32 ? cap : 32;
  g->slots = calloc(g->n_slots, sizeof *g->slots);
  g->heap = malloc(g->heap_cap * sizeof *g->heap);
  if (g->slots == NULL || g->heap == NULL || pthread_mutex_init(&g->mu, NULL) != 0) {
    free(g->slots);
    free(g->heap);
    free(g);
    return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
  }
  *out = g;
  return RT_OK;
}

void rt_replay_guard_free(rt_token_replay_guard *g) {
  if (g == NULL)
    return;
  pthread_mutex_destroy(&g->mu);
  free(g->slots);
  free(g->heap);
  free(g);
}

size_t rt_replay_guard_count(rt_token_replay_guard *g) {
  pthread_mutex_lock(&g->mu);
  size_t n = g->count;
  pthread_mutex_unlock(&g->mu);
  return n;
}

static rt_code guard_insert(rt_token_replay_guard *g, const uint8_t *id, int64_t expires,
                            rt_err *err) {
  if ((g->count + 1) * 2 > g->n_slots && g->n_slots < g->max_slots) {
    rt_code code = set_grow(g, err);
    if (code != RT_OK)
      return code;
  }
  if (g->count == g->heap_cap) {
    size_t n = g->heap_cap * 2 < g->cap ? g->heap_cap * 2 : g->cap;
    heap_entry *nh = realloc(g->heap, n * sizeof *nh);
    if (nh == NULL)
      return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
    g->heap = nh;
    g->heap_cap = n;
  }
  slot *s = &g->slots[set_find(g, id)];
  memcpy(s->id, id, RT_TOKEN_ID_LEN);
  s->used = 1;
  heap_entry e = {.expires = expires};
  memcpy(e.id, id, RT_TOKEN_ID_LEN);
  heap_push(g, &e);
  g->count++;
  return RT_OK;
}

rt_code rt_replay_check_and_mark(rt_token_replay_guard *g, const uint8_t id[RT_TOKEN_ID_LEN],
                                 time_t expires, time_t now, rt_token_reason *reason, rt_err *err) {
  set_reason(reason, RT_TOKEN_OK);
  pthread_mutex_lock(&g->mu);
  /* Forget ids that expired: their tokens fail rt_token_open from now on,
   * so remembering them protects nothing. */
  while (g->count > 0 && g->heap[0].expires <= (int64_t)now) {
    set_remove(g, g->heap[0].id);
    heap_pop(g);
    g->count--;
  }
  rt_code code = RT_OK;
  if ((int64_t)expires <= (int64_t)now) {
    set_reason(reason, RT_TOKEN_EXPIRED);
    code = rt_err_set(err, RT_E_INVALID, "session token expired at %lld (now %lld)",
                      (long long)expires, (long long)now);
  } else if (g->slots[set_find(g, id)].used) {
    set_reason(reason, RT_TOKEN_REPLAYED);
    code = rt_err_set(err, RT_E_INVALID, "session token already used");
  } else if (g->count >= g->cap) {
    /* Dropping a live id to make room would let its token be replayed, so
     * refuse the new session instead, until ids expire. */
    set_reason(reason, RT_TOKEN_GUARD_FULL);
    code = rt_err_set(err, RT_E_NOMEM,
                      "replay guard full: %zu unexpired sessions finished; retry after the "
                      "oldest expires",
                      g->count);
  } else {
    code = guard_insert(g, id, (int64_t)expires, err);
    if (code != RT_OK)
      set_reason(reason, RT_TOKEN_FAILURE);
  }
  pthread_mutex_unlock(&g->mu);
  return code;
}
