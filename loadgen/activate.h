/* TPM2_ActivateCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.5):
 * the inverse of rt_make_credential (common/crypto/rt_makecred.c) with the
 * EK's private key. The seed comes back by RSA-OAEP decryption (label
 * "IDENTITY") or by ECDH with the ephemeral point and KDFe; then the
 * integrity HMAC is checked and the secret decrypted, as the TPM does. */
#ifndef LG_ACTIVATE_H
#define LG_ACTIVATE_H

#include <protobuf-c/protobuf-c.h>
#include <tss2/tss2_tpm2_types.h>

#include "machine.h"
#include "rt_err.h"

/* blob: the marshalled TPM2B_ID_OBJECT, enc: the TPM2B_ENCRYPTED_SECRET,
 * as BeginResponse carries them. A credential for another EK or another AK
 * name fails the integrity check: RT_E_CRYPTO. */
rt_code lg_activate(const lg_machine *m, const ProtobufCBinaryData *blob,
                    const ProtobufCBinaryData *enc, TPM2B_DIGEST *secret, rt_err *err);

#endif
