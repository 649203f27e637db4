/* Test driver putting common/rt_tss2key and common/rt_srk in front of
 * tpm2-openssl and tpm2-tools (tests/test_tss2key_interop.sh). The TPM comes
 * from $RATTEST_TCTI.
 *
 *   tss2key_tool load KEY.pem ecc|rsa
 *       Decodes a key file written by someone else, checks it is a loadable
 *       key of that type under 0x40000001 with empty auth, and loads it with
 *       Esys_Load under OUR SRK (rt_srk_create): the loaded object's name
 *       must be the name of the file's public area. Then shows the unique
 *       field matters: under the Provisioning Guidance variant of the
 *       template (unique x, y = 32 zero bytes) the same load must fail.
 *   tss2key_tool srk-name
 *       Prints the name of our SRK in hex.
 *   tss2key_tool create KEY.pem PUB.pem TPM2B_PUBLIC TPM2B_PRIVATE
 *       Creates an ECC P-256 signing key under our SRK, writes it with
 *       rt_tss2key_write, its public key as PEM (our own conversion,
 *       rt_tpm_pub_to_evp) and the raw blobs for tpm2_load.
 *   tss2key_tool encode PARENT TPM2B_PUBLIC TPM2B_PRIVATE KEY.pem
 *       Writes blobs made by tpm2_create as a key file (empty auth) naming
 *       PARENT, e.g. an EK handle (tests/test_provider_ek.sh).
 *
 * Every command checks it leaves as many transient objects as it found.
 * Exit status 0 on success, 1 on failure (reason on stderr), 2 for usage. */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_file.h"
#include "rt_log.h"
#include "rt_srk.h"
#include "rt_tpm.h"
#include "rt_tpm_pub.h"
#include "rt_tss2key.h"

static int fail(const char *what, const rt_err *err) {
  fprintf(stderr, "tss2key_tool: %s: %s\n", what, err->msg);
  return 1;
}

static int failf(const char *msg) {
  fprintf(stderr, "tss2key_tool: %s\n", msg);
  return 1;
}

static void print_hex(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    printf("%02x", b[i]);
  printf("\n");
}

/* Our SRK template with unique x and y of 32 zero bytes, as TCG's
 * Provisioning Guidance 7.5.1 / EK profile L-2 would have it. */
static TPM2B_PUBLIC tcg_variant(void) {
  TPM2B_PUBLIC t = rt_srk_template();
  t.publicArea.unique.ecc.x.size = 32;
  t.publicArea.unique.ecc.y.size = 32;
  return t;
}

static int cmd_load(rt_tpm *tpm, const char *path, const char *alg) {
  rt_err err = {0};
  rt_tss2key key;
  if (rt_tss2key_read(path, &key, &err) != RT_OK)
    return fail("decode", &err);
  TPMI_ALG_PUBLIC want = strcmp(alg, "rsa") == 0 ? TPM2_ALG_RSA : TPM2_ALG_ECC;
  if (key.type != RT_TSS2KEY_LOADABLE || key.parent != TPM2_RH_OWNER || !key.empty_auth ||
      key.has_policy || key.pub.publicArea.type != want || key.priv.size == 0) {
    fprintf(stderr, "tss2key_tool: unexpected key: type %d parent 0x%08x emptyAuth %d alg 0x%x\n",
            key.type, (unsigned)key.parent, key.empty_auth, key.pub.publicArea.type);
    return 1;
  }

  int rc_out = 1;
  ESYS_TR srk = ESYS_TR_NONE, obj = ESYS_TR_NONE, other = ESYS_TR_NONE;
  TPM2B_NAME *loaded_name = NULL;
  if (rt_srk_create(tpm, &srk, NULL, &err) != RT_OK) {
    fail("SRK", &err);
    goto out;
  }
  TSS2_RC rc = Esys_Load(tpm->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &key.priv,
                         &key.pub, &obj);
  if (rc != TSS2_RC_SUCCESS) {
    rt_tpm_rc(&err, rc, "Esys_Load under our SRK");
    fail(path, &err);
    goto out;
  }
  TPM2B_NAME file_name;
  if (rt_tpm_pub_name(&key.pub.publicArea, &file_name, &err) != RT_OK) {
    fail("name", &err);
    goto out;
  }
  rc = Esys_TR_GetName(tpm->esys, obj, &loaded_name);
  if (rc != TSS2_RC_SUCCESS || loaded_name->size != file_name.size ||
      memcmp(loaded_name->name, file_name.name, file_name.size) != 0) {
    failf("the loaded object's name is not the name of the file's public area");
    goto out;
  }
  rt_tpm_flush(tpm, &obj);
  rt_tpm_flush(tpm, &srk);

  /* The same key under the 32-zero-byte-unique variant must not load. */
  TPM2B_PUBLIC tmpl = tcg_variant();
  TPM2B_SENSITIVE_CREATE sens;
  TPM2B_DATA outside;
  TPML_PCR_SELECTION pcrs;
  memset(&sens, 0, sizeof sens);
  memset(&outside, 0, sizeof outside);
  memset(&pcrs, 0, sizeof pcrs);
  rc = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          &sens, &tmpl, &outside, &pcrs, &other, NULL, NULL, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    rt_tpm_rc(&err, rc, "CreatePrimary (TCG variant)");
    fail("variant", &err);
    goto out;
  }
  rc = Esys_Load(tpm->esys, other, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &key.priv,
                 &key.pub, &obj);
  if (rc == TSS2_RC_SUCCESS) {
    failf("the key also loads under the 32-zero-byte unique variant: the test proves nothing");
    goto out;
  }
  printf("loaded under rt_srk; refused under the unique=32x00 variant (%s)\n", Tss2_RC_Decode(rc));
  rc_out = 0;
