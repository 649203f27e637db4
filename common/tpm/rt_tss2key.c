#include "rt_tss2key.h"

#include <limits.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "rt_file.h"
#include "rt_kdf.h"
#include "rt_pcrsel.h"

/* The draft's types, with an rt_ prefix: tpm2-openssl's own TSSPRIVKEY_*
 * functions may live in the same process (the provider and ours loaded side
 * by side), so our symbols must not collide with theirs. */

/* TPMPolicy ::= SEQUENCE { commandCode [0] EXPLICIT INTEGER,
 *                          commandPolicy [1] EXPLICIT OCTET STRING } */
typedef struct {
  ASN1_INTEGER *command_code;
  ASN1_OCTET_STRING *command_policy;
} rt_asn1_tpmpolicy;
DECLARE_ASN1_ITEM(rt_asn1_tpmpolicy)
DEFINE_STACK_OF(rt_asn1_tpmpolicy)

ASN1_SEQUENCE(rt_asn1_tpmpolicy) = {
    ASN1_EXP(rt_asn1_tpmpolicy, command_code, ASN1_INTEGER, 0),
    ASN1_EXP(rt_asn1_tpmpolicy, command_policy, ASN1_OCTET_STRING, 1),
} ASN1_SEQUENCE_END(rt_asn1_tpmpolicy)

/* TPMAuthPolicy ::= SEQUENCE { name [0] EXPLICIT UTF8String OPTIONAL,
 *                              policy [1] EXPLICIT SEQUENCE OF TPMPolicy } */
typedef struct {
  ASN1_UTF8STRING *name;
  STACK_OF(rt_asn1_tpmpolicy) * policy;
} rt_asn1_tpmauthpolicy;
DECLARE_ASN1_ITEM(rt_asn1_tpmauthpolicy)
DEFINE_STACK_OF(rt_asn1_tpmauthpolicy)

ASN1_SEQUENCE(rt_asn1_tpmauthpolicy) = {
    ASN1_EXP_OPT(rt_asn1_tpmauthpolicy, name, ASN1_UTF8STRING, 0),
    ASN1_EXP_SEQUENCE_OF(rt_asn1_tpmauthpolicy, policy, rt_asn1_tpmpolicy, 1),
} ASN1_SEQUENCE_END(rt_asn1_tpmauthpolicy)

typedef struct {
  ASN1_OBJECT *type;
  /* ASN1_BOOLEAN fields hold -1 when absent, else the content octet. */
  ASN1_BOOLEAN empty_auth;
  STACK_OF(rt_asn1_tpmpolicy) * policy;
  ASN1_OCTET_STRING *secret;
  STACK_OF(rt_asn1_tpmauthpolicy) * auth_policy;
  ASN1_UTF8STRING *description;
  ASN1_BOOLEAN rsa_parent;
  ASN1_INTEGER *parent;
  ASN1_OCTET_STRING *pubkey;
  ASN1_OCTET_STRING *privkey;
} rt_asn1_tpmkey;
DECLARE_ASN1_FUNCTIONS(rt_asn1_tpmkey)

ASN1_SEQUENCE(rt_asn1_tpmkey) = {
    ASN1_SIMPLE(rt_asn1_tpmkey, type, ASN1_OBJECT),
    ASN1_EXP_OPT(rt_asn1_tpmkey, empty_auth, ASN1_BOOLEAN, 0),
    ASN1_EXP_SEQUENCE_OF_OPT(rt_asn1_tpmkey, policy, rt_asn1_tpmpolicy, 1),
    ASN1_EXP_OPT(rt_asn1_tpmkey, secret, ASN1_OCTET_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(rt_asn1_tpmkey, auth_policy, rt_asn1_tpmauthpolicy, 3),
    ASN1_EXP_OPT(rt_asn1_tpmkey, description, ASN1_UTF8STRING, 4),
    ASN1_EXP_OPT(rt_asn1_tpmkey, rsa_parent, ASN1_BOOLEAN, 5),
    ASN1_SIMPLE(rt_asn1_tpmkey, parent, ASN1_INTEGER),
    ASN1_SIMPLE(rt_asn1_tpmkey, pubkey, ASN1_OCTET_STRING),
    ASN1_SIMPLE(rt_asn1_tpmkey, privkey, ASN1_OCTET_STRING),
} ASN1_SEQUENCE_END(rt_asn1_tpmkey)

IMPLEMENT_ASN1_FUNCTIONS(rt_asn1_tpmkey)

#define OID_TPMKEY_PREFIX "2.23.133.10.1."

/* The reason of the last OpenSSL error, and an empty queue afterwards so a
 * stale error does not surface in an unrelated later call. */
static const char *ossl_reason(void) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  return r ? r : "malformed";
}

