/* Provider context shared by every operation of the rattest provider, and the
 * key object the operations pass between them. */
#ifndef RT_PROVIDER_H
#define RT_PROVIDER_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include <openssl/macros.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <tss2/tss2_esys.h>

#include "rt_err.h"
#include "rt_state.h"
#include "rt_tpm.h"
#include "rt_tss2key.h"

/* Environment variable naming the state directory when openssl.cnf does not. */
#define RT_STATE_DIR_ENV "RATTEST_STATE_DIR"

/* Property query for the software operations we delegate (digests, public
 * keys): anything but ourselves, so a fetch never comes back into this
 * provider whatever order the application loaded providers in. */
#define RT_PROPQ_OTHERS "provider!=rattest"

/* The lock (and state) of a TPM connection, in memory shared with forked
 * children (tpmconn.c). */
typedef struct rt_prov_conn rt_prov_conn;

typedef struct rt_provctx {
  const OSSL_CORE_HANDLE *handle;
  /* Child library context of the core, for the software operations
   * (digests, public keys, BIOs) the operations delegate. */
  OSSL_LIB_CTX *libctx;
  OSSL_FUNC_core_new_error_fn *core_new_error;
  OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
  OSSL_FUNC_core_vset_error_fn *core_vset_error;
  /* From openssl.cnf ("" when absent). */
  char tcti[256];
  char state_dir[4096];
  /* Guards the lazy software copy of keys' public parts (rt_key_soft),
   * which threads signing with one key object may ask for at once. */
  pthread_mutex_t soft_lock;
  /* Random per process: tags what our PEM decoder hands our key decoder
   * (decoder.c), so no input from outside can pose as it. */
  unsigned char tag[16];
  /* One TPM connection per provider instance, opened on first use and
   * shared with the processes forked after that (tpmconn.c). ESYS is not
   * thread-safe and a shared connection must not interleave commands, so
   * every TPM command runs under the lock in `conn`, which lives in shared
   * memory. `pid` is the process that opened `tpm` (only it closes it).
   * A provider instance opens at most one connection per process, so key
   * objects' handles stay valid for its life, in forked children too. */
  _Atomic(rt_prov_conn *) conn;
  rt_prov_conn *conn_retired;
  rt_tpm *tpm;
  pid_t pid;
  /* The SRK's context, saved at the first key-file load (key.c, srk_get);
   * NULL until then. Used under the connection's lock. */
  TPMS_CONTEXT *srk_saved;
  /* The process's list of provider instances (tpmconn.c). */
  struct rt_provctx *next;
} rt_provctx;

rt_provctx *rt_provctx_new(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in);
void rt_provctx_free(rt_provctx *ctx);

/* Sets up and tears down the connection part of ctx (tpmconn.c); init
 * returns 0 on failure. */
int rt_prov_conn_init(rt_provctx *ctx);
void rt_prov_conn_free(rt_provctx *ctx);

/* Locks the provider's TPM connection and opens it if needed. A process
 * forked after the opening shares it (and the keys loaded in it). On success
 * the caller owns the lock until rt_prov_tpm_release; on failure the lock is
 * not held. */
rt_code rt_prov_tpm_acquire(rt_provctx *ctx, rt_tpm **tpm, rt_err *err);
void rt_prov_tpm_release(rt_provctx *ctx);

/* The state directory: provider parameter, else $RATTEST_STATE_DIR, else
 * /var/lib/rattest. */
const char *rt_prov_state_dir(const rt_provctx *ctx);

/* The reason code an rt_code is raised with, named by the provider's reason
 * strings (provider.c). Reason 0 is where OpenSSL's string table keeps the
 * library's own name. */
#define RT_PROV_REASON(code) (1 + (int)(code))

/* Reports err on OpenSSL's error stack through the core's error functions:
 * under the library number the core gave this provider, which OpenSSL
 * prints as the provider's name ("rattest"), with reason
 * RT_PROV_REASON(err->code), at the caller's file, line and function. */
#define rt_prov_raise(ctx, err) rt_prov_raise_at(ctx, err, OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC)
void rt_prov_raise_at(const rt_provctx *ctx, const rt_err *err, const char *file, int line,
                      const char *func);

/* The key object. A key with `tpm_resident` set signs in the TPM: a
 * persistent handle used in place, or a key file loaded once under its
 * parent (the SRK, or the EK for keys imported under it).
 * A key imported from another provider holds only a public part (OpenSSL
 * does that to compare a certificate's key with ours). */
