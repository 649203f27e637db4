/* `--write-certs DIR`: an accepted machine's identity as files, so that
 * tests can use a certificate the verifier issued without a TPM (the CRL
 * test's mTLS): DIR/NAME.pem (the key's certificate, then the CA chain
 * Finish returned; 0644) and DIR/NAME-key.pem (the software identity key,
 * PKCS#8 PEM, 0600), each written atomically; a later enrollment of the
 * machine replaces them. */
#ifndef LG_KEEP_H
#define LG_KEEP_H

#include "machine.h"
#include "rattest.pb-c.h"
#include "rt_err.h"

rt_code lg_keep_identity(const char *dir, const lg_machine *m, const Rattest__V1__FinishResponse *r,
                         rt_err *err);

#endif