/* A parent handle a file may name: the draft allows persistent (0x81) and
 * permanent (0x40) handles, discourages transient ones (0x80: their number
 * changes with load order, but some writers use them) and forbids the rest. */
static int parent_handle_ok(uint32_t h) {
  uint32_t mso = h >> 24;
  return mso == 0x40 || mso == 0x80 || mso == 0x81;
}

static rt_code decode_parent(const ASN1_INTEGER *ai, uint32_t *out, rt_err *err) {
  int64_t v;
  if (!ASN1_INTEGER_get_int64(&v, ai)) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID, "parent: INTEGER out of range for a TPM handle");
  }
  /* Writers that hold the handle in a signed 32-bit int (or call
   * ASN1_INTEGER_set with it on a 32-bit long) write handles with the top
   * bit set, such as 0x81000001, as negative numbers: take those back as
   * their two's complement. */
  if (v < 0) {
    if (v < INT32_MIN)
      return rt_err_set(err, RT_E_INVALID, "parent: %lld is not a TPM handle", (long long)v);
    *out = (uint32_t)(int32_t)v;
  } else {
    if (v > (int64_t)UINT32_MAX)
      return rt_err_set(err, RT_E_INVALID, "parent: %lld is not a TPM handle", (long long)v);
    *out = (uint32_t)v;
  }
  if (*out == 0)
    *out = TPM2_RH_OWNER;
  if (!parent_handle_ok(*out))
    return rt_err_set(err, RT_E_INVALID,
                      "parent: 0x%08x is neither a persistent nor a hierarchy handle",
                      (unsigned)*out);
  return RT_OK;
}

/* The one policy rattest executes (rt_tss2key.h): exactly one TPMPolicy,
 * TPM2_PolicyPCR, whose commandPolicy is TPML_PCR_SELECTION || pcrDigest.
 * Other policies are left to has_policy: a loader refuses what it cannot
 * run. Needs key->pub (the digest is of its nameAlg). */
static rt_code decode_pcr_policy(const STACK_OF(rt_asn1_tpmpolicy) * pol, rt_tss2key *key,
                                 rt_err *err) {
  if (sk_rt_asn1_tpmpolicy_num(pol) != 1)
    return RT_OK;
  const rt_asn1_tpmpolicy *p = sk_rt_asn1_tpmpolicy_value(pol, 0);
  int64_t cc = 0;
  if (!ASN1_INTEGER_get_int64(&cc, p->command_code)) {
    ERR_clear_error();
    return RT_OK;
  }
  if (cc != TPM2_CC_PolicyPCR)
    return RT_OK;
  const uint8_t *d = p->command_policy->data;
  size_t len = (size_t)p->command_policy->length, off = 0;
  size_t want = rt_tpm_hash_size(key->pub.publicArea.nameAlg);
  if (Tss2_MU_TPML_PCR_SELECTION_Unmarshal(d, len, &off, &key->policy_pcrs) != TSS2_RC_SUCCESS ||
      rt_pcrsel_count(&key->policy_pcrs) == 0)
    return rt_err_set(err, RT_E_INVALID,
                      "policy: TPM2_PolicyPCR does not start with a PCR selection");
  if (want == 0 || len - off != want)
    return rt_err_set(err, RT_E_INVALID,
                      "policy: TPM2_PolicyPCR has %zu bytes of PCR digest, the key's name "
                      "algorithm needs %zu",
                      len - off, want);
  key->policy_pcr_digest.size = (UINT16)want;
  memcpy(key->policy_pcr_digest.buffer, d + off, want);
  key->has_pcr_policy = 1;
  return RT_OK;
}