typedef struct rt_key {
  unsigned magic;
  rt_provctx *ctx;
  int type; /* EVP_PKEY_EC or EVP_PKEY_RSA */
  TPMT_PUBLIC pub;
  int tpm_resident;
  /* A key made by or imported from another provider (ECDHE shares, peer
   * keys, certificate keys): everything is delegated to `soft`, which may
   * hold a private part. OpenSSL fetches by name without properties pick
   * whichever provider registered "EC" first, so with rattest loaded first
   * our keymgmt must serve ordinary keys too. */
  int is_soft;
  uint32_t persistent; /* handle, or 0 for a file key */
  rt_tss2key *file;    /* the key file, what rt_key_tr loads */
  ESYS_TR tr;          /* in the provider instance's connection */
  pid_t pid;           /* the process that loaded it: only it flushes */
  EVP_PKEY *soft;      /* public key in software, built on first need */
  /* The selection of the key's PolicyPCR authPolicy (count 0: none, the
   * key signs with its empty password). Its one source per kind of key: a
   * key file's policy field (rt_tss2key.h); for a persistent key the `pcrs`
   * the state file records for the delivered rsa-key at that handle. */
  TPML_PCR_SELECTION pcr_policy;
} rt_key;

rt_key *rt_key_new(rt_provctx *ctx);
void rt_key_free(rt_key *key);
/* Frees a key file (OPENSSL_zalloc'd), cleared first: it holds the key's
 * private blob. */
void rt_key_free_file(rt_tss2key *file);
/* Moves everything from src into dst (a fresh key), leaving src empty. */
void rt_key_move(rt_key *dst, rt_key *src);
/* A key from a TSS2 PRIVATE KEY (takes ownership of file) or a persistent
 * handle; loads into the TPM now so errors show at load time. */
rt_code rt_key_from_file(rt_provctx *ctx, rt_tss2key *file, rt_key **out, rt_err *err);
/* pcr_sel: the state's record of the key's PolicyPCR selection (NULL or
 * count 0: none). */
rt_code rt_key_from_handle(rt_provctx *ctx, uint32_t handle, const TPML_PCR_SELECTION *pcr_sel,
                           rt_key **out, rt_err *err);
/* Fills key->pub (and type) from a TPM public area; RT_E_INVALID for
 * algorithms the provider does not offer. */
rt_code rt_key_set_public(rt_key *key, const TPMT_PUBLIC *pub, rt_err *err);
/* The public key as an OpenSSL key of another provider (do not free); for
 * a soft key, the key itself. */
EVP_PKEY *rt_key_soft(rt_key *key, rt_err *err);
int rt_key_bits(const rt_key *key);
int rt_key_security_bits(const rt_key *key);
int rt_key_max_size(const rt_key *key);
/* NID of the curve of an EC key, or NID_undef. */
int rt_key_curve_nid(const rt_key *key);

/* The ESYS handle of the key in the (already acquired) TPM, loading the
 * file key or reopening the persistent one if this context has not seen it. */
rt_code rt_key_tr(rt_key *key, rt_tpm *tpm, ESYS_TR *tr, rt_err *err);

/* The authorization of one signing command in the (already acquired) TPM:
 * ESYS_TR_PASSWORD, or for a PCR-bound key a fresh policy session that ran
 * TPM2_PolicyPCR(pcr_policy) over the current values (rt_pcr_session.h).
 * The caller flushes it (rt_tpm_flush, a no-op for the password) right
 * after the command, failed or not, before releasing the TPM. */
rt_code rt_key_auth(const rt_key *key, rt_tpm *tpm, ESYS_TR *session, rt_err *err);
/* The error of `command` run with that authorization: for a PCR-bound key
 * a policy failure is "PCR policy not satisfied: a PCR in sha256:7 changed
 * since the key was delivered". */
rt_code rt_key_auth_fail(const rt_key *key, TSS2_RC rc, const char *command, rt_err *err);

/* Parameter carrying the address of an rt_key pointer from our decoder's
 * export_object to our keymgmt's import (see decoder.c). */
#define RT_PARAM_KEY_REF "rattest-key-ref"
/* Marks live rt_key objects, so a stray RT_PARAM_KEY_REF is refused. */
#define RT_KEY_MAGIC 0x72744b59u

/* Dispatch tables, one file per operation. */
extern const OSSL_DISPATCH rt_keymgmt_ec_functions[];
extern const OSSL_DISPATCH rt_keymgmt_rsa_functions[];
extern const OSSL_DISPATCH rt_signature_ecdsa_functions[];
extern const OSSL_DISPATCH rt_signature_rsa_functions[];
extern const OSSL_DISPATCH rt_store_functions[];
extern const OSSL_DISPATCH rt_decoder_loaded_ec_functions[];
extern const OSSL_DISPATCH rt_decoder_loaded_rsa_functions[];
#define RT_STRUCTURE_TSS2 "TSS2"
extern const OSSL_DISPATCH rt_decoder_pem_functions[];
extern const OSSL_DISPATCH rt_decoder_der_functions[];
extern const OSSL_DISPATCH rt_encoder_spki_der_functions[];
extern const OSSL_DISPATCH rt_encoder_spki_pem_functions[];

#endif