out:
  Esys_Free(loaded_name);
  rt_tpm_flush(tpm, &obj);
  rt_tpm_flush(tpm, &other);
  rt_tpm_flush(tpm, &srk);
  return rc_out;
}

static int cmd_srk_name(rt_tpm *tpm) {
  rt_err err = {0};
  ESYS_TR srk = ESYS_TR_NONE;
  TPM2B_PUBLIC *pub = NULL;
  TPM2B_NAME *name = NULL;
  if (rt_srk_create(tpm, &srk, &pub, &err) != RT_OK)
    return fail("SRK", &err);
  int rc_out = 1;
  TSS2_RC rc = Esys_TR_GetName(tpm->esys, srk, &name);
  if (rc != TSS2_RC_SUCCESS) {
    rt_tpm_rc(&err, rc, "Esys_TR_GetName");
    fail("SRK", &err);
    goto out;
  }
  /* The TPM filled in unique; everything else must be our template. */
  TPM2B_PUBLIC want = rt_srk_template();
  TPMT_PUBLIC got = pub->publicArea;
  memset(&got.unique, 0, sizeof got.unique);
  if (memcmp(&got, &want.publicArea, sizeof got) != 0 || pub->publicArea.unique.ecc.x.size != 32 ||
      pub->publicArea.unique.ecc.y.size != 32) {
    failf("the SRK's public area is not the template");
    goto out;
  }
  print_hex(name->name, name->size);
  rc_out = 0;
out:
  Esys_Free(name);
  Esys_Free(pub);
  rt_tpm_flush(tpm, &srk);
  return rc_out;
}

static int write_blob(const char *path, const uint8_t *b, size_t n) {
  rt_err err = {0};
  if (rt_file_write_atomic(path, b, n, 0600, &err) != RT_OK)
    return fail(path, &err);
  return 0;
}

static int cmd_create(rt_tpm *tpm, char **argv) {
  rt_err err = {0};
  ESYS_TR srk = ESYS_TR_NONE;
  TPM2B_PUBLIC *out_pub = NULL;
  TPM2B_PRIVATE *out_priv = NULL;
  EVP_PKEY *pkey = NULL;
  BIO *bio = NULL;
  int rc_out = 1;

  TPM2B_PUBLIC tmpl;
  memset(&tmpl, 0, sizeof tmpl);
  tmpl.publicArea.type = TPM2_ALG_ECC;
  tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
  tmpl.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH |
                                     TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN;
  tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  if (rt_srk_create(tpm, &srk, NULL, &err) != RT_OK) {
    fail("SRK", &err);
    goto out;
  }
  if (rt_tpm_create(tpm, srk, ESYS_TR_PASSWORD, &tmpl, &out_priv, &out_pub, &err) != RT_OK) {
    fail("create", &err);
    goto out;
  }
  rt_tss2key key;
  memset(&key, 0, sizeof key);
  key.type = RT_TSS2KEY_LOADABLE;
  key.empty_auth = 1;
  key.parent = TPM2_RH_OWNER;
  key.pub = *out_pub;
  key.priv = *out_priv;
  if (rt_tss2key_write(argv[0], &key, &err) != RT_OK) {
    fail("write key", &err);
    goto out;
  }
  if (rt_tpm_pub_to_evp(&out_pub->publicArea, &pkey, &err) != RT_OK) {
    fail("public key", &err);
    goto out;
  }
  bio = BIO_new_file(argv[1], "w");
  if (bio == NULL || !PEM_write_bio_PUBKEY(bio, pkey)) {
    failf("cannot write the public key PEM");
    goto out;
  }
  uint8_t blob[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
  size_t n = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, blob, sizeof blob, &n) != TSS2_RC_SUCCESS ||
      write_blob(argv[2], blob, n) != 0)
    goto out;
  n = 0;
  if (Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, blob, sizeof blob, &n) != TSS2_RC_SUCCESS ||
      write_blob(argv[3], blob, n) != 0)
    goto out;
  rc_out = 0;