/* The DER of one TPMKey and nothing after it; *k is set on success. */
static rt_code parse_der(const uint8_t *der, size_t len, rt_asn1_tpmkey **k, rt_err *err) {
  if (len > LONG_MAX)
    return rt_err_set(err, RT_E_INVALID, "key file too large");
  const unsigned char *p = der;
  *k = d2i_rt_asn1_tpmkey(NULL, &p, (long)len);
  if (*k == NULL)
    return rt_err_set(err, RT_E_INVALID, "not a TSS2 private key: %s", ossl_reason());
  rt_code code = RT_OK;
  uint8_t *again = NULL;
  int n;
  if ((size_t)(p - der) != len) {
    code = rt_err_set(err, RT_E_INVALID, "%zu trailing bytes after the TSS2 key",
                      len - (size_t)(p - der));
  } else if ((n = i2d_rt_asn1_tpmkey(*k, &again)) < 0 || (size_t)n != len ||
             memcmp(again, der, len) != 0) {
    /* OpenSSL's decoder also takes BER (indefinite or long-form lengths);
     * the format is DER, and for DER decoding then encoding is the
     * identity. */
    ERR_clear_error();
    code = rt_err_set(err, RT_E_INVALID, "TSS2 key is not DER encoded");
  }
  OPENSSL_free(again);
  if (code != RT_OK) {
    rt_asn1_tpmkey_free(*k);
    *k = NULL;
  }
  return code;
}

static rt_code decode_type(const rt_asn1_tpmkey *k, rt_tss2key *key, rt_err *err) {
  char oid[64];
  if (OBJ_obj2txt(oid, sizeof oid, k->type, 1) <= 0) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID, "type: unreadable OBJECT IDENTIFIER");
  }
  if (strcmp(oid, OID_TPMKEY_PREFIX "3") == 0)
    key->type = RT_TSS2KEY_LOADABLE;
  else if (strcmp(oid, OID_TPMKEY_PREFIX "4") == 0)
    key->type = RT_TSS2KEY_IMPORTABLE;
  else if (strcmp(oid, OID_TPMKEY_PREFIX "5") == 0)
    key->type = RT_TSS2KEY_SEALED;
  else
    return rt_err_set(err, RT_E_INVALID, "type: unknown TPM key type %s", oid);
  return RT_OK;
}

/* The draft: secret MUST be present for importable keys and MUST NOT be for
 * any other. Needs key->type. */
static rt_code decode_secret(const rt_asn1_tpmkey *k, rt_tss2key *key, rt_err *err) {
  if ((k->secret != NULL) != (key->type == RT_TSS2KEY_IMPORTABLE))
    return rt_err_set(err, RT_E_INVALID,
                      key->type == RT_TSS2KEY_IMPORTABLE
                          ? "secret: missing, required for an importable key"
                          : "secret: present, allowed only for an importable key");
  if (k->secret == NULL)
    return RT_OK;
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(k->secret->data, (size_t)k->secret->length,
                                                        &off, &key->secret);
  if (rc != TSS2_RC_SUCCESS || off != (size_t)k->secret->length)
    return rt_err_set(err, RT_E_INVALID, "secret: not exactly one TPM2B_ENCRYPTED_SECRET");
  key->has_secret = 1;
  return RT_OK;
}

static rt_code decode_description(const rt_asn1_tpmkey *k, rt_tss2key *key, rt_err *err) {
  if (k->description == NULL)
    return RT_OK;
  const unsigned char *d = ASN1_STRING_get0_data(k->description);
  size_t dlen = (size_t)ASN1_STRING_length(k->description);
  if (memchr(d, '\0', dlen) != NULL)
    return rt_err_set(err, RT_E_INVALID, "description: contains a NUL character");
  /* Informational only: a long one is cut, on a UTF-8 character boundary
   * (never before a continuation byte), rather than refused. */
  size_t keep = dlen;
  if (keep >= sizeof key->description) {
    keep = sizeof key->description - 1;
    while (keep > 0 && (d[keep] & 0xc0) == 0x80)
      keep--;
  }
  memcpy(key->description, d, keep);
  key->description[keep] = '\0';
  return RT_OK;
}

/* Strict, as for every blob: the TPM2B_PUBLIC must fill its OCTET STRING
 * exactly; a trailing byte means the file was not written from it. */
static rt_code decode_pubkey(const ASN1_OCTET_STRING *os, TPM2B_PUBLIC *pub, rt_err *err) {
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(os->data, (size_t)os->length, &off, pub);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "pubkey: not a TPM2B_PUBLIC: %s", Tss2_RC_Decode(rc));
  /* tss2-mu reads the TPMT_PUBLIC by its own structure and keeps the size
   * field as written; the two must agree. */
  if ((size_t)pub->size + 2 != off)
    return rt_err_set(err, RT_E_INVALID,
                      "pubkey: TPM2B_PUBLIC size field %u does not match its %zu-byte content",
                      (unsigned)pub->size, off - 2);
  if (off != (size_t)os->length)
    return rt_err_set(err, RT_E_INVALID, "pubkey: %zu trailing bytes after the TPM2B_PUBLIC",
                      (size_t)os->length - off);
  if (pub->size == 0)
    return rt_err_set(err, RT_E_INVALID, "pubkey: empty TPM2B_PUBLIC");
  return RT_OK;
}

