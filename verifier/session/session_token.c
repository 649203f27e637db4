#include "session_token.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "rt_hash.h"

rt_code rt_token_state_new(time_t now, int64_t ttl_seconds, rt_session_state **out, rt_err *err) {
  *out = NULL;
  if (ttl_seconds <= 0 || ttl_seconds > RT_TOKEN_MAX_TTL)
    return rt_err_set(err, RT_E_INVALID, "session lifetime %lld s is outside 1..%lld s",
                      (long long)ttl_seconds, (long long)RT_TOKEN_MAX_TTL);
  rt_session_state *st = malloc(sizeof *st);
  if (st == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  rattest__internal__v1__session_state__init(st);
  rt_code code = rt_token_random_field(&st->token_id, RT_TOKEN_ID_LEN, err);
  if (code == RT_OK)
    code = rt_token_random_field(&st->credential_secret, RT_TOKEN_SECRET_LEN, err);
  if (code == RT_OK)
    code = rt_token_random_field(&st->nonce, RT_TOKEN_NONCE_LEN, err);
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
  if (arr != NULL)
    st->pcr_selection = arr;
  if (sel->bank == NULL || sel->pcrs == NULL || arr == NULL) {
    free(sel->bank);
    free(sel->pcrs);
    free(sel);
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the session state");
  }
  if (n_pcrs > 0)
    memcpy(sel->pcrs, pcrs, n_pcrs * sizeof *pcrs);
  sel->n_pcrs = n_pcrs;
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

/* The selection Finish will demand: known banks, PCRs ascending in 0..23. */
static rt_code check_selection(const rt_session_state *st, rt_err *err) {
  if (st->n_pcr_selection == 0)
    return rt_err_set(err, RT_E_INVALID, "session state: no PCR selection");
  for (size_t i = 0; i < st->n_pcr_selection; i++) {
    const Rattest__Internal__V1__PcrSelection *sel = st->pcr_selection[i];
    const rt_hash *h = rt_hash_by_name(sel->bank);
    /* Begin wrote the policy's banks; any bank the TPM selects is sane. */
    if (h == NULL || !h->tpm)
      return rt_err_set(err, RT_E_INVALID, "session state: PCR bank \"%s\" unknown", sel->bank);
    for (size_t j = 0; j < sel->n_pcrs; j++)
      if (sel->pcrs[j] > 23 || (j > 0 && sel->pcrs[j] <= sel->pcrs[j - 1]))
        return rt_err_set(err, RT_E_INVALID,
                          "session state: PCRs of bank %s not ascending within 0..23", sel->bank);
  }
  return RT_OK;
}

/* The invariants Finish relies on. Above all the fixed lengths: a state
 * with an empty secret would make an empty activated secret "match". */
static rt_code check_state(const ProtobufCMessage *msg, rt_err *err) {
  const rt_session_state *st = (const rt_session_state *)msg;
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
  return check_selection(st, err);
}

static int64_t expires_of(const ProtobufCMessage *msg) {
  return ((const rt_session_state *)msg)->expires_unix;
}

static void free_state(ProtobufCMessage *msg) {
  rt_token_state_free((rt_session_state *)msg);
}

static const rt_token_kind session_kind = {
    .context = RT_TOKEN_CONTEXT,
    .what = "session token",
    .state = "session state",
    .type = &rattest__internal__v1__session_state__descriptor,
    .check = check_state,
    .expires = expires_of,
    .free = free_state,
};

rt_code rt_token_seal(const rt_token_key *key, const rt_session_state *st, uint8_t **out,
                      size_t *out_len, rt_err *err) {
  return rt_token_seal_state(&session_kind, key, &st->base, out, out_len, err);
}

rt_code rt_token_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                      rt_session_state **out, rt_token_reason *reason, rt_err *err) {
  ProtobufCMessage *msg = NULL;
  rt_code code = rt_token_open_state(&session_kind, key, token, token_len, now, &msg, reason, err);
  *out = (rt_session_state *)msg;
  return code;
}
