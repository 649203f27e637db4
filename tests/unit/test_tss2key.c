/* The TSS2 PRIVATE KEY format (common/rt_tss2key) without a TPM: decoding of
 * hand-built DER in the forms real writers produce, every refusal, and
 * encode -> decode round trips. The DER here is assembled byte by byte
 * (tag, length, content) so the tests do not share the code under test. */
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "rt_test.h"
#include "rt_tss2key.h"

/* A growable byte string. */
typedef struct {
  uint8_t b[8192];
  size_t n;
} buf;

static void put(buf *o, const void *p, size_t n) {
  if (o->n + n > sizeof o->b) {
    fprintf(stderr, "test buffer overflow\n");
    exit(2);
  }
  memcpy(o->b + o->n, p, n);
  o->n += n;
}

/* DER tag-length-value with a definite, minimal length. */
static buf tlv(uint8_t tag, const buf *content) {
  buf o = {.n = 0};
  uint8_t h[4] = {tag};
  size_t hn;
  if (content->n < 0x80) {
    h[1] = (uint8_t)content->n;
    hn = 2;
  } else if (content->n < 0x100) {
    h[1] = 0x81;
    h[2] = (uint8_t)content->n;
    hn = 3;
  } else {
    h[1] = 0x82;
    h[2] = (uint8_t)(content->n >> 8);
    h[3] = (uint8_t)content->n;
    hn = 4;
  }
  put(&o, h, hn);
  put(&o, content->b, content->n);
  return o;
}

static buf raw(const void *p, size_t n) {
  buf o = {.n = 0};
  put(&o, p, n);
  return o;
}

static buf cat(const buf *a, const buf *b) {
  buf o = *a;
  put(&o, b->b, b->n);
  return o;
}

#define RAW(...) raw((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static TPM2B_PUBLIC sample_pub(void) {
  TPM2B_PUBLIC p;
  memset(&p, 0, sizeof p);
  p.publicArea.type = TPM2_ALG_ECC;
  p.publicArea.nameAlg = TPM2_ALG_SHA256;
  p.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH |
                                  TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                  TPMA_OBJECT_SENSITIVEDATAORIGIN;
  p.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  p.publicArea.unique.ecc.x.size = 32;
  p.publicArea.unique.ecc.y.size = 32;
  for (int i = 0; i < 32; i++) {
    p.publicArea.unique.ecc.x.buffer[i] = (uint8_t)(i + 1);
    p.publicArea.unique.ecc.y.buffer[i] = (uint8_t)(0xa0 + i);
  }
  /* The size an unmarshalled copy will carry. */
  uint8_t b[sizeof p];
  size_t n = 0;
  if (Tss2_MU_TPMT_PUBLIC_Marshal(&p.publicArea, b, sizeof b, &n) != TSS2_RC_SUCCESS)
    exit(2);
  p.size = (UINT16)n;
  return p;
}

static TPM2B_PRIVATE sample_priv(void) {
  TPM2B_PRIVATE p;
  memset(&p, 0, sizeof p);
  p.size = 126;
  for (int i = 0; i < p.size; i++)
    p.buffer[i] = (uint8_t)(i * 7);
  return p;
}

static buf pub_blob(void) {
  TPM2B_PUBLIC p = sample_pub();
  buf o = {.n = 0};
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(&p, o.b, sizeof o.b, &o.n) != TSS2_RC_SUCCESS)
    exit(2);
  return o;
}

static buf priv_blob(void) {
  TPM2B_PRIVATE p = sample_priv();
  buf o = {.n = 0};
  if (Tss2_MU_TPM2B_PRIVATE_Marshal(&p, o.b, sizeof o.b, &o.n) != TSS2_RC_SUCCESS)
    exit(2);
  return o;
}

/* The fields of a TPMKey, each already DER (empty = absent). */
typedef struct {
  buf type, empty_auth, policy, secret, auth_policy, description, rsa_parent, parent, pubkey,
      privkey;
} fields;

static const uint8_t OID_LOADABLE[] = {0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03};
static const uint8_t INT_OWNER[] = {0x02, 0x04, 0x40, 0x00, 0x00, 0x01};