static rt_code decode_privkey(const ASN1_OCTET_STRING *os, TPM2B_PRIVATE *priv, rt_err *err) {
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(os->data, (size_t)os->length, &off, priv);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "privkey: not a TPM2B_PRIVATE: %s", Tss2_RC_Decode(rc));
  if (off != (size_t)os->length)
    return rt_err_set(err, RT_E_INVALID, "privkey: %zu trailing bytes after the TPM2B_PRIVATE",
                      (size_t)os->length - off);
  if (priv->size == 0)
    return rt_err_set(err, RT_E_INVALID, "privkey: empty TPM2B_PRIVATE");
  return RT_OK;
}

/* The fields in the order their errors were always reported: type, secret,
 * description, parent, pubkey, privkey, then the policy (which needs the
 * public area's name algorithm). */
static rt_code decode_der(const uint8_t *der, size_t len, rt_tss2key *key, rt_err *err) {
  rt_asn1_tpmkey *k = NULL;
  rt_code code = parse_der(der, len, &k, err);
  if (code != RT_OK)
    return code;
  if ((code = decode_type(k, key, err)) != RT_OK)
    goto out;
  /* Absent (-1) and FALSE (0) both mean an authorization is needed. */
  key->empty_auth = k->empty_auth > 0;
  key->rsa_parent = k->rsa_parent > 0;
  key->has_policy = k->policy != NULL;
  key->has_auth_policy = k->auth_policy != NULL;
  if ((code = decode_secret(k, key, err)) != RT_OK ||
      (code = decode_description(k, key, err)) != RT_OK ||
      (code = decode_parent(k->parent, &key->parent, err)) != RT_OK ||
      (code = decode_pubkey(k->pubkey, &key->pub, err)) != RT_OK ||
      (code = decode_privkey(k->privkey, &key->priv, err)) != RT_OK)
    goto out;
  if (k->policy != NULL)
    code = decode_pcr_policy(k->policy, key, err);
out:
  rt_asn1_tpmkey_free(k);
  return code;
}

rt_code rt_tss2key_decode(const uint8_t *data, size_t len, rt_tss2key *key, rt_err *err) {
  memset(key, 0, sizeof *key);
  if (len == 0)
    return rt_err_set(err, RT_E_INVALID, "empty TSS2 key");
  /* DER starts with the SEQUENCE tag; anything else is taken as PEM text. */
  if (data[0] == 0x30) {
    rt_code code = decode_der(data, len, key, err);
    if (code != RT_OK)
      memset(key, 0, sizeof *key);
    return code;
  }
  if (len > INT_MAX)
    return rt_err_set(err, RT_E_INVALID, "key file too large");
  BIO *bio = BIO_new_mem_buf(data, (int)len);
  if (bio == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  unsigned char *der = NULL;
  long der_len = 0;
  int ok = PEM_bytes_read_bio(&der, &der_len, NULL, RT_TSS2KEY_PEM_LABEL, bio, NULL, NULL);
  BIO_free(bio);
  if (!ok) {
    ERR_clear_error();
    return rt_err_set(err, RT_E_INVALID,
                      "no \"-----BEGIN " RT_TSS2KEY_PEM_LABEL "-----\" block, and not DER either");
  }
  rt_code code = decode_der(der, (size_t)der_len, key, err);
  OPENSSL_free(der);
  if (code != RT_OK)
    memset(key, 0, sizeof *key);
  return code;
}

rt_code rt_tss2key_read(const char *path, rt_tss2key *key, rt_err *err) {
  uint8_t *data = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, RT_TSS2KEY_MAX_FILE, &data, &len, err);
  if (code != RT_OK)
    return code;
  code = rt_tss2key_decode(data, len, key, err);
  rt_file_free_secret(data, len);
  if (code != RT_OK)
    rt_err_prefix(err, "%s: ", path);
  return code;
}

/* k->policy = { { TPM2_CC_PolicyPCR, pcrs || pcrDigest } }; checked by
 * the caller. Freed with k. */