out:
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  Esys_Free(out_pub);
  Esys_Free(out_priv);
  rt_tpm_flush(tpm, &srk);
  return rc_out;
}

/* encode PARENT TPM2B_PUBLIC TPM2B_PRIVATE KEY.pem: the blobs tpm2_create
 * wrote, as a key file (empty auth) naming PARENT, written by our writer. */
static int cmd_encode(char **argv) {
  rt_err err = {0};
  rt_tss2key key;
  memset(&key, 0, sizeof key);
  key.type = RT_TSS2KEY_LOADABLE;
  key.empty_auth = 1;
  char *end = NULL;
  unsigned long parent = strtoul(argv[0], &end, 0);
  if (end == argv[0] || *end != '\0' || parent > 0xffffffffUL)
    return failf("PARENT is not a handle");
  key.parent = (uint32_t)parent;
  uint8_t *data = NULL;
  size_t len = 0, off = 0;
  int bad = rt_file_read(argv[1], sizeof(TPM2B_PUBLIC) + 2, &data, &len, &err) != RT_OK ||
            Tss2_MU_TPM2B_PUBLIC_Unmarshal(data, len, &off, &key.pub) != TSS2_RC_SUCCESS ||
            off != len;
  free(data);
  data = NULL;
  off = 0;
  bad = bad || rt_file_read(argv[2], sizeof(TPM2B_PRIVATE) + 2, &data, &len, &err) != RT_OK ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(data, len, &off, &key.priv) != TSS2_RC_SUCCESS ||
        off != len;
  free(data);
  if (bad)
    return failf("cannot read the TPM2B_PUBLIC / TPM2B_PRIVATE files");
  if (rt_tss2key_write(argv[3], &key, &err) != RT_OK)
    return fail("write key", &err);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "load") == 0 && argc != 4) ||
      (strcmp(argv[1], "srk-name") == 0 && argc != 2) ||
      (strcmp(argv[1], "create") == 0 && argc != 6) ||
      (strcmp(argv[1], "encode") == 0 && argc != 6)) {
    fprintf(stderr, "usage: tss2key_tool load KEY ecc|rsa | srk-name | create KEY PUB_PEM "
                    "TPM2B_PUBLIC TPM2B_PRIVATE | encode PARENT TPM2B_PUBLIC TPM2B_PRIVATE KEY\n");
    return 2;
  }
  rt_log_set_level(RT_LOG_WARN);
  rt_err err = {0};
  rt_tpm *tpm = NULL;
  if (rt_tpm_open(NULL, &tpm, &err) != RT_OK)
    return fail("open", &err);
  uint32_t before = 0, after = 0;
  if (rt_tpm_count_transients(tpm, &before, &err) != RT_OK) {
    rt_tpm_close(tpm);
    return fail("transients", &err);
  }
  int rc;
  if (strcmp(argv[1], "load") == 0)
    rc = cmd_load(tpm, argv[2], argv[3]);
  else if (strcmp(argv[1], "srk-name") == 0)
    rc = cmd_srk_name(tpm);
  else if (strcmp(argv[1], "create") == 0)
    rc = cmd_create(tpm, argv + 2);
  else if (strcmp(argv[1], "encode") == 0)
    rc = cmd_encode(argv + 2);
  else {
    fprintf(stderr, "tss2key_tool: unknown command %s\n", argv[1]);
    rc = 2;
  }
  if (rt_tpm_count_transients(tpm, &after, &err) != RT_OK) {
    rc = fail("transients", &err);
  } else if (after != before) {
    fprintf(stderr, "tss2key_tool: %u transient objects before, %u after\n", before, after);
    rc = 1;
  }
  rt_tpm_close(tpm);
  return rc;
}
