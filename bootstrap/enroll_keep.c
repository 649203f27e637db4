/* Keeping what the verifier issued: the identity key made persistent, its
 * TSS2 key file, its certificate, chain and the AK certificate as PEM files,
 * and the state entry that links them, written last. */
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enroll_steps.h"
#include "rt_asn1_time.h"
#include "rt_file.h"
#include "rt_log.h"
#include "rt_tpm_pub.h"
#include "rt_tss2key.h"

/* What the verifier issued, as PEM, and the key's certificate parsed. */
typedef struct {
  char *cert_pem, *chain_pem, *ak_pem;
  size_t cert_len, chain_len, ak_len;
  X509 *cert;
} issued;

static void issued_free(issued *is) {
  X509_free(is->cert);
  free(is->cert_pem);
  free(is->chain_pem);
  free(is->ak_pem);
}

/* PEM of one DER certificate, appended to a growing buffer. */
static int append_pem(char **buf, size_t *len, const ProtobufCBinaryData *der, X509 **keep) {
  const unsigned char *p = der->data;
  X509 *x = d2i_X509(NULL, &p, (long)der->len);
  if (x == NULL)
    return -1;
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL;
  long n = 0;
  int ok = b != NULL && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &data)) > 0;
  if (ok) {
    char *nb = realloc(*buf, *len + (size_t)n + 1);
    if (nb == NULL) {
      ok = 0;
    } else {
      memcpy(nb + *len, data, (size_t)n);
      *len += (size_t)n;
      nb[*len] = '\0';
      *buf = nb;
    }
  }
  BIO_free(b);
  if (ok && keep != NULL)
    *keep = x;
  else
    X509_free(x);
  return ok ? 0 : -1;
}

/* A certificate for any other key than ours is worthless (or an attack):
 * checked before anything is written. */
static int read_issued(const rt_enrollment *e, issued *is) {
  const Rattest__V1__FinishResponse *r = e->result;
  if (append_pem(&is->cert_pem, &is->cert_len, &r->key_certificate, &is->cert) != 0 ||
      append_pem(&is->ak_pem, &is->ak_len, &r->ak_certificate, NULL) != 0)
    return rt_enroll_fail("result", "the verifier's certificates do not parse");
  for (size_t i = 0; i < r->n_ca_chain; i++)
    if (append_pem(&is->chain_pem, &is->chain_len, &r->ca_chain[i], NULL) != 0)
      return rt_enroll_fail("result", "the verifier's CA chain does not parse");
  rt_err err;
  EVP_PKEY *ours = NULL;
  int same = rt_tpm_pub_to_evp(&e->key.pub.publicArea, &ours, &err) == RT_OK &&
             EVP_PKEY_eq(X509_get0_pubkey(is->cert), ours) == 1;
  EVP_PKEY_free(ours);
  if (!same)
    return rt_enroll_fail("result", "the issued certificate is not for the key this TPM holds");
  return 0;
}

/* The certificate's serial, its last 16 hex digits in lowercase. */
static void serial_tag(const X509 *cert, char serial[17]) {
  serial[0] = '\0';
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  if (hex != NULL)
    snprintf(serial, 17, "%s", hex + (strlen(hex) > 16 ? strlen(hex) - 16 : 0));
  OPENSSL_free(hex);
  BN_free(bn);
  for (char *c = serial; *c; c++)
    *c = (char)tolower((unsigned char)*c);
}

/* The EK identity is the one the verifier certified (SAN URI). */
static void certified_ek(const X509 *cert, char *out, size_t len) {
  const char *urn = "urn:rattest:ek:sha256:";
  GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_URI) {
      const char *u = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
      if (strncmp(u, urn, strlen(urn)) == 0)
        snprintf(out, len, "%s", u + strlen(urn));
    }
  }
  GENERAL_NAMES_free(sans);
}