static rt_code encode_pcr_policy(const rt_tss2key *key, rt_asn1_tpmkey *k) {
  uint8_t buf[sizeof(TPML_PCR_SELECTION) + sizeof(TPMU_HA)];
  size_t off = 0;
  if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&key->policy_pcrs, buf, sizeof buf, &off) !=
      TSS2_RC_SUCCESS)
    return RT_E_INVALID;
  memcpy(buf + off, key->policy_pcr_digest.buffer, key->policy_pcr_digest.size);
  off += key->policy_pcr_digest.size;
  rt_asn1_tpmpolicy *p = (rt_asn1_tpmpolicy *)ASN1_item_new(ASN1_ITEM_rptr(rt_asn1_tpmpolicy));
  if (p == NULL)
    return RT_E_NOMEM;
  if ((k->policy = sk_rt_asn1_tpmpolicy_new_null()) == NULL ||
      !sk_rt_asn1_tpmpolicy_push(k->policy, p)) {
    ASN1_item_free((ASN1_VALUE *)p, ASN1_ITEM_rptr(rt_asn1_tpmpolicy));
    return RT_E_NOMEM;
  }
  if (!ASN1_INTEGER_set_uint64(p->command_code, TPM2_CC_PolicyPCR) ||
      !ASN1_OCTET_STRING_set(p->command_policy, buf, (int)off))
    return RT_E_NOMEM;
  return RT_OK;
}

/* What a key must be for its file to say all of it: policies rattest cannot
 * write would be lost. */
static rt_code check_encodable(const rt_tss2key *key, rt_err *err) {
  if (key->has_auth_policy || (key->has_policy && !key->has_pcr_policy))
    return rt_err_set(err, RT_E_INVALID,
                      "cannot write a key with policies other than one PolicyPCR (they would be "
                      "lost)");
  if (key->has_pcr_policy &&
      (rt_pcrsel_count(&key->policy_pcrs) == 0 ||
       key->policy_pcr_digest.size != rt_tpm_hash_size(key->pub.publicArea.nameAlg) ||
       key->policy_pcr_digest.size == 0))
    return rt_err_set(err, RT_E_INVALID,
                      "PolicyPCR: a PCR selection and a digest of the key's name algorithm are "
                      "needed");
  if (key->type != RT_TSS2KEY_LOADABLE && key->type != RT_TSS2KEY_IMPORTABLE &&
      key->type != RT_TSS2KEY_SEALED)
    return rt_err_set(err, RT_E_INVALID, "unknown TPM key type %d", (int)key->type);
  if (key->has_secret != (key->type == RT_TSS2KEY_IMPORTABLE))
    return rt_err_set(err, RT_E_INVALID, "secret must be set for, and only for, importable keys");
  if (!parent_handle_ok(key->parent))
    return rt_err_set(err, RT_E_INVALID, "parent 0x%08x is not a TPM parent handle",
                      (unsigned)key->parent);
  if (memchr(key->description, '\0', sizeof key->description) == NULL)
    return rt_err_set(err, RT_E_INVALID, "description is not NUL-terminated");
  return RT_OK;
}

/* The key's TPM2B structures, marshalled; their forms are bounded by the
 * structures' own sizes. */
typedef struct {
  uint8_t pub[sizeof(TPM2B_PUBLIC)], priv[sizeof(TPM2B_PRIVATE)],
      secret[sizeof(TPM2B_ENCRYPTED_SECRET)];
  size_t pub_len, priv_len, secret_len;
} blobs;

static rt_code marshal_blobs(const rt_tss2key *key, blobs *b, rt_err *err) {
  b->pub_len = b->priv_len = b->secret_len = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&key->pub, b->pub, sizeof b->pub, &b->pub_len);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "pub: cannot marshal: %s", Tss2_RC_Decode(rc));
  rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&key->priv, b->priv, sizeof b->priv, &b->priv_len);
  if (rc != TSS2_RC_SUCCESS)
    return rt_err_set(err, RT_E_INVALID, "priv: cannot marshal: %s", Tss2_RC_Decode(rc));
  if (key->has_secret) {
    rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&key->secret, b->secret, sizeof b->secret,
                                                &b->secret_len);
    if (rc != TSS2_RC_SUCCESS)
      return rt_err_set(err, RT_E_INVALID, "secret: cannot marshal: %s", Tss2_RC_Decode(rc));
  }
  return RT_OK;
}

