/* The secrets Finish delivered: each is imported under the EK, opened and
 * recorded (secret_receive.c), then one Confirm proves receipt of all of
 * them to the verifier. A secret that cannot be received stops here: the
 * verifier's audit shows a delivery without confirmation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "enroll_steps.h"
#include "rt_methods.h"
#include "rt_pcrsel.h"
#include "secret_receive.h"

/* The delivered secret as the TPM code takes it (certificates apart). */
static int read_delivery(const Rattest__V1__DeliveredSecret *ds, rt_secret_delivery *d) {
  memset(d, 0, sizeof *d);
  d->name = ds->name;
  d->type = ds->kind == RATTEST__V1__SECRET_KIND__SECRET_KIND_RSA_KEY ? RT_SECRET_TYPE_RSA_KEY
                                                                      : RT_SECRET_TYPE_SEALED;
  if (ds->kind != RATTEST__V1__SECRET_KIND__SECRET_KIND_SEALED &&
      ds->kind != RATTEST__V1__SECRET_KIND__SECRET_KIND_RSA_KEY)
    return rt_enroll_fail(ds->name, "unknown secret kind");
  size_t off = 0, off2 = 0, off3 = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ds->public_.data, ds->public_.len, &off, &d->pub) != 0 ||
      off != ds->public_.len ||
      Tss2_MU_TPM2B_PRIVATE_Unmarshal(ds->duplicate.data, ds->duplicate.len, &off2, &d->dup) != 0 ||
      off2 != ds->duplicate.len ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(ds->encrypted_seed.data, ds->encrypted_seed.len,
                                               &off3, &d->seed) != 0 ||
      off3 != ds->encrypted_seed.len)
    return rt_enroll_fail(ds->name, "the delivered secret is malformed");
  rt_err err;
  for (size_t b = 0; b < ds->n_pcr_policy; b++) {
    TPMI_ALG_HASH bank = rt_pcr_bank_parse(ds->pcr_policy[b]->bank);
    for (size_t k = 0; k < ds->pcr_policy[b]->n_pcrs; k++)
      if (rt_pcrsel_add(&d->pcrs, bank, ds->pcr_policy[b]->pcrs[k], &err) != RT_OK)
        return rt_enroll_fail(ds->name, err.msg);
  }
  return 0;
}

static void print_received(const rt_secret_delivery *d, uint32_t handle) {
  if (handle != 0)
    printf("secret %s: RSA key imported into the TPM at 0x%08x (rattest:%s)\n", d->name,
           (unsigned)handle, d->name);
  else
    printf("secret %s: sealed secret imported%s (rattest-bootstrap unseal %s)\n", d->name,
           d->pcrs.count > 0 ? ", bound to PCR values" : "", d->name);
}

/* Imports, opens and records one secret; *blob is its proof of receipt,
 * which *proof points at. */
static int receive_one(rt_enrollment *e, const rt_identity *via,
                       const Rattest__V1__DeliveredSecret *ds, rt_bytes *blob,
                       Rattest__V1__SecretProof *proof) {
  const Rattest__V1__FinishResponse *r = e->result;
  rt_secret_delivery d;
  if (read_delivery(ds, &d) != 0)
    return 1;
  rt_bytes *certs = calloc(ds->n_certificates + 1, sizeof *certs);
  if (certs == NULL)
    return rt_enroll_fail("secrets", "out of memory");
  for (size_t k = 0; k < ds->n_certificates; k++)
    certs[k] = (rt_bytes){ds->certificates[k].data, ds->certificates[k].len};
  d.certs = certs;
  d.n_certs = ds->n_certificates;
  rt_err err;
  uint32_t handle = 0;
  rt_code code =
      rt_secret_receive(e->tpm, &e->ek, e->state, e->o->state_dir, via, &d, r->confirm_nonce.data,
                        r->confirm_nonce.len, blob, &handle, &err);
  free(certs);
  if (code != RT_OK)
    return rt_enroll_fail(ds->name, err.msg);
  rattest__v1__secret_proof__init(proof);
  proof->name = ds->name;
  if (d.type == RT_SECRET_TYPE_SEALED)
    proof->hmac = (ProtobufCBinaryData){blob->len, blob->data};
  else
    proof->signature = (ProtobufCBinaryData){blob->len, blob->data};
  print_received(&d, handle);
  return 0;
}

/* Like Finish, Confirm's token is single use: retried only when the
 * verifier was unreachable. */
static int confirm(rt_enrollment *e, Rattest__V1__SecretProof **proofs, size_t n,
                   uint64_t deadline) {
  Rattest__V1__ConfirmRequest req = RATTEST__V1__CONFIRM_REQUEST__INIT;
  req.confirm_token = e->result->confirm_token;
  req.proofs = proofs;
  req.n_proofs = n;
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  grpc_status_code s =
      rt_enroll_call(e, RT_METHOD_CONFIRM, &req.base, &rattest__v1__confirm_response__descriptor,
                     deadline, 0, &resp, &res);
  if (s != GRPC_STATUS_OK)
    return rt_enroll_fail_rpc(e, "the proofs of receipt", &res);
  printf("the verifier confirmed receipt of %zu secret(s)\n",
         ((Rattest__V1__ConfirmResponse *)resp)->n_confirmed);
  protobuf_c_message_free_unpacked(resp, NULL);
  return 0;
}

/* Each secret received, then one Confirm for all. */
static int receive_and_confirm(rt_enrollment *e, uint64_t deadline) {
  const Rattest__V1__FinishResponse *r = e->result;
  rt_err err;
  rt_identity via;
  if (rt_state_get(e->state, e->o->name, &via, &err) != RT_OK ||
      rt_ek_load(e->tpm, &e->ek, &err) != RT_OK)
    return rt_enroll_fail("secrets", err.msg);
  Rattest__V1__SecretProof *proofs = calloc(r->n_secrets, sizeof *proofs);
  Rattest__V1__SecretProof **ptrs = calloc(r->n_secrets, sizeof *ptrs);
  rt_bytes *blobs = calloc(r->n_secrets, sizeof *blobs);
  int rc = 1;
  if (proofs == NULL || ptrs == NULL || blobs == NULL) {
    rt_enroll_fail("secrets", "out of memory");
    goto out;
  }
  for (size_t i = 0; i < r->n_secrets; i++) {
    if (receive_one(e, &via, r->secrets[i], &blobs[i], &proofs[i]) != 0)
      goto out;
    ptrs[i] = &proofs[i];
  }
  rc = confirm(e, ptrs, r->n_secrets, deadline);
out:
  for (size_t i = 0; blobs != NULL && i < r->n_secrets; i++)
    rt_bytes_free(&blobs[i]);
  free(blobs);
  free(proofs);
  free(ptrs);
  return rc;
}

void rt_enroll_pending_path(const rt_enroll_opts *o, char *path, size_t size) {
  snprintf(path, size, "%s/%s.secrets-pending", o->state_dir, o->name);
}

int rt_enroll_secrets(rt_enrollment *e, uint64_t deadline) {
  /* With none delivered, a marker an earlier run left is done with too. */
  int rc = e->result->n_secrets == 0 ? 0 : receive_and_confirm(e, deadline);
  char pending[RT_STATE_PATH_MAX + 32];
  rt_enroll_pending_path(e->o, pending, sizeof pending);
  if (rc == 0 && unlink(pending) != 0 && errno != ENOENT)
    return rt_enroll_fail(pending, strerror(errno));
  return rc;
}
