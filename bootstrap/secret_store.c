#include "secret_store.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "idkey.h"
#include "rt_asn1_time.h"
#include "rt_file.h"
#include "rt_log.h"
#include "rt_pcrsel.h"
#include "rt_tpm_pub.h"
#include "rt_tss2key.h"

/* The files of one secret, in the order they are written. */
enum { F_PUB, F_PRIV, F_CERT, F_CHAIN, F_AK, F_KEY, N_FILES };

static void remove_files(char (*paths)[RT_STATE_PATH_MAX], size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (paths[i][0] != '\0' && unlink(paths[i]) != 0 && errno != ENOENT)
      rt_warn("cannot remove %s: %s", paths[i], strerror(errno));
  }
}

/* STATE_DIR/secrets, created 0700; a symlink or a file there is refused. */
static rt_code secrets_dir(const char *state_dir, char *out, size_t len, rt_err *err) {
  if ((size_t)snprintf(out, len, "%s/%s", state_dir, RT_SECRETS_SUBDIR) >= len)
    return rt_err_set(err, RT_E_INVALID, "state directory path too long");
  if (mkdir(out, 0700) != 0 && errno != EEXIST)
    return rt_err_set(err, RT_E_IO, "cannot create %s: %s", out, strerror(errno));
  struct stat sb;
  if (lstat(out, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return rt_err_set(err, RT_E_INVALID, "%s is not a directory", out);
  return RT_OK;
}

static rt_code write_blob(const char *path, const void *data, size_t len, rt_err *err) {
  rt_code code = rt_file_write_atomic(path, data, len, 0600, err);
  return code == RT_OK ? RT_OK : rt_err_prefix(err, "writing %s: ", path);
}

/* One DER certificate appended to a PEM buffer; *first gets the parsed
 * certificate when asked for. */
static rt_code append_pem(BIO *b, const rt_bytes *der, X509 **first) {
  const unsigned char *p = der->data;
  X509 *x = der->data ? d2i_X509(NULL, &p, (long)der->len) : NULL;
  int ok = x != NULL && p == der->data + der->len && PEM_write_bio_X509(b, x) == 1;
  if (ok && first != NULL)
    *first = x;
  else
    X509_free(x);
  return ok ? RT_OK : RT_E_INVALID;
}

/* The key's certificate and its chain as PEM, after checking the
 * certificate is for the delivered key. */
static rt_code cert_pems(const rt_secret_record *r, char **pem, size_t *pem_len, char **chain,
                         size_t *chain_len, time_t *not_after, rt_err *err) {
  BIO *b = BIO_new(BIO_s_mem()), *c = BIO_new(BIO_s_mem());
  X509 *x = NULL;
  char *data = NULL;
  long n = 0, m = 0;
  rt_code code = RT_OK;
  if (b == NULL || c == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  if (r->n_certs == 0 || append_pem(b, &r->certs[0], &x) != RT_OK) {
    code = rt_err_set(err, RT_E_INVALID, "the certificate of key %s does not parse", r->name);
    goto out;
  }
  for (size_t i = 1; i < r->n_certs; i++) {
    if (append_pem(c, &r->certs[i], NULL) != RT_OK) {
      code = rt_err_set(err, RT_E_INVALID, "certificate %zu of the chain of key %s does not parse",
                        i, r->name);
      goto out;
    }
  }
  if (!rt_tpm_pub_matches(&r->pub->publicArea, X509_get0_pubkey(x))) {
    code = rt_err_set(err, RT_E_INVALID, "the certificate of key %s is for another key", r->name);
    goto out;
  }
  if (!rt_asn1_time_unix(X509_get0_notAfter(x), not_after)) {
    code =
        rt_err_set(err, RT_E_INVALID, "the certificate of key %s has no usable notAfter", r->name);
    goto out;
  }
  n = BIO_get_mem_data(b, &data);
  *pem = malloc(n > 0 ? (size_t)n : 1);
  if (*pem != NULL && n > 0)
    memcpy(*pem, data, (size_t)n);
  m = BIO_get_mem_data(c, &data);
  *chain = malloc(m > 0 ? (size_t)m : 1);
  if (*chain != NULL && m > 0)
    memcpy(*chain, data, (size_t)m);
  if (*pem == NULL || *chain == NULL || n <= 0) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  *pem_len = (size_t)n;
  *chain_len = m > 0 ? (size_t)m : 0;
out:
  X509_free(x);
  BIO_free(b);
  BIO_free(c);
  return code;
}

/* What the state will say: the entry, and for an rsa-key its identity. */
static rt_code describe(const rt_secret_record *r, const char *dir, const char *tag,
                        time_t not_after, rt_secret_entry *s, rt_identity *id,
                        char (*paths)[RT_STATE_PATH_MAX], rt_err *err) {
  memset(s, 0, sizeof *s);
  memset(id, 0, sizeof *id);
  static const char *const suffix[N_FILES] = {".pub",       ".priv",   ".cert.pem",
                                              ".chain.pem", ".ak.pem", ".key.pem"};
  size_t n = r->type == RT_SECRET_TYPE_RSA_KEY ? N_FILES : F_CERT;
  for (size_t i = 0; i < N_FILES; i++) {
    paths[i][0] = '\0';
    if (i < n && (size_t)snprintf(paths[i], RT_STATE_PATH_MAX, "%s/%s-%s%s", dir, r->name, tag,
                                  suffix[i]) >= RT_STATE_PATH_MAX)
      return rt_err_set(err, RT_E_INVALID, "secret file path too long");
  }
  snprintf(s->name, sizeof s->name, "%s", r->name);
  s->type = r->type;
  memcpy(s->pub_file, paths[F_PUB], sizeof s->pub_file);
  memcpy(s->priv_file, paths[F_PRIV], sizeof s->priv_file);
  if (r->pcrs != NULL && r->pcrs->count > 0)
    rt_pcrsel_format(r->pcrs, s->pcrs, sizeof s->pcrs);
  rt_code code = rt_state_time_format(time(NULL), s->received_at, err);
  if (code != RT_OK || r->type != RT_SECRET_TYPE_RSA_KEY)
    return code;
  s->handle = r->handle;
  memcpy(s->cert_file, paths[F_CERT], sizeof s->cert_file);
  snprintf(id->name, sizeof id->name, "%s", r->name);
  id->handle = r->handle;
  memcpy(id->key_file, paths[F_KEY], sizeof id->key_file);
  memcpy(id->cert_file, paths[F_CERT], sizeof id->cert_file);
  memcpy(id->chain_file, paths[F_CHAIN], sizeof id->chain_file);
  memcpy(id->ak_cert_file, paths[F_AK], sizeof id->ak_cert_file);
  snprintf(id->algorithm, sizeof id->algorithm, "rsa-%u",
           (unsigned)r->pub->publicArea.parameters.rsaDetail.keyBits);
  snprintf(id->ek_sha256, sizeof id->ek_sha256, "%s", r->via->ek_sha256);
  snprintf(id->verifier, sizeof id->verifier, "%s", r->via->verifier);
  memcpy(id->enrolled_at, s->received_at, sizeof id->enrolled_at);
  return rt_state_time_format(not_after, id->not_after, err);
}

/* The rsa-key's files besides the blobs. */
static rt_code write_key_files(const rt_secret_record *r, char (*paths)[RT_STATE_PATH_MAX],
                               const char *pem, size_t pem_len, const char *chain, size_t chain_len,
                               rt_err *err) {
  rt_code code = write_blob(paths[F_CERT], pem, pem_len, err);
  if (code == RT_OK)
    code = write_blob(paths[F_CHAIN], chain, chain_len, err);
  /* A copy: the enrolled identity's files go when it is renewed. */
  uint8_t *ak = NULL;
  size_t ak_len = 0;
  if (code == RT_OK &&
      (code = rt_file_read(r->via->ak_cert_file, 1u << 20, &ak, &ak_len, err)) == RT_OK) {
    code = write_blob(paths[F_AK], ak, ak_len, err);
    free(ak);
  }
  if (code != RT_OK)
    return code;
  /* The key file names the EK as parent: only a loader that authorizes
   * the EK with PolicySecret(endorsement) can load it (tpm2-openssl cannot);
   * the key is used through its persistent handle. A PCR-bound key's file
   * carries its PolicyPCR, so any loader knows which session it needs. */
  rt_tss2key kf;
  memset(&kf, 0, sizeof kf);
  kf.type = RT_TSS2KEY_LOADABLE;
  kf.empty_auth = 1;
  kf.parent = r->ek_handle;
  kf.pub = *r->pub;
  kf.priv = *r->priv;
  if (r->pcrs != NULL && r->pcrs->count > 0) {
    if (r->pcr_digest == NULL)
      return rt_err_set(err, RT_E_INVALID, "key %s: PCR-bound without its PCR digest", r->name);
    kf.has_policy = kf.has_pcr_policy = 1;
    kf.policy_pcrs = *r->pcrs;
    kf.policy_pcr_digest = *r->pcr_digest;
  }
  code = rt_tss2key_write(paths[F_KEY], &kf, err);
  memset(&kf.priv, 0, sizeof kf.priv);
  return code == RT_OK ? RT_OK : rt_err_prefix(err, "writing %s: ", paths[F_KEY]);
}

/* The files a recorded secret (and its identity) use. */
static void files_of(const rt_secret_entry *s, const rt_identity *id,
                     char (*paths)[RT_STATE_PATH_MAX]) {
  const char *p[N_FILES] = {s->pub_file, s->priv_file, s->cert_file, "", "", ""};
  if (id != NULL) {
    p[F_CHAIN] = id->chain_file;
    p[F_AK] = id->ak_cert_file;
    p[F_KEY] = id->key_file;
  }
  for (size_t i = 0; i < N_FILES; i++)
    snprintf(paths[i], RT_STATE_PATH_MAX, "%s", p[i]);
}

/* One store in progress: where the files go, what the state will say, and
 * what it said before. */
typedef struct {
  char dir[RT_STATE_PATH_MAX];
  char tag[9]; /* random: this store's file names */
  char *pem, *chain;
  size_t pem_len, chain_len;
  rt_secret_entry s, prev;
  rt_identity id, prev_id;
  int have_prev, prev_key;
  char paths[N_FILES][RT_STATE_PATH_MAX];
  char old[N_FILES][RT_STATE_PATH_MAX];
} store_job;

/* Fresh file names: the previous files stay whole until the state no
 * longer points at them. */
static rt_code fresh_tag(char tag[9], rt_err *err) {
  uint8_t rnd[4];
  if (RAND_bytes(rnd, sizeof rnd) != 1)
    return rt_err_set(err, RT_E_CRYPTO, "RAND_bytes failed");
  snprintf(tag, 9, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
  return RT_OK;
}

/* Everything the state will say, checked before a file is written; and the
 * entry it replaces. */
static rt_code plan(const rt_state *st, const char *state_dir, const rt_secret_record *r,
                    store_job *j, rt_err *err) {
  rt_code code = secrets_dir(state_dir, j->dir, sizeof j->dir, err);
  if (code != RT_OK || (code = fresh_tag(j->tag, err)) != RT_OK)
    return code;
  time_t not_after = 0;
  if (r->type == RT_SECRET_TYPE_RSA_KEY &&
      (code = cert_pems(r, &j->pem, &j->pem_len, &j->chain, &j->chain_len, &not_after, err)) !=
          RT_OK)
    return code;
  if ((code = describe(r, j->dir, j->tag, not_after, &j->s, &j->id, j->paths, err)) != RT_OK ||
      (code = rt_state_check_secret(&j->s, err)) != RT_OK ||
      (r->type == RT_SECRET_TYPE_RSA_KEY && (code = rt_state_check_identity(&j->id, err)) != RT_OK))
    return rt_err_prefix(err, "secret %s: ", r->name);
  j->have_prev = rt_state_secret_get(st, r->name, &j->prev, NULL) == RT_OK;
  j->prev_key = j->have_prev && j->prev.type == RT_SECRET_TYPE_RSA_KEY &&
                rt_state_get(st, r->name, &j->prev_id, NULL) == RT_OK;
  return RT_OK;
}

/* The public area and this TPM's private blob, each marshalled alone. */
static rt_code write_blobs(const rt_secret_record *r, char (*paths)[RT_STATE_PATH_MAX],
                           rt_err *err) {
  uint8_t buf[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(r->pub, buf, sizeof buf, &off) != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "secret %s: the public area does not marshal", r->name);
  rt_code code = write_blob(paths[F_PUB], buf, off, err);
  if (code != RT_OK)
    return code;
  off = 0;
  if (Tss2_MU_TPM2B_PRIVATE_Marshal(r->priv, buf, sizeof buf, &off) != TSS2_RC_SUCCESS)
    code = rt_err_set(err, RT_E_INVALID, "secret %s: the private blob does not marshal", r->name);
  else
    code = write_blob(paths[F_PRIV], buf, off, err);
  OPENSSL_cleanse(buf, sizeof buf);
  return code;
}

/* Puts the entry and saves the state; when saving fails, memory goes back
 * to what is still on disk. */
static rt_code record(rt_state *st, const rt_secret_record *r, const store_job *j, rt_err *err) {
  rt_code code =
      rt_state_secret_put(st, &j->s, r->type == RT_SECRET_TYPE_RSA_KEY ? &j->id : NULL, err);
  if (code != RT_OK || (code = rt_state_save(st, err)) == RT_OK)
    return code;
  rt_err ignored;
  if (j->have_prev)
    rt_state_secret_put(st, &j->prev, j->prev_key ? &j->prev_id : NULL, &ignored);
  else
    rt_state_secret_remove(st, r->name, &ignored);
  return code;
}

rt_code rt_secret_store(rt_state *st, const char *state_dir, const rt_secret_record *r,
                        rt_err *err) {
  if (rt_name_check(r->name, err) != RT_OK)
    return rt_err_prefix(err, "secret: ");
  if (r->type == RT_SECRET_TYPE_RSA_KEY && r->via == NULL)
    return rt_err_set(err, RT_E_INVALID, "secret %s: an rsa-key needs the enrolled identity",
                      r->name);
  /* Paths and entries make this too large for the stack. */
  store_job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  int written = 0;
  rt_code code = plan(st, state_dir, r, j, err);
  if (code != RT_OK)
    goto out;
  written = 1;
  if ((code = write_blobs(r, j->paths, err)) != RT_OK ||
      (r->type == RT_SECRET_TYPE_RSA_KEY &&
       (code = write_key_files(r, j->paths, j->pem, j->pem_len, j->chain, j->chain_len, err)) !=
           RT_OK) ||
      (code = record(st, r, j, err)) != RT_OK)
    goto out;
  written = 0; /* in use now */
  if (j->have_prev) {
    files_of(&j->prev, j->prev_key ? &j->prev_id : NULL, j->old);
    remove_files(j->old, N_FILES);
  }
out:
  if (written)
    remove_files(j->paths, N_FILES);
  free(j->pem);
  free(j->chain);
  free(j);
  return code;
}

/* One file holding exactly one marshalled structure. */
static rt_code read_exact(const char *path, uint8_t **data, size_t *len, rt_err *err) {
  rt_code code = rt_file_read(path, sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE), data, len, err);
  return code == RT_OK ? RT_OK : rt_err_prefix(err, "secret blob: ");
}

rt_code rt_secret_load_blobs(const rt_secret_entry *s, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv,
                             rt_err *err) {
  uint8_t *data = NULL;
  size_t len = 0, off = 0;
  rt_code code = read_exact(s->pub_file, &data, &len, err);
  if (code != RT_OK)
    return code;
  memset(pub, 0, sizeof *pub);
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(data, len, &off, pub) != TSS2_RC_SUCCESS || off != len)
    code = rt_err_set(err, RT_E_INVALID, "%s is not one marshalled TPM2B_PUBLIC", s->pub_file);
  free(data);
  if (code != RT_OK)
    return code;
  data = NULL;
  off = 0;
  if ((code = read_exact(s->priv_file, &data, &len, err)) != RT_OK)
    return code;
  memset(priv, 0, sizeof *priv);
  if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(data, len, &off, priv) != TSS2_RC_SUCCESS || off != len)
    code = rt_err_set(err, RT_E_INVALID, "%s is not one marshalled TPM2B_PRIVATE", s->priv_file);
  free(data);
  return code;
}

/* Handles the state already gives to an identity or a secret. */
typedef struct {
  uint32_t h[512];
  size_t n;
} used_handles;

static int note_identity(const rt_identity *id, void *ctx) {
  used_handles *u = ctx;
  if (u->n < sizeof u->h / sizeof u->h[0])
    u->h[u->n++] = id->handle;
  return 0;
}

static int note_secret(const rt_secret_entry *s, void *ctx) {
  used_handles *u = ctx;
  if (s->type == RT_SECRET_TYPE_RSA_KEY && u->n < sizeof u->h / sizeof u->h[0])
    u->h[u->n++] = s->handle;
  return 0;
}

rt_code rt_secret_choose_handle(rt_tpm *tpm, const rt_state *st, const char *name,
                                const TPM2B_PUBLIC *delivered, uint32_t *handle, TPM2B_PUBLIC *ours,
                                int *have_ours, rt_err *err) {
  *have_ours = 0;
  rt_secret_entry s;
  if (rt_state_secret_get(st, name, &s, NULL) == RT_OK && s.type == RT_SECRET_TYPE_RSA_KEY) {
    TPM2B_PRIVATE priv;
    *handle = s.handle;
    /* Without its public area the object there cannot be shown to be ours:
     * it then counts as foreign and stays. */
    *have_ours = rt_secret_load_blobs(&s, ours, &priv, NULL) == RT_OK;
    OPENSSL_cleanse(&priv, sizeof priv);
    return RT_OK;
  }
  used_handles *u = calloc(1, sizeof *u);
  if (u == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  rt_code code = rt_state_foreach(st, note_identity, u, err);
  if (code == RT_OK)
    code = rt_state_secret_foreach(st, note_secret, u, err);
  for (uint32_t h = RT_SECRET_HANDLE_FIRST; code == RT_OK && h <= RT_SECRET_HANDLE_LAST; h++) {
    int taken = 0;
    for (size_t i = 0; i < u->n && !taken; i++)
      taken = u->h[i] == h;
    rt_handle_owner owner;
    if (taken || (code = rt_handle_owner_of(tpm, h, delivered, &owner, err)) != RT_OK ||
        owner == RT_HANDLE_FOREIGN)
      continue;
    *handle = h;
    if (owner == RT_HANDLE_OURS) {
      *ours = *delivered;
      *have_ours = 1;
    }
    free(u);
    return RT_OK;
  }
  free(u);
  if (code != RT_OK)
    return code;
  return rt_err_set(err, RT_E_NOT_FOUND, "no free persistent handle in 0x%08x-0x%08x for key %s",
                    RT_SECRET_HANDLE_FIRST, RT_SECRET_HANDLE_LAST, name);
}