/* k's fields from key and its blobs; 0 when OpenSSL could not allocate them
 * (or, which check_encodable rules out, the policy did not marshal). */
static int fill_asn1(const rt_tss2key *key, const blobs *b, rt_asn1_tpmkey *k) {
  char oid[32];
  snprintf(oid, sizeof oid, OID_TPMKEY_PREFIX "%d", (int)key->type);
  ASN1_OBJECT_free(k->type);
  if ((k->type = OBJ_txt2obj(oid, 1)) == NULL)
    return 0;
  /* DER's TRUE is 0xff; FALSE is written as absence, as the draft
   * recommends (-1 leaves the optional field out). */
  k->empty_auth = key->empty_auth ? 0xff : -1;
  k->rsa_parent = key->rsa_parent ? 0xff : -1;
  /* set_uint64: the positive form even for handles with the top bit set. */
  if (!ASN1_INTEGER_set_uint64(k->parent, key->parent) ||
      !ASN1_OCTET_STRING_set(k->pubkey, b->pub, (int)b->pub_len) ||
      !ASN1_OCTET_STRING_set(k->privkey, b->priv, (int)b->priv_len))
    return 0;
  if (key->has_secret && ((k->secret = ASN1_OCTET_STRING_new()) == NULL ||
                          !ASN1_OCTET_STRING_set(k->secret, b->secret, (int)b->secret_len)))
    return 0;
  if (key->has_pcr_policy && encode_pcr_policy(key, k) != RT_OK)
    return 0;
  if (key->description[0] != '\0' &&
      ((k->description = ASN1_UTF8STRING_new()) == NULL ||
       !ASN1_STRING_set(k->description, key->description, (int)strlen(key->description))))
    return 0;
  return 1;
}

rt_code rt_tss2key_encode_der(const rt_tss2key *key, uint8_t **der, size_t *len, rt_err *err) {
  *der = NULL;
  *len = 0;
  blobs b;
  rt_code code = check_encodable(key, err);
  if (code == RT_OK)
    code = marshal_blobs(key, &b, err);
  if (code != RT_OK)
    return code;
  rt_asn1_tpmkey *k = rt_asn1_tpmkey_new();
  unsigned char *out = NULL;
  int n;
  if (k == NULL || !fill_asn1(key, &b, k)) {
    ERR_clear_error();
    code = rt_err_set(err, RT_E_NOMEM, "out of memory encoding the TSS2 key");
  } else if ((n = i2d_rt_asn1_tpmkey(k, &out)) <= 0) {
    code = rt_err_set(err, RT_E_CRYPTO, "encoding the TSS2 key: %s", ossl_reason());
  } else {
    *der = out;
    *len = (size_t)n;
  }
  rt_asn1_tpmkey_free(k);
  return code;
}

rt_code rt_tss2key_encode_pem(const rt_tss2key *key, char **pem, size_t *len, rt_err *err) {
  *pem = NULL;
  *len = 0;
  uint8_t *der = NULL;
  size_t der_len = 0;
  rt_code code = rt_tss2key_encode_der(key, &der, &der_len, err);
  if (code != RT_OK)
    return code;
  BIO *bio = BIO_new(BIO_s_mem());
  char *mem = NULL;
  long mem_len = 0;
  if (bio == NULL || PEM_write_bio(bio, RT_TSS2KEY_PEM_LABEL, "", der, (long)der_len) <= 0 ||
      (mem_len = BIO_get_mem_data(bio, &mem)) <= 0) {
    code = rt_err_set(err, RT_E_CRYPTO, "writing the TSS2 key as PEM: %s", ossl_reason());
    goto out;
  }
  *pem = OPENSSL_malloc((size_t)mem_len + 1);
  if (*pem == NULL) {
    code = rt_err_set(err, RT_E_NOMEM, "out of memory");
    goto out;
  }
  memcpy(*pem, mem, (size_t)mem_len);
  (*pem)[mem_len] = '\0';
  *len = (size_t)mem_len;
out:
  BIO_free(bio);
  OPENSSL_free(der);
  return code;
}

rt_code rt_tss2key_write(const char *path, const rt_tss2key *key, rt_err *err) {
  char *pem = NULL;
  size_t len = 0;
  rt_code code = rt_tss2key_encode_pem(key, &pem, &len, err);
  if (code == RT_OK)
    code = rt_file_write_atomic(path, pem, len, 0600, err);
  OPENSSL_clear_free(pem, len);
  return code;
}