/* What the state will record for the issued certificate. */
static int describe_identity(const rt_enrollment *e, const X509 *cert, rt_identity *id) {
  memset(id, 0, sizeof *id);
  snprintf(id->name, sizeof id->name, "%s", e->o->name);
  id->handle = e->o->handle;
  /* Each enrollment writes files of its own (named after the certificate's
   * serial): the previous identity stays complete on disk until the state
   * file points at the new one, whatever fails in between. */
  char serial[17];
  serial_tag(cert, serial);
  const char *d = e->o->state_dir, *n = e->o->name;
  snprintf(id->key_file, sizeof id->key_file, "%s/%s-%s.key.pem", d, n, serial);
  snprintf(id->cert_file, sizeof id->cert_file, "%s/%s-%s.cert.pem", d, n, serial);
  snprintf(id->chain_file, sizeof id->chain_file, "%s/%s-%s.chain.pem", d, n, serial);
  snprintf(id->ak_cert_file, sizeof id->ak_cert_file, "%s/%s-%s.ak.pem", d, n, serial);
  snprintf(id->algorithm, sizeof id->algorithm, "%s", rt_key_alg_name(e->o->key_alg));
  snprintf(id->verifier, sizeof id->verifier, "%s", e->o->verifier);
  certified_ek(cert, id->ek_sha256, sizeof id->ek_sha256);
  rt_err err;
  time_t not_after = 0;
  (void)rt_asn1_time_unix(X509_get0_notAfter(cert), &not_after);
  if (rt_state_time_format(not_after, id->not_after, &err) != RT_OK ||
      rt_state_time_format(time(NULL), id->enrolled_at, &err) != RT_OK)
    return rt_enroll_fail("state", err.msg);
  return 0;
}

static int write_key_file(const rt_enrollment *e, const rt_identity *id) {
  rt_err err;
  rt_tss2key kf;
  memset(&kf, 0, sizeof kf);
  kf.type = RT_TSS2KEY_LOADABLE;
  kf.empty_auth = 1;
  kf.parent = 0x40000001u; /* the standard SRK, as rt_idkey_create used */
  kf.pub = e->key.pub;
  kf.priv = e->key.priv;
  /* No description: tpm2-openssl 1.1.1 (Debian 12) predates that field of
   * the key-file format and refuses files that carry it. */
  if (rt_tss2key_write(id->key_file, &kf, &err) != RT_OK)
    return rt_enroll_fail("writing the key file", err.msg);
  return 0;
}

static int write_pem_file(const char *path, const char *pem, size_t len) {
  rt_err err;
  if (rt_file_write_atomic(path, pem, len, 0600, &err) != RT_OK)
    return rt_enroll_fail("writing", err.msg);
  return 0;
}

static int write_cert_files(const rt_identity *id, const issued *is) {
  if (write_pem_file(id->cert_file, is->cert_pem, is->cert_len) != 0 ||
      write_pem_file(id->chain_file, is->chain_pem ? is->chain_pem : "", is->chain_len) != 0 ||
      write_pem_file(id->ak_cert_file, is->ak_pem, is->ak_len) != 0)
    return 1;
  return 0;
}

/* Removes an identity's files, except those `keep` also uses. */
static void remove_identity_files(const rt_identity *id, const rt_identity *keep) {
  const char *files[] = {id->key_file, id->cert_file, id->chain_file, id->ak_cert_file};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (keep != NULL &&
        (strcmp(files[i], keep->key_file) == 0 || strcmp(files[i], keep->cert_file) == 0 ||
         strcmp(files[i], keep->chain_file) == 0 || strcmp(files[i], keep->ak_cert_file) == 0))
      continue;
    if (unlink(files[i]) != 0 && errno != ENOENT)
      rt_warn("cannot remove %s: %s", files[i], strerror(errno));
  }
}

/* The key the state recorded at --handle (ours to replace there), in *buf;
 * NULL when it recorded none. */
static const TPM2B_PUBLIC *recorded_at_handle(const rt_enrollment *e, const rt_identity *previous,
                                              TPM2B_PUBLIC *buf) {
  rt_err err;
  rt_tss2key k;
  if (previous == NULL || previous->handle != e->o->handle ||
      rt_tss2key_read(previous->key_file, &k, &err) != RT_OK)
    return NULL;
  *buf = k.pub;
  return buf;
}

int rt_enroll_handle_usable(rt_enrollment *e, const rt_identity *previous) {
  rt_err err;
  TPM2B_PUBLIC buf;
  rt_handle_owner owner;
  if (rt_idkey_handle_usable(e->tpm, e->o->handle, recorded_at_handle(e, previous, &buf),
                             e->o->force, &owner, &err) != RT_OK)
    return rt_enroll_fail("--handle", err.msg);
  return 0;
}

int rt_enroll_restore(rt_enrollment *e, const rt_identity *previous) {
  rt_err err;
  rt_tss2key k;
  rt_handle_owner owner;
  int restored = 0;
  /* Without its key file there is nothing to restore from (the run enrolls
   * again); a TPM that cannot say what is at the handle fails the run. */
  if (previous == NULL || rt_tss2key_read(previous->key_file, &k, &err) != RT_OK)
    return 0;
  if (rt_handle_owner_of(e->tpm, previous->handle, &k.pub, &owner, &err) != RT_OK) {
    OPENSSL_cleanse(&k.priv, sizeof k.priv);
    return rt_enroll_fail("restoring the recorded key", err.msg);
  }
  /* A key that no longer loads (the TPM was cleared: another SRK) is not
   * restored either: the run enrolls again, as it did before restoring. */
  if (owner == RT_HANDLE_FREE &&
      rt_idkey_restore(e->tpm, &k.pub, &k.priv, previous->handle, &restored, &err) != RT_OK)
    rt_warn("cannot restore the key of identity \"%s\" at 0x%08x: %s", previous->name,
            (unsigned)previous->handle, err.msg);
  OPENSSL_cleanse(&k.priv, sizeof k.priv);
  if (restored)
    printf("restored the key of identity \"%s\" at handle 0x%08x from %s (a run stopped "
           "between replacing it and recording its successor)\n",
           previous->name, (unsigned)previous->handle, previous->key_file);
  return 0;
}

