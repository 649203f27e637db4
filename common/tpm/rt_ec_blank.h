/* EC public keys made by copying a key that holds only its curve (one per
 * NIST curve, built once per process) and setting the point: building the
 * curve's group from its name, as EVP_PKEY_fromdata does for every key,
 * costs about four times the copy (OpenSSL 3.0: ~200k instructions against
 * ~45k for P-256). The point is checked the same way (EC_KEY_oct2key refuses
 * a point off the curve). The default library context only. */
#ifndef RT_EC_BLANK_H
#define RT_EC_BLANK_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* The public key at point (SEC1 encoding) on group ("prime256v1",
 * "secp384r1" or "secp521r1") in *out: 1; 0 when OpenSSL refuses the point;
 * -1 when there is no blank key for group (another curve, or it could not
 * be built): the caller builds the key itself. */
int rt_ec_blank_key(const char *group, const uint8_t *point, size_t len, EVP_PKEY **out);

#endif