static fields base_fields(void) {
  fields f;
  memset(&f, 0, sizeof f);
  f.type = raw(OID_LOADABLE, sizeof OID_LOADABLE);
  f.parent = raw(INT_OWNER, sizeof INT_OWNER);
  buf p = pub_blob(), q = priv_blob();
  f.pubkey = tlv(0x04, &p);
  f.privkey = tlv(0x04, &q);
  return f;
}

static buf seq(const fields *f) {
  buf c = {.n = 0};
  const buf *parts[] = {&f->type,        &f->empty_auth, &f->policy, &f->secret, &f->auth_policy,
                        &f->description, &f->rsa_parent, &f->parent, &f->pubkey, &f->privkey};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    put(&c, parts[i]->b, parts[i]->n);
  return tlv(0x30, &c);
}

/* [n] EXPLICIT around some DER. */
static buf explicit_tag(int n, const buf *inner) {
  return tlv((uint8_t)(0xa0 | n), inner);
}

/* policy: SEQUENCE OF TPMPolicy { [0] INTEGER commandCode, [1] OCTET STRING } */
static buf policy_list(void) {
  buf cc = RAW(0x02, 0x02, 0x01, 0x6b); /* TPM2_CC_PolicyAuthValue 0x16b */
  buf body = RAW(0x04, 0x00);
  buf e0 = explicit_tag(0, &cc), e1 = explicit_tag(1, &body);
  buf inner = cat(&e0, &e1);
  buf one = tlv(0x30, &inner);
  buf list = tlv(0x30, &one);
  return explicit_tag(1, &list);
}

static rt_code decode(const buf *b, rt_tss2key *k, rt_err *err) {
  return rt_tss2key_decode(b->b, b->n, k, err);
}

static void expect_invalid(const buf *b, const char *want, const char *what) {
  rt_tss2key k;
  rt_err err = {0};
  rt_code code = decode(b, &k, &err);
  CHECK(code == RT_E_INVALID, "%s: accepted (%s)", what, rt_code_name(code));
  CHECK_STR_CONTAINS(err.msg, want);
}