/* After persisting failed, the TPM is asked (through a fresh ESYS context:
 * after a lost answer the enrollment's refuses every command) what is at
 * the handle. The new key: the TPM did it and only its answer was lost, so
 * the run goes on (0). Else the run fails (1), and a previous key that went
 * out goes back in, so that the handle holds what the state records. */
static int settle_failed_persist(rt_enrollment *e, const rt_identity *previous, int replaced,
                                 const char *msg) {
  rt_err err;
  rt_tpm *view = NULL, *mine = e->tpm;
  rt_handle_owner owner = RT_HANDLE_FREE;
  if (rt_tpm_view(e->tpm, &view, &err) == RT_OK &&
      rt_handle_owner_of(view, e->o->handle, &e->key.pub, &owner, &err) == RT_OK &&
      owner == RT_HANDLE_OURS) {
    rt_warn("persisting the key: %s; the TPM holds it at 0x%08x all the same (its answer was "
            "lost)",
            msg, (unsigned)e->o->handle);
    rt_tpm_view_close(view);
    return 0;
  }
  rt_enroll_fail("persisting the key", msg);
  if (replaced && view != NULL) {
    /* The new key's slot is needed to load the old one. */
    rt_idkey_close(e->tpm, &e->key);
    e->tpm = view;
    (void)rt_enroll_restore(e, previous);
    e->tpm = mine;
  }
  rt_tpm_view_close(view);
  return 1;
}

/* Only once the files are complete the TPM: the key makes the one
 * previously recorded at the handle (ours to replace) give way; then the
 * state, which only ever points at files that are complete. When the new
 * key cannot go in after the old one went out, the old one goes back, so
 * the handle holds what the state records. */
static int persist_and_record(rt_enrollment *e, const rt_identity *id,
                              const rt_identity *previous) {
  rt_err err;
  TPM2B_PUBLIC old_pub;
  const TPM2B_PUBLIC *old = recorded_at_handle(e, previous, &old_pub);
  if (rt_idkey_persist(e->tpm, &e->key, e->o->handle, old, e->o->force, &err) != RT_OK &&
      settle_failed_persist(e, previous, old != NULL, err.msg) != 0)
    return 1;
  /* Before the state names the new identity: no run may find it "enrolled"
   * while the secrets delivered with it are still to be received. */
  char pending[RT_STATE_PATH_MAX + 32];
  rt_enroll_pending_path(e->o, pending, sizeof pending);
  if (e->result->n_secrets > 0 && rt_file_write_atomic(pending, "", 0, 0600, &err) != RT_OK)
    return rt_enroll_fail("state", err.msg);
  if (rt_state_put(e->state, id, &err) != RT_OK || rt_state_save(e->state, &err) != RT_OK)
    return rt_enroll_fail("state", err.msg);
  return 0;
}

int rt_enroll_keep(rt_enrollment *e, const rt_identity *previous) {
  issued is;
  memset(&is, 0, sizeof is);
  rt_identity id;
  const rt_identity *written = NULL; /* files to remove if we fail */
  int rc = 1;
  if (read_issued(e, &is) != 0 || describe_identity(e, is.cert, &id) != 0 ||
      write_key_file(e, &id) != 0)
    goto out;
  written = &id;
  if (write_cert_files(&id, &is) != 0 || persist_and_record(e, &id, previous) != 0)
    goto out;
  written = NULL; /* in use now */
  if (previous != NULL)
    remove_identity_files(previous, &id);
  printf("enrolled identity \"%s\": %s key at handle 0x%08x, valid until %s\n"
         "  key file  %s\n  cert      %s\n  chain     %s\n  EK        sha256:%s\n",
         id.name, id.algorithm, (unsigned)id.handle, id.not_after, id.key_file, id.cert_file,
         id.chain_file, id.ek_sha256);
  rc = 0;
out:
  if (written != NULL)
    remove_identity_files(written, NULL);
  issued_free(&is);
  return rc;
}
