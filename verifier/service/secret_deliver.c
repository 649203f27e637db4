#include "secret_deliver.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>

#include "decision.h"
#include "rt_dup.h"
#include "rt_pcrsel.h"
#include "rt_tpm_pub.h"

static int copy_bytes(ProtobufCBinaryData *f, const uint8_t *data, size_t len) {
  f->data = malloc(len > 0 ? len : 1);
  if (f->data == NULL)
    return -1;
  memcpy(f->data, data, len);
  f->len = len;
  return 0;
}

/* The wire form of a selection (bank names, ascending PCRs). */
static int wire_selection(const TPML_PCR_SELECTION *sel, Rattest__V1__DeliveredSecret *d) {
  if (sel->count == 0)
    return 0;
  d->pcr_policy = calloc(sel->count, sizeof *d->pcr_policy);
  if (d->pcr_policy == NULL)
    return -1;
  for (uint32_t b = 0; b < sel->count; b++) {
    Rattest__V1__PcrSelection *ps = malloc(sizeof *ps);
    if (ps == NULL)
      return -1;
    rattest__v1__pcr_selection__init(ps);
    d->pcr_policy[d->n_pcr_policy++] = ps;
    ps->bank = strdup(rt_pcr_bank_name(sel->pcrSelections[b].hash));
    ps->pcrs = calloc(RT_PCR_COUNT, sizeof *ps->pcrs);
    if (ps->bank == NULL || ps->pcrs == NULL)
      return -1;
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++)
      if (rt_pcrsel_has(sel, sel->pcrSelections[b].hash, i))
        ps->pcrs[ps->n_pcrs++] = i;
  }
  return 0;
}

/* One secret: the object, its PCR policy, the wrap to the EK. */
static grpc_status_code wrap_one(const rt_secret_conf *c, const TPMT_PUBLIC *ek,
                                 const rt_pcr_proven *proven, Rattest__V1__DeliveredSecret *d,
                                 rt_rpc_status *st) {
  rt_err err;
  rt_import_object obj;
  TPM2B_DIGEST policy = {0};
  TPM2B_PRIVATE dup;
  TPM2B_ENCRYPTED_SECRET seed;
  grpc_status_code s = GRPC_STATUS_OK;
  memset(&obj, 0, sizeof obj);
  if (c->pcrs.count > 0) {
    uint8_t values[TPM2_NUM_PCR_BANKS * RT_PCR_COUNT * 64];
    size_t n = rt_pcr_proven_concat(proven, &c->pcrs, values);
    /* The object's nameAlg is SHA-256: its policy digest must be too. */
    if (n == 0 ||
        rt_policy_pcr_digest(TPM2_ALG_SHA256, &c->pcrs, values, n, &policy, &err) != RT_OK)
      return rt_deny(st, GRPC_STATUS_INTERNAL, "SECRET_DELIVERY", "secret %s: PCR policy: %s",
                     c->name, n == 0 ? "a PCR was not quoted" : err.msg);
  }
  const TPM2B_DIGEST *pol = c->pcrs.count > 0 ? &policy : NULL;
  rt_code code = c->kind == RT_SECRET_KIND_SEALED
                     ? rt_import_sealed(c->data, c->data_len, pol, &obj, &err)
                     : rt_import_rsa(c->key, pol, &obj, &err);
  if (code == RT_OK)
    code = rt_dup_wrap(ek, &obj, &dup, &seed, &err);
  OPENSSL_cleanse(&obj.sensitive, sizeof obj.sensitive);
  if (code != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "SECRET_DELIVERY", "secret %s: %s", c->name, err.msg);
  uint8_t pub_buf[sizeof(TPM2B_PUBLIC)], dup_buf[sizeof(TPM2B_PRIVATE)],
      seed_buf[sizeof(TPM2B_ENCRYPTED_SECRET)];
  size_t pub_len = 0, dup_len = 0, seed_len = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(&obj.pub, pub_buf, sizeof pub_buf, &pub_len) != 0 ||
      Tss2_MU_TPM2B_PRIVATE_Marshal(&dup, dup_buf, sizeof dup_buf, &dup_len) != 0 ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&seed, seed_buf, sizeof seed_buf, &seed_len) != 0)
    s = rt_deny(st, GRPC_STATUS_INTERNAL, "SECRET_DELIVERY", "secret %s: marshalling", c->name);
  else if ((d->name = strdup(c->name)) == NULL || copy_bytes(&d->public_, pub_buf, pub_len) ||
           copy_bytes(&d->duplicate, dup_buf, dup_len) ||
           copy_bytes(&d->encrypted_seed, seed_buf, seed_len) || wire_selection(&c->pcrs, d))
    s = rt_deny_nomem(st, "a delivered secret");
  d->kind = c->kind == RT_SECRET_KIND_SEALED ? RATTEST__V1__SECRET_KIND__SECRET_KIND_SEALED
                                             : RATTEST__V1__SECRET_KIND__SECRET_KIND_RSA_KEY;
  if (s == GRPC_STATUS_OK && c->n_certs > 0) {
    d->certificates = calloc(c->n_certs, sizeof *d->certificates);
    for (size_t i = 0; d->certificates != NULL && i < c->n_certs; i++) {
      if (copy_bytes(&d->certificates[i], c->certs[i], c->cert_lens[i]) != 0)
        break;
      d->n_certificates++;
    }
    if (d->n_certificates != c->n_certs)
      s = rt_deny_nomem(st, "a delivered secret");
  }
  OPENSSL_cleanse(dup_buf, sizeof dup_buf);
  return s;
}

