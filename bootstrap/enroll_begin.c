/* Begin: the machine names its EK (certificates, public area, intermediates
 * and platform certificate) and its AK; the verifier answers with a
 * credential for the AK and the PCRs it demands. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include "enroll_steps.h"
#include "rt_file.h"
#include "rt_methods.h"

#define MAX_INTERMEDIATES RT_MAX_EK_CHAIN

/* The EK intermediates a machine may carry for a verifier that only trusts
 * the manufacturer's root: DER certificates from a PEM bundle, appended to
 * out[*n]. */
static rt_code read_intermediates(const char *path, ProtobufCBinaryData *out, size_t *n,
                                  rt_err *err) {
  size_t first = *n;
  uint8_t *pem = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, 1u << 20, &pem, &len, err);
  if (code != RT_OK)
    return rt_err_prefix(err, "--ek-intermediates: ");
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  X509 *x;
  while (bio != NULL && *n < MAX_INTERMEDIATES &&
         (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    X509_free(x);
    if (dlen <= 0)
      break;
    out[*n].data = der;
    out[*n].len = (size_t)dlen;
    (*n)++;
  }
  BIO_free(bio);
  free(pem);
  ERR_clear_error();
  if (*n == first && first < MAX_INTERMEDIATES)
    return rt_err_set(err, RT_E_INVALID, "--ek-intermediates: %s holds no PEM certificate", path);
  return RT_OK;
}

int rt_enroll_begin(rt_enrollment *e, uint64_t deadline) {
  rt_err err;
  Rattest__V1__BeginRequest req = RATTEST__V1__BEGIN_REQUEST__INIT;
  Rattest__V1__EkCertificate certs[RT_MAX_EK_CERTS], *cert_ptrs[RT_MAX_EK_CERTS];
  req.name = (char *)e->o->name;
  for (size_t i = 0; i < e->ek.n_certs; i++) {
    rattest__v1__ek_certificate__init(&certs[i]);
    certs[i].nv_index = e->ek.certs[i].nv_index;
    certs[i].der.data = e->ek.certs[i].der;
    certs[i].der.len = e->ek.certs[i].len;
    cert_ptrs[i] = &certs[i];
  }
  req.n_ek_certs = e->ek.n_certs;
  req.ek_certs = cert_ptrs;
  req.platform_cert.data = e->platform_cert;
  req.platform_cert.len = e->platform_cert_len;
  req.key_algorithm = e->o->key_alg == RT_ALG_RSA_2048
                          ? RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_RSA_2048
                          : RATTEST__V1__KEY_ALGORITHM__KEY_ALGORITHM_ECC_P256;
  int rc = 1;
  /* The TPM's own chain first, then the operator's file. */
  ProtobufCBinaryData inters[MAX_INTERMEDIATES];
  size_t n_chain = e->chain.n, n_inters = n_chain;
  for (size_t i = 0; i < n_chain; i++)
    inters[i] = (ProtobufCBinaryData){e->chain.certs[i].len, e->chain.certs[i].der};
  if (e->o->ek_intermediates != NULL &&
      read_intermediates(e->o->ek_intermediates, inters, &n_inters, &err) != RT_OK) {
    rt_enroll_fail("Begin", err.msg);
    goto out;
  }
  req.ek_intermediates = inters;
  req.n_ek_intermediates = n_inters;
  if (rt_enroll_marshal_public(&e->ek.pub, &req.ek_public, &err) != RT_OK ||
      rt_enroll_marshal_public(&e->ak.pub, &req.ak_public, &err) != RT_OK) {
    rt_enroll_fail("Begin", err.msg);
    goto out;
  }
  ProtobufCMessage *resp = NULL;
  rt_rpc_result res;
  grpc_status_code s =
      rt_enroll_call(e, RT_METHOD_BEGIN, &req.base, &rattest__v1__begin_response__descriptor,
                     deadline, 1, &resp, &res);
  if (s != GRPC_STATUS_OK) {
    rt_enroll_fail_rpc(e, "Begin", &res);
    goto out;
  }
  e->challenge = (Rattest__V1__BeginResponse *)resp;
  rc = 0;
out:
  for (size_t i = n_chain; i < n_inters; i++)
    OPENSSL_free(inters[i].data);
  free(req.ek_public.data);
  free(req.ak_public.data);
  return rc;
}
