/* What the fuzz targets share (fuzz_common.c): splitting one input into
 * fields, files in a private temporary directory, the real inputs of
 * tests/data, and an in-process verifier with a fixed token key so that
 * the Begin, Finish and Confirm targets run the handlers exactly as the
 * gRPC layer does, without a network.
 *
 * Every target is one fuzz_<target>.c defining LLVMFuzzerTestOneInput. It
 * is linked twice: with libFuzzer (clang, -DRATTEST_FUZZ=ON) to fuzz, and
 * with replay_main.c in every build to replay tests/fuzz/corpus/<target>
 * under ctest (fuzz_replay_<target>). */
#ifndef RT_FUZZ_H
#define RT_FUZZ_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include <time.h>

#include "confirm_token.h"
#include "enroll.h"
#include "session_token.h"
#include "token_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called once before the first input (libFuzzer, replay_main.c): quiets
 * what the verifier quiets (libtss2's log lines, which it would otherwise
 * print for every malformed structure, and info lines). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* One field of an input. */
typedef struct {
  const uint8_t *p;
  size_t n;
} fuzz_part;

/* Splits data into n fields: each but the last is a 2-byte big-endian
 * length and that many bytes (cut short at the end of the input); the last
 * is the rest. fuzz_join is the inverse, for the seed generator: returns
 * the length written to out (cap bytes), 0 if it does not fit. */
void fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, size_t n);
size_t fuzz_join(const fuzz_part *parts, size_t n, uint8_t *out, size_t cap);

/* A directory only this process uses, removed at exit. */
const char *fuzz_tmpdir(void);

/* Writes len bytes to fuzz_tmpdir()/name (created 0600, replaced in
 * place); the path is written to path (PATH_MAX bytes). Aborts if it
 * cannot: a harness that cannot set up must not pass. */
void fuzz_write_file(const char *name, const void *data, size_t len, char *path);

/* A file of tests/data (rel is relative to it), malloc'd; aborts if
 * missing. */
uint8_t *fuzz_data_file(const char *rel, size_t *len);

/* The RSA EK of tests/data/ekcerts/google-vtpm/pca_tpm_rsa_enc_cert.pem as
 * its TPM presents it (TCG template L-1 with the certificate's modulus), and
 * the certificate's DER (malloc'd; der may be NULL). */
void fuzz_google_ek(TPM2B_PUBLIC *ek, uint8_t **der, size_t *der_len);

/* The gce-cos85 AK of tests/data as a TPM2B_PUBLIC. */
void fuzz_gce_ak(TPM2B_PUBLIC *ak);

/* Template t with a fresh P-256 key's point; *key is that key. */
TPM2B_PUBLIC fuzz_ecc_public(TPM2B_PUBLIC t, EVP_PKEY **key);

/* The fixed sessions' AK: a software P-256 key made at start-up (AK
 * template), so that the harness can sign quotes and certifications as
 * the TPM would. */
EVP_PKEY *fuzz_ak(TPM2B_PUBLIC *pub);

/* ECDSA with SHA-256 over msg by key, as a marshalled TPMT_SIGNATURE (a
 * TPM's TPM2_Sign/Quote/Certify output): returns its length in out (cap
 * bytes, at least 80). */
size_t fuzz_tpm_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap);

/* Replaces *sig with the fuzz AK's signature over the attestationData of
 * the TPM2B_ATTEST in *attest (as much of it as the bytes hold), so that
 * mutated quotes and certifications pass the signature check. Nothing
 * when attest is shorter than its size field. */
void fuzz_ak_resign(const ProtobufCBinaryData *attest, ProtobufCBinaryData *sig);

/* The fixed token key (64 hex digits of 0x42 bytes, as a --token-key
 * file). */
const rt_token_key *fuzz_token_key(void);

/* What the fixed sessions hold: Finish with FUZZ_SECRET as the activated
 * secret passes the secret check; Confirm's sealed secret FUZZ_SECRET_NAME
 * holds FUZZ_SECRET_DATA. */
#define FUZZ_NAME "fuzz"
#define FUZZ_SECRET_NAME "s1"
#define FUZZ_SECRET_DATA "fuzz sealed secret"
extern const uint8_t fuzz_secret[32];
extern const uint8_t fuzz_nonce[32];

/* The verifier the handler targets call: the permissive default policy
 * plus ek_expiry_advisory and one sealed secret (FUZZ_SECRET_NAME), the EK
 * CAs of tests/data/ekcerts/google-vtpm/ca, a self-signed issuing CA made
 * at start-up, the fixed token key, and a replay guard emptied for every
 * input (so that no input depends on the ones before). */
rt_verifier *fuzz_verifier(void);

/* Fresh tokens sealed with the fixed key for the fixed sessions (above),
 * each with a new token id; malloc'd. The session's AK is fuzz_ak, its
 * selection sha256 PCRs 0-7, its EK fuzz_google_ek, its key ECC P-256. */
uint8_t *fuzz_session_token(size_t *len);
uint8_t *fuzz_confirm_token(size_t *len);

/* The fixed sessions' states, created at now (free with
 * rt_token_state_free / rt_confirm_state_free). */
rt_session_state *fuzz_session_state(time_t now);
rt_confirm_state *fuzz_confirm_state(time_t now);

/* The clock of the token target, so that its inputs open the same way on
 * every run (the seeds' states are created just before it). */
#define FUZZ_NOW ((time_t)1796000000)

/* Seals plaintext as a token of context (RT_TOKEN_CONTEXT or
 * RT_CONFIRM_CONTEXT) with the fixed key, in the token format of
 * token_seal.h: the token targets reach the state checks with any state
 * bytes. Returns the length written to out (cap bytes), 0 if too long. */
size_t fuzz_seal_raw(const char *context, const uint8_t *pt, size_t pt_len, uint8_t *out,
                     size_t cap);

/* Runs a handler on data unpacked as a request of type desc, as the gRPC
 * layer does: a request that does not unpack is the layer's refusal, not
 * the handler's. When fix is not NULL it is called on the unpacked request
 * first (to put a valid token in). Frees everything. */
void fuzz_call(const ProtobufCMessageDescriptor *desc, rt_rpc_handler handler,
               void (*free_response)(ProtobufCMessage *), void (*fix)(ProtobufCMessage *),
               const uint8_t *data, size_t size);

/* Replaces a bytes field with a malloc'd token (the request is then freed
 * by fuzz_call with the allocator protobuf-c unpacked it with: malloc). */
void fuzz_put_token(ProtobufCBinaryData *field, uint8_t *token, size_t len);

#endif