grpc_status_code rt_deliver_secrets(rt_verifier *v, const rt_session_state *state,
                                    const rt_pcr_proven *proven, Rattest__V1__FinishResponse *r,
                                    char *names, size_t names_size, rt_rpc_status *st) {
  const rt_policy_secrets *secrets = rt_policy_secrets_of(v->policy);
  names[0] = '\0';
  if (secrets == NULL || secrets->n == 0)
    return GRPC_STATUS_OK;
  rt_err err;
  TPM2B_PUBLIC ek;
  if (rt_tpm_pub_unmarshal(state->ek_public.data, state->ek_public.len, &ek, &err) != RT_OK)
    return rt_deny(st, GRPC_STATUS_INTERNAL, "INTERNAL", "session EK: %s", err.msg);
  rt_confirm_state *cs = NULL;
  if (rt_confirm_state_new(time(NULL), v->session_ttl, &cs, &err) != RT_OK ||
      (cs->name = strdup(state->name)) == NULL)
    goto fail;
  cs->ek_cert_sha256.data = malloc(32);
  if (cs->ek_cert_sha256.data == NULL)
    goto fail;
  memcpy(cs->ek_cert_sha256.data, state->ek_cert_sha256.data, 32);
  cs->ek_cert_sha256.len = 32;
  r->secrets = calloc(secrets->n, sizeof *r->secrets);
  if (r->secrets == NULL)
    goto fail;
  size_t used = 0;
  for (size_t i = 0; i < secrets->n; i++) {
    Rattest__V1__DeliveredSecret *d = malloc(sizeof *d);
    if (d == NULL)
      goto fail;
    rattest__v1__delivered_secret__init(d);
    r->secrets[r->n_secrets++] = d;
    grpc_status_code s = wrap_one(&secrets->v[i], &ek.publicArea, proven, d, st);
    if (s != GRPC_STATUS_OK) {
      rt_confirm_state_free(cs);
      return s;
    }
    if (rt_confirm_state_add(cs, secrets->v[i].name, secrets->v[i].kind, &err) != RT_OK)
      goto fail;
    int n = snprintf(names + used, names_size - used, "%s%s", i > 0 ? "," : "", secrets->v[i].name);
    if (n > 0 && (size_t)n < names_size - used)
      used += (size_t)n;
  }
  if (copy_bytes(&r->confirm_nonce, cs->nonce.data, cs->nonce.len) != 0 ||
      rt_confirm_seal(v->token_key, cs, &r->confirm_token.data, &r->confirm_token.len, &err) !=
          RT_OK)
    goto fail;
  rt_confirm_state_free(cs);
  return GRPC_STATUS_OK;
fail:
  rt_confirm_state_free(cs);
  return rt_deny(st, GRPC_STATUS_INTERNAL, "SECRET_DELIVERY", "delivering secrets failed");
}

void rt_deliver_secrets_free(Rattest__V1__FinishResponse *r) {
  for (size_t i = 0; i < r->n_secrets; i++) {
    Rattest__V1__DeliveredSecret *d = r->secrets[i];
    free(d->name);
    free(d->public_.data);
    free(d->duplicate.data);
    free(d->encrypted_seed.data);
    for (size_t j = 0; j < d->n_pcr_policy; j++) {
      if (d->pcr_policy[j] != NULL) {
        free(d->pcr_policy[j]->bank);
        free(d->pcr_policy[j]->pcrs);
      }
      free(d->pcr_policy[j]);
    }
    free(d->pcr_policy);
    for (size_t j = 0; j < d->n_certificates; j++)
      free(d->certificates[j].data);
    free(d->certificates);
    free(d);
  }
  free(r->secrets);
  free(r->confirm_token.data);
  free(r->confirm_nonce.data);
}
