/* A public key's SubjectPublicKeyInfo without OpenSSL 3.0's encoder
 * framework: X509_set_pubkey and i2d_PUBKEY look up encoders among every
 * provider on each call, and X509_set_pubkey then decodes the result again
 * to throw it away; together about 0.3 ms per key, ten times the ECDSA
 * signature of a certificate. The bytes are the same as i2d_PUBKEY's (the
 * unit tests compare them): identities are hashes of them. */
#ifndef RT_SPKI_H
#define RT_SPKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Sets pk's algorithm and key bits to key's: an RSA key (rsaEncryption,
 * NULL parameters, RSAPublicKey) or an EC key on a named curve
 * (id-ecPublicKey, the curve's OID, the point as the key encodes it).
 * pk->pkey, if any, is left alone: pass an X509_PUBKEY without one (a new
 * one, or a certificate's being built). Returns 1 when set, 0 for another
 * kind of key (the caller falls back to OpenSSL's general path), -1 when
 * OpenSSL fails. */
int rt_spki_fill(X509_PUBKEY *pk, const EVP_PKEY *key);

/* The certificate's public key: rt_spki_fill on its X509_PUBKEY, or
 * X509_set_pubkey for another kind of key. 1 on success, 0 on failure.
 * X509_get0_pubkey(x) is then NULL until the certificate's DER is parsed
 * again (OpenSSL 3.0 decodes a key only when parsing): for certificates
 * being issued, whose subject key is never read back. */
int rt_spki_set_cert_key(X509 *x, EVP_PKEY *key);

/* key's SubjectPublicKeyInfo DER, as i2d_PUBKEY(key, der) (OPENSSL_free
 * it): its length, or <= 0 on failure. */
int rt_spki_der(EVP_PKEY *key, unsigned char **der);

#endif