static void test_variants(void) {
  rt_err err = {0};
  rt_tss2key k;
  TPM2B_PUBLIC want_pub = sample_pub();
  TPM2B_PRIVATE want_priv = sample_priv();

  /* What tpm2-openssl writes for a key with a password: no emptyAuth. */
  fields f = base_fields();
  buf b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK, "minimal: %s", err.msg);
  CHECK(k.type == RT_TSS2KEY_LOADABLE && k.empty_auth == 0 && k.parent == 0x40000001 &&
            !k.has_policy && !k.has_auth_policy && !k.rsa_parent && !k.has_secret &&
            k.description[0] == '\0',
        "minimal fields: type %d empty %d parent 0x%08x", k.type, k.empty_auth, k.parent);
  CHECK(k.pub.size == want_pub.size &&
            memcmp(&k.pub.publicArea.unique.ecc, &want_pub.publicArea.unique.ecc,
                   sizeof want_pub.publicArea.unique.ecc) == 0 &&
            k.pub.publicArea.parameters.eccDetail.curveID == TPM2_ECC_NIST_P256,
        "pub not unmarshalled");
  CHECK(k.priv.size == want_priv.size && memcmp(k.priv.buffer, want_priv.buffer, k.priv.size) == 0,
        "priv not unmarshalled");

  /* emptyAuth TRUE as DER (0xff) and as tpm2-openssl writes it (0x01). */
  buf t = RAW(0x01, 0x01, 0xff);
  f = base_fields();
  f.empty_auth = explicit_tag(0, &t);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.empty_auth == 1, "emptyAuth 0xff: %s", err.msg);
  t = RAW(0x01, 0x01, 0x01);
  f.empty_auth = explicit_tag(0, &t);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.empty_auth == 1, "emptyAuth 0x01: %s", err.msg);
  /* FALSE written out means the same as absent. */
  t = RAW(0x01, 0x01, 0x00);
  f.empty_auth = explicit_tag(0, &t);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.empty_auth == 0, "emptyAuth FALSE: %s", err.msg);

  /* Parents: sign-extended negative and positive forms of 0x81000001. */
  f = base_fields();
  f.parent = RAW(0x02, 0x04, 0x81, 0x00, 0x00, 0x01);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.parent == 0x81000001, "negative parent: %s 0x%08x",
        err.msg, k.parent);
  f.parent = RAW(0x02, 0x05, 0x00, 0x81, 0x00, 0x00, 0x01);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.parent == 0x81000001, "positive parent: %s", err.msg);
  /* 0x80000000 persistent-like extremes: -2^31 is 0x80000000 (transient). */
  f.parent = RAW(0x02, 0x04, 0x80, 0x00, 0x00, 0x00);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.parent == 0x80000000, "INT32_MIN parent: %s", err.msg);
  /* Parent 0: the owner hierarchy, as tpm2-openssl and tpm2-tss-engine read
   * it. */
  f.parent = RAW(0x02, 0x01, 0x00);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.parent == 0x40000001, "parent 0: %s", err.msg);
  f.parent = RAW(0x02, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00); /* 2^32 */
  b = seq(&f);
  expect_invalid(&b, "parent: 4294967296 is not a TPM handle", "parent 2^32");
  f.parent = RAW(0x02, 0x05, 0xff, 0x7f, 0xff, 0xff, 0xff); /* -2^31 - 1 */
  b = seq(&f);
  expect_invalid(&b, "parent: -2147483649", "parent below INT32_MIN");
  f.parent = RAW(0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0); /* 2^64 */
  b = seq(&f);
  expect_invalid(&b, "parent: INTEGER out of range", "parent 2^64");
  f.parent = RAW(0x02, 0x04, 0x01, 0xc0, 0x00, 0x02); /* an NV index */
  b = seq(&f);
  expect_invalid(&b, "parent: 0x01c00002 is neither", "NV index as parent");
  f.parent = RAW(0x04, 0x04, 0x40, 0x00, 0x00, 0x01); /* OCTET STRING, not INTEGER */
  b = seq(&f);
  expect_invalid(&b, "not a TSS2 private key", "parent of the wrong type");

  /* Every optional field of the draft, in order: policy, authPolicy,
   * description, rsaParent. */
  f = base_fields();
  t = RAW(0x01, 0x01, 0xff);
  f.empty_auth = explicit_tag(0, &t);
  f.policy = policy_list();
  {
    buf name = RAW(0x0c, 0x03, 'p', 'c', 'r');
    buf e0 = explicit_tag(0, &name);
    buf pl = policy_list(); /* [1] { SEQUENCE OF TPMPolicy } */
    buf inner = cat(&e0, &pl);
    buf ap = tlv(0x30, &inner);
    buf list = tlv(0x30, &ap);
    f.auth_policy = explicit_tag(3, &list);
  }
  buf d = RAW(0x0c, 0x0b, 'w', 'e', 'b', ' ', 's', 'e', 'r', 'v', 'e', 'r', 0x21);
  f.description = explicit_tag(4, &d);
  t = RAW(0x01, 0x01, 0xff);
  f.rsa_parent = explicit_tag(5, &t);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK, "all optional fields: %s", err.msg);
  CHECK(k.has_policy && k.has_auth_policy && k.rsa_parent && k.empty_auth &&
            strcmp(k.description, "web server!") == 0 && k.parent == 0x40000001,
        "optional fields: policy %d authPolicy %d rsaParent %d description \"%s\"", k.has_policy,
        k.has_auth_policy, k.rsa_parent, k.description);

  /* Out of order (description before policy) is not the draft's SEQUENCE. */
  fields g = base_fields();
  buf c = {.n = 0};
  put(&c, g.type.b, g.type.n);
  put(&c, f.description.b, f.description.n);
  put(&c, f.policy.b, f.policy.n);
  put(&c, g.parent.b, g.parent.n);
  put(&c, g.pubkey.b, g.pubkey.n);
  put(&c, g.privkey.b, g.privkey.n);
  b = tlv(0x30, &c);
  expect_invalid(&b, "not a TSS2 private key", "fields out of order");

  /* A policy whose content is not a TPMPolicy: well-formed DER is required
   * even though we do not execute it. */
  f = base_fields();
  {
    buf junk = RAW(0x02, 0x01, 0x05);
    buf list = tlv(0x30, &junk);
    f.policy = explicit_tag(1, &list);
  }
  b = seq(&f);
  expect_invalid(&b, "not a TSS2 private key", "malformed policy");

  /* A description: long ones are cut on a character boundary, NUL refused. */
  f = base_fields();
  {
    buf text = {.n = 0};
    for (int i = 0; i < 200; i++)
      put(&text, "\xc3\xa9", 2); /* 400 bytes of U+00E9 */
    buf u = tlv(0x0c, &text);
    f.description = explicit_tag(4, &u);
  }
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && strlen(k.description) == 254,
        "long description: %s (%zu bytes)", err.msg, strlen(k.description));
  f.description = RAW(0xa4, 0x05, 0x0c, 0x03, 'a', 0x00, 'b');
  b = seq(&f);
  expect_invalid(&b, "description: contains a NUL", "NUL in description");

  /* Types: importable needs the secret, others must not have one. */
  static const uint8_t oid_importable[] = {0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x04};
  static const uint8_t oid_sealed[] = {0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x05};
  f = base_fields();
  f.type = raw(oid_sealed, sizeof oid_sealed);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.type == RT_TSS2KEY_SEALED, "sealed: %s", err.msg);
  f.type = raw(oid_importable, sizeof oid_importable);
  b = seq(&f);
  expect_invalid(&b, "secret: missing", "importable without secret");
  buf sec = RAW(0x00, 0x04, 0xde, 0xad, 0xbe, 0xef); /* TPM2B_ENCRYPTED_SECRET */
  buf sec_os = tlv(0x04, &sec);
  f.secret = explicit_tag(2, &sec_os);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.type == RT_TSS2KEY_IMPORTABLE && k.has_secret &&
            k.secret.size == 4 && k.secret.secret[0] == 0xde,
        "importable: %s", err.msg);
  f.type = raw(OID_LOADABLE, sizeof OID_LOADABLE);
  b = seq(&f);
  expect_invalid(&b, "secret: present", "loadable with a secret");
  f.type = raw(oid_importable, sizeof oid_importable);
  sec = RAW(0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x00);
  sec_os = tlv(0x04, &sec);
  f.secret = explicit_tag(2, &sec_os);
  b = seq(&f);
  expect_invalid(&b, "secret: not exactly one", "secret with a trailing byte");

  /* Wrong OIDs: the old openssl_tpm2_engine arc and an RSA key's. */
  f = base_fields();
  f.type = RAW(0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x02);
  b = seq(&f);
  expect_invalid(&b, "type: unknown TPM key type 2.23.133.10.1.2", "OID .2");
  f.type = RAW(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);
  b = seq(&f);
  expect_invalid(&b, "type: unknown TPM key type 1.2.840.113549.1.1.1", "rsaEncryption OID");

  /* Trailing garbage after the SEQUENCE. */
  f = base_fields();
  b = seq(&f);
  buf more = b;
  put(&more, "\x00", 1);
  expect_invalid(&more, "1 trailing bytes", "trailing byte");

  /* Every truncation of a full key is refused. */
  f = base_fields();
  f.policy = policy_list();
  f.description = RAW(0xa4, 0x03, 0x0c, 0x01, 'x');
  b = seq(&f);
  int truncations_refused = 1;
  for (size_t n = 1; n < b.n; n++) {
    rt_code code = rt_tss2key_decode(b.b, n, &k, &err);
    if (code != RT_E_INVALID) {
      truncations_refused = 0;
      fprintf(stderr, "truncated to %zu of %zu bytes: %s\n", n, b.n, rt_code_name(code));
    }
  }
  CHECK(truncations_refused, "a truncated key was accepted");
  CHECK(rt_tss2key_decode(b.b, 0, &k, &err) == RT_E_INVALID, "empty input accepted");

  /* BER that is not DER: a long-form length where the short form fits. */
  {
    buf c2 = {.n = 0};
    put(&c2, f.type.b, f.type.n);
    put(&c2, f.parent.b, f.parent.n);
    put(&c2, f.pubkey.b, f.pubkey.n);
    put(&c2, f.privkey.b, f.privkey.n);
    buf ber = RAW(0x30, 0x82, (uint8_t)(c2.n >> 8), (uint8_t)c2.n);
    put(&ber, c2.b, c2.n);
    /* The same content has a 0x82 length in DER too when >= 256 bytes; make
     * sure this one is short enough for that to be non-minimal. */
    if (c2.n < 256)
      expect_invalid(&ber, "not DER", "non-minimal length");
    else
      CHECK(0, "test bug: content %zu bytes", c2.n);
  }

  /* A byte after the key's SEQUENCE. */
  f = base_fields();
  b = seq(&f);
  put(&b, "\x00", 1);
  expect_invalid(&b, "1 trailing bytes after the TSS2 key", "byte after the key");

  /* TPM blobs: a trailing byte, a short blob, an empty one. */
  f = base_fields();
  {
    buf p = pub_blob();
    put(&p, "\x00", 1);
    f.pubkey = tlv(0x04, &p);
  }
  b = seq(&f);
  expect_invalid(&b, "pubkey: 1 trailing bytes after the TPM2B_PUBLIC", "pubkey trailing byte");
  {
    buf p = pub_blob();
    p.n -= 1;
    f.pubkey = tlv(0x04, &p);
  }
  b = seq(&f);
  expect_invalid(&b, "pubkey: not a TPM2B_PUBLIC", "pubkey short");
  {
    /* The TPM2B's size covers a byte the TPMT_PUBLIC does not use. */
    buf p = pub_blob();
    p.b[1] = (uint8_t)(p.b[1] + 1);
    put(&p, "\x00", 1);
    f.pubkey = tlv(0x04, &p);
  }
  b = seq(&f);
  expect_invalid(&b, "pubkey: TPM2B_PUBLIC size field 87 does not match its 86-byte content",
                 "pubkey size field too large");
  {
    /* ... or claims one byte less than the TPMT_PUBLIC takes. */
    buf p = pub_blob();
    p.b[1] = (uint8_t)(p.b[1] - 1);
    f.pubkey = tlv(0x04, &p);
  }
  b = seq(&f);
  expect_invalid(&b, "pubkey: TPM2B_PUBLIC size field 85 does not match its 86-byte content",
                 "pubkey size field too small");
  f.pubkey = RAW(0x04, 0x02, 0x00, 0x00);
  b = seq(&f);
  expect_invalid(&b, "pubkey", "pubkey empty TPM2B");
  f = base_fields();
  {
    buf p = priv_blob();
    put(&p, "\x01\x02", 2);
    f.privkey = tlv(0x04, &p);
  }
  b = seq(&f);
  expect_invalid(&b, "privkey: 2 trailing bytes after the TPM2B_PRIVATE", "privkey trailing");
  f.privkey = RAW(0x04, 0x03, 0x00, 0x05, 0x00);
  b = seq(&f);
  expect_invalid(&b, "privkey: not a TPM2B_PRIVATE", "privkey short");
  f.privkey = RAW(0x04, 0x02, 0x00, 0x00);
  b = seq(&f);
  expect_invalid(&b, "privkey: empty", "privkey empty");
}

