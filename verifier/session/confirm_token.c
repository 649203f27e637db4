#include "confirm_token.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

rt_code rt_confirm_state_new(time_t now, int64_t ttl_seconds, rt_confirm_state **out, rt_err *err) {
  *out = NULL;
  if (ttl_seconds <= 0 || ttl_seconds > RT_TOKEN_MAX_TTL)
    return rt_err_set(err, RT_E_INVALID, "confirm token lifetime %lld s out of range",
                      (long long)ttl_seconds);
  rt_confirm_state *st = malloc(sizeof *st);
  if (st == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  rattest__internal__v1__confirm_state__init(st);
  st->created_unix = (int64_t)now;
  st->expires_unix = (int64_t)now + ttl_seconds;
  rt_code code = rt_token_random_field(&st->token_id, RT_TOKEN_ID_LEN, err);
  if (code == RT_OK)
    code = rt_token_random_field(&st->nonce, RT_TOKEN_NONCE_LEN, err);
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

/* What Confirm relies on: the fixed lengths, and a name for the identity
 * and for every secret whose proof it will ask for. */
static rt_code check_confirm(const ProtobufCMessage *msg, rt_err *err) {
  const rt_confirm_state *st = (const rt_confirm_state *)msg;
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

static int64_t expires_of(const ProtobufCMessage *msg) {
  return ((const rt_confirm_state *)msg)->expires_unix;
}

static void free_state(ProtobufCMessage *msg) {
  rt_confirm_state_free((rt_confirm_state *)msg);
}

static const rt_token_kind confirm_kind = {
    .context = RT_CONFIRM_CONTEXT,
    .what = "confirm token",
    .state = "confirm state",
    .type = &rattest__internal__v1__confirm_state__descriptor,
    .check = check_confirm,
    .expires = expires_of,
    .free = free_state,
};

rt_code rt_confirm_seal(const rt_token_key *key, const rt_confirm_state *st, uint8_t **out,
                        size_t *out_len, rt_err *err) {
  return rt_token_seal_state(&confirm_kind, key, &st->base, out, out_len, err);
}

rt_code rt_confirm_open(const rt_token_key *key, const uint8_t *token, size_t token_len, time_t now,
                        rt_confirm_state **out, rt_token_reason *reason, rt_err *err) {
  ProtobufCMessage *msg = NULL;
  rt_code code = rt_token_open_state(&confirm_kind, key, token, token_len, now, &msg, reason, err);
  *out = (rt_confirm_state *)msg;
  return code;
}