static void test_encode(void) {
  rt_err err = {0};
  rt_tss2key k, back;
  memset(&k, 0, sizeof k);
  k.type = RT_TSS2KEY_LOADABLE;
  k.empty_auth = 1;
  k.parent = 0x40000001;
  k.pub = sample_pub();
  k.priv = sample_priv();

  /* DER as tpm2-openssl writes it for the same key, except TRUE as 0xff. */
  uint8_t *der = NULL;
  size_t der_len = 0;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_OK, "encode: %s", err.msg);
  fields f = base_fields();
  buf t = RAW(0x01, 0x01, 0xff);
  f.empty_auth = explicit_tag(0, &t);
  buf want = seq(&f);
  CHECK(der != NULL && der_len == want.n && memcmp(der, want.b, want.n) == 0,
        "encoding differs from the hand-built DER (%zu vs %zu bytes)", der_len, want.n);
  OPENSSL_free(der);

  /* No emptyAuth when a password is needed; a persistent parent stays a
   * positive INTEGER. */
  k.empty_auth = 0;
  k.parent = 0x81000001;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_OK, "encode: %s", err.msg);
  f = base_fields();
  f.parent = RAW(0x02, 0x05, 0x00, 0x81, 0x00, 0x00, 0x01);
  want = seq(&f);
  CHECK(der != NULL && der_len == want.n && memcmp(der, want.b, want.n) == 0,
        "encoding of parent 0x81000001 / no emptyAuth differs");
  OPENSSL_free(der);

  /* PEM round trip with every field we write. */
  k.empty_auth = 1;
  k.parent = 0x40000001;
  snprintf(k.description, sizeof k.description, "rattest web");
  k.rsa_parent = 1;
  char *pem = NULL;
  size_t pem_len = 0;
  CHECK(rt_tss2key_encode_pem(&k, &pem, &pem_len, &err) == RT_OK, "pem: %s", err.msg);
  CHECK(pem != NULL && strncmp(pem, "-----BEGIN TSS2 PRIVATE KEY-----\n", 33) == 0 &&
            strstr(pem, "-----END TSS2 PRIVATE KEY-----\n") != NULL && strlen(pem) == pem_len,
        "PEM framing");
  CHECK(rt_tss2key_decode((const uint8_t *)pem, pem_len, &back, &err) == RT_OK, "decode: %s",
        err.msg);
  CHECK(back.type == k.type && back.empty_auth == 1 && back.parent == k.parent &&
            back.rsa_parent == 1 && strcmp(back.description, k.description) == 0 &&
            back.pub.size == k.pub.size &&
            memcmp(&back.pub.publicArea.unique, &k.pub.publicArea.unique,
                   sizeof k.pub.publicArea.unique) == 0 &&
            back.priv.size == k.priv.size &&
            memcmp(back.priv.buffer, k.priv.buffer, k.priv.size) == 0,
        "PEM round trip differs");
  /* Text around the PEM block is ignored, as OpenSSL does; another label is
   * not a key. */
  if (pem != NULL) {
    char framed[8192];
    snprintf(framed, sizeof framed, "comment line\n%s", pem);
    CHECK(rt_tss2key_decode((const uint8_t *)framed, strlen(framed), &back, &err) == RT_OK,
          "PEM after a comment: %s", err.msg);
    char *relabel = strdup(pem);
    char *at = strstr(relabel, "TSS2 PRIVATE KEY");
    memcpy(at, "TSS2 PUBLIC  KEY", 16);
    at = strstr(at + 16, "TSS2 PRIVATE KEY");
    memcpy(at, "TSS2 PUBLIC  KEY", 16);
    CHECK(rt_tss2key_decode((const uint8_t *)relabel, strlen(relabel), &back, &err) == RT_E_INVALID,
          "another PEM label accepted");
    CHECK_STR_CONTAINS(err.msg, "BEGIN TSS2 PRIVATE KEY");
    free(relabel);
    /* Corrupt base64 inside the right label. */
    char *bad = strdup(pem);
    bad[40] = '*';
    CHECK(rt_tss2key_decode((const uint8_t *)bad, strlen(bad), &back, &err) == RT_E_INVALID,
          "corrupt PEM accepted");
    free(bad);
  }
  OPENSSL_free(pem);

  /* Sealed and importable round trips. */
  k.type = RT_TSS2KEY_IMPORTABLE;
  k.has_secret = 1;
  k.secret.size = 3;
  memcpy(k.secret.secret, "abc", 3);
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_OK, "importable: %s", err.msg);
  CHECK(rt_tss2key_decode(der, der_len, &back, &err) == RT_OK &&
            back.type == RT_TSS2KEY_IMPORTABLE && back.has_secret && back.secret.size == 3 &&
            memcmp(back.secret.secret, "abc", 3) == 0,
        "importable round trip: %s", err.msg);
  OPENSSL_free(der);

  /* What encode refuses. */
  k.has_secret = 0;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_E_INVALID && der == NULL,
        "importable without secret encoded");
  CHECK_STR_CONTAINS(err.msg, "secret");
  k.type = RT_TSS2KEY_LOADABLE;
  k.has_policy = 1;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_E_INVALID, "policy encoded");
  CHECK_STR_CONTAINS(err.msg, "policies");
  k.has_policy = 0;
  k.parent = 0x01c00002;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_E_INVALID, "NV parent encoded");
  CHECK_STR_CONTAINS(err.msg, "parent 0x01c00002");
  k.parent = 0x40000001;
  k.type = (rt_tss2key_type)7;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_E_INVALID, "type 7 encoded");
  k.type = RT_TSS2KEY_LOADABLE;
  memset(k.description, 'x', sizeof k.description);
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_E_INVALID,
        "unterminated description encoded");
  CHECK_STR_CONTAINS(err.msg, "description");
  snprintf(k.description, sizeof k.description, "rattest web");
  k.pub.publicArea.type = 0x7777;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_E_INVALID, "bad pub encoded");
  CHECK_STR_CONTAINS(err.msg, "pub");
  k.pub = sample_pub();

  /* Written to a file: PEM, mode 0600, readable back. */
  char dir[] = "/tmp/rt-tss2key-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    CHECK(0, "mkdtemp");
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "%s/k.pem", dir);
  mode_t old = umask(0);
  CHECK(rt_tss2key_write(path, &k, &err) == RT_OK, "write: %s", err.msg);
  umask(old);
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600, "key file mode %04o",
        (unsigned)(sb.st_mode & 07777));
  CHECK(rt_tss2key_read(path, &back, &err) == RT_OK && back.parent == 0x40000001 &&
            strcmp(back.description, "rattest web") == 0,
        "read back: %s", err.msg);
  /* Errors from a file name it. */
  FILE *fp = fopen(path, "w");
  if (fp != NULL) {
    fputs("not a key\n", fp);
    fclose(fp);
  }
  CHECK(rt_tss2key_read(path, &back, &err) == RT_E_INVALID, "garbage file accepted");
  CHECK_STR_CONTAINS(err.msg, path);
  /* A file too large to be a key is not read whole. */
  fp = fopen(path, "w");
  if (fp != NULL) {
    for (int i = 0; i <= RT_TSS2KEY_MAX_FILE; i++)
      fputc('-', fp);
    fclose(fp);
  }
  CHECK(rt_tss2key_read(path, &back, &err) == RT_E_INVALID, "huge file accepted");
  CHECK_STR_CONTAINS(err.msg, "larger than");
  unlink(path);
  CHECK(rt_tss2key_read(path, &back, &err) == RT_E_IO, "missing file: %s", err.msg);
  rmdir(dir);
}

/* policy = { { [0] TPM2_CC_PolicyPCR (0x17f), [1] commandPolicy } } */
static buf pcr_policy_field(const buf *command_policy) {
  buf cc = RAW(0x02, 0x02, 0x01, 0x7f);
  buf body = tlv(0x04, command_policy);
  buf e0 = explicit_tag(0, &cc), e1 = explicit_tag(1, &body);
  buf inner = cat(&e0, &e1);
  buf one = tlv(0x30, &inner);
  buf list = tlv(0x30, &one);
  return explicit_tag(1, &list);
}

/* The PolicyPCR policy field, byte for byte as openssl_tpm2_engine writes
 * it: marshalled TPML_PCR_SELECTION (sha256, PCR 7), then the 32-byte PCR
 * digest without a size; decode, encode back identically, and the bad
 * forms. */
static void test_pcr_policy(void) {
  rt_err err = {0};
  rt_tss2key k, back;
  uint8_t digest[32];
  for (size_t i = 0; i < sizeof digest; i++)
    digest[i] = (uint8_t)(0xa0 + i);
  buf sel = RAW(0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x03, 0x80, 0x00, 0x00);
  buf d = raw(digest, sizeof digest);
  buf cp = cat(&sel, &d);
  fields f = base_fields();
  buf t = RAW(0x01, 0x01, 0xff);
  f.empty_auth = explicit_tag(0, &t);
  f.policy = pcr_policy_field(&cp);
  buf b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK, "PolicyPCR key: %s", err.msg);
  CHECK(k.has_policy && k.has_pcr_policy && k.policy_pcrs.count == 1 &&
            k.policy_pcrs.pcrSelections[0].hash == TPM2_ALG_SHA256 &&
            k.policy_pcrs.pcrSelections[0].sizeofSelect == 3 &&
            k.policy_pcrs.pcrSelections[0].pcrSelect[0] == 0x80 && k.policy_pcr_digest.size == 32 &&
            memcmp(k.policy_pcr_digest.buffer, digest, 32) == 0,
        "PolicyPCR fields");
  uint8_t *der = NULL;
  size_t der_len = 0;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_OK, "encode PolicyPCR: %s", err.msg);
  CHECK(der != NULL && der_len == b.n && memcmp(der, b.b, b.n) == 0,
        "PolicyPCR key does not encode back to the same DER");
  OPENSSL_free(der);
  der = NULL;
  /* Two banks round-trip too. */
  k.policy_pcrs.count = 2;
  k.policy_pcrs.pcrSelections[1] = k.policy_pcrs.pcrSelections[0];
  k.policy_pcrs.pcrSelections[1].hash = TPM2_ALG_SHA1;
  k.policy_pcrs.pcrSelections[1].pcrSelect[0] = 0x01;
  CHECK(rt_tss2key_encode_der(&k, &der, &der_len, &err) == RT_OK &&
            rt_tss2key_decode(der, der_len, &back, &err) == RT_OK && back.has_pcr_policy &&
            memcmp(&back.policy_pcrs, &k.policy_pcrs, sizeof k.policy_pcrs) == 0 &&
            memcmp(&back.policy_pcr_digest, &k.policy_pcr_digest, sizeof k.policy_pcr_digest) == 0,
        "two-bank PolicyPCR round trip: %s", err.msg);
  OPENSSL_free(der);
  der = NULL;

  /* A digest of another size than the key's nameAlg (SHA-256). */
  buf short_d = raw(digest, 20), cp2 = cat(&sel, &short_d);
  f.policy = pcr_policy_field(&cp2);
  b = seq(&f);
  expect_invalid(&b, "20 bytes of PCR digest, the key's name algorithm needs 32", "SHA-1 digest");
  /* A selection that does not unmarshal (count 9 banks), or selects none. */
  buf bad_sel = RAW(0x00, 0x00, 0x00, 0x09, 0x00, 0x0b, 0x03, 0x80, 0x00, 0x00);
  buf cp3 = cat(&bad_sel, &d);
  f.policy = pcr_policy_field(&cp3);
  b = seq(&f);
  expect_invalid(&b, "TPM2_PolicyPCR does not start with a PCR selection", "9 banks");
  buf no_pcr = RAW(0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x00);
  buf cp4 = cat(&no_pcr, &d);
  f.policy = pcr_policy_field(&cp4);
  b = seq(&f);
  expect_invalid(&b, "TPM2_PolicyPCR does not start with a PCR selection", "no PCR selected");
  /* Another policy command is kept as a policy we do not execute. */
  f.policy = policy_list();
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK && k.has_policy && !k.has_pcr_policy,
        "PolicyAuthValue key: %s", err.msg);

  /* What encode refuses: a PolicyPCR without selection or with a digest of
   * the wrong size, an authPolicy next to it. */
  CHECK(decode(&(buf){.n = 0}, &k, &err) == RT_E_INVALID, "empty input");
  f.policy = pcr_policy_field(&cp);
  b = seq(&f);
  CHECK(decode(&b, &k, &err) == RT_OK, "%s", err.msg);
  back = k;
  back.policy_pcr_digest.size = 20;
  CHECK(rt_tss2key_encode_der(&back, &der, &der_len, &err) == RT_E_INVALID && der == NULL,
        "PolicyPCR with a 20-byte digest encoded");
  CHECK_STR_CONTAINS(err.msg, "digest of the key's name algorithm");
  back = k;
  memset(&back.policy_pcrs, 0, sizeof back.policy_pcrs);
  CHECK(rt_tss2key_encode_der(&back, &der, &der_len, &err) == RT_E_INVALID,
        "PolicyPCR without selection encoded");
  back = k;
  back.has_auth_policy = 1;
  CHECK(rt_tss2key_encode_der(&back, &der, &der_len, &err) == RT_E_INVALID, "authPolicy encoded");
  CHECK_STR_CONTAINS(err.msg, "other than one PolicyPCR");
}

int main(void) {
  test_variants();
  test_encode();
  test_pcr_policy();
  return rt_test_done("test_tss2key");
}
